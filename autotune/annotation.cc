// Random annotation of sketches and mutation of annotated candidates: tile sizes by random
// factorisation (non-divisible sizes included), in the shape of a register-blocked micro-kernel,
// or (for a stage with packed panels) in GotoBLAS's shape of a panel that serves every row,
// parallel granularity (always enough parallel iterations for every core when the loop nest has
// them), vectorisation, unrolling (auto_unroll_max_step in {0, 16, 64, 512}) and compute location.
#include <algorithm>

#include "tessel/autotune/sketch.h"
#include "tessel/ir/error.h"
#include "sketch_internal.h"

namespace tessel::autotune {

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

namespace {

const int64_t kUnrollSteps[] = {0, 16, 64, 512};

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

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::vector<int64_t> divisors_between(int64_t n, int64_t lo, int64_t hi) {
  std::vector<int64_t> d;
  for (int64_t x = std::max<int64_t>(1, lo); x <= std::min(n, hi); ++x) {
    if (n % x == 0) d.push_back(x);
  }
  return d;
}

// Extents of the loops a stage's parallel loop is fused from, outermost first: the S0 tile level
// of a kTile stage (what the tile sizes leave), the spatial axes of a kSimple stage (the innermost
// one split by the vector factor), the final stage's axes of a kRfactor stage.
std::vector<int64_t> parallel_extents(const StagePlan& plan, const StageAnnotation& a, const StageExtents& e) {
  std::vector<int64_t> out = e.spatial;
  if (plan.rule == StageRule::kTile) {
    for (size_t d = 0; d < out.size() && d < a.spatial.size(); ++d) {
      out[d] = ceil_div(e.spatial[d], a.spatial[d][0] * a.spatial[d][1] * a.spatial[d][2]);
    }
  } else if (plan.rule == StageRule::kSimple && !out.empty() && a.vector_factor > 1) {
    out.back() = ceil_div(out.back(), a.vector_factor);
  }
  return out;
}

// The fewest outer loops whose fused extent reaches `cores` (all of them when even that falls
// short); 0 for a stage without spatial loops.
int min_parallel_depth(const std::vector<int64_t>& extents, int cores) {
  int64_t product = 1;
  for (size_t d = 0; d < extents.size(); ++d) {
    product *= extents[d];
    if (product >= cores) return static_cast<int>(d) + 1;
  }
  return static_cast<int>(extents.size());
}

// A parallel depth from the minimal one that feeds every core up to all outer loops (finer
// granularity balances better), the minimal one half of the time.
int sample_parallel_depth(const std::vector<int64_t>& extents, int cores, std::mt19937_64& rng) {
  int nd = static_cast<int>(extents.size());
  int lo = min_parallel_depth(extents, cores);
  if (nd == 0) return 0;
  lo = std::max(lo, 1);
  if (lo >= nd || chance(0.5, rng)) return lo;
  return std::uniform_int_distribution<int>(lo, nd)(rng);
}

// Makes sure a candidate's parallel loop feeds every core when the iteration space allows it:
// a kTile stage whose outermost tile level is too small gets its cache (S1), then middle (S2),
// then register (S3, but not the innermost axis's vector) tile levels shrunk (largest first), and
// the parallel depth is raised to the minimal one.
void ensure_parallelism(const StagePlan& plan, StageAnnotation& a, const StageExtents& e, int cores) {
  if (plan.rule == StageRule::kTile) {
    auto total = [&]() {
      int64_t p = 1;
      for (int64_t x : parallel_extents(plan, a, e)) p *= x;
      return p;
    };
    for (int level = 0; level < 3 && total() < cores; ++level) {
      for (;;) {
        int widest = -1;
        // The register tile (S3) of the innermost axis is the vector: never shrunk.
        size_t axes = level == 2 && !a.spatial.empty() ? a.spatial.size() - 1 : a.spatial.size();
        for (size_t d = 0; d < axes; ++d) {
          if (a.spatial[d][level] > 1 && (widest < 0 || a.spatial[d][level] > a.spatial[widest][level])) {
            widest = static_cast<int>(d);
          }
        }
        if (widest < 0 || total() >= cores) break;
        int64_t& x = a.spatial[widest][level];
        x = x % 2 == 0 ? x / 2 : 1;
      }
    }
  }
  std::vector<int64_t> extents = parallel_extents(plan, a, e);
  if (extents.empty()) {
    a.parallel_depth = 0;
    return;
  }
  a.parallel_depth = std::clamp(a.parallel_depth, min_parallel_depth(extents, cores), static_cast<int>(extents.size()));
}

// A tile in the shape of a hand-written direct convolution or GEMM micro-kernel: the innermost
// axis (a channel block, or matmul columns) is the vector register, whole when it is at most two
// vectors; one outer axis (ow for a conv, rows for a matmul) is a register block of 4..14 (a
// divisor when there is one), rarely with a second small one; the middle level mostly 1 so the
// accumulators stay in registers; the reduction runs outside the register tile with the innermost
// reduce axis (input-channel block) whole in R1 and small kernel axes (kh, kw) in R0 or R1.
void sample_register_tile(const StageExtents& e, int lanes, int vector_registers, std::mt19937_64& rng,
                          StageAnnotation& a) {
  int nd = static_cast<int>(e.spatial.size());
  a.spatial.assign(nd, {1, 1, 1});
  int64_t inner = e.spatial[nd - 1];
  int64_t vec = inner <= 2 * lanes ? inner : pick<int64_t>({lanes, lanes, 2 * lanes}, rng);
  if (inner > lanes && inner % lanes != 0 && chance(0.5, rng)) {
    // Not a whole number of vectors (ow = 28 or 14 of an NCHW conv): a divisor of up to 2 vectors.
    std::vector<int64_t> d = divisors_between(inner, lanes / 2, 2 * lanes);
    if (!d.empty()) vec = pick(d, rng);
  }
  vec = std::min(vec, inner);
  a.spatial[nd - 1][2] = vec;
  // Accumulator registers: three quarters of what the ISA has (24 of AVX-512's 32, 12 of AVX2's
  // 16); the rest hold the broadcast input and the weight vectors of the micro-kernel.
  int64_t accumulators = vector_registers * 3 / 4;
  int64_t budget = std::max<int64_t>(1, accumulators / ceil_div(vec, lanes));
  // The row axis: the nearest outer axis with more than one iteration half of the time (ow of an
  // NCHWc conv, rows of a matmul), else any of them (output channels of an NCHW conv).
  std::vector<int> outer_axes;
  for (int d = nd - 2; d >= 0; --d) {
    if (e.spatial[d] > 1) outer_axes.push_back(d);
  }
  int row = -1;
  if (!outer_axes.empty()) row = chance(0.5, rng) ? outer_axes[0] : pick(outer_axes, rng);
  if (row >= 0) {
    int64_t extent = e.spatial[row];
    std::vector<int64_t> sizes = divisors_between(extent, 4, std::min<int64_t>(14, budget));
    // The full accumulator budget (6 rows of a 2-vector matmul tile with AVX2) as often as each
    // divisor, even where it leaves a partial tile at the edge.
    int64_t full = std::min<int64_t>({extent, budget, 14});
    if (full >= 4 && std::find(sizes.begin(), sizes.end(), full) == sizes.end()) sizes.push_back(full);
    if (sizes.empty() || chance(0.15, rng)) {
      sizes.clear();
      for (int64_t x = 2; x <= std::min<int64_t>({extent, budget, 14}); ++x) sizes.push_back(x);
    }
    if (!sizes.empty()) a.spatial[row][2] = pick(sizes, rng);
    int64_t left = budget / a.spatial[row][2];
    if (left >= 2 && outer_axes.size() >= 2 && chance(0.35, rng)) {
      int second = row;
      while (second == row) second = pick(outer_axes, rng);
      a.spatial[second][2] = std::min<int64_t>({left, e.spatial[second], pick<int64_t>({2, 2, 3, 4}, rng)});
    }
  }
  for (int d = 0; d < nd; ++d) {
    int64_t left = ceil_div(e.spatial[d], a.spatial[d][2]);
    if (d == nd - 1 && vec == inner) continue;
    if (left >= 2 && chance(0.2, rng)) a.spatial[d][1] = 2;
    left = ceil_div(left, a.spatial[d][1]);
    if (left >= 2 && chance(0.5, rng)) {
      std::vector<int64_t> f = divisors_between(left, 2, 16);
      if (!f.empty()) a.spatial[d][0] = pick(f, rng);
    }
  }
  int nr = static_cast<int>(e.reduce.size());
  a.reduce.assign(nr, 1);
  for (int k = 0; k < nr; ++k) {
    int64_t extent = e.reduce[k];
    if (k == nr - 1) {
      a.reduce[k] = extent <= 2 * lanes && chance(0.7, rng) ? extent : sample_reduce_factor(extent, rng);
    } else if (extent <= 7) {
      a.reduce[k] = chance(0.5, rng) ? extent : 1;
    } else if (chance(0.2, rng)) {
      a.reduce[k] = sample_reduce_factor(extent, rng);
    }
  }
  a.vectorize = true;
  a.compute_at_level = chance(0.9, rng) ? 1 : 0;
  a.unroll = pick<int64_t>({16, 64, 512, 512}, rng);
}

// The reduction step of a GotoBLAS-style panel: deep enough (128-512) that one packed panel
// feeds many register tiles; a divisor of the extent when there is one in that range.
int64_t sample_panel_depth(int64_t extent, std::mt19937_64& rng) {
  std::vector<int64_t> d = divisors_between(extent, 128, 512);
  if (!d.empty() && chance(0.7, rng)) return pick(d, rng);
  return std::min<int64_t>(extent, pick<int64_t>({128, 256, 256, 512}, rng));
}

// One axis of a panel tile, its register tile t[2] kept: the columns (the innermost axis)
// `count` register tiles wide; any other axis cut into `count` tiles (1: whole).
void set_panel_axis(std::array<int64_t, 3>& t, int64_t extent, bool innermost, int64_t count) {
  t[0] = 1;
  t[1] = innermost ? std::min<int64_t>(count, std::max<int64_t>(1, ceil_div(extent, t[2])))
                   : std::max<int64_t>(1, ceil_div(extent, t[2] * count));
}

// A register tile whose panel serves every row: the GEMM loop structure of GotoBLAS. The tile of
// a packed stage covers the row axis whole (or half of it, for parallelism on small matrices)
// and a narrow column slice of 1-4 register tiles; the innermost reduction is the panel depth. The
// packed panel (panel depth x slice, a few tens of KB) is then copied once per reduction step and
// read by all ceil(rows / register rows) register tiles before the next one replaces it.
void sample_panel_tile(const StageExtents& e, int lanes, int vector_registers, std::mt19937_64& rng,
                       StageAnnotation& a) {
  sample_register_tile(e, lanes, vector_registers, rng, a);
  int nd = static_cast<int>(e.spatial.size());
  for (int d = 0; d < nd; ++d) {
    bool innermost = d == nd - 1;
    if (!innermost && e.spatial[d] == 1) continue;  // already {1, 1, 1}
    int64_t choice = innermost ? pick<int64_t>({1, 2, 2, 4}, rng) : pick<int64_t>({1, 1, 2}, rng);
    set_panel_axis(a.spatial[d], e.spatial[d], innermost, choice);
  }
  if (!e.reduce.empty()) a.reduce.back() = sample_panel_depth(e.reduce.back(), rng);
  a.compute_at_level = 1;
  a.unroll = pick<int64_t>({16, 64, 64, 512}, rng);
}

StageAnnotation sample_stage(const SearchTask& task, const StagePlan& plan, std::mt19937_64& rng) {
  StageAnnotation a;
  int lanes = std::max(1, task.hardware().vector_bits / 32);
  StageExtents e = extents_of(task, plan.stage);
  int nd = static_cast<int>(e.spatial.size());
  a.unroll = pick<int64_t>({kUnrollSteps[0], kUnrollSteps[1], kUnrollSteps[2], kUnrollSteps[3]}, rng);
  switch (plan.rule) {
    case StageRule::kTile:
      if (nd > 0 && !plan.packed.empty() && chance(0.5, rng)) {
        sample_panel_tile(e, lanes, task.hardware().vector_registers, rng, a);
        break;
      }
      if (nd > 0 && chance(0.5, rng)) {
        sample_register_tile(e, lanes, task.hardware().vector_registers, rng, a);
        break;
      }
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
    case StageRule::kFusedInto: return StageAnnotation{};
  }
  int cores = task.hardware().num_cores;
  a.parallel_depth = sample_parallel_depth(parallel_extents(plan, a, e), cores, rng);
  ensure_parallelism(plan, a, e, cores);
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
      if (kind == 0 && !plan.packed.empty() && chance(0.5, rng)) {
        // A panel-shaped axis (sample_panel_tile): the rows whole or halved, the columns 1-4
        // register tiles wide, the register tile kept.
        bool innermost = d == nd - 1;
        int64_t choice = innermost ? pick<int64_t>({1, 2, 4}, rng) : pick<int64_t>({1, 2}, rng);
        set_panel_axis(t, e.spatial[d], innermost, choice);
      } else if (kind == 0) {
        t = sample_levels(e.spatial[d], d == nd - 1, lanes, rng);
      } else {
        // Sizes above 64 come only from panel tiles; doubling never shrinks them.
        int from = std::uniform_int_distribution<int>(0, 2)(rng), to = std::uniform_int_distribution<int>(0, 2)(rng);
        if (from != to && t[from] % 2 == 0) {
          t[from] /= 2;
          t[to] = std::min<int64_t>(t[to] * 2, std::max<int64_t>(64, t[to]));
        } else {
          t[to] = std::min<int64_t>(t[to] * 2, std::max<int64_t>(std::min<int64_t>(64, e.spatial[d]), t[to]));
        }
      }
      break;
    }
    case 2:  // reduction split, or compute location
      if (!e.reduce.empty() && chance(0.6, rng)) {
        size_t r = std::uniform_int_distribution<size_t>(0, e.reduce.size() - 1)(rng);
        bool panel = !plan.packed.empty() && r + 1 == e.reduce.size() && chance(0.5, rng);
        a.reduce[r] = panel ? sample_panel_depth(e.reduce[r], rng) : sample_reduce_factor(e.reduce[r], rng);
      } else {
        a.compute_at_level = 1 - a.compute_at_level;
      }
      break;
    case 3:  // parallel granularity
      a.parallel_depth = sample_parallel_depth(parallel_extents(plan, a, e), task.hardware().num_cores, rng);
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
  ensure_parallelism(plan, a, e, task.hardware().num_cores);
  return c;
}

}  // namespace tessel::autotune
