// Sketch rules and random annotation: the expected sketches per DAG kind, every sampled or
// mutated candidate lowers, compiles and computes what the unscheduled DAG computes, and every
// candidate's step list reads back into a candidate with the same steps; padding stages of tiled
// convs are inlined or computed at the root; parallel loops feed every core; the tile space holds
// register-blocked conv micro-kernels.
#include <gtest/gtest.h>

#include "tessel/autotune/sketch.h"
#include "tessel/ir/functor.h"
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
  // B's rows (29 columns) are too short to pack; 70 columns are not.
  for (const Sketch& s : mm) {
    for (const StagePlan& p : s.plans) EXPECT_TRUE(p.packed.empty()) << s.to_string();
  }
  SearchTask wide = testing::matmul_task(21, 70, 19);
  std::vector<Sketch> packed_sketches = generate_sketches(wide);
  int packed = 0;
  for (const Sketch& s : packed_sketches) {
    for (const StagePlan& p : s.plans) {
      if (p.packed.empty()) continue;
      ++packed;
      EXPECT_EQ(p.rule, StageRule::kTile);
      ASSERT_EQ(p.packed.size(), 1u);
      EXPECT_EQ(wide.fresh_schedule().stage_node(p.packed[0]).op->name, "B");
    }
  }
  EXPECT_EQ(packed, 1);
  auto rows = generate_sketches(testing::row_sum_task());
  EXPECT_TRUE(has_rule(rows, StageRule::kRfactor));
  EXPECT_FALSE(has_rule(rows, StageRule::kTile));
  auto ew = generate_sketches(testing::elementwise_task());
  EXPECT_FALSE(has_rule(ew, StageRule::kTile));
  EXPECT_TRUE(has_rule(ew, StageRule::kInline));
}

TEST(Sketch, SampledMatmulCandidatesAreCorrect) { check_samples(testing::matmul_task(37, 29, 23), 6, 1); }
// Rows of B long enough to pack into tile panels; 70 columns leave partial tiles at the edge.
TEST(Sketch, SampledPackedMatmulCandidatesAreCorrect) { check_samples(testing::matmul_task(21, 70, 19), 4, 11); }
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
  check_round_trip(testing::matmul_task(21, 70, 19), 8, 12);
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
  if (c) {
    EXPECT_EQ(te::steps_to_json(apply_candidate(task, sketches, *c).steps()), te::steps_to_json(def.steps()));
  }
  // A lone split of the output stage is nobody's candidate.
  te::Schedule s = task.fresh_schedule();
  te::Stage out = s[task.outputs()[0]];
  out.split(out.axis()[0], 4);
  EXPECT_FALSE(candidate_from_steps(task, sketches, s.steps()).has_value());
}

SearchTask conv_nchwc_task(int cin, int cout, int height, int width, int kernel, int pad) {
  te::Tensor data = testing::f32({1, cin / 16, height, width, 16}, "data");
  te::Tensor weight = testing::f32({cout / 16, cin / 16, kernel, kernel, 16, 16}, "packed_weight");
  return SearchTask({te::ops::conv2d_nchwc(data, weight, {1, 1}, {pad, pad, pad, pad})}, {}, codegen::Target::host(),
                    "conv2d_nchwc");
}

// A padded NCHWc conv offers its padding stage inlined and computed at the root; every sample of
// every sketch computes the right answer.
TEST(Sketch, PaddingStageIsInlinedOrComputedAtRoot) {
  SearchTask task = conv_nchwc_task(16, 16, 3, 5, 3, 1);
  std::vector<Sketch> sketches = generate_sketches(task);
  bool inline_tile = false, root_tile = false;
  for (const Sketch& sk : sketches) {
    bool tile = false, pad_inline = false, pad_root = false;
    for (const StagePlan& p : sk.plans) {
      tile |= p.rule == StageRule::kTile;
      bool pad = task.fresh_schedule().stage_node(p.stage).op->tag == "pad";
      pad_inline |= pad && p.rule == StageRule::kInline;
      pad_root |= pad && p.rule == StageRule::kSimple;
    }
    inline_tile |= tile && pad_inline;
    root_tile |= tile && pad_root;
  }
  EXPECT_TRUE(inline_tile);
  EXPECT_TRUE(root_tile);
  check_samples(task, 2, 11);
  check_round_trip(task, 4, 12);
  // Without padding there is no such stage and the conv is the only tunable stage.
  EXPECT_EQ(generate_sketches(conv_nchwc_task(16, 32, 5, 7, 1, 0)).size(), 2u);
}

// The extent of a stage's fused parallel loop, from its annotation and loop extents (1: none).
int64_t parallel_extent(const SearchTask& task, const StagePlan& plan, const StageAnnotation& a) {
  const te::StageNode& node = task.fresh_schedule().stage_node(plan.stage);
  int64_t product = 1;
  for (int d = 0; d < a.parallel_depth; ++d) {
    int64_t extent = *as_const_int(node.op->axis[d]->dom.extent);
    int64_t tile = 1;
    if (plan.rule == StageRule::kTile) tile = a.spatial[d][0] * a.spatial[d][1] * a.spatial[d][2];
    if (plan.rule == StageRule::kSimple && d + 1 == static_cast<int>(node.op->axis.size()) && a.vector_factor > 1) {
      tile = a.vector_factor;
    }
    product *= (extent + tile - 1) / tile;
  }
  return product;
}

