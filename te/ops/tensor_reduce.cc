// Reductions along axes with keepdims (tag "reduce"): sum, mean, max, min, prod, sum of squares,
// and argmax/argmin as two reductions (the extreme value, then the first index holding it).
#include <algorithm>
#include <functional>

#include "tensor_internal.h"

namespace tessel::te::ops {

namespace detail {

std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const std::string& op_name) {
  std::vector<int> result;
  if (axes.empty()) {
    for (int d = 0; d < ndim; ++d) result.push_back(d);
    return result;
  }
  for (int a : axes) {
    int d = normalize_axis(a, ndim, op_name);
    user_check(std::find(result.begin(), result.end(), d) == result.end())
        << op_name << ": axis " << a << " is listed twice";
    result.push_back(d);
  }
  std::sort(result.begin(), result.end());
  return result;
}

}  // namespace detail

namespace {

// How a reduction maps output indices and reduce axes to input indices.
struct ReducePlan {
  std::vector<bool> reduced;      // per input axis
  std::vector<Expr> out_shape;    // keepdims: reduced axes have extent 1
  bool keepdims = false;
  Expr count;                     // number of reduced elements (int32)

  ReducePlan(const Tensor& x, const std::vector<int>& axes, bool keep, const std::string& op_name) : keepdims(keep) {
    std::vector<int> list = detail::normalize_axes(axes, x.ndim(), op_name);
    reduced.assign(x.ndim(), false);
    for (int d : list) reduced[d] = true;
    count = make_int(DataType::Int(32), 1);
    for (int d = 0; d < x.ndim(); ++d) {
      const Expr& extent = x.shape()[d];
      if (reduced[d]) {
        count = count * extent;
        if (keepdims) out_shape.push_back(make_const(extent.dtype(), 1));
      } else {
        out_shape.push_back(extent);
      }
    }
    if (const int64_t* c = as_const_int(count)) count = make_int(DataType::Int(32), *c);
    // Tensors have at least one dimension: reducing everything gives shape [1].
    if (out_shape.empty()) out_shape.push_back(make_int(DataType::Int(32), 1));
  }

  // Fresh reduce axes, one per reduced input axis.
  std::vector<IterVar> make_reduce_axes(const Tensor& x) const {
    std::vector<IterVar> result;
    for (int d = 0; d < x.ndim(); ++d) {
      if (!reduced[d]) continue;
      const Expr& extent = x.shape()[d];
      result.push_back(reduce_axis(make_const(extent.dtype(), 0), extent, std::string("k").append(std::to_string(d))));
    }
    return result;
  }

