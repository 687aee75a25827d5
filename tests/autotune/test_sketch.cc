// Sketch rules and random annotation: the expected sketches per DAG kind, and every sampled or
// mutated candidate lowers, compiles and computes what the unscheduled DAG computes.
#include <gtest/gtest.h>

#include "tessel/autotune/sketch.h"
#include "tessel/te/schedule.h"
#include "test_util.h"

namespace tessel::autotune {
namespace {

using testing::expect_matches_reference;

bool has_rule(const std::vector<Sketch>& sketches, StageRule rule) {
  for (const Sketch& s : sketches) {
    for (const StagePlan& p : s.plans) {
      if (p.rule == rule) return true;
    }
  }
  return false;
}

void check_samples(const SearchTask& task, int per_sketch, unsigned seed) {
  std::vector<Sketch> sketches = generate_sketches(task);
  ASSERT_FALSE(sketches.empty());
  std::mt19937_64 rng(seed);
  for (int s = 0; s < static_cast<int>(sketches.size()); ++s) {
    for (int i = 0; i < per_sketch; ++i) {
      Candidate c = sample_candidate(task, sketches, s, rng);
      if (i % 2 == 1) c = mutate_candidate(task, sketches, mutate_candidate(task, sketches, c, rng), rng);
      te::Schedule schedule = apply_candidate(task, sketches, c);
      std::string what = task.name() + " sketch [" + sketches[s].to_string() + "] sample " + std::to_string(i) +
                         " steps " + te::steps_to_json(schedule.steps());
      // The steps replay onto a fresh schedule (that is how records are used).
      te::Schedule replayed = task.replay(schedule.steps());
      expect_matches_reference(task, replayed, what);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(Sketch, RulesPerDagKind) {
  auto mm = generate_sketches(testing::matmul_task(37, 29, 23));
  EXPECT_TRUE(has_rule(mm, StageRule::kTile));
  auto fused = generate_sketches(testing::matmul_bias_relu_task(16, 24, 8));
  EXPECT_TRUE(has_rule(fused, StageRule::kFusedInto));
  EXPECT_TRUE(has_rule(fused, StageRule::kInline));
  auto rows = generate_sketches(testing::row_sum_task());
  EXPECT_TRUE(has_rule(rows, StageRule::kRfactor));
  EXPECT_FALSE(has_rule(rows, StageRule::kTile));
  auto ew = generate_sketches(testing::elementwise_task());
  EXPECT_FALSE(has_rule(ew, StageRule::kTile));
  EXPECT_TRUE(has_rule(ew, StageRule::kInline));
}

TEST(Sketch, SampledMatmulCandidatesAreCorrect) { check_samples(testing::matmul_task(37, 29, 23), 6, 1); }
TEST(Sketch, SampledFusedMatmulCandidatesAreCorrect) { check_samples(testing::matmul_bias_relu_task(19, 33, 17), 5, 2); }
TEST(Sketch, SampledConvCandidatesAreCorrect) { check_samples(testing::conv_task(), 4, 3); }
TEST(Sketch, SampledReductionCandidatesAreCorrect) { check_samples(testing::row_sum_task(), 4, 4); }
TEST(Sketch, SampledElementwiseCandidatesAreCorrect) { check_samples(testing::elementwise_task(), 4, 5); }

}  // namespace
}  // namespace tessel::autotune
