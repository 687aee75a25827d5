// Tests for the runtime's parallel launch (include/tessel/runtime/parallel.h): task coverage,
// numeric results against a serial reference, nesting, error codes, launch storms, concurrent
// launchers, fork, TESSEL_NUM_THREADS (checked in child processes) and the library's
// dependencies (libtessel_runtime.so must need nothing beyond libc/libstdc++/libm).

#include <dlfcn.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tessel/runtime/parallel.h"

extern char** environ;

namespace {

// ---- Child-process mode: with TESSEL_TEST_CHILD_MODE set, this binary prints what the runtime
// sees and exits before GoogleTest starts. Used to test environment parsing in a fresh process.

struct CoverageClosure {
  std::vector<std::atomic<int>>* hits;
  std::atomic<int> wrong_count{0};
  int32_t expected_tasks = 0;
};

int32_t count_task(int32_t task_id, int32_t num_tasks, void* closure) {
  auto* state = static_cast<CoverageClosure*>(closure);
  if (num_tasks != state->expected_tasks) state->wrong_count.fetch_add(1);
  (*state->hits)[task_id].fetch_add(1);
  return 0;
}

// The task count of a launch that leaves it to the runtime (num_tasks = 0) with `threads` threads.
int32_t default_task_count(int32_t threads) { return threads == 1 ? 1 : threads * TESSEL_TASKS_PER_THREAD; }

// Launches with `requested` tasks and returns true when each task ran once with the right count.
bool every_task_runs_once(int32_t requested, int32_t expected_tasks) {
  std::vector<std::atomic<int>> hits(expected_tasks);
  CoverageClosure state;
  state.hits = &hits;
  state.expected_tasks = expected_tasks;
  if (tessel_parallel_launch(count_task, &state, requested) != 0) return false;
  if (state.wrong_count.load() != 0) return false;
  return std::all_of(hits.begin(), hits.end(), [](const std::atomic<int>& h) { return h == 1; });
}

struct ThreadIdClosure {
  std::mutex mutex;
  std::set<std::thread::id> ids;
};

int32_t record_thread(int32_t, int32_t, void* closure) {
  auto* state = static_cast<ThreadIdClosure*>(closure);
  // Long enough that every worker is still busy when the last one starts.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::lock_guard<std::mutex> lock(state->mutex);
  state->ids.insert(std::this_thread::get_id());
  return 0;
}

[[maybe_unused]] const bool child_mode_done = [] {
  const char* mode = std::getenv("TESSEL_TEST_CHILD_MODE");
  if (mode == nullptr) return false;
  int32_t threads = tessel_num_threads();
  bool ok = true;
  for (int32_t tasks : {1, 2, 3, 5, 64, 1000}) ok = ok && every_task_runs_once(tasks, tasks);
  ok = ok && every_task_runs_once(0, default_task_count(threads));
  ThreadIdClosure distinct;
  ok = ok && tessel_parallel_launch(record_thread, &distinct, 0) == 0;
  std::printf("threads=%d distinct=%zu ok=%d\n", threads, distinct.ids.size(), ok ? 1 : 0);
  std::fflush(stdout);
  std::exit(0);
}();

// Runs this test binary in child mode with TESSEL_NUM_THREADS set to `value` (unset if null)
// and returns its combined stdout and stderr.
std::string run_child(const char* value) {
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "TESSEL_NUM_THREADS=", 19) == 0) continue;
    env_strings.emplace_back(*entry);
  }
  env_strings.emplace_back("TESSEL_TEST_CHILD_MODE=1");
  if (value != nullptr) env_strings.emplace_back(std::string("TESSEL_NUM_THREADS=") + value);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  char exe[] = "/proc/self/exe";
  char* argv[] = {exe, nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, exe, &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string output;
  if (rc == 0) {
    char buffer[512];
    ssize_t n;
    while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) output.append(buffer, n);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) output += "[child failed]";
  }
  close(fds[0]);
  return output;
}

int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  return CPU_COUNT(&set);
}

// ---- Tests.

TEST(ThreadPool, NumThreadsIsPositive) { EXPECT_GE(tessel_num_threads(), 1); }