// Every candidate's parallel loops give each core work when the loop nest allows it: the fused
// parallel loop of the conv stage (and of a root padding stage) reaches the core count.
TEST(Sketch, ParallelLoopsFeedEveryCore) {
  for (int cores : {2, 8, 24}) {
    SearchTask task = conv_nchwc_task(32, 64, 6, 9, 3, 1);  // 4 x 6 x 9 output tiles of 16 channels
    HardwareParams hw = task.hardware();
    hw.num_cores = cores;
    task.set_hardware(hw);
    std::vector<Sketch> sketches = generate_sketches(task);
    std::mt19937_64 rng(cores);
    for (int s = 0; s < static_cast<int>(sketches.size()); ++s) {
      for (int i = 0; i < 40; ++i) {
        Candidate c = sample_candidate(task, sketches, s, rng);
        for (int m = 0; m < i % 4; ++m) c = mutate_candidate(task, sketches, c, rng);
        for (size_t p = 0; p < c.stages.size(); ++p) {
          const StagePlan& plan = sketches[s].plans[p];
          if (plan.rule != StageRule::kTile && plan.rule != StageRule::kSimple) continue;
          EXPECT_GE(parallel_extent(task, plan, c.stages[p]), cores)
              << "cores " << cores << " sketch [" << sketches[s].to_string() << "] stage " << plan.stage << " "
              << te::steps_to_json(apply_candidate(task, sketches, c).steps());
        }
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
  // A loop nest with fewer iterations than cores is parallel over all of them; the parallel loop
  // of the lowered function says so.
  SearchTask tiny = testing::elementwise_task();  // 7 x 45
  HardwareParams hw = tiny.hardware();
  hw.num_cores = 1000;
  tiny.set_hardware(hw);
  std::vector<Sketch> sketches = generate_sketches(tiny);
  std::mt19937_64 rng(3);
  struct Finder : IRVisitor {
    std::vector<int64_t> extents;
    void visit_For(const ForNode* op) override {
      if (op->for_kind == ForKind::kParallel) extents.push_back(*as_const_int(op->extent));
      IRVisitor::visit_For(op);
    }
  };
  for (int i = 0; i < 8; ++i) {
    Candidate c = sample_candidate(tiny, sketches, 0, rng);
    te::Schedule schedule = apply_candidate(tiny, sketches, c);
    Finder finder;
    finder.visit(tiny.lower(schedule, "candidate")->body);
    ASSERT_EQ(finder.extents.size(), 1u);
    int64_t vector = c.stages.back().vector_factor > 1 ? c.stages.back().vector_factor : 1;
    EXPECT_EQ(finder.extents[0], 7 * ((45 + vector - 1) / vector)) << te::steps_to_json(schedule.steps());
  }
}

// The tile sketch's space holds the shape of a hand-written direct conv: the 16-channel block as
// the vector register, a register block of 4..14 output columns, the input-channel block whole
// in the inner reduction, and nothing else in the register tile.
TEST(Sketch, TileSpaceHoldsRegisterBlockedConvKernels) {
  SearchTask task = conv_nchwc_task(64, 64, 14, 14, 3, 1);
  std::vector<Sketch> sketches = generate_sketches(task);
  std::mt19937_64 rng(17);
  int micro_kernels = 0, samples = 0;
  for (int s = 0; s < static_cast<int>(sketches.size()); ++s) {
    size_t tile = 0;
    while (tile < sketches[s].plans.size() && sketches[s].plans[tile].rule != StageRule::kTile) ++tile;
    if (tile == sketches[s].plans.size()) continue;
    for (int i = 0; i < 100; ++i, ++samples) {
      Candidate c = sample_candidate(task, sketches, s, rng);
      const StageAnnotation& a = c.stages[tile];
      ASSERT_EQ(a.spatial.size(), 5u);  // n, oc block, oh, ow, oc lane
      ASSERT_EQ(a.reduce.size(), 4u);   // ic block, kh, kw, ic lane
      bool shape = a.spatial[4][2] == 16 && a.spatial[3][2] >= 4 && a.spatial[3][2] <= 14 &&
                   a.spatial[0][2] == 1 && a.spatial[1][2] == 1 && a.spatial[3][1] == 1 && a.spatial[4][1] == 1 &&
                   a.reduce[0] == 1 && a.reduce[3] == 16 && a.vectorize;
      micro_kernels += shape;
    }
  }
  ASSERT_GT(samples, 0);
  EXPECT_GE(micro_kernels, samples / 25) << micro_kernels << " of " << samples;
}

}  // namespace
}  // namespace tessel::autotune
