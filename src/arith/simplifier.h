// The simplification engine behind Analyzer and the simplify_stmt pass: a set of variable facts
// that can be rebound in nested scopes, the bound analysis over those facts, and the rewriting
// mutator. See simplifier.cc for the rules and the overflow assumption they rely on.
#pragma once

#include <optional>

#include "arith/const_int_bound.h"
#include "arith/linear_form.h"
#include "tessel/ir/functor.h"

namespace tessel::arith {

class Simplifier : public IRMutator {
 public:
  // Records a fact about fact.var and returns the fact it replaces (nullopt when there was none),
  // to be handed back to restore_fact when the scope of the new fact ends.
  std::optional<VarFact> set_fact(VarFact fact);
  void restore_fact(const Var& var, std::optional<VarFact> previous);
  const VarFact* find_fact(const VarNode* var) const;
  // A fact that var lies in [min, min + extent), from expressions over already known variables.
  // Returns false (leaving *fact alone) when the range may be empty.
  bool range_fact(const Var& var, const Expr& min, const Expr& extent, VarFact* fact);

  ConstIntBound bound(const Expr& e);
  // Simplifies to a fixed point (a few rounds at most). Returns e itself when nothing changed.
  Expr simplify(const Expr& e);
  // True when condition simplifies to true in every lane.
  bool can_prove(const Expr& condition);

  // Simplifies one node (memoized: a subexpression shared in a DAG is simplified once).
  Expr mutate(const Expr& e) override;
  using IRMutator::mutate;
  Expr mutate_Var(const VarNode* op, const Expr& self) override;
  Expr mutate_Binary(const BinaryNode* op, const Expr& self) override;
  Expr mutate_Not(const NotNode* op, const Expr& self) override;
  Expr mutate_Select(const SelectNode* op, const Expr& self) override;
  Expr mutate_Cast(const CastNode* op, const Expr& self) override;
  Expr mutate_Ramp(const RampNode* op, const Expr& self) override;
  Expr mutate_Let(const LetNode* op, const Expr& self) override;

  // Rewrites of one node whose operands are already simplified (rewrite_arith.cc and
  // rewrite_logic.cc). Each returns a simplified expression, possibly a fresh copy of the input.
  Expr rewrite_binary(BinaryOp op, const Expr& a, const Expr& b);
  Expr rewrite_not(const Expr& a);
  Expr rewrite_select(const Expr& condition, const Expr& true_value, const Expr& false_value);
  Expr rewrite_cast(DataType t, const Expr& value);

 private:
  // rewrite_arith.cc
  Expr simplify_linear_chain(const Expr& e);
  void collect_linear(const Expr& e, int64_t scale, LinearForm* form);
  Expr combine_linear(BinaryOp op, const Expr& a, const Expr& b);
  Expr rewrite_ring_op(BinaryOp op, const Expr& a, const Expr& b);
  Expr rewrite_vector_binary(BinaryOp op, const Expr& a, const Expr& b);
  Expr rewrite_div(const Expr& a, const Expr& b);
  Expr rewrite_mod(const Expr& a, const Expr& b);
  Expr div_by_constant(const Expr& a, int64_t c);
  Expr mod_by_constant(const Expr& a, int64_t c);
  Expr rewrite_min_max(BinaryOp op, const Expr& a, const Expr& b);
  // rewrite_logic.cc
  Expr rewrite_compare(BinaryOp op, const Expr& a, const Expr& b);
  Expr rewrite_index_compare(BinaryOp op, const Expr& a, const Expr& b);
  Expr rewrite_logic(BinaryOp op, const Expr& a, const Expr& b);

  // Results hold only under the facts they were computed with, so both caches are emptied when
  // the facts change and when the outermost public call returns (see CallScope in simplifier.cc).
  void clear_caches();
  friend class CallScope;

  VarFacts facts_;
  std::unordered_map<const ExprNode*, std::pair<Expr, Expr>> memo_;
  BoundCache bound_cache_;
  int call_depth_ = 0;
};

// Sets a fact for the lifetime of the object and restores the previous one afterwards.
class ScopedFact {
 public:
  ScopedFact(Simplifier* simplifier, VarFact fact)
      : simplifier_(simplifier), var_(fact.var), previous_(simplifier->set_fact(std::move(fact))) {}
  ~ScopedFact() { simplifier_->restore_fact(var_, std::move(previous_)); }
  ScopedFact(const ScopedFact&) = delete;
  ScopedFact& operator=(const ScopedFact&) = delete;

 private:
  Simplifier* simplifier_;
  Var var_;
  std::optional<VarFact> previous_;
};

// Scalar int32 or int64: the index types whose arithmetic is assumed not to overflow.
bool is_index_type(DataType t);
// The value of an IntImm, or of a Broadcast of one.
const int64_t* as_const_int_or_broadcast(const Expr& e);
// Returns self when `result` is structurally identical to it, so unchanged inputs keep identity.
Expr keep_identity(const Expr& result, const Expr& self);
// A constant or a variable: a value that costs nothing to repeat wherever it is used.
bool is_trivial_value(const Expr& e);
// An integer constant of type t (a Broadcast for vector types).
Expr int_const(DataType t, int64_t value);

}  // namespace tessel::arith
