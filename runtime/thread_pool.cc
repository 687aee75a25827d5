// Tessel runtime: the persistent thread pool behind tessel_parallel_launch (see parallel.h).
// Workers are created once, on the first launch that needs them, and park between launches
// (a short spin, then a futex wait), so a launch costs a few cache-line handoffs, not a thread
// creation. Return codes: 0, the first non-zero task result, or -1 for a null lambda, a
// negative task count, or a task that let a C++ exception escape.

#include "tessel/runtime/parallel.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace {

constexpr int32_t kInvalidLaunch = -1;
constexpr int kMaxThreads = 1024;
// How long a worker spins for the next job before sleeping, and how long the launching
// thread spins for the workers to finish. Kernels are often launched back to back, so a
// worker that spins catches the next launch without a futex wake-up (~several us). The spin
// is long enough to span the caller's work between two kernels (a Python call, a small
// operator): a worker that sleeps there is often woken on the launcher's own CPU when its
// CPU is briefly busy, and the kernel then runs on one core. On 2 CPUs a 100 us spin ran a
// 0.6 ms matmul at half speed in about a third of the timings, a 2 ms spin in almost none
// (OpenMP runtimes and OpenBLAS spin for milliseconds too).
constexpr std::chrono::microseconds kWorkerSpin{2000};
constexpr std::chrono::microseconds kLauncherSpin{200};

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "futex words must be plain 32-bit integers");

// True on pool workers always, and on a launching thread while it runs its own task:
// a launch from such a thread runs serially (nested parallelism is serial).
thread_local bool t_in_task = false;

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected) {
  // Returns on a wake-up, a signal, or at once if *word != expected; callers re-check.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

void futex_wake(std::atomic<uint32_t>* word, int count) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr,
          nullptr, 0);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Spins until ready() or the budget runs out; returns ready()'s last answer. With more pool
