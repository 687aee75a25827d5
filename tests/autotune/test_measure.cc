// Measurement: valid candidates get positive costs, broken ones their error codes, injected faults
// (crash, hang, wrong answer, hanging build) in isolated children cost one candidate each, and a
// cancelled batch is abandoned promptly.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "tessel/autotune/measure.h"
#include "tessel/autotune/search.h"
#include "test_util.h"

namespace tessel::autotune {
namespace {

std::vector<std::vector<te::Step>> sample_batch(const SearchTask& task, int n, unsigned seed) {
  auto sketches = generate_sketches(task);
  std::mt19937_64 rng(seed);
  std::vector<std::vector<te::Step>> batch;
  for (int i = 0; i < n; ++i) {
    Candidate c = sample_candidate(task, sketches, 0, rng);
    batch.push_back(apply_candidate(task, sketches, c).steps());
  }
  return batch;
}

MeasureOptions quick_options() { return testing::quick_measure(2, 1); }

TEST(Measure, ValidCandidatesHaveCosts) {
  SearchTask task = testing::matmul_task(33, 47, 19);
  Measurer m(task, quick_options());
  auto results = m.measure(sample_batch(task, 4, 11));
  ASSERT_EQ(results.size(), 4u);
  for (const MeasureResult& r : results) {
    EXPECT_EQ(r.error, MeasureError::kNone) << r.message;
    ASSERT_EQ(r.costs.size(), 2u);
    EXPECT_GT(r.costs[0], 0);
    EXPECT_FALSE(r.features.empty());
  }
}

TEST(Measure, InvalidStepsAreInstantiationErrors) {
  SearchTask task = testing::matmul_task(8, 8, 8);
  Measurer m(task, quick_options());
  std::vector<te::Step> bad = {te::Step{"split", 0, {7}, {2}, ""}};  // stage 0 is a placeholder
  std::vector<te::Step> bad_axis = {te::Step{"split", 2, {9}, {2}, ""}};
  auto results = m.measure({bad, bad_axis});
  EXPECT_EQ(results[0].error, MeasureError::kInstantiation);
  EXPECT_EQ(results[1].error, MeasureError::kInstantiation);
  EXPECT_FALSE(results[1].message.empty());
}

TEST(Measure, InterleavedCandidatesGetOneCostPerRound) {
  SearchTask task = testing::matmul_task(21, 35, 13);
  Measurer m(task, quick_options());
  std::vector<std::vector<te::Step>> batch = sample_batch(task, 3, 14);
  batch.insert(batch.begin() + 1, {te::Step{"split", 0, {7}, {2}, ""}});  // does not apply
  auto results = m.measure_interleaved(batch, 5);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[1].error, MeasureError::kInstantiation);
  for (size_t k : {0u, 2u, 3u}) {
    EXPECT_EQ(results[k].error, MeasureError::kNone) << results[k].message;
    ASSERT_EQ(results[k].costs.size(), 5u);
    for (double c : results[k].costs) EXPECT_GT(c, 0);
    EXPECT_FALSE(results[k].features.empty());
  }
  EXPECT_FALSE(m.interrupted());
}

TEST(Measure, InjectedFaultsAreIsolated) {
  SearchTask task = testing::matmul_task(21, 35, 13);
  setenv("TESSEL_TEST_FAULT", "crash:1,hang:2,wrong:3", 1);
  Measurer m(task, quick_options());
  unsetenv("TESSEL_TEST_FAULT");
  auto results = m.measure(sample_batch(task, 5, 12));
  EXPECT_EQ(results[0].error, MeasureError::kNone) << results[0].message;
  EXPECT_EQ(results[1].error, MeasureError::kRuntime) << results[1].message;
  EXPECT_EQ(results[2].error, MeasureError::kRunTimeout) << results[2].message;
  EXPECT_EQ(results[3].error, MeasureError::kWrongAnswer) << results[3].message;
  EXPECT_EQ(results[4].error, MeasureError::kNone) << results[4].message;
  // The measurer goes on working after the faults.
  auto more = m.measure(sample_batch(task, 1, 13));
  EXPECT_EQ(more[0].error, MeasureError::kNone) << more[0].message;
}

TEST(Measure, HangingBuildCostsOneCandidate) {
  SearchTask task = testing::matmul_task(13, 22, 7);
  setenv("TESSEL_TEST_FAULT", "buildhang:1", 1);
  MeasureOptions options = quick_options();
  // Only the hanging build should reach it; the others build in well under a second, but on a
  // loaded machine (the test suite runs two at a time on 2 cores) a build can take several.
  options.build_timeout_seconds = 5;
  Measurer m(task, options);
  unsetenv("TESSEL_TEST_FAULT");
  auto results = m.measure(sample_batch(task, 3, 14));
  EXPECT_FALSE(m.interrupted());
  EXPECT_EQ(results[0].error, MeasureError::kNone) << results[0].message;
  EXPECT_EQ(results[1].error, MeasureError::kBuildTimeout) << results[1].message;
  EXPECT_TRUE(results[1].costs.empty());
  EXPECT_EQ(results[2].error, MeasureError::kNone) << results[2].message;
  EXPECT_GT(results[2].costs.at(0), 0);
}

TEST(Measure, CancelledBatchIsAbandoned) {
  SearchTask task = testing::matmul_task(11, 9, 5);
  setenv("TESSEL_TEST_FAULT", "hang:0", 1);
  MeasureOptions options = quick_options();
  options.run_timeout_seconds = 300;  // only the cancellation can end the hanging child
  std::atomic<bool> stop{false};
  options.cancelled = [&]() { return stop.load(); };
  Measurer m(task, options);
  unsetenv("TESSEL_TEST_FAULT");
  std::thread canceller([&]() {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stop = true;
  });
  auto results = m.measure(sample_batch(task, 2, 15));
  canceller.join();
  EXPECT_TRUE(m.interrupted());
  for (const MeasureResult& r : results) EXPECT_NE(r.error, MeasureError::kRunTimeout) << r.message;
  // The next batch is measured normally.
  stop = false;
  auto more = m.measure(sample_batch(task, 1, 16));
  EXPECT_FALSE(m.interrupted());
  EXPECT_EQ(more[0].error, MeasureError::kNone) << more[0].message;
}

TEST(Measure, TuningGoesOnAfterFaultsAndRecordsThem) {
  std::string path = testing::temp_path("tessel_faults", "records.jsonl");
  setenv("TESSEL_TEST_FAULT", "crash:0,wrong:2,hang:5", 1);
  TuneOptions options = testing::quick_tune(path, /*trials=*/12, /*batch=*/6, /*seed=*/3, quick_options());
  TaskScheduler scheduler({testing::matmul_task(17, 40, 9)}, options);
  unsetenv("TESSEL_TEST_FAULT");
  auto best = scheduler.tune();
  EXPECT_TRUE(std::isfinite(best[0]));
  LoadedRecords loaded = load_records(path);
  ASSERT_EQ(loaded.records.size(), 12u);
  EXPECT_EQ(loaded.records[0].error, MeasureError::kRuntime);
  EXPECT_EQ(loaded.records[2].error, MeasureError::kWrongAnswer);
  EXPECT_EQ(loaded.records[5].error, MeasureError::kRunTimeout);
  int valid = 0;
  std::string failed;
  for (size_t i = 0; i < loaded.records.size(); ++i) {
    const TuningRecord& r = loaded.records[i];
    valid += std::isfinite(r.mean_cost());
    if (!std::isfinite(r.mean_cost())) failed += " #" + std::to_string(i) + ":" + error_name(r.error);
  }
  EXPECT_GE(valid, 8) << "failed records:" << failed;
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tessel::autotune
