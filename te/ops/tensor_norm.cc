// Normalisations built from several stages: softmax and log_softmax (max, exp-sum, normalise),
// layer_norm and instance_norm (mean, variance, normalise; two-pass variance for accuracy), and
// inference batch_norm (a single broadcast stage).
#include <algorithm>

#include "tensor_internal.h"

namespace tessel::te::ops {

using detail::constant;

namespace {

// Reduces x over `reduced` axes into a keepdims-shaped tensor: out[i] = reducer(source(x[i ⊕ k])).
// `source` receives the input index (with reduce variables on the reduced axes).
Tensor reduce_keepdims(const Tensor& x, const std::vector<bool>& reduced, const std::string& name,
                       const std::function<Reduction(Expr, std::vector<IterVar>)>& reducer,
                       const std::function<Expr(const std::vector<Expr>&)>& source) {
  std::vector<Expr> shape;
  std::vector<IterVar> k;
  for (int d = 0; d < x.ndim(); ++d) {
    const Expr& extent = x.shape()[d];
    shape.push_back(reduced[d] ? make_const(extent.dtype(), 1) : extent);
    if (!reduced[d]) continue;
    k.push_back(reduce_axis(make_const(extent.dtype(), 0), extent, std::string("k").append(std::to_string(d))));
  }
  return compute_reduce(shape, [&](const std::vector<Var>& out) {
    std::vector<Expr> index;
    size_t next = 0;
    for (int d = 0; d < x.ndim(); ++d) index.push_back(reduced[d] ? Expr(k[next++].var()) : Expr(out[d]));
    return reducer(source(index), k);
  }, name, "reduce");
}

// The index into a keepdims-shaped reduction result: reduced axes read at 0.
std::vector<Expr> keepdims_index(const std::vector<Var>& i, const std::vector<bool>& reduced) {
  std::vector<Expr> index;
  for (size_t d = 0; d < i.size(); ++d) index.push_back(reduced[d] ? make_const(i[d].dtype(), 0) : Expr(i[d]));
  return index;
}

std::vector<Expr> as_exprs(const std::vector<Var>& i) { return std::vector<Expr>(i.begin(), i.end()); }

Reduction max_reducer(Expr e, std::vector<IterVar> k) { return te::max(std::move(e), std::move(k)); }
Reduction sum_reducer(Expr e, std::vector<IterVar> k) { return te::sum(std::move(e), std::move(k)); }

// Mean and normalisation over the `reduced` axes; `affine(i, value)` applies gamma and beta.
Tensor normalize(const Tensor& x, const std::vector<bool>& reduced, double epsilon, const std::string& name,
                 const std::function<Expr(const std::vector<Var>&, Expr)>& affine) {
  DataType t = x.dtype();
  Expr count = make_int(DataType::Int(32), 1);
  for (int d = 0; d < x.ndim(); ++d) {
    if (reduced[d]) count = count * x.shape()[d];
  }
  Expr inverse_count = constant(t, 1.0) / make_cast(t, count);
  if (const int64_t* c = as_const_int(count)) inverse_count = constant(t, 1.0 / static_cast<double>(*c));
  Tensor input = x;
  Tensor total = reduce_keepdims(x, reduced, name + "_sum", sum_reducer,
                                 [&](const std::vector<Expr>& i) { return input(i); });
  auto centered = [&](const std::vector<Expr>& i, const std::vector<Expr>& stat_index) {
    return input(i) - total(stat_index) * inverse_count;
  };
  Tensor variance = reduce_keepdims(x, reduced, name + "_var", sum_reducer, [&](const std::vector<Expr>& i) {
    std::vector<Expr> stat;
    for (int d = 0; d < x.ndim(); ++d) stat.push_back(reduced[d] ? make_const(i[d].dtype(), 0) : i[d]);
    Expr c = centered(i, stat);
    return c * c;
  });
  return compute(x.shape(), [&](const std::vector<Var>& i) {
    std::vector<Expr> stat = keepdims_index(i, reduced);
    Expr scale = make_call(Intrinsic::k_rsqrt, {variance(stat) * inverse_count + constant(t, epsilon)});
    return affine(i, centered(as_exprs(i), stat) * scale);
  }, name, name);
}

void check_vector(const Tensor& v, int64_t length, DataType t, const std::string& op_name, const char* what) {
  user_check(v.ndim() == 1 && v.dtype() == t) << op_name << ": " << what << " must be a 1-d " << t.to_string()
                                              << " tensor";
  user_check(const_extent(v.shape()[0], op_name) == length)
      << op_name << ": " << what << " has " << const_extent(v.shape()[0], op_name) << " elements, expected " << length;
}

}  // namespace

Tensor softmax(const Tensor& x, int axis) {
  detail::require_float(x, "softmax");
  axis = normalize_axis(axis, x.ndim(), "softmax");
  std::vector<bool> reduced(x.ndim(), false);
  reduced[axis] = true;
  Tensor input = x;
  Tensor row_max = reduce_keepdims(x, reduced, "softmax_max", max_reducer,
                                   [&](const std::vector<Expr>& i) { return input(i); });
  Tensor e = compute(x.shape(), [&](const std::vector<Var>& i) {
    return make_call(Intrinsic::k_exp, {input(as_exprs(i)) - row_max(keepdims_index(i, reduced))});
  }, "softmax_exp", "elemwise");
  Tensor row_sum = reduce_keepdims(x, reduced, "softmax_sum", sum_reducer,
                                   [&](const std::vector<Expr>& i) { return e(i); });
  return compute(x.shape(), [&](const std::vector<Var>& i) {
    return e(as_exprs(i)) / row_sum(keepdims_index(i, reduced));
  }, "softmax", "softmax");
}

Tensor log_softmax(const Tensor& x, int axis) {
  detail::require_float(x, "log_softmax");
  axis = normalize_axis(axis, x.ndim(), "log_softmax");
  std::vector<bool> reduced(x.ndim(), false);
  reduced[axis] = true;
  Tensor input = x;
  Tensor row_max = reduce_keepdims(x, reduced, "log_softmax_max", max_reducer,
                                   [&](const std::vector<Expr>& i) { return input(i); });
  Tensor row_sum = reduce_keepdims(x, reduced, "log_softmax_sum", sum_reducer, [&](const std::vector<Expr>& i) {
    std::vector<Expr> stat = i;
    stat[axis] = make_const(i[axis].dtype(), 0);
    return make_call(Intrinsic::k_exp, {input(i) - row_max(stat)});
  });
  return compute(x.shape(), [&](const std::vector<Var>& i) {
    std::vector<Expr> stat = keepdims_index(i, reduced);
    return input(as_exprs(i)) - row_max(stat) - make_call(Intrinsic::k_log, {row_sum(stat)});
  }, "log_softmax", "log_softmax");
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, std::vector<int> axes, double epsilon) {
  detail::require_float(x, "layer_norm");
  std::vector<int> list = detail::normalize_axes(axes, x.ndim(), "layer_norm");
  int first = x.ndim() - static_cast<int>(list.size());
  for (size_t n = 0; n < list.size(); ++n) {
    user_check(list[n] == first + static_cast<int>(n)) << "layer_norm: the normalised axes must be the trailing axes";
  }
  std::vector<bool> reduced(x.ndim(), false);
  for (int d : list) reduced[d] = true;
  // gamma and beta cover the normalised (trailing) axes.
  std::vector<Expr> param_shape(x.shape().begin() + first, x.shape().end());
  for (const Tensor* p : {&gamma, &beta}) {
    if (!p->defined()) continue;
    user_check(p->dtype() == x.dtype() && p->ndim() == static_cast<int>(param_shape.size()))
        << "layer_norm: gamma and beta must be " << x.dtype().to_string() << " tensors of rank " << param_shape.size();
    for (size_t d = 0; d < param_shape.size(); ++d) {
      user_check(const_extent(p->shape()[d], "layer_norm") == const_extent(param_shape[d], "layer_norm"))
          << "layer_norm: " << p->name() << " does not match the normalised shape on its axis " << d;
    }
  }
  Tensor g = gamma, b = beta;
  return normalize(x, reduced, epsilon, "layer_norm", [&](const std::vector<Var>& i, Expr value) {
    std::vector<Expr> pi(i.begin() + first, i.end());
    if (g.defined()) value = value * g(pi);
    if (b.defined()) value = value + b(pi);
    return value;
  });
}

Tensor instance_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon) {
  detail::require_float(x, "instance_norm");
  user_check(x.ndim() >= 3) << "instance_norm: input " << x.name() << " must be N, C, spatial...";
  int64_t channels = const_extent(x.shape()[1], "instance_norm");
  check_vector(gamma, channels, x.dtype(), "instance_norm", "gamma");
  check_vector(beta, channels, x.dtype(), "instance_norm", "beta");
  std::vector<bool> reduced(x.ndim(), true);
  reduced[0] = reduced[1] = false;
  Tensor g = gamma, b = beta;
  return normalize(x, reduced, epsilon, "instance_norm", [&](const std::vector<Var>& i, Expr value) {
    return value * g({i[1]}) + b({i[1]});
  });
}

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& moving_mean,
                  const Tensor& moving_var, double epsilon, int axis) {
  detail::require_float(x, "batch_norm");
  axis = normalize_axis(axis, x.ndim(), "batch_norm");
  int64_t channels = const_extent(x.shape()[axis], "batch_norm");
  check_vector(gamma, channels, x.dtype(), "batch_norm", "gamma");
  check_vector(beta, channels, x.dtype(), "batch_norm", "beta");
  check_vector(moving_mean, channels, x.dtype(), "batch_norm", "mean");
  check_vector(moving_var, channels, x.dtype(), "batch_norm", "var");
  Tensor input = x, g = gamma, b = beta, m = moving_mean, v = moving_var;
  DataType t = x.dtype();
  return compute(x.shape(), [&](const std::vector<Var>& i) {
    Expr c = i[axis];
    Expr scale = g({c}) * make_call(Intrinsic::k_rsqrt, {v({c}) + constant(t, epsilon)});
    return (input(as_exprs(i)) - m({c})) * scale + b({c});
  }, "batch_norm", "broadcast");
}

}  // namespace tessel::te::ops
