// 2-D pooling (max, average, global, adaptive average) and their default schedule. Window and
// global pooling take NCHW data or channel-blocked NCHW{b}c data (5-D, the block innermost, as
// the graph compiler's blocked convolutions produce it): the window runs over dimensions 2 and 3
// and the block is carried through.
//
// Window pooling reads an inlined pad stage (clamped reads, so out-of-window positions cost a
// select, never an out-of-bounds load), vectorises along output width (NCHW) or the channel
// block (NCHW{b}c) and runs the fused batch x channel x output-row loop in parallel; the window
// reduction is accumulated in a local cache computed at each output vector (or in the sum itself
// under avg_pool2d's division). Global and adaptive pooling parallelise over all output cells
// and reduce serially (vectorised over the channel block when there is one).
#include <cmath>
#include <limits>

#include "nn_schedule_util.h"
#include "tessel/ir/error.h"

namespace tessel::te::ops {

using namespace nn_detail;

namespace {

struct PoolWindow {
  int64_t in, kernel, stride, pad_before, pad_after, dilation;
  bool ceil_mode;
  int64_t out() const {
    int64_t span = in + pad_before + pad_after - dilation * (kernel - 1) - 1;
    int64_t n = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    // PyTorch: the last window must start inside the input or the leading padding.
    if (ceil_mode && (n - 1) * stride >= in + pad_before) --n;
    return n;
  }
  int64_t after() const { return (out() - 1) * stride + dilation * (kernel - 1) + 1 - in - pad_before; }
};

// NCHW or NCHW{b}c data: its constant shape.
std::vector<int64_t> pool_shape(const Tensor& data, const std::string& name) {
  std::vector<int64_t> s = const_shape(data, name);
  user_check(s.size() == 4 || s.size() == 5) << name << ": data must be NCHW or NCHW{b}c (4-D or 5-D), got rank "
                                             << s.size();
  return s;
}

// The output shape of a pooling: data's shape with rows and columns replaced.
std::vector<Expr> pooled_shape(const std::vector<int64_t>& s, int64_t rows, int64_t cols) {
  std::vector<Expr> shape = {index_const(s[0]), index_const(s[1]), index_const(rows), index_const(cols)};
  if (s.size() == 5) shape.push_back(index_const(s[4]));
  return shape;
}

// Pads rows and columns (dimensions 2 and 3) of NCHW or NCHW{b}c data.
Tensor pad_window(const Tensor& data, const PoolWindow& h, const PoolWindow& w, double value, const std::string& name) {
  if (data.ndim() == 5) return pad_trailing(data, {h.pad_before, w.pad_before, 0}, {h.after(), w.after(), 0}, value, name);
  return pad_trailing(data, {h.pad_before, w.pad_before}, {h.after(), w.after()}, value, name);
}

void check_pool(const Tensor& data, const PoolWindow& h, const PoolWindow& w, const std::string& name) {
  user_check(data.dtype().is_float() && data.dtype().lanes() == 1) << name << ": data must be a float tensor";
  for (const PoolWindow* p : {&h, &w}) {
    user_check(p->kernel >= 1 && p->stride >= 1 && p->dilation >= 1) << name << ": kernel, stride and dilation must be positive";
    user_check(p->pad_before >= 0 && p->pad_after >= 0) << name << ": negative padding";
    user_check(p->in + p->pad_before + p->pad_after >= p->dilation * (p->kernel - 1) + 1 && p->out() >= 1)
        << name << ": the window is larger than the padded input";
  }
}


// Reads padded[n, c, y * stride + kh * dilation, x * stride + kw * dilation(, block)].
Expr window_read(const Tensor& padded, const std::vector<Var>& i, const Expr& kh, const Expr& kw, const PoolWindow& h,
                 const PoolWindow& w) {
  Expr y = i[2] * index_const(h.stride) + kh * index_const(h.dilation);
  Expr x = i[3] * index_const(w.stride) + kw * index_const(w.dilation);
  std::vector<Expr> indices = {i[0], i[1], y, x};
  if (i.size() == 5) indices.push_back(i[4]);
  return padded(indices);
}

// The output indices as expressions (all of them, block included).
std::vector<Expr> as_indices(const std::vector<Var>& i) { return std::vector<Expr>(i.begin(), i.end()); }

}  // namespace

Tensor max_pool2d(const Tensor& data, std::array<int64_t, 2> kernel, std::array<int64_t, 2> strides,
                  Padding2d padding, std::array<int64_t, 2> dilation, bool ceil_mode, const std::string& name) {
  std::vector<int64_t> s = pool_shape(data, name);
  PoolWindow h{s[2], kernel[0], strides[0], padding[0], padding[2], dilation[0], ceil_mode};
  PoolWindow w{s[3], kernel[1], strides[1], padding[1], padding[3], dilation[1], ceil_mode};
  check_pool(data, h, w, name);
  Tensor padded = pad_window(data, h, w, -std::numeric_limits<double>::infinity(), name + "_pad");
  IterVar kh = reduce_axis(index_const(0), index_const(h.kernel), "ry");
  IterVar kw = reduce_axis(index_const(0), index_const(w.kernel), "rx");
  return compute_reduce(
      pooled_shape(s, h.out(), w.out()),
      [&](const std::vector<Var>& i) { return te::max(window_read(padded, i, kh, kw, h, w), {kh, kw}); }, name,
      kTagPool2d);
}

Tensor avg_pool2d(const Tensor& data, std::array<int64_t, 2> kernel, std::array<int64_t, 2> strides,
                  Padding2d padding, bool ceil_mode, bool count_include_pad, const std::string& name) {
  std::vector<int64_t> s = pool_shape(data, name);
  PoolWindow h{s[2], kernel[0], strides[0], padding[0], padding[2], 1, ceil_mode};
  PoolWindow w{s[3], kernel[1], strides[1], padding[1], padding[3], 1, ceil_mode};
  check_pool(data, h, w, name);
  Tensor padded = pad_window(data, h, w, 0.0, name + "_pad");
  IterVar kh = reduce_axis(index_const(0), index_const(h.kernel), "ry");
  IterVar kw = reduce_axis(index_const(0), index_const(w.kernel), "rx");
  Tensor total = compute_reduce(
      pooled_shape(s, h.out(), w.out()),
      [&](const std::vector<Var>& i) { return sum(window_read(padded, i, kh, kw, h, w), {kh, kw}); }, name + "_sum",
      kTagPool2d);
  DataType dtype = data.dtype();
  // PyTorch's divisor: the window clipped to the padded input, or to the input itself.
  auto extent = [&](const Expr& o, const PoolWindow& p) {
    Expr start = o * index_const(p.stride) - index_const(p.pad_before);
    Expr end = tessel::min(start + index_const(p.kernel), index_const(p.in + p.pad_after));
    if (count_include_pad) return end - start;
    return tessel::min(end, index_const(p.in)) - tessel::max(start, index_const(0));
  };
  return compute(
      total.shape(),
      [&](const std::vector<Var>& i) {
        Expr count = extent(i[2], h) * extent(i[3], w);
        return total(as_indices(i)) / make_cast(dtype, count);
      },
      name, kTagPool2d);
}

namespace {

Tensor global_pool(const Tensor& data, bool average, const std::string& name) {
  std::vector<int64_t> s = pool_shape(data, name);
  user_check(data.dtype().is_float() && data.dtype().lanes() == 1) << name << ": data must be a float tensor";
  IterVar rh = reduce_axis(index_const(0), index_const(s[2]), "ry");
  IterVar rw = reduce_axis(index_const(0), index_const(s[3]), "rx");
  std::vector<Expr> shape = pooled_shape(s, 1, 1);
  Tensor reduced = compute_reduce(
      shape,
      [&](const std::vector<Var>& i) {
        std::vector<Expr> indices = {i[0], i[1], rh, rw};
        if (i.size() == 5) indices.push_back(i[4]);
        Expr v = data(indices);
        return average ? sum(v, {rh, rw}) : te::max(v, {rh, rw});
      },
      average ? name + "_sum" : name, kTagGlobalPool2d);
  if (!average) return reduced;
  Expr count = make_const(data.dtype(), static_cast<double>(s[2] * s[3]));
  return compute(
      shape, [&](const std::vector<Var>& i) { return reduced(as_indices(i)) / count; }, name,
      kTagGlobalPool2d);
}

// Adaptive pooling window of output cell o along one dimension: [floor(o * in / out), ceil((o + 1) * in / out)).
struct AdaptiveWindow {
  int64_t in, out;
  Expr start(const Expr& o) const { return (o * index_const(in)) / index_const(out); }
  Expr end(const Expr& o) const { return ((o + index_const(1)) * index_const(in) + index_const(out - 1)) / index_const(out); }
  int64_t max_size() const {
    int64_t best = 0;
    for (int64_t o = 0; o < out; ++o) best = std::max(best, ((o + 1) * in + out - 1) / out - (o * in) / out);
    return best;
  }
  bool uniform() const { return in % out == 0; }
};

}  // namespace

Tensor global_avg_pool2d(const Tensor& data, const std::string& name) { return global_pool(data, true, name); }
Tensor global_max_pool2d(const Tensor& data, const std::string& name) { return global_pool(data, false, name); }

Tensor adaptive_avg_pool2d(const Tensor& data, std::array<int64_t, 2> output_size, const std::string& name) {
  std::vector<int64_t> s = const_shape(data, name);
  user_check(s.size() == 4) << name << ": data must be NCHW";
  user_check(data.dtype().is_float() && data.dtype().lanes() == 1) << name << ": data must be a float tensor";
  user_check(output_size[0] >= 1 && output_size[1] >= 1) << name << ": output size must be positive";
  AdaptiveWindow h{s[2], output_size[0]}, w{s[3], output_size[1]};
  IterVar rh = reduce_axis(index_const(0), index_const(h.max_size()), "ry");
  IterVar rw = reduce_axis(index_const(0), index_const(w.max_size()), "rx");
  std::vector<Expr> shape = {index_const(s[0]), index_const(s[1]), index_const(h.out), index_const(w.out)};
  Tensor total = compute_reduce(
      shape,
      [&](const std::vector<Var>& i) {
        Expr y = h.start(i[2]) + Expr(rh), x = w.start(i[3]) + Expr(rw);
        Expr condition;
        if (!h.uniform()) condition = y < h.end(i[2]);
        if (!w.uniform()) condition = condition.defined() ? (condition && x < w.end(i[3])) : (x < w.end(i[3]));
        Expr v = data({i[0], i[1], h.uniform() ? y : clamp_index(y, h.in), w.uniform() ? x : clamp_index(x, w.in)});
        return sum(v, {rh, rw}, condition);
      },
      name + "_sum", kTagAdaptivePool2d);
  DataType dtype = data.dtype();
  return compute(
      shape,
      [&](const std::vector<Var>& i) {
        Expr count = (h.end(i[2]) - h.start(i[2])) * (w.end(i[3]) - w.start(i[3]));
        return total({i[0], i[1], i[2], i[3]}) / make_cast(dtype, count);
      },
      name, kTagAdaptivePool2d);
}

// ---- default schedule --------------------------------------------------------------------------

void schedule_pool2d(Schedule& schedule, const Tensor& output, const ScheduleTarget& target, const std::string& tag) {
  bool window = tag == kTagPool2d;
  AnchorPlan plan = prepare_anchor(schedule, output, tag, target, /*use_cache=*/window);
  schedule_anchor_producers(schedule, plan.inner, target, /*inline_pad=*/true);
  Stage outer = schedule[plan.outer];
  std::vector<IterVar> a = outer.axis();  // n, c, oh, ow(, channel block)
  std::vector<int64_t> e;
  for (const IterVar& iv : a) e.push_back(const_extent(iv->dom.extent, tag, "axis"));
  if (a.size() == 5) {
    // NCHW{b}c: one channel-block vector per output position, the window reduced around it.
    IterVar attach = parallelize_outer(outer, {a[0], a[1], a[2], a[3]}, {e[0], e[1], e[2], e[3]}, target);
    if (plan.inner.same_as(plan.outer)) {
      std::vector<IterVar> r = outer.reduce_axis();
      outer.reorder({r[0], r[1], a[4]});
      outer.vectorize(a[4]);
      return;
    }
    outer.vectorize(a[4]);
    attach_inner(schedule, plan, outer, attach);
    Stage inner = schedule[plan.inner];
    std::vector<IterVar> ia = inner.axis(), ra = inner.reduce_axis();
    inner.reorder({ia[0], ia[1], ia[2], ia[3], ra[0], ra[1], ia[4]});
    inner.vectorize(ia[4]);
    return;
  }
  if (!window) {
    IterVar attach = parallelize_outer(outer, a, e, target);
    attach_inner(schedule, plan, outer, attach);
    return;
  }
  int lanes = target.vector_lanes(output.dtype());
  int64_t owb = e[3] >= lanes ? lanes : e[3];
  auto [owo, owi] = outer.split(a[3], owb);
  IterVar attach = parallelize_outer(outer, {a[0], a[1], a[2], owo}, {e[0], e[1], e[2], (e[3] + owb - 1) / owb}, target);
  if (owb > 1) outer.vectorize(owi);
  Stage inner = schedule[plan.inner];
  attach_inner(schedule, plan, outer, attach);
  std::vector<IterVar> ia = inner.axis(), ra = inner.reduce_axis();
  inner.reorder({ia[0], ia[1], ia[2], ra[0], ra[1], ia[3]});
  if (owb > 1) inner.vectorize(ia[3]);
}

}  // namespace tessel::te::ops
