// A deterministic total order and an identity-aware deep equality on expressions, used by the
// simplifier to combine like terms and to sort terms of canonical forms.
// Variables and buffers compare by identity (free or bound alike); the order sorts variables by
// name first, so canonical forms print the same way from run to run.
#pragma once

#include "tessel/ir/expr.h"

namespace tessel::arith {

// <0, 0 or >0. Equal (0) exactly when the trees are identical node by node, variables and buffers
// being the same objects and float immediates having the same bits.
int expr_compare(const Expr& a, const Expr& b);
bool expr_equal(const Expr& a, const Expr& b);

}  // namespace tessel::arith
