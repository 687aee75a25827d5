// Helpers shared by the neural-network operators' computes and default schedules (te/ops/nn_*.cc):
// constant-shape queries, clamped reads, and finding an operator's "anchor" stage in a schedule
// whose output may be an elementwise epilogue (bias add, relu, ...) on top of it.
#pragma once

#include <string>
#include <vector>

#include "tessel/te/ops/common.h"
#include "tessel/te/ops/nn.h"
#include "tessel/te/schedule.h"

namespace tessel::te::ops::nn_detail {

// The constant value of a shape expression; CompileError naming the op otherwise.
int64_t const_extent(const Expr& extent, const std::string& op, const char* what);
std::vector<int64_t> const_shape(const Tensor& t, const std::string& op);
// An int32 index expression (shape arithmetic happens in int32, like the compute axes).
Expr index_const(int64_t value);
// min(max(index, 0), extent - 1): keeps a read in bounds when its value is selected away.
Expr clamp_index(const Expr& index, int64_t extent);

// How an anchor op's default schedule sees the schedule it is given.
struct AnchorPlan {
  Tensor anchor;  // the tensor produced by the op with the tag (as it was before any cache_write)
  // The stage whose data-parallel loops the schedule tiles: the schedule's output itself (with the
  // epilogue inlined into it), or the anchor's copy-out stage after cache_write.
  Tensor outer;
  // The tensor computed inside outer's tile loop (the register tile): the anchor, or its cache.
  Tensor inner;
  bool fused_epilogue = false;
  // With a fused epilogue: the injective stages between the anchor and the output, producers first.
  // They are inlined by attach_inner (after the anchor is attached, as compute_at only accepts a
  // parent that reads the stage directly or through stages attached to it).
  std::vector<Tensor> epilogue;
};

// Finds the last stage whose op carries `tag` and is a reduction, inlines the injective stages
// between it and `output` (the epilogue) and every other injective producer that is not a pad,
// weight-pack or layout-transform stage, and decides outer/inner:
//   * output is the anchor: inner = cache_write(anchor, "local"), outer = the anchor's stage;
//   * output is an elementwise epilogue of the anchor's shape: inner = anchor, outer = output;
//   * anything else: inner = cache_write(anchor), outer = the anchor, and the output gets the
//     generic injective schedule.
// With use_cache = false the anchor is not cached when it is the output (inner == outer).
AnchorPlan prepare_anchor(Schedule& schedule, const Tensor& output, const std::string& tag,
                          const ScheduleTarget& target, bool use_cache = true);

// Computes plan.inner at `axis` of outer's stage (and inlines plan.epilogue).
void attach_inner(Schedule& schedule, const AnchorPlan& plan, Stage& outer, const IterVar& axis);

// The compute stages read by `op` (directly) whose op carries `tag`.
std::vector<Tensor> inputs_with_tag(const Operation& op, const std::string& tag);
// Producers of the anchor that the op schedule did not place: weight packs and layout transforms
// get a root, parallel, vectorised schedule; pads are inlined when `inline_pad`, else root.
void schedule_anchor_producers(Schedule& schedule, const Tensor& anchor_inner, const ScheduleTarget& target,
                               bool inline_pad);

// Parallelises the outer loops `axes` (adjacent leaves of `stage`, outermost first): fuses the first
// two whose extents exceed 1 (leading unit loops are skipped) into one parallel loop. Never fuses
// three or more: bound inference would then see the middle loop as (f / c) % d, relax it to its
// whole range and make stages computed inside recompute it. Returns the leaf that now stands for
// axes.back() (the fused loop when axes.back() was fused) as the place to attach inner stages.
// `extents` are the loops' trip counts (split leaves do not know theirs before lowering).
IterVar parallelize_outer(Stage& stage, const std::vector<IterVar>& axes, const std::vector<int64_t>& extents,
                          const ScheduleTarget& target);

// Largest of the candidates that divides extent, else the first candidate not above extent,
// else extent itself.
int64_t pick_factor(int64_t extent, const std::vector<int64_t>& candidates);

}  // namespace tessel::te::ops::nn_detail

namespace tessel::te::ops {
// The default schedules (registered in nn_registry.cc). `tag` names the anchor op to look for.
void schedule_gemm(Schedule& schedule, const Tensor& output, const ScheduleTarget& target, const std::string& tag);
void schedule_conv2d_nchw(Schedule& schedule, const Tensor& output, const ScheduleTarget& target,
                          const std::string& tag);
void schedule_conv2d_nhwc(Schedule& schedule, const Tensor& output, const ScheduleTarget& target);
void schedule_conv2d_nchwc(Schedule& schedule, const Tensor& output, const ScheduleTarget& target);
void schedule_pool2d(Schedule& schedule, const Tensor& output, const ScheduleTarget& target, const std::string& tag);
}  // namespace tessel::te::ops
