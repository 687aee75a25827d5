// Random annotation of sketches and mutation of annotated candidates: tile sizes by random
// factorisation (non-divisible sizes included), parallel granularity, vectorisation, unrolling
// (auto_unroll_max_step in {0, 16, 64, 512}) and compute location.
#include <algorithm>

#include "tessel/autotune/sketch.h"
#include "tessel/ir/error.h"
#include "sketch_internal.h"

namespace tessel::autotune {

namespace {

const int64_t kUnrollSteps[] = {0, 16, 64, 512};

struct StageExtents {
  std::vector<int64_t> spatial, reduce;
};

StageExtents extents_of(const SearchTask& task, int stage) {
  te::Schedule s = task.fresh_schedule();
  const te::StageNode& node = s.stage_node(stage);
  StageExtents e;
  for (const IterVar& iv : node.op->axis) e.spatial.push_back(std::max<int64_t>(1, constant_extent(iv)));
  if (node.op->has_reduction) {
    for (const IterVar& iv : node.op->reduction.axes) e.reduce.push_back(std::max<int64_t>(1, constant_extent(iv)));
  }
  return e;
}

template <typename T>
T pick(const std::vector<T>& values, std::mt19937_64& rng) {
  return values[std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng)];
}

bool chance(double p, std::mt19937_64& rng) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }

std::vector<int64_t> prime_factors(int64_t n) {
  std::vector<int64_t> f;
  for (int64_t p = 2; p * p <= n; ++p) {
    while (n % p == 0) {
      f.push_back(p);
      n /= p;
    }
  }
  if (n > 1) f.push_back(n);
  return f;
}

// Tile levels (S1, S2, S3) for an axis of extent `extent`; the innermost (S3) is the register tile
// and, for the innermost axis, the vector loop.
std::array<int64_t, 3> sample_levels(int64_t extent, bool innermost, int lanes, std::mt19937_64& rng) {
  std::array<int64_t, 3> t{1, 1, 1};
  if (chance(0.6, rng)) {
    // Random factorisation: every prime factor goes to one of the four levels.
    std::array<int64_t, 4> levels{1, 1, 1, 1};
    for (int64_t p : prime_factors(extent)) levels[std::uniform_int_distribution<int>(0, 3)(rng)] *= p;
    t = {levels[1], levels[2], levels[3]};
  } else {
    t = {pick<int64_t>({1, 2, 4, 8, 16}, rng), pick<int64_t>({1, 2, 4, 8}, rng), pick<int64_t>({1, 2, 4, 8, 16}, rng)};
  }
  if (innermost && chance(0.8, rng)) t[2] = pick<int64_t>({lanes / 2, lanes, lanes, 2 * lanes}, rng);
  if (!innermost && t[2] > 16) t[2] = pick<int64_t>({1, 2, 4, 8}, rng);
  for (int64_t& x : t) x = std::clamp<int64_t>(x, 1, std::min<int64_t>(extent, 64));
  return t;
}

int64_t sample_reduce_factor(int64_t extent, std::mt19937_64& rng) {
  if (chance(0.5, rng)) {
    std::vector<int64_t> divisors;
    for (int64_t d = 1; d <= std::min<int64_t>(extent, 64); ++d) {
      if (extent % d == 0) divisors.push_back(d);
    }
    return pick(divisors, rng);
  }
  return std::min<int64_t>(extent, pick<int64_t>({1, 2, 4, 8, 16, 32}, rng));
}

int64_t sample_rfactor_parts(int64_t extent, int cores, std::mt19937_64& rng) {
  return std::clamp<int64_t>(pick<int64_t>({cores, 2 * cores, 4 * cores, 16, 32, 64}, rng), 1, extent);
}

StageAnnotation sample_stage(const SearchTask& task, const StagePlan& plan, std::mt19937_64& rng) {
  StageAnnotation a;
  int lanes = std::max(1, task.hardware().vector_bits / 32);
  StageExtents e = extents_of(task, plan.stage);
  int nd = static_cast<int>(e.spatial.size());
  a.unroll = pick<int64_t>({kUnrollSteps[0], kUnrollSteps[1], kUnrollSteps[2], kUnrollSteps[3]}, rng);
  a.parallel_depth = nd == 0 ? 0 : std::uniform_int_distribution<int>(1, nd)(rng);
  switch (plan.rule) {
    case StageRule::kTile:
      for (int d = 0; d < nd; ++d) a.spatial.push_back(sample_levels(e.spatial[d], d == nd - 1, lanes, rng));
      for (int64_t r : e.reduce) a.reduce.push_back(sample_reduce_factor(r, rng));
      a.vectorize = chance(0.9, rng);
      a.compute_at_level = chance(0.8, rng) ? 1 : 0;
      break;
    case StageRule::kSimple:
      if (nd > 0 && e.spatial.back() >= 2 && chance(0.8, rng)) {
        a.vector_factor = std::min<int64_t>(e.spatial.back(), pick<int64_t>({lanes / 2, lanes, 2 * lanes}, rng));
      }
      break;
    case StageRule::kRfactor:
      a.rfactor_parts = sample_rfactor_parts(e.reduce.back(), task.hardware().num_cores, rng);
      break;
    case StageRule::kInline:
    case StageRule::kFusedInto: a = StageAnnotation{}; break;
  }
  return a;
}

}  // namespace

