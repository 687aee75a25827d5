// Visitor and mutator over the loop IR, generated from the node lists in expr.h and stmt.h.
// IRVisitor walks every child by default. IRMutator rebuilds a node only when a child changed and
// otherwise returns the original handle (so `result.same_as(input)` means "nothing changed").
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "tessel/ir/expr.h"
#include "tessel/ir/stmt.h"

namespace tessel {

class IRVisitor {
 public:
  virtual ~IRVisitor() = default;
  virtual void visit(const Expr& e);  // dispatches on the node kind; ignores undefined handles
  virtual void visit(const Stmt& s);

#define TESSEL_X(name) virtual void visit_##name(const name##Node* op);
  TESSEL_EXPR_NODES(TESSEL_X)
  TESSEL_STMT_NODES(TESSEL_X)
#undef TESSEL_X
};

class IRMutator {
 public:
  virtual ~IRMutator() = default;
  virtual Expr mutate(const Expr& e);  // dispatches on the node kind; undefined stays undefined
  virtual Stmt mutate(const Stmt& s);

  // `self` is the handle that owns `op`; return it to leave the node unchanged.
#define TESSEL_X(name) virtual Expr mutate_##name(const name##Node* op, const Expr& self);
  TESSEL_EXPR_NODES(TESSEL_X)
#undef TESSEL_X
#define TESSEL_X(name) virtual Stmt mutate_##name(const name##Node* op, const Stmt& self);
  TESSEL_STMT_NODES(TESSEL_X)
#undef TESSEL_X

 protected:
  // Mutates every element; returns true when any changed.
  bool mutate_all(const std::vector<Expr>& in, std::vector<Expr>* out);
};

// Calls fn on every expression and statement node in pre-order.
void pre_order_visit(const Stmt& s, const std::function<void(const Expr*, const Stmt*)>& fn);

// Replaces variables by expressions (by identity), e.g. substitute(body, {{i, i0 * 4 + i1}}).
Expr substitute(const Expr& e, const std::vector<std::pair<Var, Expr>>& map);
Stmt substitute(const Stmt& s, const std::vector<std::pair<Var, Expr>>& map);

// Variables a statement reads without binding them (loops, lets and allocations bind; a buffer
// access reads its buffer's data variable), in order of first use.
std::vector<const VarNode*> free_variables(const Stmt& s);

// True when `e` mentions var (by identity).
bool uses_var(const Expr& e, const Var& var);
bool uses_var(const Stmt& s, const Var& var);

}  // namespace tessel
