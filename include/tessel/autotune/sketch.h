// The CPU search space. Sketch rules decide the structure of a schedule per stage (inline an
// elementwise stage; multi-level "SSRSRS" tiling of a reduction with data reuse, with its
// elementwise consumer fused at the tile or a register tile through cache_write(local), and
// optionally its long-row vectorised operand packed into a tile-local panel; rfactor
// for reductions with little spatial parallelism; or skip: a plain parallel/vectorised loop
// nest; a padding stage read by a tiled reduction is inlined or computed at the root). Random
// annotation fills in the numbers (tile sizes, random or micro-kernel shaped, parallel
// granularity with enough parallel iterations for every core, vectorisation, unrolling, compute
// location); a Candidate is a sketch plus those numbers and turns into a step list on a fresh
// schedule.
#pragma once

#include <array>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tessel/autotune/search_task.h"

namespace tessel::autotune {

enum class StageRule : uint8_t {
  kInline,      // elementwise non-output stage: computed inline in its consumers
  kTile,        // SSRSRS tiling; register tile through cache_write(local), or fused consumer
  kRfactor,     // split the reduction, rfactor the outer part into a parallel stage
  kSimple,      // skip: fuse outer loops in parallel, vectorise the inner one
  kFusedInto,   // this stage's loops are the outer tile levels of another stage's kTile
};

struct StagePlan {
  int stage = -1;     // index in the fresh schedule
  StageRule rule = StageRule::kSimple;
  int consumer = -1;  // kTile: the elementwise output stage fused at the tile (-1: cache_write)
  // kTile: inputs (fresh stage indices) copied into a tile-local panel, cache_read(local),
  // computed at the outermost reduction loop inside the tile: the vectorised operand of a matmul
  // (B[k, j]) whose rows are long, so the register tile streams contiguous memory instead of one
  // cache line per row of B (rows 4 KiB apart alias in the L1 sets).
  std::vector<int> packed;
};

struct Sketch {
  std::vector<StagePlan> plans;  // one per compute stage, producers first
  std::string to_string() const;
};

// Numbers for one stage.
struct StageAnnotation {
  std::vector<std::array<int64_t, 3>> spatial;  // kTile: per spatial axis, levels S1, S2, S3 (S0 = rest)
  std::vector<int64_t> reduce;                  // kTile: per reduce axis, inner factor R1
  int parallel_depth = 1;       // outer spatial loops fused into the parallel loop (0: none); sampling
                                // keeps the fused extent >= cores where the loops allow it
  int64_t vector_factor = 0;    // kSimple: split of the innermost axis that is vectorised (0: none)
  bool vectorize = true;        // kTile: vectorise the innermost loops
  int64_t unroll = 0;           // auto_unroll_max_step pragma (0: none)
  int compute_at_level = 1;     // kTile: the inner stage sits at the S0 (0) or S1 (1) loops
  int64_t rfactor_parts = 0;    // kRfactor: parts of the outer reduction split
  bool operator==(const StageAnnotation&) const = default;
};

struct Candidate {
  int sketch = 0;
  std::vector<StageAnnotation> stages;  // parallel to the sketch's plans
};

// The sketches of a task (at least one).
std::vector<Sketch> generate_sketches(const SearchTask& task);

// Random annotation of a sketch.
Candidate sample_candidate(const SearchTask& task, const std::vector<Sketch>& sketches, int sketch,
                           std::mt19937_64& rng);
// One random mutation: a tile size, the parallel granularity, the unrolling or the compute location.
Candidate mutate_candidate(const SearchTask& task, const std::vector<Sketch>& sketches, const Candidate& candidate,
                           std::mt19937_64& rng);
// Applies a candidate to a fresh schedule of the task (CompileError when it does not apply).
te::Schedule apply_candidate(const SearchTask& task, const std::vector<Sketch>& sketches, const Candidate& candidate);
// The inverse of apply_candidate: a candidate of one of `sketches` whose step list is exactly
// `steps`, if there is one. Each sketch's steps are read back, in the order apply_candidate writes
// them, into annotation numbers; a reading is accepted only when applying it reproduces `steps`
// step for step, so the result is always sound. Steps from other schedules (another version of
// these rules, hand-written ones) give nothing.
std::optional<Candidate> candidate_from_steps(const SearchTask& task, const std::vector<Sketch>& sketches,
                                              const std::vector<te::Step>& steps);

}  // namespace tessel::autotune