// threads than cores, a pause loop would only steal time from the threads being waited for,
// so the wait yields the core between checks instead.
template <typename Ready>
bool spin_until(Ready ready, std::chrono::microseconds budget, bool yield_between_checks) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    if (yield_between_checks) {
      if (ready()) return true;
      sched_yield();
    } else {
      for (int i = 0; i < 64; ++i) {
        if (ready()) return true;
        cpu_relax();
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

int affinity_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

// Parses TESSEL_NUM_THREADS: a decimal integer >= 1, surrounding blanks allowed.
// Returns 0 when the text is not such a number.
int parse_num_threads(const char* text) {
  if (text == nullptr) return 0;
  errno = 0;
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || errno == ERANGE) return 0;
  while (*end == ' ' || *end == '\t') ++end;
  if (*end != '\0' || value < 1) return 0;
  return static_cast<int>(std::min<long>(value, kMaxThreads));
}

int configured_num_threads() {
  static const int num_threads = [] {
    int cpus = std::min(affinity_cpu_count(), kMaxThreads);
    const char* text = std::getenv("TESSEL_NUM_THREADS");
    if (text == nullptr || *text == '\0') return cpus;
    int requested = parse_num_threads(text);
    if (requested == 0) {
      std::fprintf(stderr,
                   "tessel: ignoring TESSEL_NUM_THREADS='%s' (expected an integer >= 1); "
                   "using %d threads\n",
                   text, cpus);
      return cpus;
    }
    return requested;
  }();
  return num_threads;
}

// Calls one task; a C++ exception escaping the (C ABI) task body becomes an error code.
inline int32_t call_task(TesselParallelLambda lambda, int32_t task_id, int32_t num_tasks,
                         void* closure) {
  try {
    return lambda(task_id, num_tasks, closure);
  } catch (...) {
    return kInvalidLaunch;
  }
}

int32_t run_serially(TesselParallelLambda lambda, void* closure, int32_t num_tasks) {
  bool was_in_task = t_in_task;
  t_in_task = true;
  int32_t result = 0;
  for (int32_t task = 0; task < num_tasks; ++task) {
    int32_t rc = call_task(lambda, task, num_tasks, closure);
    if (rc != 0 && result == 0) result = rc;
  }
  t_in_task = was_in_task;
  return result;
}

// One worker's mailbox, on its own cache line: the launcher bumps `sequence` to hand the
// worker the current job, and wakes it with a futex only if `sleeping` says it went to sleep.
struct alignas(64) WorkerSlot {
  std::atomic<uint32_t> sequence{0};
  std::atomic<uint32_t> sleeping{0};
};

// Thread 0 is whichever thread calls launch(); threads 1..size-1 are workers. One launch runs
// at a time (busy_); a launch that finds the pool busy runs serially on its own thread, which
// keeps unrelated user threads from blocking each other or deadlocking.
//
// Ordering: the launcher writes the job fields, then publishes them with a seq_cst bump of each
// active worker's sequence (release); a worker reads them after seeing its sequence change
// (acquire). Each worker's decrement of pending_ (release) precedes the launcher's read of zero
// (acquire), so task side effects are visible to the caller and the job fields may be reused.
// The sleeping/launcher_sleeping_ flags pair with those seq_cst operations Dekker-style, so a
// sleeper is either woken or sees the new value before calling futex_wait.
class ThreadPool {
 public:
  explicit ThreadPool(int size)
      : size_(size),
        oversubscribed_(size > affinity_cpu_count()),
        slots_(new WorkerSlot[size]) {
    threads_.reserve(size - 1);
    for (int worker = 1; worker < size; ++worker) {
      try {
        threads_.emplace_back([this, worker] { worker_main(worker); });
      } catch (const std::system_error&) {
        break;  // out of threads: run with the workers we have (the launcher alone at worst)
      }
    }
    size_ = static_cast<int>(threads_.size()) + 1;
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  int32_t launch(TesselParallelLambda lambda, void* closure, int32_t num_tasks) {
    if (busy_.exchange(true, std::memory_order_acquire)) {
      return run_serially(lambda, closure, num_tasks);
    }
    const int32_t active = std::min<int32_t>(num_tasks, size_);
    lambda_ = lambda;
    closure_ = closure;
    num_tasks_ = num_tasks;
    active_ = active;
    next_task_.store(active, std::memory_order_relaxed);
    first_error_.store(0, std::memory_order_relaxed);
    pending_.store(static_cast<uint32_t>(active - 1), std::memory_order_relaxed);
    for (int worker = 1; worker < active; ++worker) {
      WorkerSlot& slot = slots_[worker];
      slot.sequence.fetch_add(1, std::memory_order_seq_cst);
      if (slot.sleeping.load(std::memory_order_seq_cst) != 0) futex_wake(&slot.sequence, 1);
    }

    t_in_task = true;
    run_tasks(0);
    t_in_task = false;

    wait_for_workers();
    int32_t result = first_error_.load(std::memory_order_relaxed);
    busy_.store(false, std::memory_order_release);
    return result;
  }

  // Stops and joins the workers. The object itself stays valid and permanently busy, so a
  // launch that still holds a pointer to it runs serially instead of touching dead threads.
  void shutdown() {
    while (busy_.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
    stopping_.store(true, std::memory_order_release);
    for (int worker = 1; worker < size_; ++worker) {
      slots_[worker].sequence.fetch_add(1, std::memory_order_seq_cst);
      futex_wake(&slots_[worker].sequence, 1);
    }
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  void worker_main(int worker) {
    t_in_task = true;
    WorkerSlot& slot = slots_[worker];
    uint32_t seen = 0;
    for (;;) {
      seen = wait_for_job(slot, seen);
      if (stopping_.load(std::memory_order_acquire)) return;
      run_tasks(worker);
      if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
          launcher_sleeping_.load(std::memory_order_seq_cst) != 0) {
        futex_wake(&pending_, 1);
      }
    }
  }

  uint32_t wait_for_job(WorkerSlot& slot, uint32_t seen) {
    uint32_t current = seen;
    auto changed = [&] {
      current = slot.sequence.load(std::memory_order_acquire);
      return current != seen;
    };
    if (spin_until(changed, kWorkerSpin, oversubscribed_)) {
      return current;
    }
    slot.sleeping.store(1, std::memory_order_seq_cst);
    while ((current = slot.sequence.load(std::memory_order_seq_cst)) == seen) {
      futex_wait(&slot.sequence, seen);
    }
    slot.sleeping.store(0, std::memory_order_relaxed);
    return current;
  }

  void wait_for_workers() {
    auto done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
    if (spin_until(done, kLauncherSpin, oversubscribed_)) return;
    launcher_sleeping_.store(1, std::memory_order_seq_cst);
    for (;;) {
      uint32_t left = pending_.load(std::memory_order_seq_cst);
      if (left == 0) break;
      futex_wait(&pending_, left);
    }
    launcher_sleeping_.store(0, std::memory_order_relaxed);
  }

  // Runs task `first` (thread i owns task i), then takes the tasks beyond the pool size from
  // a shared counter.
  void run_tasks(int32_t first) {
    run_task(first);
    if (num_tasks_ <= active_) return;
    for (;;) {
      int32_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
      if (task >= num_tasks_) return;
      run_task(task);
    }
  }

  void run_task(int32_t task) {
    int32_t rc = call_task(lambda_, task, num_tasks_, closure_);
    if (rc != 0) {
      int32_t expected = 0;
      first_error_.compare_exchange_strong(expected, rc, std::memory_order_relaxed);
    }
  }

  int size_;  // threads including the launcher; fixed once the constructor returns
  const bool oversubscribed_;
  std::unique_ptr<WorkerSlot[]> slots_;  // slots_[0] is unused: thread 0 is the launcher
  std::vector<std::thread> threads_;

  // The current job; written only while no worker may read it (see the class comment).
  TesselParallelLambda lambda_ = nullptr;
  void* closure_ = nullptr;
  int32_t num_tasks_ = 0;
  int32_t active_ = 0;

  std::atomic<bool> busy_{false};
  std::atomic<bool> stopping_{false};
  alignas(64) std::atomic<int32_t> next_task_{0};
  alignas(64) std::atomic<int32_t> first_error_{0};
  alignas(64) std::atomic<uint32_t> pending_{0};
  std::atomic<uint32_t> launcher_sleeping_{0};
};

// The process-wide pool. Created on the first launch that needs more than one thread; a
// forked child drops the parent's pool (its workers do not exist in the child) and makes its
// own; at exit or dlclose the workers are joined so none runs code that is being unloaded.
std::mutex g_pool_mutex;
std::atomic<ThreadPool*> g_pool{nullptr};
ThreadPool* g_abandoned_pool = nullptr;  // a forked child's copy of its parent's pool
bool g_pool_stopped = false;

void before_fork() { g_pool_mutex.lock(); }
void after_fork_in_parent() { g_pool_mutex.unlock(); }
void after_fork_in_child() {
  g_abandoned_pool = g_pool.exchange(nullptr, std::memory_order_relaxed);
  g_pool_mutex.unlock();
}

ThreadPool* get_pool() {
  ThreadPool* pool = g_pool.load(std::memory_order_acquire);
  if (pool != nullptr) return pool;
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  if (g_pool_stopped) return nullptr;
  pool = g_pool.load(std::memory_order_relaxed);
  if (pool == nullptr) {
    static bool fork_handlers_registered = false;
    if (!fork_handlers_registered) {
      pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
      fork_handlers_registered = true;
    }
    pool = new ThreadPool(configured_num_threads());
    g_pool.store(pool, std::memory_order_release);
  }
  return pool;
}

struct PoolReaper {
  ~PoolReaper() {
    // exit() called from inside a task: the pool cannot be drained from here; leave it be.
    if (t_in_task) return;
    ThreadPool* pool;
    {
      std::lock_guard<std::mutex> lock(g_pool_mutex);
      g_pool_stopped = true;
      pool = g_pool.load(std::memory_order_acquire);
    }
    if (pool != nullptr) pool->shutdown();
  }
} g_pool_reaper;

}  // namespace

extern "C" int32_t tessel_parallel_launch(TesselParallelLambda lambda, void* closure,
                                          int32_t num_tasks) {
  if (lambda == nullptr || num_tasks < 0) return kInvalidLaunch;
  const bool serial = t_in_task || configured_num_threads() == 1 || num_tasks == 1;
  // Several tasks per thread, taken dynamically: with one contiguous chunk per thread, a launch
  // lasts as long as its slowest thread, and on a shared 2-core machine one thread often loses
  // its core for part of a kernel. Timed so on 2 loaded cores, the ResNet-50 stem conv (1.3 ms
  // at best) had its 75th and 90th percentiles at 2.05 and 2.2 ms; with 8 tasks per thread, at
  // 1.65 and 1.75 ms. Matmuls from 0.5 to 12 ms kept their medians.
  if (num_tasks == 0) num_tasks = serial ? 1 : configured_num_threads() * TESSEL_TASKS_PER_THREAD;
  if (serial) return run_serially(lambda, closure, num_tasks);
  ThreadPool* pool = get_pool();
  if (pool == nullptr) return run_serially(lambda, closure, num_tasks);
  return pool->launch(lambda, closure, num_tasks);
}

extern "C" int32_t tessel_num_threads(void) { return configured_num_threads(); }