  // Input indices for output index `out` and reduce axes `k`.
  std::vector<Expr> input_index(const std::vector<Var>& out, const std::vector<IterVar>& k) const {
    std::vector<Expr> index;
    size_t next_out = 0, next_k = 0;
    for (size_t d = 0; d < reduced.size(); ++d) {
      if (reduced[d]) {
        index.push_back(k[next_k++].var());
        if (keepdims) ++next_out;
      } else {
        index.push_back(out[next_out++]);
      }
    }
    return index;
  }
};

using Reducer = std::function<Reduction(Expr, std::vector<IterVar>)>;

Tensor reduce(const Tensor& x, const std::vector<int>& axes, bool keepdims, const std::string& name,
              const Reducer& reducer, const std::function<Expr(Expr)>& source = nullptr) {
  ReducePlan plan(x, axes, keepdims, name);
  std::vector<IterVar> k = plan.make_reduce_axes(x);
  Tensor input = x;
  return compute_reduce(plan.out_shape, [&](const std::vector<Var>& out) {
    Expr value = input(plan.input_index(out, k));
    if (source) value = source(value);
    return reducer(value, k);
  }, name, "reduce");
}

Reducer sum_reducer() { return [](Expr e, std::vector<IterVar> k) { return te::sum(e, std::move(k)); }; }

// argmax (is_max) or argmin over one axis.
Tensor arg_reduce(const Tensor& x, int axis, bool keepdims, bool select_last_index, DataType index_dtype,
                  bool is_max) {
  std::string name = is_max ? "argmax" : "argmin";
  user_check(index_dtype.is_int() && index_dtype.is_scalar()) << name << ": index type must be a signed integer";
  user_check(!x.dtype().is_bool()) << name << ": input " << x.name() << " is bool";
  axis = normalize_axis(axis, x.ndim(), name);
  Tensor extreme = is_max ? ops::max(x, {axis}, keepdims) : ops::min(x, {axis}, keepdims);
  ReducePlan plan(x, {axis}, keepdims, name);
  std::vector<IterVar> k = plan.make_reduce_axes(x);
  Tensor input = x;
  Expr extent = make_cast(index_dtype, x.shape()[axis]);
  return compute_reduce(plan.out_shape, [&](const std::vector<Var>& out) {
    Expr value = input(plan.input_index(out, k));
    Expr best = extreme(std::vector<Expr>(out.begin(), out.end()));
    Expr index = make_cast(index_dtype, k[0].var());
    // The first (or last) index whose value equals the extreme. The sentinel (the extent, or -1)
    // only survives when no value compares equal, which takes NaNs.
    if (select_last_index) {
      return te::max(make_select(value == best, index, make_const(index_dtype, -1)), k);
    }
    return te::min(make_select(value == best, index, extent), k);
  }, name, "reduce");
}

}  // namespace

Tensor sum(const Tensor& x, std::vector<int> axes, bool keepdims) {
  user_check(!x.dtype().is_bool()) << "sum: input " << x.name() << " is bool";
  return reduce(x, axes, keepdims, "sum", sum_reducer());
}

Tensor mean(const Tensor& x, std::vector<int> axes, bool keepdims) {
  user_check(!x.dtype().is_bool()) << "mean: input " << x.name() << " is bool";
  Tensor total = reduce(x, axes, keepdims, "mean_sum", sum_reducer());
  ReducePlan plan(x, axes, keepdims, "mean");
  DataType t = x.dtype();
  Expr count = make_cast(t, plan.count);
  return compute(total.shape(), [&](const std::vector<Var>& i) {
    Expr s = total(std::vector<Expr>(i.begin(), i.end()));
    return t.is_float() ? s / count : detail::trunc_div_expr(s, count);
  }, "mean", "reduce");
}

Tensor max(const Tensor& x, std::vector<int> axes, bool keepdims) {
  return reduce(x, axes, keepdims, "max", [](Expr e, std::vector<IterVar> k) { return te::max(e, std::move(k)); });
}

Tensor min(const Tensor& x, std::vector<int> axes, bool keepdims) {
  return reduce(x, axes, keepdims, "min", [](Expr e, std::vector<IterVar> k) { return te::min(e, std::move(k)); });
}

Tensor prod(const Tensor& x, std::vector<int> axes, bool keepdims) {
  user_check(!x.dtype().is_bool()) << "prod: input " << x.name() << " is bool";
  return reduce(x, axes, keepdims, "prod", [](Expr e, std::vector<IterVar> k) { return te::prod(e, std::move(k)); });
}

Tensor sum_of_squares(const Tensor& x, std::vector<int> axes, bool keepdims) {
  user_check(!x.dtype().is_bool()) << "sum_of_squares: input " << x.name() << " is bool";
  return reduce(x, axes, keepdims, "sum_of_squares", sum_reducer(), [](Expr v) { return v * v; });
}

Tensor argmax(const Tensor& x, int axis, bool keepdims, bool select_last_index, DataType index_dtype) {
  return arg_reduce(x, axis, keepdims, select_last_index, index_dtype, true);
}

Tensor argmin(const Tensor& x, int axis, bool keepdims, bool select_last_index, DataType index_dtype) {
  return arg_reduce(x, axis, keepdims, select_last_index, index_dtype, false);
}

}  // namespace tessel::te::ops
