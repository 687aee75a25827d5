// Padding, layout-transform and weight-packing stages of the neural-network operators, and the
// schedule helpers they share (anchor discovery with fused epilogues, producer placement).
#include <cmath>

#include "nn_schedule_util.h"
#include "tessel/ir/error.h"

namespace tessel::te::ops {

using namespace nn_detail;

namespace nn_detail {

int64_t const_extent(const Expr& extent, const std::string& op, const char* what) {
  const int64_t* value = as_const_int(extent);
  user_check(value) << op << ": " << what << " must have a constant extent";
  return *value;
}

std::vector<int64_t> const_shape(const Tensor& t, const std::string& op) {
  std::vector<int64_t> shape;
  for (const Expr& e : t.shape()) shape.push_back(const_extent(e, op, ("tensor " + t.name()).c_str()));
  return shape;
}

Expr index_const(int64_t value) { return make_int(DataType::Int(32), value); }

Expr clamp_index(const Expr& index, int64_t extent) {
  return tessel::min(tessel::max(index, index_const(0)), index_const(extent - 1));
}

std::vector<Tensor> inputs_with_tag(const Operation& op, const std::string& tag) {
  std::vector<Tensor> result;
  for (const Tensor& t : op->inputs()) {
    if (t.op()->kind == OpKind::kCompute && t.op()->tag == tag) result.push_back(t);
  }
  return result;
}

int64_t pick_factor(int64_t extent, const std::vector<int64_t>& candidates) {
  int64_t best = 0;
  for (int64_t c : candidates) {
    if (c <= extent && extent % c == 0) best = std::max(best, c);
  }
  if (best > 1) return best;
  for (int64_t c : candidates) {
    if (c <= extent) return c;
  }
  return extent;
}

IterVar parallelize_outer(Stage& stage, const std::vector<IterVar>& axes, const std::vector<int64_t>& extents,
                          const ScheduleTarget& target) {
  internal_check(axes.size() == extents.size() && !axes.empty()) << "parallelize_outer: axes and extents differ";
  size_t first = 0;
  auto extent = [&](size_t i) { return extents[i]; };
  while (first < axes.size() && extent(first) == 1) ++first;
  if (first == axes.size()) return axes.back();
  bool llvm = target.kind == "llvm";
  if (first + 1 < axes.size() && extent(first + 1) > 1) {
    IterVar fused = stage.fuse(axes[first], axes[first + 1]);
    if (llvm) stage.parallel(fused);
    return first + 1 == axes.size() - 1 ? fused : axes.back();
  }
  if (llvm) stage.parallel(axes[first]);
  return axes.back();
}

namespace {
bool is_producer_tag(const std::string& tag) {
  return tag == kTagPad || tag == kTagWeightPack || tag == kTagLayoutTransform;
}
}  // namespace

AnchorPlan prepare_anchor(Schedule& schedule, const Tensor& output, const std::string& tag,
                          const ScheduleTarget& target, bool use_cache) {
  int out_index = schedule.stage_index_of(output);
  internal_check(out_index >= 0) << "output " << output.name() << " not in the schedule";
  int anchor_index = -1;
  for (int i = out_index; i >= 0 && anchor_index < 0; --i) {
    const StageNode& stage = schedule.stage_node(i);
    if (!stage.is_placeholder && stage.op->tag == tag && stage.op->has_reduction) anchor_index = i;
  }
  internal_check(anchor_index >= 0) << "no stage tagged " << tag << " feeds " << output.name();
  int n = schedule.num_stages();
  // Stages that (transitively) read the anchor: its epilogue.
  std::vector<bool> downstream(n, false);
  downstream[anchor_index] = true;
  bool epilogue_injective = true;
  for (int i = anchor_index + 1; i < n; ++i) {
    for (const Tensor& t : schedule.stage_node(i).op->inputs()) {
      int j = schedule.stage_index_of(t);
      if (j >= 0 && downstream[j]) downstream[i] = true;
    }
    if (downstream[i] && i != out_index && schedule.stage_node(i).op->has_reduction) epilogue_injective = false;
  }
  Tensor anchor = schedule.stage_node(anchor_index).output;
  bool same_shape = output.ndim() == anchor.ndim();
  for (int d = 0; same_shape && d < anchor.ndim(); ++d) {
    const int64_t* a = as_const_int(anchor.shape()[d]);
    const int64_t* b = as_const_int(output.shape()[d]);
    same_shape = a && b && *a == *b;
  }
  bool is_output = anchor_index == out_index;
  bool fuse = !is_output && epilogue_injective && !output.op()->has_reduction && same_shape;

  AnchorPlan plan;
  plan.anchor = anchor;
  std::vector<Tensor> to_inline;
  for (int i = 0; i < n; ++i) {
    const StageNode& stage = schedule.stage_node(i);
    if (stage.is_placeholder || stage.is_output || stage.op->has_reduction || i == anchor_index) continue;
    if (downstream[i] && fuse) {
      plan.epilogue.push_back(stage.output);
    } else if (downstream[i] || !is_producer_tag(stage.op->tag)) {
      to_inline.push_back(stage.output);
    }
  }
  for (const Tensor& t : to_inline) schedule[t].compute_inline();

  if (is_output) {
    plan.outer = anchor;
    plan.inner = use_cache ? schedule.cache_write(anchor, "local") : anchor;
  } else if (fuse) {
    plan.outer = output;
    plan.inner = anchor;
    plan.fused_epilogue = true;
  } else {
    plan.outer = anchor;
    plan.inner = use_cache ? schedule.cache_write(anchor, "local") : anchor;
    if (!output.op()->has_reduction) schedule_injective_stage(schedule, output, target);
  }
  return plan;
}

void attach_inner(Schedule& schedule, const AnchorPlan& plan, Stage& outer, const IterVar& axis) {
  if (plan.inner.same_as(plan.outer)) return;
  // Consumers first, so that each stage attached is read by the output or an attached stage.
  for (auto it = plan.epilogue.rbegin(); it != plan.epilogue.rend(); ++it) schedule[*it].compute_at(outer, axis);
  schedule[plan.inner].compute_at(outer, axis);
  for (const Tensor& t : plan.epilogue) schedule[t].compute_inline();
}

void schedule_anchor_producers(Schedule& schedule, const Tensor& anchor_inner, const ScheduleTarget& target,
                               bool inline_pad) {
  int limit = schedule.stage_index_of(anchor_inner);
  std::vector<Tensor> pads, others;
  for (int i = 0; i < limit; ++i) {
    const StageNode& stage = schedule.stage_node(i);
    if (stage.is_placeholder || stage.is_output || stage.op->has_reduction) continue;
    if (stage.attach != AttachKind::kRoot || !stage.relations.empty() || !stage.attrs.empty()) continue;
    if (stage.op->tag == kTagPad && inline_pad) {
      pads.push_back(stage.output);
    } else {
      others.push_back(stage.output);
    }
  }
  for (const Tensor& t : pads) schedule[t].compute_inline();
  for (const Tensor& t : others) schedule_injective_stage(schedule, t, target);
}

}  // namespace nn_detail

// ---- padding and layout stages ---------------------------------------------------------------

Tensor pad_trailing(const Tensor& data, const std::vector<int64_t>& before, const std::vector<int64_t>& after,
                    double pad_value, const std::string& name) {
  std::vector<int64_t> shape = const_shape(data, name);
  size_t nd = shape.size(), np = before.size();
  user_check(after.size() == np && np <= nd) << name << ": " << np << " leading and " << after.size()
                                             << " trailing pads for a tensor of rank " << nd;
  bool any = false;
  for (size_t d = 0; d < np; ++d) any |= before[d] != 0 || after[d] != 0;
  if (!any) return data;
  std::vector<Expr> out_shape;
  for (size_t d = 0; d < nd; ++d) {
    int64_t extent = shape[d];
    if (d >= nd - np) extent += before[d - (nd - np)] + after[d - (nd - np)];
    user_check(extent > 0) << name << ": padding leaves dimension " << d << " of " << data.name() << " empty";
    out_shape.push_back(index_const(extent));
  }
  DataType dtype = data.dtype();
  return compute(
      out_shape,
      [&](const std::vector<Var>& i) {
        std::vector<Expr> indices;
        Expr inside;
        auto add = [&](Expr c) { inside = inside.defined() ? (inside && c) : c; };
        for (size_t d = 0; d < nd; ++d) {
          if (d < nd - np) {
            indices.push_back(i[d]);
            continue;
          }
          int64_t lo = before[d - (nd - np)], hi = after[d - (nd - np)];
          Expr index = lo == 0 ? Expr(i[d]) : i[d] - index_const(lo);
          bool low = lo > 0, high = hi > 0;
          if (low) add(index >= index_const(0));
          if (high) add(index < index_const(shape[d]));
          if (low && high) {
            index = clamp_index(index, shape[d]);
          } else if (low) {
            index = tessel::max(index, index_const(0));
          } else if (high) {
            index = tessel::min(index, index_const(shape[d] - 1));
          }
          indices.push_back(index);
        }
        Expr value = data(indices);
        return inside.defined() ? make_select(inside, value, make_const(dtype, pad_value)) : value;
      },
      name, kTagPad);
}

Tensor nchw_to_nchwc(const Tensor& data, int64_t block, const std::string& name) {
  std::vector<int64_t> s = const_shape(data, name);
  user_check(s.size() == 4 && block >= 1) << name << ": expects NCHW data and a positive block";
  int64_t channels = s[1], blocks = (channels + block - 1) / block;
  DataType dtype = data.dtype();
  return compute(
      {index_const(s[0]), index_const(blocks), index_const(s[2]), index_const(s[3]), index_const(block)},
      [&](const std::vector<Var>& i) {
        Expr c = i[1] * index_const(block) + i[4];
        if (channels % block == 0) return data({i[0], c, i[2], i[3]});
        Expr value = data({i[0], tessel::min(c, index_const(channels - 1)), i[2], i[3]});
        return make_select(c < index_const(channels), value, make_const(dtype, 0));
      },
      name, kTagLayoutTransform);
}

Tensor nchwc_to_nchw(const Tensor& data, int64_t channels, const std::string& name) {
  std::vector<int64_t> s = const_shape(data, name);
  user_check(s.size() == 5 && channels >= 1 && channels <= s[1] * s[4])
      << name << ": expects NCHW{c}c data holding at least " << channels << " channels";
  int64_t block = s[4];
  return compute(
      {index_const(s[0]), index_const(channels), index_const(s[2]), index_const(s[3])},
      [&](const std::vector<Var>& i) {
        return data({i[0], i[1] / index_const(block), i[2], i[3], i[1] % index_const(block)});
      },
      name, kTagLayoutTransform);
}

Tensor pack_conv2d_weight_nchwc(const Tensor& weight, int64_t ic_block, int64_t oc_block, const std::string& name) {
  std::vector<int64_t> s = const_shape(weight, name);
  user_check(s.size() == 4 && ic_block >= 1 && oc_block >= 1) << name << ": expects an OIHW weight and positive blocks";
  int64_t out_c = s[0], in_c = s[1];
  DataType dtype = weight.dtype();
  return compute(
      {index_const((out_c + oc_block - 1) / oc_block), index_const((in_c + ic_block - 1) / ic_block), index_const(s[2]),
       index_const(s[3]), index_const(ic_block), index_const(oc_block)},
      [&](const std::vector<Var>& i) {
        Expr o = i[0] * index_const(oc_block) + i[5];
        Expr c = i[1] * index_const(ic_block) + i[4];
        Expr inside;
        Expr oi = o, ci = c;
        if (out_c % oc_block != 0) {
          inside = o < index_const(out_c);
          oi = tessel::min(o, index_const(out_c - 1));
        }
        if (in_c % ic_block != 0) {
          Expr c_in = c < index_const(in_c);
          inside = inside.defined() ? (inside && c_in) : c_in;
          ci = tessel::min(c, index_const(in_c - 1));
        }
        Expr value = weight({oi, ci, i[2], i[3]});
        return inside.defined() ? make_select(inside, value, make_const(dtype, 0)) : value;
      },
      name, kTagWeightPack);
}

Tensor pack_dense_weight(const Tensor& weight, const std::string& name) {
  std::vector<int64_t> s = const_shape(weight, name);
  user_check(s.size() == 2) << name << ": expects a [N, K] weight";
  int64_t n = s[0], panels = (n + kDensePanel - 1) / kDensePanel;
  DataType dtype = weight.dtype();
  return compute(
      {index_const(panels), index_const(s[1]), index_const(kDensePanel)},
      [&](const std::vector<Var>& i) {
        Expr j = i[0] * index_const(kDensePanel) + i[2];
        if (n % kDensePanel == 0) return weight({j, i[1]});
        Expr value = weight({tessel::min(j, index_const(n - 1)), i[1]});
        return make_select(j < index_const(n), value, make_const(dtype, 0));
      },
      name, kTagWeightPack);
}

}  // namespace tessel::te::ops
