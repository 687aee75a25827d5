// Unary elementwise operators (tag "elemwise"): activations, math functions, rounding, sin/cos
// built from polynomials, casts; plus prelu, whose slope broadcasts along one axis.
#include <cmath>

#include "tensor_internal.h"

namespace tessel::te::ops {

using detail::constant;
using detail::require_float;

int normalize_axis(int axis, int ndim, const std::string& op_name) {
  user_check(axis >= -ndim && axis < ndim) << op_name << ": axis " << axis << " is out of range for a tensor of rank "
                                           << ndim;
  return axis < 0 ? axis + ndim : axis;
}

int64_t const_extent(const Expr& extent, const std::string& op_name) {
  const int64_t* v = as_const_int(extent);
  user_check(v != nullptr) << op_name << ": needs constant extents, got a symbolic one";
  return *v;
}

namespace {

// out[i...] = f(x[i...]).
Tensor unary(const Tensor& x, const std::string& name, const std::function<Expr(Expr)>& f,
             const std::string& tag = "elemwise") {
  Tensor input = x;
  return compute(x.shape(), [&](const std::vector<Var>& i) {
    return f(input(std::vector<Expr>(i.begin(), i.end())));
  }, name, tag);
}

Expr call(Intrinsic op, Expr a) { return make_call(op, {std::move(a)}); }

Tensor float_unary(const Tensor& x, const std::string& name, Intrinsic op) {
  require_float(x, name);
  return unary(x, name, [&](Expr v) { return call(op, v); });
}

// sin (quadrant_shift 0) or cos (quadrant_shift 1) of x. x = j * pi/2 + r with j = round(x * 2/pi)
// and |r| <= pi/4; pi/2 is split in three parts (Cody-Waite) so that r keeps full precision while
// j * part1 is exact. The polynomials are Cephes' minimax sinf/cosf on [-pi/4, pi/4]. The
// quadrant is computed in floating point (exact for |j| < 2^24) so that inf/NaN stay NaN.
Expr sin_cos(const Expr& x, int quadrant_shift) {
  DataType t = x.dtype();
  auto c = [&](double v) { return constant(t, v); };
  auto fma = [](Expr a, Expr b, Expr d) { return make_call(Intrinsic::k_fma, {a, b, d}); };
  Expr j = call(Intrinsic::k_round, x * c(0.63661977236758134308));  // 2/pi
  Expr r = fma(j, c(-1.5703125), x);
  r = fma(j, c(-4.837512969970703125e-4), r);
  r = fma(j, c(-7.54978995489188216e-8), r);
  Expr z = r * r;
  Expr s = fma(fma(fma(c(-1.9515295891e-4), z, c(8.3321608736e-3)), z, c(-1.6666654611e-1)), z * r, r);
  Expr cz = fma(fma(c(2.443315711809948e-5), z, c(-1.388731625493765e-3)), z, c(4.166664568298827e-2));
  Expr co = fma(cz, z * z, fma(c(-0.5), z, c(1.0)));
  Expr q = j + c(quadrant_shift);
  q = q - c(4.0) * call(Intrinsic::k_floor, q * c(0.25));  // q mod 4 in {0, 1, 2, 3}
  return make_select(q == c(0.0), s, make_select(q == c(1.0), co, make_select(q == c(2.0), -s, -co)));
}

}  // namespace

Tensor relu(const Tensor& x) {
  return unary(x, "relu", [](Expr v) { return tessel::max(v, constant(v.dtype(), 0)); });
}

Tensor leaky_relu(const Tensor& x, double alpha) {
  require_float(x, "leaky_relu");
  return unary(x, "leaky_relu", [&](Expr v) {
    return make_select(v < constant(v.dtype(), 0), v * constant(v.dtype(), alpha), v);
  });
}

Tensor prelu(const Tensor& x, const Tensor& slope, int axis) {
  require_float(x, "prelu");
  axis = normalize_axis(axis, x.ndim(), "prelu");
  user_check(slope.ndim() == 1 && slope.dtype() == x.dtype())
      << "prelu: slope must be a 1-d " << x.dtype().to_string() << " tensor";
  int64_t channels = const_extent(x.shape()[axis], "prelu");
  int64_t slope_extent = const_extent(slope.shape()[0], "prelu");
  user_check(slope_extent == channels || slope_extent == 1)
      << "prelu: slope has " << slope_extent << " elements but axis " << axis << " has " << channels;
  Tensor input = x, alpha = slope;
  return compute(x.shape(), [&](const std::vector<Var>& i) {
    Expr v = input(std::vector<Expr>(i.begin(), i.end()));
    Expr a = alpha({slope_extent == 1 ? Expr(0) : Expr(i[axis])});
    return make_select(v < constant(v.dtype(), 0), v * a, v);
  }, "prelu", "broadcast");
}

Tensor sigmoid(const Tensor& x) { return float_unary(x, "sigmoid", Intrinsic::k_sigmoid); }
Tensor tanh(const Tensor& x) { return float_unary(x, "tanh", Intrinsic::k_tanh); }
Tensor exp(const Tensor& x) { return float_unary(x, "exp", Intrinsic::k_exp); }
Tensor log(const Tensor& x) { return float_unary(x, "log", Intrinsic::k_log); }
Tensor sqrt(const Tensor& x) { return float_unary(x, "sqrt", Intrinsic::k_sqrt); }
Tensor rsqrt(const Tensor& x) { return float_unary(x, "rsqrt", Intrinsic::k_rsqrt); }
Tensor erf(const Tensor& x) { return float_unary(x, "erf", Intrinsic::k_erf); }

Tensor gelu(const Tensor& x, bool tanh_approximation) {
  require_float(x, "gelu");
  return unary(x, "gelu", [&](Expr v) {
    DataType t = v.dtype();
    Expr inner;
    if (tanh_approximation) {
      Expr cubic = v + constant(t, 0.044715) * v * v * v;
      inner = call(Intrinsic::k_tanh, constant(t, 0.79788456080286535588) * cubic);  // sqrt(2/pi)
    } else {
      inner = call(Intrinsic::k_erf, v * constant(t, 0.70710678118654752440));  // 1/sqrt(2)
    }
    return constant(t, 0.5) * v * (constant(t, 1.0) + inner);
  });
}

Tensor clip(const Tensor& x, double min_value, double max_value) {
  user_check(min_value <= max_value) << "clip: min " << min_value << " is larger than max " << max_value;
  return unary(x, "clip", [&](Expr v) {
    return tessel::min(tessel::max(v, constant(v.dtype(), min_value)), constant(v.dtype(), max_value));
  });
}

Tensor hard_sigmoid(const Tensor& x, double alpha, double beta) {
  require_float(x, "hard_sigmoid");
  return unary(x, "hard_sigmoid", [&](Expr v) {
    DataType t = v.dtype();
    Expr y = v * constant(t, alpha) + constant(t, beta);
    return tessel::min(tessel::max(y, constant(t, 0)), constant(t, 1));
  });
}

Tensor hard_swish(const Tensor& x) {
  require_float(x, "hard_swish");
  return unary(x, "hard_swish", [&](Expr v) {
    DataType t = v.dtype();
    Expr gate = tessel::min(tessel::max(v * constant(t, 1.0 / 6.0) + constant(t, 0.5), constant(t, 0)), constant(t, 1));
    return v * gate;
  });
}

Tensor softplus(const Tensor& x) {
  require_float(x, "softplus");
  return unary(x, "softplus", [&](Expr v) {
    DataType t = v.dtype();
    Expr e = call(Intrinsic::k_exp, -call(Intrinsic::k_fabs, v));
    return tessel::max(v, constant(t, 0)) + call(Intrinsic::k_log, constant(t, 1) + e);
  });
}

Tensor elu(const Tensor& x, double alpha) {
  require_float(x, "elu");
  return unary(x, "elu", [&](Expr v) {
    DataType t = v.dtype();
    Expr negative = constant(t, alpha) * (call(Intrinsic::k_exp, v) - constant(t, 1));
    return make_select(v > constant(t, 0), v, negative);
  });
}

Tensor selu(const Tensor& x, double alpha, double scale) {
  require_float(x, "selu");
  return unary(x, "selu", [&](Expr v) {
    DataType t = v.dtype();
    Expr negative = constant(t, alpha) * (call(Intrinsic::k_exp, v) - constant(t, 1));
    return constant(t, scale) * make_select(v > constant(t, 0), v, negative);
  });
}

Tensor abs(const Tensor& x) {
  user_check(!x.dtype().is_bool()) << "abs: input " << x.name() << " is bool";
  if (x.dtype().is_uint()) return unary(x, "abs", [](Expr v) { return v; });
  if (x.dtype().is_int()) {
    return unary(x, "abs", [](Expr v) { return make_select(v < constant(v.dtype(), 0), -v, v); });
  }
  return unary(x, "abs", [](Expr v) { return call(Intrinsic::k_fabs, v); });
}

Tensor neg(const Tensor& x) {
  user_check(!x.dtype().is_bool()) << "neg: input " << x.name() << " is bool";
  return unary(x, "neg", [](Expr v) { return -v; });
}

Tensor floor(const Tensor& x) {
  if (!x.dtype().is_float()) return unary(x, "floor", [](Expr v) { return v; });
  return float_unary(x, "floor", Intrinsic::k_floor);
}

Tensor ceil(const Tensor& x) {
  if (!x.dtype().is_float()) return unary(x, "ceil", [](Expr v) { return v; });
  return float_unary(x, "ceil", Intrinsic::k_ceil);
}

Tensor round(const Tensor& x) {
  if (!x.dtype().is_float()) return unary(x, "round", [](Expr v) { return v; });
  return float_unary(x, "round", Intrinsic::k_round);  // the intrinsic rounds halfway cases to even
}

Tensor sign(const Tensor& x) {
  user_check(!x.dtype().is_bool()) << "sign: input " << x.name() << " is bool";
  return unary(x, "sign", [](Expr v) {
    DataType t = v.dtype();
    Expr zero = constant(t, 0);
    // Neither comparison holds for 0, -0 and NaN, which are returned as they are.
    return make_select(v > zero, constant(t, 1), make_select(v < zero, constant(t, -1), v));
  });
}

Tensor sin(const Tensor& x) {
  require_float(x, "sin");
  return unary(x, "sin", [](Expr v) { return sin_cos(v, 0); });
}

Tensor cos(const Tensor& x) {
  require_float(x, "cos");
  return unary(x, "cos", [](Expr v) { return sin_cos(v, 1); });
}

Tensor reciprocal(const Tensor& x) {
  require_float(x, "reciprocal");
  return unary(x, "reciprocal", [](Expr v) { return constant(v.dtype(), 1) / v; });
}

Tensor logical_not(const Tensor& x) {
  if (x.dtype().is_bool()) return unary(x, "logical_not", [](Expr v) { return !v; });
  return unary(x, "logical_not", [](Expr v) { return v == constant(v.dtype(), 0); });
}

Tensor cast(const Tensor& x, DataType dtype) {
  user_check(dtype.is_scalar() && !dtype.is_handle()) << "cast: target type " << dtype.to_string()
                                                       << " is not a scalar element type";
  if (dtype.is_bool() && !x.dtype().is_bool()) {
    return unary(x, "cast", [](Expr v) { return v != constant(v.dtype(), 0); });
  }
  return unary(x, "cast", [&](Expr v) { return make_cast(dtype, v); });
}

}  // namespace tessel::te::ops
