// Bound analysis of integer expressions: what ConstIntBound each expression can take, given
// what is known about its free variables. Sound for every binding that satisfies the facts, with
// integer wraparound accounted for (see bound_math.h).
#pragma once

#include <unordered_map>
#include <utility>

#include "tessel/ir/arith.h"
#include "tessel/ir/expr.h"

namespace tessel::arith {

// What is known about a variable: a bound on its value and, optionally, an expression it equals.
struct VarFact {
  Var var;  // holds the variable alive while the fact is recorded, so its address is not reused
  ConstIntBound bound;
  Expr value;  // undefined unless the variable is bound to a value (a let)
  // Replace the variable by `value` wherever it appears (otherwise only when value is a constant or
  // a variable, which costs nothing to repeat).
  bool substitute = false;
};

using VarFacts = std::unordered_map<const VarNode*, VarFact>;

// Bounds already computed under the current facts, by node. Holding the expression keeps the node
// alive, so an address is never reused while it is a key.
using BoundCache = std::unordered_map<const ExprNode*, std::pair<Expr, ConstIntBound>>;

// The bound of e over all lanes. Expressions that are not integral (floats, handles) are unbounded;
// loads and calls span their type's range; variables without a fact span their type's range.
// With a cache, shared subexpressions are analysed once (the cache must be cleared when the
// facts change).
ConstIntBound compute_const_int_bound(const Expr& e, const VarFacts& facts, BoundCache* cache = nullptr);

}  // namespace tessel::arith
