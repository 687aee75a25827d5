// Tuning records (JSON lines round trip, corrupt lines skipped and counted, best record per key
// and target, the schedule provider), the reproducibility of the search for a fixed seed, and
// tuning into (and resuming from) a JSON-lines file or an SQLite database alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "tessel/autotune/database.h"
#include "tessel/autotune/records.h"
#include "tessel/autotune/search.h"
#include "test_util.h"

namespace tessel::autotune {
namespace {

// A record of the schedule "split by `factor`" (records of one schedule supersede each other).
TuningRecord make_record(const std::string& key, const std::string& target, double cost, MeasureError error,
                         int64_t factor) {
  TuningRecord r;
  r.workload_key = key;
  r.task_name = "t";
  r.target = target;
  r.steps_json = te::steps_to_json({te::Step{"split", 2, {0}, {factor}, ""}});
  if (error == MeasureError::kNone) r.costs = {cost, cost * 1.5};
  r.error = error;
  r.timestamp = 1700000000.5;
  return r;
}

TEST(Records, RoundTripCorruptLinesAndBest) {
  std::string path = (std::filesystem::temp_directory_path() / ("tessel_records_" + std::to_string(getpid()) + ".jsonl")).string();
  std::filesystem::remove(path);
  std::string host = codegen::Target::host().to_string();
  append_records(path, {make_record("k1", host, 3e-3, MeasureError::kNone, 4), make_record("k1", host, 1e-3, MeasureError::kNone, 8)});
  {
    std::ofstream out(path, std::ios::app);
    out << "{\"version\": 1, \"workload_key\": \"k1\"\n";  // truncated
    out << "not json at all\n";
  }
  append_records(path, {make_record("k1", "llvm -mtriple=aarch64-linux-gnu -mcpu=generic -mattr=", 1e-4, MeasureError::kNone, 8),
                        make_record("k1", host, 0, MeasureError::kWrongAnswer, 16)});
  LoadedRecords loaded = load_records(path);
  EXPECT_EQ(loaded.corrupt_lines, 2);
  ASSERT_EQ(loaded.records.size(), 4u);
  EXPECT_EQ(loaded.records[3].error, MeasureError::kWrongAnswer);
  EXPECT_EQ(loaded.records[0].costs, make_record("k1", host, 3e-3, MeasureError::kNone, 4).costs);  // exact round trip
  auto best = best_record(loaded.records, "k1", host);
  ASSERT_TRUE(best);
  EXPECT_DOUBLE_EQ(best->costs[0], 1e-3);
  EXPECT_FALSE(best_record(loaded.records, "k2", host));
  RecordScheduleProvider provider(path);
  EXPECT_EQ(provider.corrupt_lines(), 2);
  auto steps = provider.find("k1", codegen::Target::host());
  ASSERT_TRUE(steps);
  EXPECT_EQ(steps->at(0).kind, "split");
  EXPECT_FALSE(provider.find("k2", codegen::Target::host()));
  std::filesystem::remove(path);
}

TEST(Search, FixedSeedIsReproducible) {
  SearchTask task = testing::matmul_task(64, 48, 32);
  TuneOptions options;
  options.population = 24;
  options.generations = 2;
  auto run = [&](unsigned seed) {
    auto model = make_random_cost_model(5);
    SearchPolicy policy(task, model.get(), options, seed);
    std::vector<std::string> out;
    for (int round = 0; round < 2; ++round) {
      auto batch = policy.next_batch(6);
      std::vector<MeasureResult> results(batch.size());
      for (size_t i = 0; i < batch.size(); ++i) {
        out.push_back(te::steps_to_json(batch[i]));
        results[i].costs = {1e-3 * static_cast<double>(i + 1)};  // synthetic, identical for both runs
      }
      policy.record_results(batch, results);
    }
    return out;
  };
  auto a = run(42), b = run(42), c = run(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::set<std::string> unique(a.begin(), a.end());
  EXPECT_EQ(unique.size(), a.size()) << "a candidate was proposed twice";
}

class TuneInto : public ::testing::TestWithParam<const char*> {};

TEST_P(TuneInto, BestRecordReplaysToCorrectResult) {
  std::string path = (std::filesystem::temp_directory_path() / ("tessel_tune_" + std::to_string(getpid()) + GetParam())).string();
  std::filesystem::remove(path);
  SearchTask task = testing::matmul_bias_relu_task(23, 40, 16);
  TuneOptions options;
  options.trials = 8;
  options.batch_size = 8;
  options.population = 16;
  options.generations = 2;
  options.records_path = path;
  options.verbose = false;
  options.measure.repeat = 1;
  options.measure.min_repeat_seconds = 0.001;
  TaskScheduler({task}, options).tune();
  // The 8 trials, then the best 3 schedules and the default schedule (the first trial) measured
  // again: the same steps, stored again.
  std::vector<TuningRecord> stored = load_records(path).records;
  std::vector<std::pair<double, std::string>> first;
  for (size_t i = 0; i < 8; ++i) {
    if (std::isfinite(stored[i].mean_cost())) first.push_back({stored[i].mean_cost(), stored[i].steps_json});
  }
  std::sort(first.begin(), first.end());
  ASSERT_GE(first.size(), 3u);
  std::string default_steps = te::steps_to_json(task.default_schedule().steps());
  EXPECT_EQ(stored[0].steps_json, default_steps);
  std::vector<std::string> confirmed = {first[0].second, first[1].second, first[2].second};
  if (std::find(confirmed.begin(), confirmed.end(), default_steps) == confirmed.end() &&
      std::isfinite(stored[0].mean_cost())) {
    confirmed.push_back(default_steps);
  }
  // The first pass re-measures those; a later pass (when a schedule timed once rises to the top)
  // only schedules of the 8 trials.
  ASSERT_GE(stored.size(), 8 + confirmed.size());
  for (size_t k = 0; k < confirmed.size(); ++k) EXPECT_EQ(stored[8 + k].steps_json, confirmed[k]) << k;
  for (size_t k = 8; k < stored.size(); ++k) {
    EXPECT_TRUE(std::any_of(stored.begin(), stored.begin() + 8,
                            [&](const TuningRecord& r) { return r.steps_json == stored[k].steps_json; }));
  }
  RecordScheduleProvider provider(path);
  auto steps = provider.find(task.workload_key(), task.target());
  ASSERT_TRUE(steps);
  te::Schedule s = task.replay(*steps);
  testing::expect_matches_reference(task, s, "best record");
  // Resuming with the same budget measures nothing new (and confirms nothing again).
  TaskScheduler({task}, options).tune();
  EXPECT_EQ(load_records(path).records.size(), stored.size());
  if (!is_jsonl_path(path)) {
    Database db(path, /*read_only=*/true);
    EXPECT_EQ(db.count(task.workload_key(), task.target().to_string()), static_cast<int64_t>(stored.size()));
    auto best = db.best(task.workload_key(), task.target().to_string());
    ASSERT_TRUE(best);
    EXPECT_EQ(te::steps_from_json(best->steps_json), *steps);
  }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Records, TuneInto, ::testing::Values(".jsonl", ".db"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param + 1);
                         });

}  // namespace
}  // namespace tessel::autotune
