// Injective transforms (tag "injective"): reshape, transpose, concat, split, pad, strided_slice,
// take, gather_elements and tile. Every read a select may skip is still clamped in bounds, since
// both branches of a select may be evaluated.
#include <algorithm>
#include <numeric>

#include "tensor_internal.h"

namespace tessel::te::ops {

using detail::clamp_index;

namespace {

const char* kInjective = "injective";

std::vector<int64_t> const_shape(const Tensor& x, const std::string& op_name) {
  std::vector<int64_t> shape;
  for (const Expr& e : x.shape()) shape.push_back(const_extent(e, op_name));
  return shape;
}

std::vector<Expr> to_exprs(const std::vector<int64_t>& shape) {
  std::vector<Expr> result;
  for (int64_t v : shape) {
    user_check(v > 0 && v <= INT32_MAX) << "extent " << v << " is not a positive 32-bit integer";
    result.push_back(make_int(DataType::Int(32), v));
  }
  return result;
}

std::vector<Expr> as_exprs(const std::vector<Var>& i) { return std::vector<Expr>(i.begin(), i.end()); }

Expr int_const(int64_t v) { return make_int(DataType::Int(32), v); }

}  // namespace

Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape) {
  std::vector<int64_t> in = const_shape(x, "reshape");
  int64_t total = std::accumulate(in.begin(), in.end(), int64_t{1}, std::multiplies<>());
  std::vector<int64_t> out = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == -1) {
      user_check(infer < 0) << "reshape: only one extent may be -1";
      infer = static_cast<int>(d);
    } else {
      user_check(out[d] > 0) << "reshape: extent " << out[d] << " is not positive";
      known *= out[d];
    }
  }
  if (infer >= 0) {
    user_check(total % known == 0) << "reshape: cannot infer the -1 extent for " << total << " elements";
    out[infer] = total / known;
  }
  int64_t out_total = std::accumulate(out.begin(), out.end(), int64_t{1}, std::multiplies<>());
  user_check(out_total == total) << "reshape: " << x.name() << " has " << total << " elements, the new shape "
                                 << out_total;
  DataType index_type = total > INT32_MAX ? DataType::Int(64) : DataType::Int(32);
  Tensor input = x;
  return compute(to_exprs(out), [&](const std::vector<Var>& i) {
    // Row-major linear position of the output element, unflattened into the input's axes.
    Expr linear = make_const(index_type, 0);
    for (size_t d = 0; d < out.size(); ++d) {
      linear = linear * make_const(index_type, static_cast<double>(out[d])) + make_cast(index_type, i[d]);
    }
    std::vector<Expr> index(in.size());
    int64_t stride = 1;
    for (int d = static_cast<int>(in.size()) - 1; d >= 0; --d) {
      Expr v = linear;
      if (stride > 1) v = v / make_const(index_type, static_cast<double>(stride));
      if (d > 0) v = v % make_const(index_type, static_cast<double>(in[d]));
      index[d] = make_cast(DataType::Int(32), v);
      stride *= in[d];
    }
    return input(index);
  }, "reshape", kInjective);
}

Tensor transpose(const Tensor& x, std::vector<int> axes) {
  int n = x.ndim();
  if (axes.empty()) {
    for (int d = n - 1; d >= 0; --d) axes.push_back(d);
  }
  user_check(static_cast<int>(axes.size()) == n) << "transpose: " << axes.size() << " axes for a tensor of rank " << n;
  std::vector<bool> seen(n, false);
  for (int& a : axes) {
    a = normalize_axis(a, n, "transpose");
    user_check(!seen[a]) << "transpose: axis " << a << " repeats";
    seen[a] = true;
  }
  std::vector<Expr> shape;
  for (int a : axes) shape.push_back(x.shape()[a]);
  Tensor input = x;
  return compute(shape, [&](const std::vector<Var>& i) {
    std::vector<Expr> index(n);
    for (int d = 0; d < n; ++d) index[axes[d]] = i[d];
    return input(index);
  }, "transpose", kInjective);
}