TEST(ThreadPool, EveryTaskRunsExactlyOnce) {
  const int32_t n = tessel_num_threads();
  for (int32_t tasks : {1, 2, 3, n, n + 1, 2 * n + 1, 17, 100, 1000}) {
    EXPECT_TRUE(every_task_runs_once(tasks, tasks)) << tasks << " tasks";
  }
  // num_tasks = 0 lets the runtime choose: TESSEL_TASKS_PER_THREAD per pool thread.
  EXPECT_TRUE(every_task_runs_once(0, default_task_count(n)));
}

struct SumClosure {
  const std::vector<int64_t>* ints;
  const std::vector<double>* doubles;
  std::vector<int64_t> int_partials;
  std::vector<double> double_partials;
};

int32_t partial_sum(int32_t task_id, int32_t num_tasks, void* closure) {
  auto* state = static_cast<SumClosure*>(closure);
  const size_t size = state->ints->size();
  const size_t chunk = (size + num_tasks - 1) / num_tasks;
  const size_t begin = std::min(size, chunk * task_id);
  const size_t end = std::min(size, begin + chunk);
  int64_t int_sum = 0;
  double double_sum = 0;
  for (size_t i = begin; i < end; ++i) {
    int_sum += (*state->ints)[i];
    double_sum += (*state->doubles)[i];
  }
  state->int_partials[task_id] = int_sum;
  state->double_partials[task_id] = double_sum;
  return 0;
}

TEST(ThreadPool, ParallelSumMatchesSerial) {
  std::mt19937_64 rng(12345);
  std::uniform_int_distribution<int64_t> int_dist(-1000000, 1000000);
  std::uniform_real_distribution<double> double_dist(-1.0, 1.0);
  const size_t size = 1 << 20;
  std::vector<int64_t> ints(size);
  std::vector<double> doubles(size);
  for (size_t i = 0; i < size; ++i) {
    ints[i] = int_dist(rng);
    doubles[i] = double_dist(rng);
  }
  int64_t serial_int = 0;
  double serial_double = 0;
  for (size_t i = 0; i < size; ++i) {
    serial_int += ints[i];
    serial_double += doubles[i];
  }
  for (int32_t tasks : {0, 1, 2, 3, 7, 64}) {
    const int32_t actual_tasks = tasks == 0 ? default_task_count(tessel_num_threads()) : tasks;
    SumClosure state{&ints, &doubles, std::vector<int64_t>(actual_tasks, 0),
                     std::vector<double>(actual_tasks, 0)};
    ASSERT_EQ(tessel_parallel_launch(partial_sum, &state, tasks), 0);
    int64_t int_total = 0;
    double double_total = 0;
    for (int32_t t = 0; t < actual_tasks; ++t) {
      int_total += state.int_partials[t];
      double_total += state.double_partials[t];
    }
    EXPECT_EQ(int_total, serial_int) << tasks << " tasks";
    EXPECT_NEAR(double_total, serial_double, 1e-9 * size) << tasks << " tasks";
  }
}

struct NestedClosure {
  std::atomic<int> inner_runs{0};
  std::atomic<int> wrong_thread{0};
  std::atomic<int> wrong_count{0};
  std::atomic<int> inner_failures{0};
};

struct InnerClosure {
  NestedClosure* outer;
  std::thread::id owner;
  int32_t expected_tasks;
  std::vector<int> hits;  // plain ints: a serial inner launch needs no synchronisation
};

int32_t inner_task(int32_t task_id, int32_t num_tasks, void* closure) {
  auto* inner = static_cast<InnerClosure*>(closure);
  if (std::this_thread::get_id() != inner->owner) inner->outer->wrong_thread.fetch_add(1);
  if (num_tasks != inner->expected_tasks) inner->outer->wrong_count.fetch_add(1);
  inner->hits[task_id] += 1;
  inner->outer->inner_runs.fetch_add(1);
  return 0;
}

int32_t outer_task(int32_t, int32_t, void* closure) {
  auto* outer = static_cast<NestedClosure*>(closure);
  InnerClosure inner{outer, std::this_thread::get_id(), 8, std::vector<int>(8, 0)};
  if (tessel_parallel_launch(inner_task, &inner, 8) != 0) outer->inner_failures.fetch_add(1);
  if (std::count(inner.hits.begin(), inner.hits.end(), 1) != 8) outer->inner_failures.fetch_add(1);
  // num_tasks = 0 inside a task: one serial task that covers the whole range.
  InnerClosure whole{outer, std::this_thread::get_id(), 1, std::vector<int>(1, 0)};
  if (tessel_parallel_launch(inner_task, &whole, 0) != 0) outer->inner_failures.fetch_add(1);
  if (whole.hits[0] != 1) outer->inner_failures.fetch_add(1);
  return 0;
}

