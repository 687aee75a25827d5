// 2-D convolution computes (NCHW with groups/depthwise, NHWC with HWIO weights, blocked NCHW{c}c,
// transposed NCHW) and their default CPU schedules.
//
// Every convolution reads a "pad" stage (computed at root, in parallel; per input channel inside
// the channel loop for depthwise NCHW) so the reduction reads without bounds conditions. NCHW
// convolutions strided along width read a pad stage split into stride phases, so that vectors of
// output columns load contiguous input. Schedules tile the output into a register block that is
// accumulated in a local cache (or in the anchor itself when an elementwise epilogue is fused):
//   NCHW:   up to 8 output channels x up to 2 vectors of output columns (vectorised along width;
//           maps narrower than a vector stack 2-4 rows; depthwise: one channel x up to 4 vectors);
//   NHWC:   up to 8 output columns x one or two vectors of output channels;
//   NCHWc:  up to 8 output columns x the oc block (vectorised along the oc block, the fast layout);
//           with 16 vector registers (AVX2) 3 x 4 or 5 x 2 columns x oc blocks.
// The first two non-unit outer loops (batch, channel blocks, output rows, ...) run as one parallel loop.
#include "nn_schedule_util.h"
#include "tessel/ir/error.h"

namespace tessel::te::ops {

using namespace nn_detail;

namespace {

struct Window {
  int64_t in, kernel, stride, pad_before, pad_after, dilation;
  int64_t out() const { return (in + pad_before + pad_after - dilation * (kernel - 1) - 1) / stride + 1; }
  // Padded extent actually read by out() windows (may crop the trailing padding).
  int64_t needed() const { return (out() - 1) * stride + dilation * (kernel - 1) + 1; }
  int64_t after() const { return needed() - in - pad_before; }
};

void check_window(const Window& w, const std::string& name, const char* dim) {
  user_check(w.stride >= 1 && w.dilation >= 1 && w.kernel >= 1) << name << ": stride, dilation and kernel size along "
                                                                  << dim << " must be positive";
  user_check(w.pad_before >= 0 && w.pad_after >= 0) << name << ": negative padding along " << dim;
  user_check(w.out() >= 1) << name << ": the kernel (" << w.kernel << ", dilation " << w.dilation
                           << ") is larger than the padded input along " << dim << " (" << w.in + w.pad_before + w.pad_after
                           << ")";
}

void check_float_pair(const Tensor& data, const Tensor& weight, const std::string& name) {
  user_check(data.dtype().is_float() && data.dtype().lanes() == 1) << name << ": data must be a float tensor";
  user_check(weight.dtype() == data.dtype()) << name << ": weight dtype differs from the data's";
}

}  // namespace

Tensor conv2d_nchw(const Tensor& data, const Tensor& weight, std::array<int64_t, 2> strides, Padding2d padding,
                   std::array<int64_t, 2> dilation, int64_t groups, const std::string& name) {
  std::vector<int64_t> ds = const_shape(data, name), ws = const_shape(weight, name);
  check_float_pair(data, weight, name);
  user_check(ds.size() == 4 && ws.size() == 4) << name << ": data must be NCHW and weight OIHW";
  user_check(groups >= 1 && ds[1] % groups == 0 && ws[0] % groups == 0)
      << name << ": " << groups << " groups do not divide " << ds[1] << " input and " << ws[0] << " output channels";
  user_check(ws[1] * groups == ds[1]) << name << ": weight has " << ws[1] << " input channels per group, data "
                                      << ds[1] << " channels in " << groups << " groups";
  Window h{ds[2], ws[2], strides[0], padding[0], padding[2], dilation[0]};
  Window w{ds[3], ws[3], strides[1], padding[1], padding[3], dilation[1]};
  check_window(h, name, "height");
  check_window(w, name, "width");
  int64_t in_per_group = ws[1], out_per_group = ws[0] / groups;
  IterVar c = reduce_axis(index_const(0), index_const(in_per_group), "rc");
  IterVar kh = reduce_axis(index_const(0), index_const(ws[2]), "ry");
  IterVar kw = reduce_axis(index_const(0), index_const(ws[3]), "rx");
  auto channel_of = [&](const Var& oc) {
    return groups == 1 ? Expr(c) : (oc / index_const(out_per_group)) * index_const(in_per_group) + c;
  };
  if (w.stride > 1 && w.out() > 1) {
    // Strided along width: the pad stage splits each padded row into its `stride` phases,
    // phased[n, c, y, p, q] = padded[n, c, y, q * stride + p], so that a vector of output columns
    // reads one contiguous run of a phase (column ow * stride + kw * dilation is phase
    // (kw * dilation) % stride at ow + (kw * dilation) / stride) instead of gathering.
    int64_t phases = w.stride, per_phase = (w.needed() + w.stride - 1) / w.stride;
    DataType dtype = data.dtype();
    Tensor phased = compute(
        {index_const(ds[0]), index_const(ds[1]), index_const(h.needed()), index_const(phases), index_const(per_phase)},
        [&](const std::vector<Var>& i) {
          Expr y = i[2] - index_const(h.pad_before);
          Expr x = i[4] * index_const(phases) + i[3] - index_const(w.pad_before);
          Expr inside = y >= index_const(0) && y < index_const(ds[2]) && x >= index_const(0) && x < index_const(ds[3]);
          return make_select(inside, data({i[0], i[1], clamp_index(y, ds[2]), clamp_index(x, ds[3])}),
                             make_const(dtype, 0));
        },
        name + "_pad", kTagPad);
    return compute_reduce(
        {index_const(ds[0]), index_const(ws[0]), index_const(h.out()), index_const(w.out())},
        [&](const std::vector<Var>& i) {
          Expr y = i[2] * index_const(h.stride) + Expr(kh) * index_const(h.dilation);
          Expr column = Expr(kw) * index_const(w.dilation);
          Expr phase = column % index_const(phases), x = i[3] + column / index_const(phases);
          return sum(phased({i[0], channel_of(i[1]), y, phase, x}) * weight({i[1], c, kh, kw}), {c, kh, kw});
        },
        name, kTagConv2dNchw);
  }
  Tensor padded = pad_trailing(data, {h.pad_before, w.pad_before}, {h.after(), w.after()}, 0.0, name + "_pad");
  return compute_reduce(
      {index_const(ds[0]), index_const(ws[0]), index_const(h.out()), index_const(w.out())},
      [&](const std::vector<Var>& i) {
        Expr channel = channel_of(i[1]);
        Expr y = i[2] * index_const(h.stride) + Expr(kh) * index_const(h.dilation);
        Expr x = i[3] * index_const(w.stride) + Expr(kw) * index_const(w.dilation);
        return sum(padded({i[0], channel, y, x}) * weight({i[1], c, kh, kw}), {c, kh, kw});
      },
      name, kTagConv2dNchw);
}

Tensor conv2d_nhwc(const Tensor& data, const Tensor& weight, std::array<int64_t, 2> strides, Padding2d padding,
                   std::array<int64_t, 2> dilation, const std::string& name) {
  std::vector<int64_t> ds = const_shape(data, name), ws = const_shape(weight, name);
  check_float_pair(data, weight, name);
  user_check(ds.size() == 4 && ws.size() == 4) << name << ": data must be NHWC and weight HWIO";
  user_check(ws[2] == ds[3]) << name << ": weight has " << ws[2] << " input channels, data " << ds[3];
  Window h{ds[1], ws[0], strides[0], padding[0], padding[2], dilation[0]};
  Window w{ds[2], ws[1], strides[1], padding[1], padding[3], dilation[1]};
  check_window(h, name, "height");
  check_window(w, name, "width");
  Tensor padded = pad_trailing(data, {h.pad_before, w.pad_before, 0}, {h.after(), w.after(), 0}, 0.0, name + "_pad");
  IterVar kh = reduce_axis(index_const(0), index_const(ws[0]), "ry");
  IterVar kw = reduce_axis(index_const(0), index_const(ws[1]), "rx");
  IterVar c = reduce_axis(index_const(0), index_const(ds[3]), "rc");
  return compute_reduce(
      {index_const(ds[0]), index_const(h.out()), index_const(w.out()), index_const(ws[3])},
      [&](const std::vector<Var>& i) {
        Expr y = i[1] * index_const(h.stride) + Expr(kh) * index_const(h.dilation);
        Expr x = i[2] * index_const(w.stride) + Expr(kw) * index_const(w.dilation);
        return sum(padded({i[0], y, x, c}) * weight({kh, kw, c, i[3]}), {kh, kw, c});
      },
      name, kTagConv2dNhwc);
}

Tensor conv2d_nchwc(const Tensor& data, const Tensor& packed_weight, std::array<int64_t, 2> strides,
                    Padding2d padding, std::array<int64_t, 2> dilation, const std::string& name) {
  std::vector<int64_t> ds = const_shape(data, name), ws = const_shape(packed_weight, name);
  check_float_pair(data, packed_weight, name);
  user_check(ds.size() == 5 && ws.size() == 6) << name << ": data must be [N, C/c, H, W, c] and weight "
                                               << "[O/oc, C/c, KH, KW, c, oc]";
  user_check(ws[1] == ds[1] && ws[4] == ds[4]) << name << ": weight input-channel blocks (" << ws[1] << " x "
                                               << ws[4] << ") differ from the data's (" << ds[1] << " x " << ds[4]
                                               << ")";
  Window h{ds[2], ws[2], strides[0], padding[0], padding[2], dilation[0]};
  Window w{ds[3], ws[3], strides[1], padding[1], padding[3], dilation[1]};
  check_window(h, name, "height");
  check_window(w, name, "width");
  Tensor padded = pad_trailing(data, {h.pad_before, w.pad_before, 0}, {h.after(), w.after(), 0}, 0.0, name + "_pad");
  IterVar cb = reduce_axis(index_const(0), index_const(ds[1]), "rcb");
  IterVar kh = reduce_axis(index_const(0), index_const(ws[2]), "ry");
  IterVar kw = reduce_axis(index_const(0), index_const(ws[3]), "rx");
  IterVar ci = reduce_axis(index_const(0), index_const(ds[4]), "rci");
  return compute_reduce(
      {index_const(ds[0]), index_const(ws[0]), index_const(h.out()), index_const(w.out()), index_const(ws[5])},
      [&](const std::vector<Var>& i) {
        Expr y = i[2] * index_const(h.stride) + Expr(kh) * index_const(h.dilation);
        Expr x = i[3] * index_const(w.stride) + Expr(kw) * index_const(w.dilation);
        return sum(padded({i[0], cb, y, x, ci}) * packed_weight({i[1], cb, kh, kw, ci, i[4]}), {cb, kh, kw, ci});
      },
      name, kTagConv2dNchwc);
}

Tensor conv2d_transpose_nchw(const Tensor& data, const Tensor& weight, std::array<int64_t, 2> strides,
                             Padding2d padding, std::array<int64_t, 2> output_padding,
                             std::array<int64_t, 2> dilation, const std::string& name) {
  std::vector<int64_t> ds = const_shape(data, name), ws = const_shape(weight, name);
  check_float_pair(data, weight, name);
  user_check(ds.size() == 4 && ws.size() == 4) << name << ": data must be NCHW and weight [C, O, KH, KW]";
  user_check(ws[0] == ds[1]) << name << ": weight has " << ws[0] << " input channels, data " << ds[1];
  int64_t out_h = 0, out_w = 0;
  for (int d = 0; d < 2; ++d) {
    user_check(strides[d] >= 1 && dilation[d] >= 1) << name << ": stride and dilation must be positive";
    user_check(output_padding[d] >= 0 && output_padding[d] < std::max(strides[d], dilation[d]))
        << name << ": output_padding must be smaller than the stride or the dilation";
    user_check(padding[d] >= 0 && padding[d + 2] >= 0) << name << ": negative padding";
    int64_t out = (ds[2 + d] - 1) * strides[d] - padding[d] - padding[d + 2] + dilation[d] * (ws[2 + d] - 1) +
                  output_padding[d] + 1;
    user_check(out >= 1) << name << ": padding leaves an empty output";
    (d == 0 ? out_h : out_w) = out;
  }
  // Input spread out by the stride and offset so that a plain correlation with the flipped kernel
  // gives the transposed convolution: spread[y] = data[(y - offset) / stride] where that divides.
  int64_t off_h = dilation[0] * (ws[2] - 1) - padding[0], off_w = dilation[1] * (ws[3] - 1) - padding[1];
  int64_t span_h = out_h + dilation[0] * (ws[2] - 1), span_w = out_w + dilation[1] * (ws[3] - 1);
  DataType dtype = data.dtype();
  Tensor spread = compute(
      {index_const(ds[0]), index_const(ds[1]), index_const(span_h), index_const(span_w)},
      [&](const std::vector<Var>& i) {
        Expr inside;
        std::vector<Expr> indices = {i[0], i[1]};
        int64_t offsets[2] = {off_h, off_w};
        for (int d = 0; d < 2; ++d) {
          Expr shifted = i[2 + d] - index_const(offsets[d]);
          Expr source = shifted / index_const(strides[d]);
          Expr ok = shifted >= index_const(0) && source < index_const(ds[2 + d]);
          if (strides[d] > 1) ok = ok && (shifted % index_const(strides[d]) == index_const(0));
          inside = inside.defined() ? (inside && ok) : ok;
          indices.push_back(clamp_index(source, ds[2 + d]));
        }
        return make_select(inside, data(indices), make_const(dtype, 0));
      },
      name + "_spread", kTagPad);
  IterVar c = reduce_axis(index_const(0), index_const(ds[1]), "rc");
  IterVar kh = reduce_axis(index_const(0), index_const(ws[2]), "ry");
  IterVar kw = reduce_axis(index_const(0), index_const(ws[3]), "rx");
  return compute_reduce(
      {index_const(ds[0]), index_const(ws[1]), index_const(out_h), index_const(out_w)},
      [&](const std::vector<Var>& i) {
        Expr y = i[2] + Expr(kh) * index_const(dilation[0]);
        Expr x = i[3] + Expr(kw) * index_const(dilation[1]);
        Expr flipped_h = index_const(ws[2] - 1) - kh, flipped_w = index_const(ws[3] - 1) - kw;
        return sum(spread({i[0], c, y, x}) * weight({c, i[1], flipped_h, flipped_w}), {c, kh, kw});
      },
      name, kTagConv2dTransposeNchw);
}

// ---- default schedules ------------------------------------------------------------------------

namespace {

int64_t extent_of(const IterVar& iv, const std::string& tag) { return const_extent(iv->dom.extent, tag, "axis"); }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

void schedule_conv2d_nchw(Schedule& schedule, const Tensor& output, const ScheduleTarget& target,
                          const std::string& tag) {
  AnchorPlan plan = prepare_anchor(schedule, output, tag, target);
  Stage outer = schedule[plan.outer];
  std::vector<IterVar> a = outer.axis();  // n, oc, oh, ow
  int64_t batch = extent_of(a[0], tag), oc = extent_of(a[1], tag), oh = extent_of(a[2], tag), ow = extent_of(a[3], tag);
  int lanes = target.vector_lanes(output.dtype());
  // Register block. Depthwise kernels share no input between channels, so they tile along width
  // only (rows up to 4 vectors wide taken whole). Otherwise up to 8 channels x up to 2 vectors of
  // a row; rows no wider than a vector are stacked 2 high (4 high, with 4 channels, when at most
  // half a vector wide: 7x7 maps), so that one input row load feeds more FMAs.
  bool depthwise = extent_of(schedule[plan.inner].reduce_axis()[0], tag) == 1 && oc > 1;
  int64_t owb = ow, ohb = 1, ocb = 1;
  if (depthwise) {
    if (ow > 4 * lanes) owb = pick_factor(ow, {2 * lanes, lanes, std::max(1, lanes / 2)});
  } else if (ow > lanes) {
    owb = pick_factor(ow, {2 * lanes, lanes, std::max(1, lanes / 2)});
    ocb = pick_factor(oc, {8, 4, 2});
  } else if (ow > lanes / 2 || oh == 1) {
    ocb = pick_factor(oc, {8, 4, 2});
    if (ow <= lanes && oh > 1) ohb = 2;
  } else {
    ocb = pick_factor(oc, {4, 2});
    ohb = std::min<int64_t>(oh, 4);
  }
  auto [oco, oci] = outer.split(a[1], ocb);
  auto [oho, ohi] = outer.split(a[2], ohb);
  auto [owo, owi] = outer.split(a[3], owb);
  outer.reorder({a[0], oco, oho, owo, ohi, oci, owi});
  IterVar attach, channel_loop;
  std::vector<Tensor> pads = inputs_with_tag(plan.inner.op(), kTagPad);
  bool pad_per_channel = depthwise && pads.size() == 1;
  if (!pad_per_channel) schedule_anchor_producers(schedule, plan.inner, target, /*inline_pad=*/false);
  if (pad_per_channel) {
    // Depthwise: one parallel loop over (batch, channel); each iteration pads its one input
    // channel into a small local buffer (cache resident) instead of a whole padded copy of the
    // input going through memory, then sweeps that channel's rows.
    // (The pad is attached after the register tile: compute_at needs its reader placed first.)
    channel_loop = parallelize_outer(outer, {a[0], oco}, {batch, oc}, target);
    attach = owo;
  } else {
    attach = parallelize_outer(outer, {a[0], oco, oho, owo},
                               {batch, ceil_div(oc, ocb), ceil_div(oh, ohb), ceil_div(ow, owb)}, target);
  }
  if (ohb > 1) outer.unroll(ohi);
  if (ocb > 1) outer.unroll(oci);
  if (owb > 1) outer.vectorize(owi);

  Stage inner = schedule[plan.inner];
  attach_inner(schedule, plan, outer, attach);
  if (channel_loop.defined()) {
    Stage pad = schedule[pads[0]];
    pad.compute_at(outer, channel_loop);
    std::vector<IterVar> pa = pad.axis();
    int64_t pw = extent_of(pa.back(), tag);
    if (pw > lanes) {
      auto [po, pi] = pad.split(pa.back(), lanes);
      pad.vectorize(pi);
    } else if (pw > 1) {
      pad.vectorize(pa.back());
    }
    schedule_anchor_producers(schedule, plan.inner, target, /*inline_pad=*/false);
  }
  std::vector<IterVar> ia = inner.axis(), ra = inner.reduce_axis();  // n, oc, oh, ow; c, kh, kw
  if (ohb > 1) {
    inner.reorder({ia[0], ra[0], ra[1], ra[2], ia[2], ia[1], ia[3]});
  } else {
    inner.reorder({ia[0], ia[2], ra[0], ra[1], ra[2], ia[1], ia[3]});
  }
  if (extent_of(ra[2], tag) <= 7) inner.unroll(ra[2]);
  if (ohb > 1) inner.unroll(ia[2]);
  if (ocb > 1) inner.unroll(ia[1]);
  if (owb > 1) inner.vectorize(ia[3]);
}

void schedule_conv2d_nhwc(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  const std::string tag = kTagConv2dNhwc;
  AnchorPlan plan = prepare_anchor(schedule, output, tag, target);
  schedule_anchor_producers(schedule, plan.inner, target, /*inline_pad=*/false);
  Stage outer = schedule[plan.outer];
  std::vector<IterVar> a = outer.axis();  // n, oh, ow, oc
  int64_t batch = extent_of(a[0], tag), oh = extent_of(a[1], tag), ow = extent_of(a[2], tag), oc = extent_of(a[3], tag);
  int lanes = target.vector_lanes(output.dtype());
  int64_t ocv = oc >= lanes ? pick_factor(oc, {2 * lanes, lanes}) : oc;
  int64_t owb = pick_factor(ow, {8, 7, 6, 5, 4});
  auto [owo, owi] = outer.split(a[2], owb);
  auto [oco, oci] = outer.split(a[3], ocv);
  outer.reorder({a[0], a[1], owo, oco, owi, oci});
  IterVar attach = parallelize_outer(outer, {a[0], a[1], owo, oco}, {batch, oh, ceil_div(ow, owb), ceil_div(oc, ocv)},
                                     target);
  if (owb > 1) outer.unroll(owi);
  if (ocv > 1) outer.vectorize(oci);

  Stage inner = schedule[plan.inner];
  attach_inner(schedule, plan, outer, attach);
  std::vector<IterVar> ia = inner.axis(), ra = inner.reduce_axis();  // n, oh, ow, oc; kh, kw, c
  inner.reorder({ia[0], ia[1], ra[0], ra[1], ra[2], ia[2], ia[3]});
  if (owb > 1) inner.unroll(ia[2]);
  if (ocv > 1) inner.vectorize(ia[3]);
}

void schedule_conv2d_nchwc(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  const std::string tag = kTagConv2dNchwc;
  AnchorPlan plan = prepare_anchor(schedule, output, tag, target);
  schedule_anchor_producers(schedule, plan.inner, target, /*inline_pad=*/false);
  Stage outer = schedule[plan.outer];
  std::vector<IterVar> a = outer.axis();  // n, ob, oh, ow, oi
  int64_t batch = extent_of(a[0], tag), ob = extent_of(a[1], tag), oh = extent_of(a[2], tag), ow = extent_of(a[3], tag);
  int64_t oi = extent_of(a[4], tag);
  // The register tile: output columns x output-channel blocks, one vector per (column, block).
  // With 32 vector registers (AVX-512) 8 columns of one block; with 16 (AVX2, one block = one
  // 8-lane vector) about 12 accumulators: 3 columns x 4 blocks or 5 x 2, which leave registers for
  // the broadcast input and the weight vectors (up to 2x faster than 8 x 1 on Zen 3).
  int64_t obb = 1, owb = pick_factor(ow, {8, 7, 6, 5, 4});
  if (target.vector_registers <= 16 && oi == target.vector_lanes(output.dtype())) {
    obb = ob % 4 == 0 ? 4 : ob % 2 == 0 ? 2 : 1;
    if (obb > 1) owb = std::min<int64_t>(ow, obb == 4 ? 3 : 5);
  }
  auto [owo, owi] = outer.split(a[3], owb);
  auto [obo, obi] = outer.split(a[1], obb);
  outer.reorder({a[0], obo, a[2], owo, obi, owi, a[4]});
  IterVar attach = parallelize_outer(outer, {a[0], obo, a[2], owo}, {batch, ob / obb, oh, ceil_div(ow, owb)}, target);
  if (obb > 1) outer.unroll(obi);
  if (owb > 1) outer.unroll(owi);
  if (oi > 1) outer.vectorize(a[4]);

  Stage inner = schedule[plan.inner];
  attach_inner(schedule, plan, outer, attach);
  std::vector<IterVar> ia = inner.axis(), ra = inner.reduce_axis();  // n, ob, oh, ow, oi; cb, kh, kw, ci
  inner.reorder({ia[0], ia[2], ra[0], ra[1], ra[2], ra[3], ia[1], ia[3], ia[4]});
  if (obb > 1) {
    inner.unroll(ra[3]);  // the input-channel block: the micro-kernel's inner loop, fully unrolled
    inner.unroll(ia[1]);
  }
  if (owb > 1) inner.unroll(ia[3]);
  if (oi > 1) inner.vectorize(ia[4]);
}

}  // namespace tessel::te::ops
