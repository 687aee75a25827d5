// The search and the task scheduler: a resumed search starts from the stored best records, a fixed
// seed reproduces the search, tuning stops on Ctrl-C (dropping the batch in flight), on a time
// budget or on should_stop, progress is shown as a bar on a terminal and as lines elsewhere, and
// the cost model (and each workload's DAG text) is kept in the tuning database between runs; the
// first batch holds the default schedule; flop counts match hand counts.
#include <gtest/gtest.h>
#include <pty.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tessel/autotune/database.h"
#include "tessel/autotune/search.h"
#include "tessel/ir/error.h"
#include "tessel/te/workload_key.h"
#include "test_util.h"

namespace tessel::autotune {
namespace {

std::string temp_path(const std::string& name) { return testing::temp_path("tessel_search", name); }

TuneOptions quick_options(const std::string& records, int trials, int batch) {
  return testing::quick_tune(records, trials, batch, /*seed=*/5, testing::quick_measure(1, 5));
}

TuningRecord make_record(const SearchTask& task, const std::string& steps_json, double cost) {
  TuningRecord r;
  r.workload_key = task.workload_key();
  r.task_name = task.name();
  r.target = task.target().to_string();
  r.hardware = task.hardware();
  r.steps_json = steps_json;
  if (cost > 0) {
    r.costs = {cost};
  } else {
    r.error = MeasureError::kRuntime;
  }
  r.timestamp = 1;
  return r;
}

// How many annotation numbers differ (a mutation changes one, rfactor granularity two).
int distance(const Candidate& a, const Candidate& b) {
  if (a.sketch != b.sketch || a.stages.size() != b.stages.size()) return 1000;
  int d = 0;
  for (size_t i = 0; i < a.stages.size(); ++i) {
    const StageAnnotation &x = a.stages[i], &y = b.stages[i];
    if (x.spatial.size() != y.spatial.size() || x.reduce.size() != y.reduce.size()) return 1000;
    for (size_t k = 0; k < x.spatial.size(); ++k) d += x.spatial[k] != y.spatial[k];
    for (size_t k = 0; k < x.reduce.size(); ++k) d += x.reduce[k] != y.reduce[k];
    d += (x.parallel_depth != y.parallel_depth) + (x.vector_factor != y.vector_factor) + (x.vectorize != y.vectorize) +
         (x.unroll != y.unroll) + (x.compute_at_level != y.compute_at_level) + (x.rfactor_parts != y.rfactor_parts);
  }
  return d;
}

TEST(Search, ResumedSearchStartsFromStoredBest) {
  SearchTask task = testing::matmul_task(24, 40, 16);
  std::vector<Sketch> sketches = generate_sketches(task);
  std::mt19937_64 rng(21);
  std::vector<TuningRecord> stored;
  std::vector<Candidate> valid;
  for (int i = 0; i < 8; ++i) {
    Candidate c = sample_candidate(task, sketches, 0, rng);
    double cost = i % 4 == 3 ? 0 : 1e-4 * (1 + (i * 37 % 8));  // every 4th failed
    stored.push_back(make_record(task, te::steps_to_json(apply_candidate(task, sketches, c).steps()), cost));
    if (cost > 0) valid.push_back(c);
  }
  // A record of another workload is not this task's.
  stored.push_back(make_record(testing::matmul_task(5, 5, 5), stored[0].steps_json, 1e-9));
  std::string path = temp_path("resume.jsonl");
  append_records(path, stored);

  TuneOptions options = quick_options(path, 100, 16);
  options.population = 32;
  std::unique_ptr<CostModel> model = make_random_cost_model(3);
  SearchPolicy resumed(task, model.get(), options, 11);
  EXPECT_EQ(resumed.resume_from(load_records(path).records), 8);
  double best = std::numeric_limits<double>::infinity();
  std::string best_json;
  for (size_t i = 0; i < 8; ++i) {
    if (stored[i].mean_cost() < best) {
      best = stored[i].mean_cost();
      best_json = stored[i].steps_json;
    }
  }
  EXPECT_EQ(resumed.best_cost(), best);
  EXPECT_EQ(resumed.best_steps_json(), best_json);
  EXPECT_EQ(resumed.trials(), 8);
  // Every valid stored record became a parent, the best first.
  ASSERT_EQ(resumed.elite().size(), valid.size());
  EXPECT_EQ(resumed.elite()[0].first, best);
  EXPECT_EQ(te::steps_to_json(apply_candidate(task, sketches, resumed.elite()[0].second).steps()), best_json);

  // The first batch holds mutations of the stored candidates (and nothing stored again); a search
  // without the records does not.
  std::string default_json = te::steps_to_json(task.default_schedule().steps());
  auto near_stored = [&](SearchPolicy& policy) {
    int near = 0;
    for (const auto& steps : policy.next_batch(16)) {
      std::string json = te::steps_to_json(steps);
      if (json == default_json) continue;  // the baseline, not a sketch's candidate
      for (const TuningRecord& r : stored) EXPECT_NE(json, r.steps_json);
      std::optional<Candidate> c = candidate_from_steps(task, sketches, steps);
      EXPECT_TRUE(c.has_value());
      if (!c) continue;
      for (const Candidate& v : valid) {
        if (distance(*c, v) <= 1) {
          ++near;
          break;
        }
      }
    }
    return near;
  };
  int near_resumed = near_stored(resumed);
  SearchPolicy fresh(task, model.get(), options, 11);
  int near_fresh = near_stored(fresh);
  EXPECT_GE(near_resumed, 4);
  EXPECT_LE(near_fresh, 1);
  std::filesystem::remove(path);
}

// Drives a search with deterministic synthetic costs (a hash of the steps; every 7th fails), so
// that two runs can be compared; returns the step lists in the order they were handed out.
std::vector<std::string> synthetic_search(const SearchTask& task, CostModel* model, unsigned seed, int batches) {
  TuneOptions options;
  options.population = 16;
  options.generations = 2;
  SearchPolicy policy(task, model, options, seed);
  std::vector<std::string> order;
  for (int b = 0; b < batches; ++b) {
    auto batch = policy.next_batch(8);
    std::vector<MeasureResult> results(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      std::string json = te::steps_to_json(batch[i]);
      order.push_back(json);
      uint64_t h = 1469598103934665603ull;
      for (char ch : json) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
      te::Schedule s = task.replay(batch[i]);
      results[i].features = extract_features(task.lower(s, "synthetic"));
      if (h % 7 == 0) {
        results[i].error = MeasureError::kRuntime;
      } else {
        results[i].costs = {1e-4 * (1.0 + static_cast<double>(h % 1000) / 1000.0)};
      }
    }
    policy.record_results(batch, results);
  }
  return order;
}

TEST(Search, FixedSeedReproducesTheSearch) {
  SearchTask task = testing::matmul_bias_relu_task(12, 24, 9);
  {
    auto m1 = make_random_cost_model(4), m2 = make_random_cost_model(4), m3 = make_random_cost_model(4);
    auto a = synthetic_search(task, m1.get(), 8, 3);
    auto b = synthetic_search(task, m2.get(), 8, 3);
    EXPECT_EQ(a.size(), 24u);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, synthetic_search(task, m3.get(), 9, 3));
  }
  {
    // Warm-up 8: the model is trained after the first batch and guides the later ones.
    auto m1 = make_xgboost_cost_model(4, 8), m2 = make_xgboost_cost_model(4, 8);
    auto a = synthetic_search(task, m1.get(), 8, 3);
    auto b = synthetic_search(task, m2.get(), 8, 3);
    EXPECT_EQ(a.size(), 24u);
    EXPECT_EQ(a, b);
  }
}

TEST(Search, FixedSeedReproducesTheFirstMeasuredBatch) {
  SearchTask task = testing::matmul_task(12, 10, 8);
  std::vector<std::vector<std::string>> runs;
  for (int run = 0; run < 2; ++run) {
    std::string path = temp_path("repro" + std::to_string(run) + ".jsonl");
    TaskScheduler scheduler({task}, quick_options(path, 4, 4));
    scheduler.tune();
    std::vector<std::string> steps;
    for (const TuningRecord& r : load_records(path).records) steps.push_back(r.steps_json);
    runs.push_back(steps);
    std::filesystem::remove(path);
  }
  EXPECT_EQ(runs[0].size(), 4u);
  EXPECT_EQ(runs[0], runs[1]);
}

TEST(Search, ShouldStopAndTimeBudgetEndTuning) {
  SearchTask task = testing::matmul_task(9, 7, 5);
  std::string path = temp_path("stop.jsonl");
  TuneOptions options = quick_options(path, 1000, 2);
  int asked = 0;
  options.should_stop = [&]() { return ++asked > 2; };
  TaskScheduler stopped({task}, options);
  stopped.tune();
  EXPECT_FALSE(stopped.interrupted());
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(load_records(path).records.size(), 4u);  // two batches

  std::filesystem::remove(path);
  options = quick_options(path, 100000, 2);
  options.time_budget_seconds = 0.5;
  TaskScheduler budgeted({task}, options);
  budgeted.tune();
  size_t n = load_records(path).records.size();
  EXPECT_GE(n, 2u);  // the first batch starts well within the budget
  EXPECT_LT(n, 100000u);
  std::filesystem::remove(path);
}

int test_sigints = 0;
extern "C" void count_sigint(int) { ++test_sigints; }

TEST(Search, CtrlCDropsTheBatchInFlightAndKeepsTheRest) {
  struct sigaction mine = {}, before = {};
  mine.sa_handler = count_sigint;
  sigemptyset(&mine.sa_mask);
  ASSERT_EQ(sigaction(SIGINT, &mine, &before), 0);
  SearchTask task = testing::matmul_task(10, 12, 6);
  std::string path = temp_path("ctrlc.jsonl");
  // The second batch hangs on candidate 5 until Ctrl-C (the run timeout would take a minute).
  setenv("TESSEL_TEST_FAULT", "hang:5", 1);
  TuneOptions options = quick_options(path, 8, 4);
  options.measure.run_timeout_seconds = 60;
  TaskScheduler scheduler({task}, options);
  unsetenv("TESSEL_TEST_FAULT");
  std::thread ctrl_c([&]() {
    while (load_records(path).records.size() < 4) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(getpid(), SIGINT);
  });
  auto best = scheduler.tune();
  ctrl_c.join();
  EXPECT_TRUE(scheduler.interrupted());
  EXPECT_TRUE(std::isfinite(best[0]));
  LoadedRecords loaded = load_records(path);
  EXPECT_EQ(loaded.corrupt_lines, 0);
  ASSERT_EQ(loaded.records.size(), 4u);  // the first batch only
  for (const TuningRecord& r : loaded.records) EXPECT_EQ(r.error, MeasureError::kNone);
  // Our handler is back.
  EXPECT_EQ(test_sigints, 0);
  raise(SIGINT);
  EXPECT_EQ(test_sigints, 1);
  sigaction(SIGINT, &before, nullptr);
  std::filesystem::remove(path);
}

// Runs `body` with stdout on a pseudo-terminal and returns what it wrote.
template <typename F>
std::string on_terminal(F body) {
  int master = -1, slave = -1;
  if (openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return "";
  std::fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  dup2(slave, STDOUT_FILENO);
  body();
  std::cout.flush();
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  close(slave);
  std::string text;
  char buffer[4096];
  for (;;) {
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(master, &fds);
    timeval tv{0, 100000};
    if (select(master + 1, &fds, nullptr, nullptr, &tv) <= 0) break;
    ssize_t n = read(master, buffer, sizeof(buffer));
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  close(master);
  return text;
}

TEST(Search, ProgressIsABarOnATerminalAndLinesElsewhere) {
  std::vector<SearchTask> tasks = {testing::matmul_task(6, 10, 4), testing::elementwise_task()};
  std::string path = temp_path("progress.jsonl");
  TuneOptions options = quick_options(path, 4, 2);
  options.verbose = true;
  ::testing::internal::CaptureStdout();
  TaskScheduler(tasks, options).tune();
  std::string plain = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(plain.find("[tessel tune] round 1 | trials 2/4"), std::string::npos) << plain;
  EXPECT_NE(plain.find("round 2 | trials 4/4"), std::string::npos) << plain;
  EXPECT_NE(plain.find("2/2 tasks tuned"), std::string::npos) << plain;
  EXPECT_EQ(plain.find('\r'), std::string::npos) << plain;
  // The summary table: one row per task.
  EXPECT_NE(plain.find("GFLOP/s"), std::string::npos) << plain;
  EXPECT_NE(plain.find("matmul"), std::string::npos) << plain;
  EXPECT_NE(plain.find("elementwise"), std::string::npos) << plain;
  EXPECT_NE(plain.find("estimated model latency"), std::string::npos) << plain;

  std::filesystem::remove(path);
  options.trials = 6;
  std::string bar = on_terminal([&]() { TaskScheduler(tasks, options).tune(); });
  ASSERT_FALSE(bar.empty()) << "no pseudo-terminal";
  EXPECT_EQ(bar.find("[tessel tune] round"), std::string::npos) << bar;
  EXPECT_NE(bar.find("\r[########"), std::string::npos) << bar;
  EXPECT_NE(bar.find("6/6 trials"), std::string::npos) << bar;
  EXPECT_NE(bar.find("2/2 tasks tuned"), std::string::npos) << bar;
  EXPECT_NE(bar.find("model "), std::string::npos) << bar;
  // Three rounds redraw one line: the bar's line ends once, before the summary.
  size_t table = bar.find("GFLOP/s");
  ASSERT_NE(table, std::string::npos) << bar;
  std::string before_table = bar.substr(0, bar.rfind('\n', table));
  EXPECT_EQ(before_table.find('\n'), before_table.rfind('\n')) << bar;
  std::filesystem::remove(path);
}

SearchTask conv_nchwc_task(int cin, int cout, int size, int kernel, int pad) {
  te::Tensor data = testing::f32({1, cin / 16, size, size + 2, 16}, "data");
  te::Tensor weight = testing::f32({cout / 16, cin / 16, kernel, kernel, 16, 16}, "packed_weight");
  return SearchTask({te::ops::conv2d_nchwc(data, weight, {1, 1}, {pad, pad, pad, pad})}, {}, codegen::Target::host(),
                    "conv2d_nchwc");
}

// The default schedule is measured in the first batch as an ordinary record, replays and computes
// the right answer, and a resumed run does not measure it again.
TEST(Search, FirstBatchHoldsTheDefaultSchedule) {
  for (SearchTask task : {conv_nchwc_task(16, 16, 3, 3, 1), testing::matmul_task(12, 10, 8)}) {
    std::string default_json = te::steps_to_json(task.default_schedule().steps());
    ASSERT_FALSE(task.default_schedule().steps().empty()) << task.name();
    te::Schedule replayed = task.replay(te::steps_from_json(default_json));
    testing::expect_matches_reference(task, replayed, task.name() + " default schedule replayed");
    std::string path = temp_path("baseline.jsonl");
    TaskScheduler({task}, quick_options(path, 3, 3)).tune();
    std::vector<TuningRecord> records = load_records(path).records;
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].steps_json, default_json) << task.name();
    EXPECT_EQ(records[0].error, MeasureError::kNone) << task.name();
    // Resuming adds candidates, never the default again.
    TaskScheduler({task}, quick_options(path, 6, 3)).tune();
    records = load_records(path).records;
    ASSERT_EQ(records.size(), 6u);
    int defaults = 0;
    for (const TuningRecord& r : records) defaults += r.steps_json == default_json;
    EXPECT_EQ(defaults, 1) << task.name();
    std::filesystem::remove(path);
  }
  // A policy whose records already hold the default does not hand it out.
  SearchTask task = testing::matmul_task(12, 10, 8);
  std::string default_json = te::steps_to_json(task.default_schedule().steps());
  SearchPolicy policy(task, nullptr, quick_options("", 8, 8), 3);
  policy.resume_from({make_record(task, default_json, 1e-4)});
  for (const auto& steps : policy.next_batch(8)) EXPECT_NE(te::steps_to_json(steps), default_json);
}

// Floating-point operations per run against hand counts (multiply-add = 2; padding taps count,
// index arithmetic and padding selects do not).
TEST(Search, FlopCountsMatchHandCounts) {
  using testing::f32;
  codegen::Target host = codegen::Target::host();
  EXPECT_EQ(testing::matmul_task(7, 5, 3).flop_count(), 2.0 * 7 * 5 * 3);
  // NCHW16c, 1x1: 16 -> 16 channels on 8x8.
  te::Tensor d = f32({1, 1, 8, 8, 16}, "d"), w = f32({1, 1, 1, 1, 16, 16}, "w");
  EXPECT_EQ(SearchTask({te::ops::conv2d_nchwc(d, w)}, {}, host).flop_count(), 2.0 * 16 * 16 * 8 * 8);
  // NCHW16c, 3x3 pad 1, stride 2: 32 -> 48 channels on 9x7 (output 5x4).
  te::Tensor d2 = f32({1, 2, 9, 7, 16}, "d"), w2 = f32({3, 2, 3, 3, 16, 16}, "w");
  SearchTask strided({te::ops::conv2d_nchwc(d2, w2, {2, 2}, {1, 1, 1, 1})}, {}, host);
  EXPECT_EQ(strided.flop_count(), 2.0 * 32 * 48 * 9 * 5 * 4);
  // NCHW, 3x3 pad 1: 3 -> 5 channels on 11x9.
  EXPECT_EQ(testing::conv_task().flop_count(), 2.0 * 3 * 5 * 9 * 11 * 9);
  // Depthwise NCHW (groups = channels), 3x3 pad 1 on 6 channels of 10x10.
  te::Tensor d3 = f32({1, 6, 10, 10}, "d"), w3 = f32({6, 1, 3, 3}, "w");
  SearchTask depthwise({te::ops::conv2d_nchw(d3, w3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 6)}, {}, host);
  EXPECT_EQ(depthwise.flop_count(), 2.0 * 6 * 9 * 10 * 10);
  // Dense [3, 20] x [7, 20]^T, and with a bias (one add per output).
  te::Tensor x = f32({3, 20}, "x"), wd = f32({7, 20}, "w"), b = f32({7}, "b");
  EXPECT_EQ(SearchTask({te::ops::dense(x, wd)}, {}, host).flop_count(), 2.0 * 3 * 7 * 20);
  EXPECT_EQ(SearchTask({te::ops::dense(x, wd, b)}, {}, host).flop_count(), 2.0 * 3 * 7 * 20 + 3 * 7);
}

TEST(Search, CostModelIsKeptInTheDatabase) {
  SearchTask task = testing::matmul_task(8, 12, 6);
  std::string path = temp_path("models.db");
  std::string target = task.target().to_string();
  TuneOptions options = quick_options(path, 4, 4);
  options.cost_model = "xgboost";
  options.confirm_top = 0;  // record counts below are trial counts
  TaskScheduler({task}, options).tune();
  {
    Database db(path);
    EXPECT_EQ(db.count(task.workload_key(), target), 4);
    // The workload's DAG text is stored with its records.
    std::vector<WorkloadSummary> workloads = db.workloads();
    ASSERT_EQ(workloads.size(), 1u);
    EXPECT_EQ(workloads[0].workload_key, task.workload_key());
    EXPECT_EQ(workloads[0].dag_text, te::workload_text(task.outputs()));
    EXPECT_FALSE(workloads[0].dag_text.empty());
    std::optional<std::string> blob = db.latest_cost_model(target, "xgboost");
    ASSERT_TRUE(blob.has_value());
    // The snapshot is a loadable model file.
    std::string file = temp_path("model.bin");
    std::ofstream(file, std::ios::binary) << *blob;
    auto model = make_xgboost_cost_model(1);
    EXPECT_NO_THROW(model->load(file));
    EXPECT_THROW(make_random_cost_model(1)->load(file), CompileError);
    std::filesystem::remove(file);
  }
  // The next run starts from the snapshot (no warning) and resumes from the records.
  options.trials = 8;
  ::testing::internal::CaptureStderr();
  TaskScheduler({task}, options).tune();
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log.find("cost model"), std::string::npos) << log;
  EXPECT_EQ(Database(path).count(task.workload_key(), target), 8);
  // A broken snapshot is a warning, never a failed tuning.
  Database(path).put_cost_model(target, "xgboost", "not a model");
  options.trials = 10;
  ::testing::internal::CaptureStderr();
  auto best = TaskScheduler({task}, options).tune();
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("the stored cost model was not loaded"), std::string::npos) << log;
  EXPECT_TRUE(std::isfinite(best[0]));
  EXPECT_EQ(Database(path).count(task.workload_key(), target), 10);
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
}

}  // namespace
}  // namespace tessel::autotune