Tensor concat(const std::vector<Tensor>& tensors, int axis) {
  user_check(!tensors.empty()) << "concat: no tensors";
  const Tensor& first = tensors[0];
  axis = normalize_axis(axis, first.ndim(), "concat");
  std::vector<int64_t> offsets = {0};
  for (const Tensor& t : tensors) {
    user_check(t.ndim() == first.ndim() && t.dtype() == first.dtype())
        << "concat: " << t.name() << " differs from " << first.name() << " in rank or type";
    for (int d = 0; d < first.ndim(); ++d) {
      if (d == axis) continue;
      user_check(const_extent(t.shape()[d], "concat") == const_extent(first.shape()[d], "concat"))
          << "concat: " << t.name() << " differs from " << first.name() << " on axis " << d;
    }
    offsets.push_back(offsets.back() + const_extent(t.shape()[axis], "concat"));
  }
  std::vector<Expr> shape = first.shape();
  shape[axis] = int_const(offsets.back());
  std::vector<Tensor> inputs = tensors;
  return compute(shape, [&](const std::vector<Var>& i) {
    // Piece p covers [offsets[p], offsets[p + 1]); later pieces are the fall-through.
    auto piece = [&](size_t p) {
      std::vector<Expr> index = as_exprs(i);
      Expr local = Expr(i[axis]) - int_const(offsets[p]);
      index[axis] = clamp_index(local, int_const(offsets[p + 1] - offsets[p]));
      return inputs[p](index);
    };
    Expr value = piece(inputs.size() - 1);
    for (int p = static_cast<int>(inputs.size()) - 2; p >= 0; --p) {
      value = make_select(Expr(i[axis]) < int_const(offsets[p + 1]), piece(p), value);
    }
    return value;
  }, "concat", kInjective);
}

namespace {

// The part [start, start + extent) of x along axis.
Tensor slice_axis(const Tensor& x, int axis, int64_t start, int64_t extent, const std::string& name) {
  std::vector<Expr> shape = x.shape();
  shape[axis] = int_const(extent);
  Tensor input = x;
  return compute(shape, [&](const std::vector<Var>& i) {
    std::vector<Expr> index = as_exprs(i);
    if (start != 0) index[axis] = index[axis] + int_const(start);
    return input(index);
  }, name, kInjective);
}

}  // namespace

std::vector<Tensor> split(const Tensor& x, int sections, int axis) {
  axis = normalize_axis(axis, x.ndim(), "split");
  int64_t extent = const_extent(x.shape()[axis], "split");
  user_check(sections > 0 && extent % sections == 0)
      << "split: axis " << axis << " of extent " << extent << " does not split into " << sections << " equal parts";
  std::vector<int64_t> indices;
  for (int s = 1; s < sections; ++s) indices.push_back(s * (extent / sections));
  return split(x, indices, axis);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& indices, int axis) {
  axis = normalize_axis(axis, x.ndim(), "split");
  int64_t extent = const_extent(x.shape()[axis], "split");
  std::vector<int64_t> bounds = {0};
  for (int64_t v : indices) bounds.push_back(v);
  bounds.push_back(extent);
  std::vector<Tensor> result;
  for (size_t p = 0; p + 1 < bounds.size(); ++p) {
    user_check(bounds[p] < bounds[p + 1]) << "split: indices must be increasing and inside (0, " << extent
                                          << ") so that no part is empty";
    result.push_back(slice_axis(x, axis, bounds[p], bounds[p + 1] - bounds[p], "split"));
  }
  return result;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pad_before, const std::vector<int64_t>& pad_after,
           PadMode mode, double value) {
  int n = x.ndim();
  user_check(static_cast<int>(pad_before.size()) <= n && static_cast<int>(pad_after.size()) <= n)
      << "pad: more pad entries than axes of " << x.name();
  std::vector<int64_t> before(n, 0), after(n, 0), extent = const_shape(x, "pad");
  std::copy(pad_before.begin(), pad_before.end(), before.begin());
  std::copy(pad_after.begin(), pad_after.end(), after.begin());
  std::vector<int64_t> shape(n);
  for (int d = 0; d < n; ++d) {
    user_check(before[d] >= 0 && after[d] >= 0) << "pad: negative pad on axis " << d;
    if (mode == PadMode::kReflect && extent[d] > 1) {
      user_check(before[d] < extent[d] && after[d] < extent[d])
          << "pad: reflect padding on axis " << d << " must be smaller than its extent " << extent[d];
    }
    shape[d] = extent[d] + before[d] + after[d];
  }
  Tensor input = x;
  Expr fill = make_const(x.dtype(), value);
  return compute(to_exprs(shape), [&](const std::vector<Var>& i) {
    std::vector<Expr> index;
    Expr inside;
    for (int d = 0; d < n; ++d) {
      if (before[d] == 0 && after[d] == 0) {
        index.push_back(i[d]);
        continue;
      }
      Expr src = before[d] ? Expr(i[d]) - int_const(before[d]) : Expr(i[d]);
      Expr last = int_const(extent[d] - 1);
      if (mode == PadMode::kReflect && extent[d] > 1) {
        // -1 -> 1, n -> n - 2: mirror about the edge elements without repeating them.
        src = make_select(src < int_const(0), -src, make_select(src > last, last * int_const(2) - src, src));
      } else if (mode == PadMode::kConstant) {
        Expr in = (src >= int_const(0)) && (src <= last);
        inside = inside.defined() ? (inside && in) : in;
      }
      index.push_back(clamp_index(src, int_const(extent[d])));
    }
    Expr v = input(index);
    return inside.defined() ? make_select(inside, v, fill) : v;
  }, "pad", kInjective);
}

