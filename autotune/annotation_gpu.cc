// Random annotation of GPU sketches and mutation of annotated GPU candidates: tile sizes by random
// factorisation under the GPU's limits (threads per block, virtual threads, register tile), the
// unroll step, the cooperative-fetch vector length and the threads per block. Every result is
// checked against the limits on its lowered function (shared memory depends on the access
// patterns, so it is measured rather than predicted).
#include <algorithm>

#include "tessel/autotune/sketch_gpu.h"
#include "tessel/ir/error.h"
#include "sketch_internal.h"

namespace tessel::autotune {

namespace {

const std::vector<int64_t> kUnrollSteps = {0, 16, 64, 512, 1024};
const std::vector<int64_t> kFetchVectors = {1, 2, 4};
constexpr int kDraws = 8;  // draws before a sample's tiles are shrunk to fit

// Levels (S1 vthread, S2 threadIdx, S3, S4) of one spatial axis: a random factorisation of the
// extent over the five levels (S0 gets the rest), or powers of two that need not divide it.
std::array<int64_t, 4> sample_spatial(int64_t extent, std::mt19937_64& rng) {
  std::array<int64_t, 4> t{1, 1, 1, 1};
  if (chance(0.6, rng)) {
    std::array<int64_t, 5> levels{1, 1, 1, 1, 1};
    // The threadIdx level is the likeliest home of a factor: it is what occupies the GPU.
    std::discrete_distribution<int> where({2, 1, 4, 1, 2});
    for (int64_t p : prime_factors(extent)) levels[where(rng)] *= p;
    t = {levels[1], levels[2], levels[3], levels[4]};
  } else {
    t = {pick<int64_t>({1, 1, 2}, rng), pick<int64_t>({1, 2, 4, 8, 16, 32}, rng), pick<int64_t>({1, 1, 2, 4}, rng),
         pick<int64_t>({1, 2, 4}, rng)};
  }
  for (int64_t& x : t) x = std::clamp<int64_t>(x, 1, extent);
  return t;
}

// Levels (R1, R2) of one reduce axis (R0 gets the rest).
std::array<int64_t, 2> sample_reduce(int64_t extent, std::mt19937_64& rng) {
  std::array<int64_t, 2> r{1, 1};
  if (chance(0.5, rng)) {
    std::array<int64_t, 3> levels{1, 1, 1};
    for (int64_t p : prime_factors(extent)) levels[std::uniform_int_distribution<int>(0, 2)(rng)] *= p;
    r = {levels[1], levels[2]};
  } else {
    r = {pick<int64_t>({1, 2, 4, 8}, rng), pick<int64_t>({1, 2, 4}, rng)};
  }
  for (int64_t& x : r) x = std::clamp<int64_t>(x, 1, std::min<int64_t>(extent, 64));
  return r;
}

// Divides the largest of level `level` over the axes by its smallest prime factor.
void shrink_level(std::vector<std::array<int64_t, 4>>& spatial, int level) {
  size_t best = 0;
  for (size_t d = 1; d < spatial.size(); ++d) {
    if (spatial[d][level] > spatial[best][level]) best = d;
  }
  int64_t& x = spatial[best][level];
  if (x > 1) x /= prime_factors(x).front();
}

int64_t level_product(const std::vector<std::array<int64_t, 4>>& spatial, int level) {
  int64_t p = 1;
  for (const auto& t : spatial) p *= t[level];
  return p;
}

int64_t register_tile(const std::vector<std::array<int64_t, 4>>& spatial) {
  return level_product(spatial, 2) * level_product(spatial, 3);
}

// Enforces the limits that follow from the numbers alone: threads per block, virtual threads and
// the register tile (4-byte elements).
void clamp_tile(std::vector<std::array<int64_t, 4>>& spatial, const GpuLimits& limits) {
  while (level_product(spatial, 1) > limits.max_threads_per_block) shrink_level(spatial, 1);
  while (level_product(spatial, 0) > limits.max_vthread_extent) shrink_level(spatial, 0);
  while (register_tile(spatial) * 4 > limits.max_local_memory_per_thread) {
    shrink_level(spatial, level_product(spatial, 2) >= level_product(spatial, 3) ? 2 : 3);
  }
}

// Powers of two from the warp size up to the block limit and `cap` (at least one warp).
std::vector<int64_t> thread_choices(const GpuLimits& limits, int64_t cap) {
  std::vector<int64_t> out;
  for (int64_t t = limits.warp_size; t <= limits.max_threads_per_block; t *= 2) {
    if (out.empty() || t <= cap) out.push_back(t);
  }
  return out;
}

int64_t next_power_of_two(int64_t n) {
  int64_t p = 1;
  while (p < n) p *= 2;
  return p;
}

int64_t reduce_product(const StageExtents& e) {
  int64_t p = 1;
  for (int64_t r : e.reduce) p *= r;
  return p;
}

int64_t spatial_product(const StageExtents& e) {
  int64_t p = 1;
  for (int64_t x : e.spatial) p *= x;
  return p;
}

// Vector lengths that divide the innermost extent (elementwise stages only).
std::vector<int64_t> vector_choices(const StageExtents& e, bool reduction) {
  std::vector<int64_t> out = {1};
  if (reduction || e.spatial.empty()) return out;
  for (int64_t v : {2, 4}) {
    if (e.spatial.back() % v == 0) out.push_back(v);
  }
  return out;
}

GpuStageAnnotation sample_stage(const SearchTask& task, const GpuStagePlan& plan, const GpuLimits& limits,
                                std::mt19937_64& rng) {
  GpuStageAnnotation a;
  if (plan.rule == GpuStageRule::kInline || plan.rule == GpuStageRule::kFusedInto) return a;
  StageExtents e = extents_of(task, plan.stage);
  a.unroll = pick(kUnrollSteps, rng);
  switch (plan.rule) {
    case GpuStageRule::kTile:
      for (int64_t x : e.spatial) a.spatial.push_back(sample_spatial(x, rng));
      for (int64_t r : e.reduce) a.reduce.push_back(sample_reduce(r, rng));
      clamp_tile(a.spatial, limits);
      a.fetch_vector = pick(kFetchVectors, rng);
      break;
    case GpuStageRule::kCrossThread:
      a.threads = pick(thread_choices(limits, next_power_of_two(reduce_product(e))), rng);
      break;
    case GpuStageRule::kSimple:
      a.threads = pick(thread_choices(limits, next_power_of_two(spatial_product(e))), rng);
      a.vector = pick(vector_choices(e, !e.reduce.empty()), rng);
      break;
    default: break;
  }
  return a;
}

// The smallest version of a candidate: register tiles, reduce tiles and fetch vectors of 1, the
// threads kept. Used when no draw fits.
GpuCandidate shrunk(GpuCandidate c) {
  for (GpuStageAnnotation& a : c.stages) {
    for (auto& t : a.spatial) t = {1, t[1], 1, 1};
    for (auto& r : a.reduce) r = {1, 1};
    a.fetch_vector = 1;
  }
  return c;
}

bool fits(const SearchTask& task, const std::vector<GpuSketch>& sketches, const GpuCandidate& c,
          const GpuLimits& limits) {
  try {
    te::Schedule s = apply_gpu_candidate(task, sketches, c);
    return gpu_candidate_fits(task, s, limits);
  } catch (const CompileError&) {
    return false;
  }
}

}  // namespace

GpuCandidate sample_gpu_candidate(const SearchTask& task, const std::vector<GpuSketch>& sketches, int sketch,
                                  std::mt19937_64& rng, const GpuLimits& limits) {
  internal_check(sketch >= 0 && sketch < static_cast<int>(sketches.size())) << "GPU sketch index out of range";
  GpuCandidate c;
  for (int draw = 0; draw < kDraws; ++draw) {
    c = GpuCandidate{sketch, {}};
    for (const GpuStagePlan& plan : sketches[sketch].plans) c.stages.push_back(sample_stage(task, plan, limits, rng));
    if (fits(task, sketches, c, limits)) return c;
  }
  return shrunk(c);
}

GpuCandidate mutate_gpu_candidate(const SearchTask& task, const std::vector<GpuSketch>& sketches,
                                  const GpuCandidate& candidate, std::mt19937_64& rng, const GpuLimits& limits) {
  const GpuSketch& sketch = sketches.at(candidate.sketch);
  std::vector<size_t> tunable;
  for (size_t i = 0; i < sketch.plans.size(); ++i) {
    GpuStageRule r = sketch.plans[i].rule;
    if (r == GpuStageRule::kTile || r == GpuStageRule::kCrossThread || r == GpuStageRule::kSimple) tunable.push_back(i);
  }
  if (tunable.empty()) return candidate;
  for (int draw = 0; draw < kDraws; ++draw) {
    GpuCandidate c = candidate;
    size_t i = pick(tunable, rng);
    const GpuStagePlan& plan = sketch.plans[i];
    GpuStageAnnotation& a = c.stages[i];
    StageExtents e = extents_of(task, plan.stage);
    int kind = std::uniform_int_distribution<int>(0, 4)(rng);
    if (plan.rule != GpuStageRule::kTile && kind <= 2) kind = 3 + kind % 2;
    switch (kind) {
      case 0: {  // resample the levels of one spatial axis
        size_t d = std::uniform_int_distribution<size_t>(0, e.spatial.size() - 1)(rng);
        a.spatial[d] = sample_spatial(e.spatial[d], rng);
        break;
      }
      case 1: {  // move a prime factor between two levels of one axis (or out to the block level)
        size_t d = std::uniform_int_distribution<size_t>(0, e.spatial.size() - 1)(rng);
        auto& t = a.spatial[d];
        int from = std::uniform_int_distribution<int>(0, 3)(rng), to = std::uniform_int_distribution<int>(-1, 3)(rng);
        if (t[from] > 1 && from != to) {
          int64_t p = prime_factors(t[from]).front();
          t[from] /= p;
          if (to >= 0) t[to] = std::min(t[to] * p, e.spatial[d]);
        }
        break;
      }
      case 2: {  // the reduce levels of one reduce axis
        size_t r = std::uniform_int_distribution<size_t>(0, e.reduce.size() - 1)(rng);
        a.reduce[r] = sample_reduce(e.reduce[r], rng);
        break;
      }
      case 3:  // unrolling
        a.unroll = pick(kUnrollSteps, rng);
        break;
      default:  // fetch vector length, or threads per block and vector length
        if (plan.rule == GpuStageRule::kTile) {
          a.fetch_vector = pick(kFetchVectors, rng);
        } else if (plan.rule == GpuStageRule::kCrossThread) {
          a.threads = pick(thread_choices(limits, next_power_of_two(reduce_product(e))), rng);
        } else {
          a.threads = pick(thread_choices(limits, next_power_of_two(spatial_product(e))), rng);
          a.vector = pick(vector_choices(e, !e.reduce.empty()), rng);
        }
        break;
    }
    if (plan.rule == GpuStageRule::kTile) clamp_tile(a.spatial, limits);
    if (c != candidate && fits(task, sketches, c, limits)) return c;
  }
  return candidate;
}

}  // namespace tessel::autotune
