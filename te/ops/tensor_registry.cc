// Default schedules of the tensor operators (elementwise, reductions, normalisation, injective),
// registered by tag. Elementwise, broadcast and injective ops use the generic schedule of
// default_schedule.cc; here live the reduction schedule ("reduce") and the row-wise multi-stage
// schedule shared by softmax, log_softmax, layer_norm and instance_norm.
#include <unordered_set>

#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/te/ops/common.h"
#include "builtin_schedules.h"

namespace tessel::te::ops {

namespace {

// The constant extent of a root axis, or `fallback` when it is symbolic. (Axes made by split and
// fuse carry placeholder domains; their extents are only known at lowering.)
int64_t extent_or(const IterVar& iv, int64_t fallback) {
  const int64_t* v = as_const_int(iv->dom.extent);
  return v ? *v : fallback;
}

// Product of root axes' extents (symbolic extents count as large).
int64_t total_extent(const std::vector<IterVar>& axes) {
  int64_t total = 1;
  for (const IterVar& iv : axes) total *= extent_or(iv, 1 << 16);
  return total;
}

bool mentions(const Expr& e, const std::unordered_set<const VarNode*>& vars) {
  bool found = false;
  pre_order_visit(make_evaluate(e), [&](const Expr* x, const Stmt*) {
    if (x && !found) {
      if (const VarNode* v = x->as<VarNode>()) found = vars.count(v) > 0;
    }
  });
  return found;
}

// Which axes of the reduced input a reduction reduces: found from the highest-rank load in its
// source (the input it reduces), marking each index that uses a reduce variable.
std::vector<bool> reduced_input_axes(const Operation& op) {
  std::unordered_set<const VarNode*> reduce_vars;
  for (const IterVar& iv : op->reduction.axes) reduce_vars.insert(iv.var().get());
  const LoadNode* widest = nullptr;
  pre_order_visit(make_evaluate(op->reduction.source), [&](const Expr* x, const Stmt*) {
    if (const LoadNode* load = x ? x->as<LoadNode>() : nullptr) {
      if (!widest || load->indices.size() > widest->indices.size()) widest = load;
    }
  });
  std::vector<bool> reduced;
  if (!widest) return reduced;
  for (const Expr& index : widest->indices) reduced.push_back(mentions(index, reduce_vars));
  return reduced;
}

// Splits `axis` by the vector width and vectorises the inner part when the extent is at least
// one vector; returns the outer part (or the axis itself).
IterVar vectorize_inner(Stage stage, const IterVar& axis, int lanes) {
  if (lanes <= 1 || extent_or(axis, 0) < lanes) return axis;
  auto [outer, inner] = stage.split(axis, lanes);
  stage.vectorize(inner);
  return outer;
}

// Fuses consecutive leaf axes (outer to inner); returns the fused axis, or undefined when empty.
IterVar fuse_all(Stage stage, const std::vector<IterVar>& axes) {
  if (axes.empty()) return IterVar();
  IterVar fused = axes[0];
  for (size_t i = 1; i < axes.size(); ++i) fused = stage.fuse(fused, axes[i]);
  return fused;
}

// Where a reduction stage is placed: at the root with its own parallel loop, or inside another
// stage's (row) loop.
struct Placement {
  Tensor parent;  // undefined: root (a tensor, not a stage index: rfactor renumbers stages)
  IterVar axis;
};

// Schedules one reduction stage.
//   Reduced axis not innermost in memory (e.g. sum over C of NCHW): loops [kept outer..., reduce...,
//   innermost kept axis], the innermost kept axis vectorised, the outer kept axes (and the outer
//   part of the vectorised one) fused and parallel.
//   Reduced axis innermost and at least two vectors long: rfactor the innermost reduce axis by the
//   vector width, so partial results accumulate lane-wise in a vectorised loop, then the lanes are
//   combined; the kept axes are fused and parallel.
//   Otherwise the kept axes are fused and parallel and the reduction stays a serial loop.
// Inside a row loop (a defined placement.parent) nothing is parallel and the stage is computed there.
void schedule_reduction(Schedule& schedule, const Tensor& tensor, const ScheduleTarget& target, const Placement& place) {
  bool root = !place.parent.defined();
  bool cpu = target.kind == "llvm";
  int lanes = target.vector_lanes(tensor.dtype());
  Operation op = schedule[tensor].op();
  std::vector<bool> reduced = reduced_input_axes(op);
  bool inner_reduce = reduced.empty() || reduced.back();
  std::vector<IterVar> kept = schedule[tensor].axis();
  std::vector<IterVar> reduce = schedule[tensor].reduce_axis();

  if (!inner_reduce && !kept.empty()) {
    Stage stage = schedule[tensor];
    IterVar last = kept.back();
    std::vector<IterVar> outer(kept.begin(), kept.end() - 1);
    IterVar last_outer, last_inner = last;
    int64_t parallel_extent = total_extent(outer);
    if (lanes > 1 && extent_or(last, 0) >= lanes) {
      parallel_extent *= (extent_or(last, 0) + lanes - 1) / lanes;
      auto parts = stage.split(last, lanes);
      last_outer = parts.first;
      last_inner = parts.second;
      outer.push_back(last_outer);
    }
    std::vector<IterVar> order = outer;
    order.insert(order.end(), reduce.begin(), reduce.end());
    order.push_back(last_inner);
    stage.reorder(order);
    if (last_outer.defined()) stage.vectorize(last_inner);
    if (!root) {
      stage.compute_at(schedule[place.parent], place.axis);
    } else if (IterVar fused = fuse_all(stage, outer); fused.defined() && cpu && parallel_extent > 1) {
      stage.parallel(fused);
    }
    return;
  }

  IterVar k = reduce.empty() ? IterVar() : reduce.back();
  bool use_rfactor = cpu && lanes > 1 && k.defined() && extent_or(k, 0) >= 2 * lanes;
  Tensor rf;
  if (use_rfactor) {
    auto [ko, ki] = schedule[tensor].split(k, lanes);
    (void)ko;
    rf = schedule.rfactor(tensor, ki);  // inserts a stage: re-fetch stages from here on
  }
  Stage stage = schedule[tensor];
  int64_t parallel_extent = total_extent(stage.axis());
  IterVar fused = fuse_all(stage, stage.axis());
  if (!root) {
    stage.compute_at(schedule[place.parent], place.axis);
  } else if (fused.defined() && cpu && parallel_extent > 1) {
    stage.parallel(fused);
  }
  if (!rf.defined()) return;
  // rf: axes [ki, kept...], reduce axes [other reduce..., ko]. Loops: kept, reduces, ki (vector).
  Stage rf_stage = schedule[rf];
  std::vector<IterVar> rf_axes = rf_stage.axis();
  std::vector<IterVar> order(rf_axes.begin() + 1, rf_axes.end());
  for (const IterVar& iv : rf_stage.reduce_axis()) order.push_back(iv);
  order.push_back(rf_axes[0]);
  rf_stage.reorder(order);
  rf_stage.vectorize(rf_axes[0]);
  if (fused.defined()) {
    rf_stage.compute_at(schedule[tensor], fused);
  } else if (!root) {
    rf_stage.compute_at(schedule[place.parent], place.axis);
  }
}

// Stage indices of the compute stages feeding `output` (not placeholders, not outputs), split into
// reductions and injective stages; injective stages that read no reduction (directly or through
// another such stage) are inlined.
struct DagStages {
  std::vector<Tensor> reductions;
  std::vector<Tensor> downstream;  // injective stages reading a reduction result
};

DagStages classify_and_inline(Schedule& schedule) {
  DagStages result;
  std::unordered_set<const BufferNode*> after_reduction;
  std::vector<int> to_inline;
  for (int s = 0; s < schedule.num_stages(); ++s) {
    const StageNode& stage = schedule.stage_node(s);
    if (stage.is_placeholder) continue;
    bool reads_reduction = false;
    for (const Tensor& in : stage.op->inputs()) reads_reduction |= after_reduction.count(in.buffer().get()) > 0;
    if (stage.op->has_reduction || reads_reduction) after_reduction.insert(stage.output.buffer().get());
    if (stage.is_output) continue;
    if (stage.op->has_reduction) {
      result.reductions.push_back(stage.output);
    } else if (reads_reduction) {
      result.downstream.push_back(stage.output);
    } else {
      to_inline.push_back(s);
    }
  }
  for (int s : to_inline) schedule.stage(s).compute_inline();
  return result;
}

// "reduce": every reduction at the root with its own parallel schedule; an injective output
// (mean = sum / n) and any injective stage between reductions get the generic injective schedule.
void schedule_reduce(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  DagStages dag = classify_and_inline(schedule);
  for (const Tensor& t : dag.downstream) schedule[t].compute_inline();
  for (const Tensor& t : dag.reductions) schedule_reduction(schedule, t, target, Placement());
  for (const Tensor& out : schedule.outputs()) {
    if (schedule[out].op()->has_reduction) {
      schedule_reduction(schedule, out, target, Placement());
    } else {
      schedule_injective_stage(schedule, out, target);
    }
  }
}

// Row-wise normalisations (softmax, log_softmax, layer_norm, instance_norm): the output's leading
// axes before the first reduced axis are fused into one parallel row loop; every statistic
// (max, sum, mean, variance) and intermediate (softmax's exp) is computed per row inside it, with
// its innermost loop vectorised (or rfactored when the row reduction is innermost), and the output
// row is written with a vectorised inner loop.
void schedule_row_normalization(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  DagStages dag = classify_and_inline(schedule);
  int row_depth = output.ndim();
  for (const Tensor& r : dag.reductions) {
    std::vector<bool> reduced = reduced_input_axes(schedule[r].op());
    for (int d = 0; d < static_cast<int>(reduced.size()); ++d) {
      if (reduced[d]) row_depth = std::min(row_depth, d);
    }
  }
  internal_check(!dag.reductions.empty() && row_depth < output.ndim())
      << "row normalisation schedule on " << output.name() << " without a row reduction";
  int lanes = target.vector_lanes(output.dtype());
  Stage out = schedule[output];
  std::vector<IterVar> axes = out.axis();
  vectorize_inner(out, axes.back(), lanes);
  Placement place;
  if (row_depth > 0) {
    std::vector<IterVar> leading(axes.begin(), axes.begin() + row_depth);
    IterVar row = fuse_all(out, leading);
    if (target.kind == "llvm" && total_extent(leading) > 1) schedule[output].parallel(row);
    place.parent = output;
    place.axis = row;
  }
  // Intermediates first: compute_at needs the consumer (softmax's exp reads the max) in place.
  for (auto it = dag.downstream.rbegin(); it != dag.downstream.rend(); ++it) {
    Stage stage = schedule[*it];
    vectorize_inner(stage, stage.axis().back(), lanes);
    if (place.parent.defined()) schedule[*it].compute_at(schedule[output], place.axis);
  }
  for (auto it = dag.reductions.rbegin(); it != dag.reductions.rend(); ++it) {
    schedule_reduction(schedule, *it, target, place);
  }
}

bool is_row_normalization_tag(const std::string& tag) {
  return tag == "softmax" || tag == "log_softmax" || tag == "layer_norm" || tag == "instance_norm";
}

}  // namespace

bool schedule_tensor_epilogue(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  for (int i = schedule.stage_index_of(output) - 1; i >= 0; --i) {
    const StageNode& stage = schedule.stage_node(i);
    if (stage.is_placeholder) continue;
    if (is_row_normalization_tag(stage.op->tag)) {
      schedule_row_normalization(schedule, output, target);
      return true;
    }
    if (!stage.op->has_reduction) continue;
    if (stage.op->tag != "reduce") return false;
    schedule_reduce(schedule, output, target);
    return true;
  }
  return false;
}

void register_tensor_schedules() {
  register_schedule("reduce", schedule_reduce);
  register_schedule("softmax", schedule_row_normalization);
  register_schedule("log_softmax", schedule_row_normalization);
  register_schedule("layer_norm", schedule_row_normalization);
  register_schedule("instance_norm", schedule_row_normalization);
}

}  // namespace tessel::te::ops
