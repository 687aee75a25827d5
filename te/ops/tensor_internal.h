// Private helpers of the tensor operators (te/ops/tensor_*.cc): dtype checks, typed constants and
// index arithmetic shared by the elementwise, broadcast, reduction and transform files.
#pragma once

#include <string>
#include <vector>

#include "tessel/ir/error.h"
#include "tessel/te/ops/tensor.h"

namespace tessel::te::ops::detail {

inline void require_float(const Tensor& x, const std::string& op_name) {
  user_check(x.dtype().is_float()) << op_name << ": input " << x.name() << " must be a float tensor, not "
                                   << x.dtype().to_string();
}

// A constant of dtype t (int, uint, bool or float) with value v.
inline Expr constant(DataType t, double v) { return make_const(t, v); }

// A scalar expression converted to dtype t; literal constants keep their full double value.
inline Expr convert_scalar(const Expr& e, DataType t) {
  if (e.dtype() == t) return e;
  if (const double* f = as_const_float(e)) return make_const(t, *f);
  if (const int64_t* i = as_const_int(e)) return make_const(t, static_cast<double>(*i));
  return make_cast(t, e);
}

// Integer division rounded toward zero, built from the IR's floor division: when the floor
// remainder is non-zero and the operands' signs differ, the truncated quotient is one larger.
inline Expr trunc_div_expr(const Expr& a, const Expr& b) {
  Expr q = a / b;
  if (a.dtype().is_uint() || a.dtype().is_bool()) return q;
  Expr zero = make_const(a.dtype(), 0);
  Expr r = a % b;
  return make_select((r != zero) && ((a < zero) != (b < zero)), q + make_const(a.dtype(), 1), q);
}

// Truncation of a float toward zero.
inline Expr trunc_float(const Expr& x) {
  Expr zero = make_const(x.dtype(), 0);
  return make_select(x < zero, make_call(Intrinsic::k_ceil, {x}), make_call(Intrinsic::k_floor, {x}));
}

// Clamps an index expression into [0, extent - 1].
inline Expr clamp_index(const Expr& index, const Expr& extent) {
  Expr zero = make_const(index.dtype(), 0);
  Expr last = extent.dtype() == index.dtype() ? extent - make_const(index.dtype(), 1)
                                              : make_cast(index.dtype(), extent) - make_const(index.dtype(), 1);
  return tessel::min(tessel::max(index, zero), last);
}

// Normalises and de-duplicates reduction axes; empty means all. Sorted ascending.
std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const std::string& op_name);

}  // namespace tessel::te::ops::detail
