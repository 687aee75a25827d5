// The GPU (CUDA) search space. Sketch rules decide the structure of a thread-bound schedule per
// stage; random annotation fills in the numbers under the GPU's limits; a GpuCandidate is a sketch
// plus those numbers and turns into a step list on a fresh schedule, like the CPU Candidate.
//
// Rules, per compute stage (producers first):
//   * inline: an elementwise stage that is not an output is computed inline in its consumers;
//   * tile ("SSSRRSRS"): a reduction with data reuse (matmul, dense, conv). The outer stage (the
//     reduction's output, or its fused elementwise output consumer) splits every spatial axis into
//     S0 (blockIdx), S1 (vthread), S2 (threadIdx), S3 x S4 (the thread's register tile); the S0
//     loops are fused and bound to blockIdx.x, the S1 loops to one vthread loop, the S2 loops to
//     threadIdx.x. The reduction itself is computed per thread in registers (cache_write("local"),
//     or the reduction stage itself when a consumer is fused), with loops R0 R1 S3 R2 S4 (every
//     reduce axis split in three). Every input of the reduction is cached in shared memory at the
//     innermost R0 loop; the fetch loops are fused, split by the block's thread count and bound to
//     threadIdx.x (cooperative fetching), the innermost part optionally vectorised;
//   * cross-thread: a reduction with little spatial parallelism (softmax/layer_norm rows, GEMV):
//     one block per output element; the reduce axes are fused and split by the block width, each
//     thread reduces its strided slice into a register (rfactor of the threadIdx part) and the
//     block combines the partials with a warp-shuffle reduction (the reduce loop bound to
//     threadIdx.x);
//   * simple: every other stage (elementwise outputs, reductions without reuse): the spatial loops
//     fused, split by the threads per block and bound to blockIdx.x / threadIdx.x, with an optional
//     vector split of the innermost axis.
//
// The CPU rules (sketch.h) split a reduction's outer part off with rfactor into a parallel stage;
// here the cross-thread rule rfactors the threadIdx part instead, because the code generator
// combines a threadIdx.x-bound reduction once per execution of that loop: binding the inner part
// of a plain split would pay a block-wide reduction (and a barrier) per outer step.
#pragma once

#include <array>
#include <random>
#include <string>
#include <vector>

#include "tessel/autotune/search_task.h"
#include "tessel/codegen/cuda.h"

namespace tessel::autotune {

// The limits GPU candidates must fit: the CUDA target's (codegen/target.h).
using codegen::GpuLimits;
using codegen::gpu_limits_for;

enum class GpuStageRule : uint8_t {
  kInline,       // elementwise non-output stage: computed inline in its consumers
  kTile,         // SSSRRSRS tiling with shared-memory caches of the inputs
  kCrossThread,  // one block per output element, threads combine the reduction
  kSimple,       // fused loops over blockIdx.x / threadIdx.x
  kFusedInto,    // this stage is the outer stage of another stage's kTile
};

struct GpuStagePlan {
  int stage = -1;     // index in the fresh schedule
  GpuStageRule rule = GpuStageRule::kSimple;
  int consumer = -1;  // kTile: the elementwise output stage fused at the thread level (-1: cache_write)
  bool operator==(const GpuStagePlan&) const = default;
};

struct GpuSketch {
  std::vector<GpuStagePlan> plans;  // one per compute stage, producers first
  std::string to_string() const;
};

// Numbers for one stage.
struct GpuStageAnnotation {
  // kTile: per spatial axis, levels S1 (vthread), S2 (threadIdx), S3, S4 (register tile); S0
  // (blockIdx) is what remains. Products over the axes: S2 <= max_threads_per_block, S1 <=
  // max_vthread_extent, S3 * S4 * 4 bytes <= max_local_memory_per_thread.
  std::vector<std::array<int64_t, 4>> spatial;
  // kTile: per reduce axis, levels R1, R2 (R0 is what remains; the shared caches sit at R0).
  std::vector<std::array<int64_t, 2>> reduce;
  int64_t fetch_vector = 1;  // kTile: vector length of the cooperative fetch loops (1, 2, 4)
  int64_t threads = 0;       // kCrossThread, kSimple: threads per block
  int64_t vector = 1;        // kSimple (elementwise stages): vector split of the innermost axis
  int64_t unroll = 0;        // auto_unroll_max_step pragma on the stage's outermost loop (0: none)
  bool operator==(const GpuStageAnnotation&) const = default;
};

struct GpuCandidate {
  int sketch = 0;
  std::vector<GpuStageAnnotation> stages;  // parallel to the sketch's plans
  bool operator==(const GpuCandidate&) const = default;
};

// The GPU sketches of a task (at least one; at most 8). The first is the preferred one.
std::vector<GpuSketch> generate_gpu_sketches(const SearchTask& task);

// Random annotation of a sketch: tile sizes by random factorisation of the extents (and powers of
// two that do not divide them), the unroll step from {0, 16, 64, 512, 1024}, the fetch vector
// length from {1, 2, 4}, threads per block among the multiples of the warp size. The result fits
// `limits` (gpu_candidate_fits); a sample that does not is redrawn, and after a bounded number of
// draws (8) the last one is returned with register tiles, reduce tiles and fetch vectors of 1
// (threads per block kept), which fits every DAG whose single-element tiles do.
GpuCandidate sample_gpu_candidate(const SearchTask& task, const std::vector<GpuSketch>& sketches, int sketch,
                                  std::mt19937_64& rng, const GpuLimits& limits = GpuLimits());
// One random mutation (a tile level of one axis, a reduce split, the fetch vector length, the
// threads per block or the unroll step) that still fits `limits`; the candidate itself when no
// draw fits.
GpuCandidate mutate_gpu_candidate(const SearchTask& task, const std::vector<GpuSketch>& sketches,
                                  const GpuCandidate& candidate, std::mt19937_64& rng,
                                  const GpuLimits& limits = GpuLimits());
// Applies a candidate to a fresh schedule of the task (CompileError when it does not apply).
te::Schedule apply_gpu_candidate(const SearchTask& task, const std::vector<GpuSketch>& sketches,
                                 const GpuCandidate& candidate);

// Whether a lowered function runs on a GPU with `limits`: it becomes CUDA (generate_cuda), every
// kernel's block has at most max_threads_per_block threads (and block dims within 1024 x 1024 x
// 64), its static shared memory is within max_shared_memory_per_block, and the per-thread arrays
// within max_local_memory_per_thread. Otherwise false, with the reason in *why.
bool gpu_function_fits(const PrimFunc& func, const GpuLimits& limits, std::string* why = nullptr);
// The same for a schedule of the task's DAG (lowered over task.args()); false when it does not lower.
bool gpu_candidate_fits(const SearchTask& task, te::Schedule& schedule, const GpuLimits& limits,
                        std::string* why = nullptr);

}  // namespace tessel::autotune
