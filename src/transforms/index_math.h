// Arithmetic builders shared by the loop passes. They fold integer constants and keep affine
// vector indices in Ramp form (ramp(b, s, n) * c + d -> ramp(b * c + d, s * c, n)), so flattened
// and vectorized indices stay recognisable as contiguous or strided accesses.
#pragma once

#include "tessel/ir/expr.h"

namespace tessel::transforms {

// a op b for any binary op. Operands have the same element type; a scalar operand meeting a vector
// one is broadcast. Integer add/sub/mul of ramps, broadcasts and scalars stay ramps/broadcasts,
// and integer constants fold (x + 0, x * 1, x * 0, c1 op c2). Floats are never folded (x + 0.0 is
// not x when x is -0.0), only broadcasts are combined lane-wise.
Expr vector_binary(BinaryOp op, Expr a, Expr b);

inline Expr index_add(Expr a, Expr b) { return vector_binary(BinaryOp::kAdd, std::move(a), std::move(b)); }
inline Expr index_sub(Expr a, Expr b) { return vector_binary(BinaryOp::kSub, std::move(a), std::move(b)); }
inline Expr index_mul(Expr a, Expr b) { return vector_binary(BinaryOp::kMul, std::move(a), std::move(b)); }

// Converts an integer index (scalar, Ramp, Broadcast or other vector) to element type t (scalar
// integer type), keeping Ramp and Broadcast structure and re-typing constants.
Expr cast_index(DataType t, const Expr& e);

}  // namespace tessel::transforms
