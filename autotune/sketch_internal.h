// Facts about a task's stages that sketch rules and annotation share (private to autotune/).
#pragma once

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "tessel/autotune/sketch.h"

namespace tessel::autotune {

using te::IterVar;

struct StageFacts {
  struct Stage {
    bool compute = false, reduction = false, output = false, reuse = false, constant = false;
    bool conditional = false;  // elementwise with a Select in its value (padding)
    int64_t spatial_size = 1, reduce_size = 1;
  };
  std::vector<Stage> stages;              // indexed like the fresh schedule's stages
  std::vector<std::vector<int>> consumers;  // stage -> stages reading it
};

StageFacts analyze_stages(const SearchTask& task);
// Constant extent of an iter var's domain, or -1.
int64_t constant_extent(const IterVar& iv);
// The output stage a reduction's tile can be fused into: the single elementwise output of the
// same shape that reaches it only through stages that get inlined; -1 when there is none.
int fusable_consumer(const SearchTask& task, const StageFacts& facts, int stage);

// The sketches made of each stage's alternative plans (CPU or GPU plan types, with fields
// stage, rule and consumer): their Cartesian product, at most 8, the first alternative of each
// stage being the preferred one; a stage some plan fuses into its tile (rule `tile`, consumer >= 0)
// becomes `fused_into` in the sketches that tile its producer.
template <typename SketchT, typename PlanT, typename RuleT>
std::vector<SketchT> combine_stage_plans(const std::vector<std::vector<PlanT>>& options, RuleT tile, RuleT fused_into) {
  std::vector<SketchT> sketches(1);
  for (const std::vector<PlanT>& alternatives : options) {
    if (alternatives.empty()) continue;
    std::vector<SketchT> next;
    for (const SketchT& base : sketches) {
      for (const PlanT& plan : alternatives) {
        if (next.size() >= 8) break;
        SketchT sketch = base;
        sketch.plans.push_back(plan);
        next.push_back(std::move(sketch));
      }
    }
    sketches = std::move(next);
  }
  for (SketchT& sketch : sketches) {
    std::set<int> fused;
    for (const PlanT& p : sketch.plans) {
      if (p.rule == tile && p.consumer >= 0) fused.insert(p.consumer);
    }
    for (PlanT& p : sketch.plans) {
      if (fused.count(p.stage)) p.rule = fused_into;
    }
  }
  return sketches;
}

// ---- shared by the CPU and GPU annotation ----

// Constant extents (at least 1) of a stage's spatial and reduce axes in a fresh schedule.
struct StageExtents {
  std::vector<int64_t> spatial, reduce;
};
StageExtents extents_of(const SearchTask& task, int stage);
std::vector<int64_t> prime_factors(int64_t n);

template <typename T>
T pick(const std::vector<T>& values, std::mt19937_64& rng) {
  return values[std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng)];
}

inline bool chance(double p, std::mt19937_64& rng) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }

}  // namespace tessel::autotune