Tensor strided_slice(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& end,
                     const std::vector<int64_t>& strides, const std::vector<int>& axes) {
  int n = x.ndim();
  user_check(begin.size() == end.size()) << "strided_slice: begin and end differ in length";
  user_check(strides.empty() || strides.size() == begin.size()) << "strided_slice: strides differ in length from begin";
  user_check(axes.empty() || axes.size() == begin.size()) << "strided_slice: axes differ in length from begin";
  user_check(static_cast<int>(begin.size()) <= n) << "strided_slice: more bounds than axes";
  std::vector<int64_t> extent = const_shape(x, "strided_slice");
  std::vector<int64_t> start(n, 0), step(n, 1), length = extent;
  std::vector<bool> seen(n, false);
  for (size_t s = 0; s < begin.size(); ++s) {
    int d = axes.empty() ? static_cast<int>(s) : normalize_axis(axes[s], n, "strided_slice");
    user_check(!seen[d]) << "strided_slice: axis " << d << " is listed twice";
    seen[d] = true;
    int64_t stride = strides.empty() ? 1 : strides[s];
    user_check(stride != 0) << "strided_slice: stride on axis " << d << " is zero";
    int64_t e = extent[d];
    // numpy/ONNX clamping: negative bounds count from the end; forward slices clamp to [0, e],
    // backward ones to [-1, e - 1] (-1 meaning "before the first element").
    auto wrap = [&](int64_t v) { return v < 0 ? v + e : v; };
    int64_t b = wrap(begin[s]), f = wrap(end[s]);
    int64_t count;
    if (stride > 0) {
      b = std::clamp<int64_t>(b, 0, e);
      f = std::clamp<int64_t>(f, 0, e);
      count = f > b ? (f - b + stride - 1) / stride : 0;
    } else {
      b = std::clamp<int64_t>(b, -1, e - 1);
      f = std::clamp<int64_t>(f, -1, e - 1);
      count = b > f ? (b - f + (-stride) - 1) / (-stride) : 0;
    }
    user_check(count > 0) << "strided_slice: the slice of axis " << d << " is empty";
    start[d] = b;
    step[d] = stride;
    length[d] = count;
  }
  Tensor input = x;
  return compute(to_exprs(length), [&](const std::vector<Var>& i) {
    std::vector<Expr> index;
    for (int d = 0; d < n; ++d) {
      Expr v = i[d];
      if (step[d] != 1) v = v * int_const(step[d]);
      if (start[d] != 0) v = v + int_const(start[d]);
      index.push_back(v);
    }
    return input(index);
  }, "strided_slice", kInjective);
}

