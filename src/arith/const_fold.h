// Constant folding of loop-IR operations on immediates, with the exact semantics of the
// interpreter: integers wrap at their width (uint64 operates unsigned), integer division and
// modulo are floor operations, float32 results are rounded to single precision.
// Anything whose result the IR leaves undefined or implementation-specific (division by zero,
// out-of-range float-to-int casts, NaN in min/max, float16/bfloat16 rounding) is not folded.
#pragma once

#include <cstdint>
#include <optional>

#include "tessel/ir/expr.h"

namespace tessel::arith {

// a op b on integer immediates of operand type t; comparisons and logic give 0 or 1.
std::optional<int64_t> fold_int_binary(BinaryOp op, DataType t, int64_t a, int64_t b);
// a op b for float32/float64 immediates: arithmetic (+ - * / min max) rounded to t, comparisons
// as 0 or 1. Float modulo is not folded.
std::optional<double> fold_float_binary(BinaryOp op, DataType t, double a, double b);
// The immediate cast of an immediate `value` to scalar type `to`; undefined when not folded.
Expr fold_cast(DataType to, const Expr& value);

// Folds a binary node of scalar immediates (IntImm or FloatImm); undefined when not folded.
Expr fold_binary(BinaryOp op, const Expr& a, const Expr& b);

}  // namespace tessel::arith