Candidate sample_candidate(const SearchTask& task, const std::vector<Sketch>& sketches, int sketch,
                           std::mt19937_64& rng) {
  internal_check(sketch >= 0 && sketch < static_cast<int>(sketches.size())) << "sketch index out of range";
  Candidate c;
  c.sketch = sketch;
  for (const StagePlan& plan : sketches[sketch].plans) c.stages.push_back(sample_stage(task, plan, rng));
  return c;
}

Candidate mutate_candidate(const SearchTask& task, const std::vector<Sketch>& sketches, const Candidate& candidate,
                           std::mt19937_64& rng) {
  Candidate c = candidate;
  const Sketch& sketch = sketches.at(c.sketch);
  std::vector<size_t> tunable;
  for (size_t i = 0; i < sketch.plans.size(); ++i) {
    StageRule r = sketch.plans[i].rule;
    if (r == StageRule::kTile || r == StageRule::kSimple || r == StageRule::kRfactor) tunable.push_back(i);
  }
  if (tunable.empty()) return c;
  size_t i = pick(tunable, rng);
  const StagePlan& plan = sketch.plans[i];
  StageAnnotation& a = c.stages[i];
  StageExtents e = extents_of(task, plan.stage);
  int nd = static_cast<int>(e.spatial.size());
  int lanes = std::max(1, task.hardware().vector_bits / 32);
  int kind = std::uniform_int_distribution<int>(0, 5)(rng);
  if (plan.rule != StageRule::kTile && kind <= 2) kind = 3 + kind % 3;
  switch (kind) {
    case 0:
    case 1: {  // tile sizes: resample one axis, or move a factor of 2 between two levels
      if (nd == 0) break;
      int d = std::uniform_int_distribution<int>(0, nd - 1)(rng);
      auto& t = a.spatial[d];
      if (kind == 0) {
        t = sample_levels(e.spatial[d], d == nd - 1, lanes, rng);
      } else {
        int from = std::uniform_int_distribution<int>(0, 2)(rng), to = std::uniform_int_distribution<int>(0, 2)(rng);
        if (from != to && t[from] % 2 == 0) {
          t[from] /= 2;
          t[to] = std::min<int64_t>(t[to] * 2, 64);
        } else {
          t[to] = std::min<int64_t>(t[to] * 2, std::min<int64_t>(64, e.spatial[d]));
        }
      }
      break;
    }
    case 2:  // reduction split, or compute location
      if (!e.reduce.empty() && chance(0.6, rng)) {
        size_t r = std::uniform_int_distribution<size_t>(0, e.reduce.size() - 1)(rng);
        a.reduce[r] = sample_reduce_factor(e.reduce[r], rng);
      } else {
        a.compute_at_level = 1 - a.compute_at_level;
      }
      break;
    case 3:  // parallel granularity
      if (nd > 0) a.parallel_depth = std::uniform_int_distribution<int>(1, nd)(rng);
      if (plan.rule == StageRule::kRfactor) a.rfactor_parts = sample_rfactor_parts(e.reduce.back(), task.hardware().num_cores, rng);
      break;
    case 4:  // unrolling
      a.unroll = pick<int64_t>({kUnrollSteps[0], kUnrollSteps[1], kUnrollSteps[2], kUnrollSteps[3]}, rng);
      break;
    default:  // vectorisation
      if (plan.rule == StageRule::kSimple && nd > 0 && e.spatial.back() >= 2) {
        a.vector_factor = std::min<int64_t>(e.spatial.back(), pick<int64_t>({0, lanes / 2, lanes, 2 * lanes}, rng));
      } else if (plan.rule == StageRule::kTile) {
        a.vectorize = !a.vectorize;
      }
      break;
  }
  return c;
}

}  // namespace tessel::autotune