namespace {

// An index read from an indices tensor: wrapped when negative, clamped into [0, extent), int32.
Expr wrap_index(Expr idx, int64_t extent) {
  DataType t = idx.dtype();
  Expr n = make_const(t, static_cast<double>(extent));
  Expr zero = make_const(t, 0);
  if (!t.is_uint()) idx = make_select(idx < zero, idx + n, idx);
  idx = tessel::min(tessel::max(idx, zero), n - make_const(t, 1));
  return make_cast(DataType::Int(32), idx);
}

void check_indices(const Tensor& indices, const std::string& op_name) {
  user_check(indices.dtype().is_integral() && !indices.dtype().is_bool())
      << op_name << ": indices " << indices.name() << " must be integers, not " << indices.dtype().to_string();
}

}  // namespace

Tensor take(const Tensor& x, const Tensor& indices, int axis) {
  axis = normalize_axis(axis, x.ndim(), "take");
  check_indices(indices, "take");
  int64_t extent = const_extent(x.shape()[axis], "take");
  std::vector<Expr> shape(x.shape().begin(), x.shape().begin() + axis);
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  Tensor input = x, idx = indices;
  int m = indices.ndim();
  return compute(shape, [&](const std::vector<Var>& i) {
    std::vector<Expr> index(i.begin(), i.begin() + axis);
    std::vector<Expr> at(i.begin() + axis, i.begin() + axis + m);
    index.push_back(wrap_index(idx(at), extent));
    index.insert(index.end(), i.begin() + axis + m, i.end());
    return input(index);
  }, "take", kInjective);
}

Tensor gather_elements(const Tensor& x, const Tensor& indices, int axis) {
  axis = normalize_axis(axis, x.ndim(), "gather_elements");
  check_indices(indices, "gather_elements");
  user_check(indices.ndim() == x.ndim()) << "gather_elements: indices must have the rank of " << x.name();
  std::vector<int64_t> xs = const_shape(x, "gather_elements"), is = const_shape(indices, "gather_elements");
  for (int d = 0; d < x.ndim(); ++d) {
    user_check(d == axis || is[d] <= xs[d]) << "gather_elements: indices extent " << is[d] << " on axis " << d
                                            << " exceeds the data's " << xs[d];
  }
  Tensor input = x, idx = indices;
  return compute(indices.shape(), [&](const std::vector<Var>& i) {
    std::vector<Expr> index = as_exprs(i);
    index[axis] = wrap_index(idx(as_exprs(i)), xs[axis]);
    return input(index);
  }, "gather_elements", kInjective);
}

Tensor tile(const Tensor& x, const std::vector<int64_t>& reps) {
  std::vector<int64_t> in = const_shape(x, "tile");
  size_t rank = std::max(in.size(), reps.size());
  std::vector<int64_t> full_in(rank - in.size(), 1), full_reps(rank - reps.size(), 1);
  full_in.insert(full_in.end(), in.begin(), in.end());
  full_reps.insert(full_reps.end(), reps.begin(), reps.end());
  std::vector<int64_t> shape(rank);
  for (size_t d = 0; d < rank; ++d) {
    user_check(full_reps[d] > 0) << "tile: repetition " << full_reps[d] << " is not positive";
    shape[d] = full_in[d] * full_reps[d];
  }
  Tensor input = x;
  size_t offset = rank - in.size();
  return compute(to_exprs(shape), [&](const std::vector<Var>& i) {
    std::vector<Expr> index;
    for (size_t d = 0; d < in.size(); ++d) {
      Expr v = i[offset + d];
      index.push_back(full_reps[offset + d] == 1 ? v : v % int_const(in[d]));
    }
    return input(index);
  }, "tile", kInjective);
}

}  // namespace tessel::te::ops
