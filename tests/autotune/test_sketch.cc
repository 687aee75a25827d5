// Sketch rules and random annotation: the expected sketches per DAG kind, every sampled or
// mutated candidate lowers, compiles and computes what the unscheduled DAG computes, and every
// candidate's step list reads back into a candidate with the same steps.
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

// Every sampled and mutated candidate reads back from its steps into a candidate that writes the
// same steps; foreign step lists read back into nothing.
void check_round_trip(const SearchTask& task, int per_sketch, unsigned seed) {
  std::vector<Sketch> sketches = generate_sketches(task);
  std::mt19937_64 rng(seed);
  for (int s = 0; s < static_cast<int>(sketches.size()); ++s) {
    for (int i = 0; i < per_sketch; ++i) {
      Candidate c = sample_candidate(task, sketches, s, rng);
      for (int m = 0; m < i % 3; ++m) c = mutate_candidate(task, sketches, c, rng);
      std::vector<te::Step> steps = apply_candidate(task, sketches, c).steps();
      std::optional<Candidate> back = candidate_from_steps(task, sketches, steps);
      ASSERT_TRUE(back.has_value()) << task.name() << " sketch [" << sketches[s].to_string() << "] "
                                    << te::steps_to_json(steps);
      EXPECT_EQ(back->sketch, c.sketch);
      EXPECT_EQ(te::steps_to_json(apply_candidate(task, sketches, *back).steps()), te::steps_to_json(steps));
      // Mutating the read-back candidate works like mutating the original.
      te::Schedule mutated = apply_candidate(task, sketches, mutate_candidate(task, sketches, *back, rng));
      EXPECT_FALSE(mutated.steps().empty() && !steps.empty());
      // One step more is not a candidate's step list.
      std::vector<te::Step> extra = steps;
      extra.push_back(te::Step{"unroll", extra.empty() ? 1 : extra.back().stage, {0}, {}, ""});
      EXPECT_FALSE(candidate_from_steps(task, sketches, extra).has_value()) << te::steps_to_json(extra);
    }
  }
}

TEST(Sketch, CandidatesReadBackFromSteps) {
  check_round_trip(testing::matmul_task(37, 29, 23), 12, 6);
  check_round_trip(testing::matmul_bias_relu_task(19, 33, 17), 8, 7);
  check_round_trip(testing::conv_task(), 6, 8);
  check_round_trip(testing::row_sum_task(), 8, 9);
  check_round_trip(testing::elementwise_task(), 6, 10);
}

TEST(Sketch, ForeignStepsDoNotReadBack) {
  SearchTask task = testing::matmul_task(16, 16, 16);
  std::vector<Sketch> sketches = generate_sketches(task);
  // The default schedule is not written by the sketch rules.
  te::Schedule def = task.default_schedule();
  std::optional<Candidate> c = candidate_from_steps(task, sketches, def.steps());
  if (c) EXPECT_EQ(te::steps_to_json(apply_candidate(task, sketches, *c).steps()), te::steps_to_json(def.steps()));
  // A lone split of the output stage is nobody's candidate.
  te::Schedule s = task.fresh_schedule();
  te::Stage out = s[task.outputs()[0]];
  out.split(out.axis()[0], 4);
  EXPECT_FALSE(candidate_from_steps(task, sketches, s.steps()).has_value());
}

}  // namespace
}  // namespace tessel::autotune
