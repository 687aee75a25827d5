// Default GPU schedules (target kind "cuda"): thread-bound loop nests for GEMMs, NCHW convolutions,
// row normalisations (softmax, layer_norm) and injective operators. See include/tessel/te/ops/gpu.h.
#include <algorithm>

#include "nn_schedule_util.h"
#include "tessel/ir/error.h"
#include "tessel/te/ops/gpu.h"
#include "tessel/te/ops/nn.h"

namespace tessel::te::ops {

namespace {

using nn_detail::AnchorPlan;

constexpr int64_t kInjectiveThreads = 256;

int64_t constant_extent(const IterVar& iv) {
  const int64_t* v = as_const_int(iv->dom.extent);
  return v ? *v : -1;
}

// Inlines every injective producer still at root that feeds a reduction (pads, weight packs,
// layout transforms): on a GPU each thread recomputes them instead of a separate pass.
void inline_remaining_producers(Schedule& schedule, const Tensor& output) {
  int out = schedule.stage_index_of(output);
  for (int s = 0; s < out; ++s) {
    const StageNode& stage = schedule.stage_node(s);
    if (stage.is_placeholder || stage.is_output || stage.op->has_reduction) continue;
    if (stage.attach != AttachKind::kRoot || !stage.relations.empty() || stage.scope != MemoryScope::kGlobal) continue;
    schedule.stage(s).compute_inline();
  }
}

// Fuses all of `axes` (adjacent leaves, outermost first) into one loop.
IterVar fuse_all(Stage& stage, const std::vector<IterVar>& axes) {
  IterVar fused = axes[0];
  for (size_t i = 1; i < axes.size(); ++i) fused = stage.fuse(fused, axes[i]);
  return fused;
}

// Splits `axis` (of constant extent `extent`) over the block's threads cooperatively: the
// innermost part bound to threadIdx.x, the next to threadIdx.y, the rest a serial loop.
void bind_cooperative(Stage& stage, const IterVar& axis, int64_t threads_y, int64_t threads_x) {
  auto [rest, tx] = stage.split(axis, threads_x);
  auto [outer, ty] = stage.split(rest, threads_y);
  (void)outer;
  stage.bind(ty, "threadIdx.y");
  stage.bind(tx, "threadIdx.x");
}

// ---- GEMM ----------------------------------------------------------------------------------

// 32x32 output tile per block, 16x16 threads computing 2x2 outputs each in registers; the K loop
// is split by 8 and each K step's A and B tiles are fetched into shared memory by all threads.
void schedule_gemm_gpu(Schedule& schedule, const Tensor& output, const ScheduleTarget& target, const char* tag) {
  AnchorPlan plan = nn_detail::prepare_anchor(schedule, output, tag, target);
  Stage outer = schedule[plan.outer];
  std::vector<IterVar> axes = outer.axis();
  user_check(axes.size() == 2) << "the GPU GEMM schedule expects a matrix output, " << output.name() << " has rank "
                               << axes.size();
  constexpr int64_t kTile = 32, kThreads = 16, kStepK = 8;
  auto [block_i, tile_i] = outer.split(axes[0], kTile);
  auto [block_j, tile_j] = outer.split(axes[1], kTile);
  auto [thread_i, inner_i] = outer.split_nparts(tile_i, kThreads);
  auto [thread_j, inner_j] = outer.split_nparts(tile_j, kThreads);
  outer.reorder({block_i, block_j, thread_i, thread_j, inner_i, inner_j});
  outer.bind(block_i, "blockIdx.y");
  outer.bind(block_j, "blockIdx.x");
  outer.bind(thread_i, "threadIdx.y");
  outer.bind(thread_j, "threadIdx.x");
  nn_detail::attach_inner(schedule, plan, outer, thread_j);

  Stage inner = schedule[plan.inner];
  std::vector<IterVar> inner_axes = inner.axis();
  IterVar k = inner.reduce_axis()[0];
  auto [k_outer, k_inner] = inner.split(k, kStepK);
  inner.reorder({k_outer, k_inner, inner_axes[0], inner_axes[1]});
  inner.unroll(inner_axes[0]);
  inner.unroll(inner_axes[1]);
  inline_remaining_producers(schedule, output);
  // Cache both operands of the anchor in shared memory at each K step.
  std::vector<Tensor> operands;
  for (const Tensor& input : schedule[plan.inner].op()->inputs()) operands.push_back(input);
  for (const Tensor& input : operands) {
    Tensor shared = schedule.cache_read(input, "shared", {plan.inner});
    Stage fetch = schedule[shared];
    fetch.compute_at(schedule[plan.inner], k_outer);
    bind_cooperative(fetch, fuse_all(fetch, fetch.axis()), kThreads, kThreads);
  }
}

// ---- convolution ---------------------------------------------------------------------------

// One output element per thread, accumulated in a register over the whole window; the padded input
// (and any epilogue) is inlined. Grouped and depthwise convolutions take the same path.
void schedule_conv2d_nchw_gpu(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  AnchorPlan plan = nn_detail::prepare_anchor(schedule, output, kTagConv2dNchw, target);
  Stage outer = schedule[plan.outer];
  std::vector<IterVar> axes = outer.axis();
  // (n, c) -> blockIdx.y; (h, w) fused and split over 128 threads -> blockIdx.x, threadIdx.x.
  IterVar rows = outer.fuse(axes[0], axes[1]);
  IterVar pixels = outer.fuse(axes[2], axes[3]);
  auto [block_x, thread_x] = outer.split(pixels, 128);
  outer.bind(rows, "blockIdx.y");
  outer.bind(block_x, "blockIdx.x");
  outer.bind(thread_x, "threadIdx.x");
  nn_detail::attach_inner(schedule, plan, outer, thread_x);
  Stage inner = schedule[plan.inner];
  std::vector<IterVar> reduce = inner.reduce_axis();
  if (!reduce.empty() && constant_extent(reduce.back()) > 0 && constant_extent(reduce.back()) <= 7) {
    inner.unroll(reduce.back());
  }
  inline_remaining_producers(schedule, output);
}

// ---- row normalisations ----------------------------------------------------------------------

// One block per row (the non-reduced axes fused): every row reduction is split by the block width,
// rfactored so that each thread reduces its own slice, and combined across the threads by a loop
// bound to threadIdx.x; the output row is written by the same threads.
void schedule_row_normalization_gpu(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  int out = schedule.stage_index_of(output);
  std::vector<Tensor> reductions;
  for (int s = 0; s < out; ++s) {
    const StageNode& stage = schedule.stage_node(s);
    if (stage.is_placeholder) continue;
    if (stage.op->has_reduction) reductions.push_back(stage.output); else schedule.stage(s).compute_inline();
  }
  Stage stage = schedule[output];
  std::vector<IterVar> axes = stage.axis();
  // The reduced axes are the trailing ones (softmax over the last axis, layer_norm over trailing).
  size_t kept = axes.size();
  if (!reductions.empty()) {
    const Tensor& r = reductions.front();
    while (kept > 0 && is_const_int(r.shape()[kept - 1], 1)) --kept;
    if (kept == 0 && axes.size() > 1) kept = 1;  // a leading axis of extent 1 stands for the rows
  }
  user_check(kept >= 1 && kept < axes.size())
      << "the GPU row-normalisation schedule needs leading kept axes and trailing reduced axes";
  int64_t row_length = 1;
  for (size_t d = kept; d < axes.size(); ++d) row_length *= std::max<int64_t>(1, constant_extent(axes[d]));
  int64_t threads = row_length >= 256 ? 256 : row_length >= 128 ? 128 : row_length >= 64 ? 64 : 32;
  threads = std::min<int64_t>(threads, target.max_threads_per_block);
  std::vector<IterVar> kept_axes(axes.begin(), axes.begin() + static_cast<long>(kept));
  std::vector<IterVar> row_axes(axes.begin() + static_cast<long>(kept), axes.end());
  IterVar row = fuse_all(stage, kept_axes);
  IterVar column = fuse_all(stage, row_axes);
  auto [column_outer, column_thread] = stage.split(column, threads);
  stage.reorder({row, column_thread, column_outer});
  stage.bind(row, "blockIdx.x");
  stage.bind(column_thread, "threadIdx.x");
  for (const Tensor& r : reductions) {
    Stage reduce = schedule[r];
    std::vector<IterVar> k = reduce.reduce_axis();
    IterVar fused_k = fuse_all(reduce, k);
    auto [k_outer, k_thread] = reduce.split(fused_k, threads);
    (void)k_outer;
    Tensor partial = schedule.rfactor(r, k_thread);
    Stage combine = schedule[r];
    IterVar thread_axis = combine.reduce_axis()[0];
    combine.bind(thread_axis, "threadIdx.x");
    schedule[partial].compute_at(combine, thread_axis);
    combine.compute_at(schedule[output], row);  // rfactor added a stage: fetch the handle anew
  }
}

// ---- injective -------------------------------------------------------------------------------

void schedule_gpu_generic(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  inline_injective_producers(schedule, output);
  if (!output.op()->has_reduction) {
    schedule_gpu_injective(schedule, output, target);
    return;
  }
  // A plain reduction: one output per thread.
  Stage stage = schedule[output];
  std::vector<IterVar> axes = stage.axis();
  if (axes.empty()) return;
  auto [block, thread] = stage.split(fuse_all(stage, axes), 64);
  stage.bind(block, "blockIdx.x");
  stage.bind(thread, "threadIdx.x");
}

}  // namespace

void schedule_gpu_injective(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  (void)target;
  Stage stage = schedule[output];
  std::vector<IterVar> axes = stage.axis();
  if (axes.empty()) return;
  int64_t inner = constant_extent(axes.back());
  bool vector = output.dtype() == DataType::Float(32) && inner > 0 && inner % 4 == 0;
  IterVar vector_part;
  if (vector) {
    auto [rest, lanes] = stage.split(axes.back(), 4);
    axes.back() = rest;
    vector_part = lanes;
  }
  auto [block, thread] = stage.split(fuse_all(stage, axes), kInjectiveThreads);
  stage.bind(block, "blockIdx.x");
  stage.bind(thread, "threadIdx.x");
  if (vector) stage.vectorize(vector_part);
}

void register_gpu_schedules() {
  register_schedule("cuda:", schedule_gpu_generic);
  register_schedule("cuda:dense", [](Schedule& s, const Tensor& out, const ScheduleTarget& t) {
    schedule_gemm_gpu(s, out, t, kTagDense);
  });
  register_schedule("cuda:matmul", [](Schedule& s, const Tensor& out, const ScheduleTarget& t) {
    schedule_gemm_gpu(s, out, t, kTagMatmul);
  });
  register_schedule("cuda:conv2d_nchw", schedule_conv2d_nchw_gpu);
  for (const char* tag : {"softmax", "log_softmax", "layer_norm", "instance_norm"}) {
    register_schedule(std::string("cuda:") + tag, schedule_row_normalization_gpu);
  }
}

}  // namespace tessel::te::ops