TEST(ThreadPool, NestedLaunchRunsSeriallyOnCallingThread) {
  const int32_t outer_tasks = std::max(4, tessel_num_threads());
  NestedClosure state;
  ASSERT_EQ(tessel_parallel_launch(outer_task, &state, outer_tasks), 0);
  EXPECT_EQ(state.inner_runs.load(), outer_tasks * 9);
  EXPECT_EQ(state.wrong_thread.load(), 0);
  EXPECT_EQ(state.wrong_count.load(), 0);
  EXPECT_EQ(state.inner_failures.load(), 0);
}

struct ErrorClosure {
  std::vector<std::atomic<int>>* hits;
  std::set<int32_t> failing;  // task ids that fail, returning 100 + task id
};

int32_t maybe_fail(int32_t task_id, int32_t, void* closure) {
  auto* state = static_cast<ErrorClosure*>(closure);
  (*state->hits)[task_id].fetch_add(1);
  return state->failing.count(task_id) ? 100 + task_id : 0;
}

TEST(ThreadPool, ErrorCodePropagates) {
  for (int32_t tasks : {1, 2, 4, 33}) {
    std::vector<std::atomic<int>> hits(tasks);
    ErrorClosure state{&hits, {tasks - 1}};
    EXPECT_EQ(tessel_parallel_launch(maybe_fail, &state, tasks), 100 + tasks - 1);
    // A failing task does not stop the others.
    for (int32_t t = 0; t < tasks; ++t) EXPECT_EQ(hits[t].load(), 1) << t;
  }
  std::vector<std::atomic<int>> hits(16);
  ErrorClosure several{&hits, {2, 5, 11}};
  int32_t rc = tessel_parallel_launch(maybe_fail, &several, 16);
  EXPECT_TRUE(rc == 102 || rc == 105 || rc == 111) << rc;
  // The pool is usable again after a failed launch.
  EXPECT_TRUE(every_task_runs_once(8, 8));
}

int32_t throwing_task(int32_t task_id, int32_t, void*) {
  if (task_id == 1) throw std::runtime_error("task failed");
  return 0;
}

TEST(ThreadPool, InvalidArgumentsAndExceptionsBecomeErrorCodes) {
  EXPECT_EQ(tessel_parallel_launch(nullptr, nullptr, 4), -1);
  std::vector<std::atomic<int>> hits(1);
  ErrorClosure state{&hits, {}};
  EXPECT_EQ(tessel_parallel_launch(maybe_fail, &state, -3), -1);
  EXPECT_EQ(hits[0].load(), 0);
  EXPECT_EQ(tessel_parallel_launch(throwing_task, nullptr, 4), -1);
  EXPECT_TRUE(every_task_runs_once(4, 4));
}

int32_t add_task_id(int32_t task_id, int32_t, void* closure) {
  static_cast<std::atomic<int64_t>*>(closure)->fetch_add(task_id + 1, std::memory_order_relaxed);
  return 0;
}

TEST(ThreadPool, ManyBackToBackLaunches) {
  const int launches = 10000;
  const int32_t tasks = default_task_count(tessel_num_threads());
  std::atomic<int64_t> total{0};
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < launches; ++i) {
    ASSERT_EQ(tessel_parallel_launch(add_task_id, &total, 0), 0);
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(total.load(), int64_t{launches} * tasks * (tasks + 1) / 2);
  double us = std::chrono::duration<double, std::micro>(elapsed).count() / launches;
  std::printf("%d launches of %d tasks: %.2f us per launch\n", launches, tasks, us);
}

