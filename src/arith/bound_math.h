// Interval arithmetic on ConstIntBound: the building blocks of the bound analysis.
// Endpoints equal to kNegInf/kPosInf mean "unbounded". Every result is sound for the expression
// type: when an exact interval could leave the type's range, the value may have wrapped, so the
// result is the whole range of the type (int64 bounds, whose range is the infinite one, saturate
// instead: int64 index arithmetic is assumed not to overflow).
#pragma once

#include <cstdint>

#include "tessel/ir/arith.h"
#include "tessel/ir/expr.h"

namespace tessel::arith {

// The values a scalar of t's element type can hold. uint64 is [0, +inf]; float and handle types
// are unbounded.
ConstIntBound type_range(DataType t);

bool is_pos_inf(int64_t v);
bool is_neg_inf(int64_t v);
// True when every value of `inner` lies in `outer`.
bool bound_within(const ConstIntBound& inner, const ConstIntBound& outer);
// Intersection; may be empty (min > max) when the two do not overlap.
ConstIntBound bound_intersect(const ConstIntBound& a, const ConstIntBound& b);
ConstIntBound bound_union(const ConstIntBound& a, const ConstIntBound& b);

// Bounds of a op b for operands of type t (the result of each op wraps at t's width).
ConstIntBound bound_add(DataType t, const ConstIntBound& a, const ConstIntBound& b);
ConstIntBound bound_sub(DataType t, const ConstIntBound& a, const ConstIntBound& b);
ConstIntBound bound_mul(DataType t, const ConstIntBound& a, const ConstIntBound& b);
// Floor division and floor modulo. A divisor range containing 0 still gives a sound result for the
// nonzero divisors (division by zero is undefined).
ConstIntBound bound_floor_div(DataType t, const ConstIntBound& a, const ConstIntBound& b);
ConstIntBound bound_floor_mod(DataType t, const ConstIntBound& a, const ConstIntBound& b);
ConstIntBound bound_min(const ConstIntBound& a, const ConstIntBound& b);
ConstIntBound bound_max(const ConstIntBound& a, const ConstIntBound& b);
// A value of type `from` with bound a, converted to integer type `to`: the bound is kept when it
// fits in `to`, otherwise the conversion may wrap and the result is `to`'s whole range.
ConstIntBound bound_cast(DataType to, DataType from, const ConstIntBound& a);

// The truth of `a op b` (a comparison) for operands with these bounds: [1, 1] when it holds for
// every pair of values, [0, 0] when for none, [0, 1] otherwise.
ConstIntBound bound_compare(BinaryOp op, const ConstIntBound& a, const ConstIntBound& b);

}  // namespace tessel::arith