TEST(ThreadPool, ConcurrentLaunchersFromUserThreads) {
  // Launches from several user threads at once: each either gets the pool or runs serially.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&failures] {
      for (int i = 0; i < 500; ++i) {
        std::atomic<int64_t> total{0};
        if (tessel_parallel_launch(add_task_id, &total, 6) != 0 || total.load() != 21) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ThreadPool, UsesSeveralThreads) {
  if (tessel_num_threads() < 2) GTEST_SKIP() << "single-threaded pool";
  ThreadIdClosure state;
  ASSERT_EQ(tessel_parallel_launch(record_thread, &state, 0), 0);
  EXPECT_EQ(static_cast<int>(state.ids.size()), tessel_num_threads());
}

struct SlowFirstTaskClosure {
  std::mutex mutex;
  std::vector<std::thread::id> runner;  // runner[task]: the thread that ran it
};

int32_t slow_first_task(int32_t task_id, int32_t, void* closure) {
  auto* state = static_cast<SlowFirstTaskClosure*>(closure);
  if (task_id == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::lock_guard<std::mutex> lock(state->mutex);
  state->runner[task_id] = std::this_thread::get_id();
  return 0;
}

TEST(ThreadPool, ASlowThreadLeavesItsShareToTheOthers) {
  // The launching thread runs task 0 and is held up in it, as a thread that loses its core is:
  // the other threads take every other task of a runtime-sized launch meanwhile.
  if (tessel_num_threads() < 2) GTEST_SKIP() << "single-threaded pool";
  const int32_t tasks = default_task_count(tessel_num_threads());
  SlowFirstTaskClosure state;
  state.runner.resize(tasks);
  ASSERT_EQ(tessel_parallel_launch(slow_first_task, &state, 0), 0);
  const std::thread::id launcher = std::this_thread::get_id();
  EXPECT_EQ(state.runner[0], launcher);
  for (int32_t task = 1; task < tasks; ++task) {
    EXPECT_NE(state.runner[task], std::thread::id()) << "task " << task << " did not run";
    EXPECT_NE(state.runner[task], launcher) << "task " << task << " waited for the slow thread";
  }
}

TEST(ThreadPool, ForkedChildGetsAWorkingPool) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer does not support threads after a multi-threaded fork";
#endif
  ASSERT_TRUE(every_task_runs_once(8, 8));  // the parent's pool exists before the fork
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);  // a deadlock in the child fails the test instead of hanging it
    bool ok = every_task_runs_once(8, 8) && every_task_runs_once(0, default_task_count(tessel_num_threads()));
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ThreadPool, HonoursTesselNumThreads) {
  const int cpus = affinity_cpus();
  EXPECT_EQ(run_child("3"), "threads=3 distinct=3 ok=1\n");
  EXPECT_EQ(run_child("1"), "threads=1 distinct=1 ok=1\n");
  EXPECT_EQ(run_child(" 2 "), "threads=2 distinct=2 ok=1\n");
  const std::string fallback =
      "threads=" + std::to_string(cpus) + " distinct=" + std::to_string(cpus) + " ok=1\n";
  EXPECT_EQ(run_child(nullptr), fallback);
  EXPECT_EQ(run_child(""), fallback);
  for (const char* bad : {"0", "-2", "abc", "4x"}) {
    std::string output = run_child(bad);
    EXPECT_NE(output.find("ignoring TESSEL_NUM_THREADS"), std::string::npos) << output;
    EXPECT_NE(output.find(fallback), std::string::npos) << bad << ": " << output;
  }
}

TEST(RuntimeLibrary, NeedsOnlySystemLibraries) {
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&tessel_num_threads), &info), 0);
  ASSERT_NE(info.dli_fname, nullptr);
  const std::string path = info.dli_fname;
  ASSERT_NE(path.find("libtessel_runtime.so"), std::string::npos) << path;

  const std::string command = "readelf -d '" + path + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  int status = pclose(pipe);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) GTEST_SKIP() << "readelf not installed";
  ASSERT_EQ(status, 0) << output;

  std::vector<std::string> allowed = {"libc.so",      "libstdc++.so", "libm.so",
                                      "libgcc_s.so",  "libpthread.so", "libdl.so",
                                      "ld-linux"};
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  allowed.insert(allowed.end(), {"libasan.so", "libubsan.so", "libtsan.so"});
#endif
  std::istringstream lines(output);
  std::string line;
  int needed = 0;
  while (std::getline(lines, line)) {
    if (line.find("(NEEDED)") == std::string::npos) continue;
    size_t open = line.find('['), close = line.find(']');
    ASSERT_TRUE(open != std::string::npos && close != std::string::npos) << line;
    std::string name = line.substr(open + 1, close - open - 1);
    ++needed;
    bool ok = std::any_of(allowed.begin(), allowed.end(),
                          [&](const std::string& prefix) { return name.rfind(prefix, 0) == 0; });
    EXPECT_TRUE(ok) << path << " needs " << name;
  }
  EXPECT_GT(needed, 0) << output;
}

}  // namespace
