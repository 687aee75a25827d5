// The simplifier: variable facts, entry points, and the dispatch from IR nodes to the rewrite rules
// (rewrite_arith.cc for arithmetic, rewrite_logic.cc for comparisons, logic, select and casts).
//
// Overflow assumption. Scalar int32 and int64 arithmetic (index arithmetic: loop variables,
// extents, buffer indices) is assumed not to overflow, as Halide and TVM assume: the simplifier
// reassociates it into canonical linear forms, moves terms across comparisons and splits floor
// division and modulo of sums — rewrites that hold for mathematical integers. Every other integer
// type (int8, int16, all unsigned types, bool, and vectors of any width) may wrap, and gets only
// rewrites that are exact under wraparound: constant folding to the wrapped value, x + 0, x * 1,
// x * 0, x - x, identities of min/max/select/logic, and decisions from bounds, which are computed
// wrap-aware (bound_math.h). Floats get constant folding with the interpreter's rounding and
// identities that are exact in IEEE arithmetic (x * 1, x / 1, x - 0.0), never x * 0 or x + 0.
//
// Every rule preserves the value for each binding of the variables that satisfies the facts.
// A node whose simplified form is structurally identical to it is returned as the same handle.
#include "arith/simplifier.h"

#include "arith/bound_math.h"
#include "arith/expr_order.h"

namespace tessel::arith {

bool is_index_type(DataType t) { return t.is_scalar() && t.is_int() && (t.bits() == 32 || t.bits() == 64); }

const int64_t* as_const_int_or_broadcast(const Expr& e) {
  if (const BroadcastNode* b = e.as<BroadcastNode>()) return as_const_int(b->value);
  return as_const_int(e);
}

Expr keep_identity(const Expr& result, const Expr& self) { return expr_equal(result, self) ? self : result; }

bool is_trivial_value(const Expr& e) { return e.as<IntImmNode>() || e.as<FloatImmNode>() || e.as<VarNode>(); }

Expr int_const(DataType t, int64_t value) {
  Expr scalar = make_int(t.element_of(), value);
  return t.is_vector() ? make_broadcast(scalar, t.lanes()) : scalar;
}

// Keeps the caches for the duration of one public call and empties them when it returns, so they
// never grow across calls nor outlive the expressions of a call.
class CallScope {
 public:
  explicit CallScope(Simplifier* s) : s_(s) { ++s_->call_depth_; }
  ~CallScope() {
    if (--s_->call_depth_ == 0) s_->clear_caches();
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  Simplifier* s_;
};

void Simplifier::clear_caches() {
  memo_.clear();
  bound_cache_.clear();
}

// ---- facts ---------------------------------------------------------------------------------

std::optional<VarFact> Simplifier::set_fact(VarFact fact) {
  clear_caches();
  std::optional<VarFact> previous;
  const VarNode* key = fact.var.get();
  if (auto it = facts_.find(key); it != facts_.end()) previous = std::move(it->second);
  facts_[key] = std::move(fact);
  return previous;
}

void Simplifier::restore_fact(const Var& var, std::optional<VarFact> previous) {
  clear_caches();
  if (previous) {
    facts_[var.get()] = std::move(*previous);
  } else {
    facts_.erase(var.get());
  }
}

const VarFact* Simplifier::find_fact(const VarNode* var) const {
  auto it = facts_.find(var);
  return it == facts_.end() ? nullptr : &it->second;
}

bool Simplifier::range_fact(const Var& var, const Expr& min, const Expr& extent, VarFact* fact) {
  DataType t = min.dtype();
  ConstIntBound lo = bound(min), count = bound(extent);
  if (count.max <= 0) return false;  // the range may be empty
  // The last value is min + extent - 1, at most max(min) + max(extent) - 1.
  ConstIntBound last = bound_sub(t, bound_add(t, lo, count), ConstIntBound{1, 1});
  if (last.max < lo.min) return false;
  *fact = VarFact{var, ConstIntBound{lo.min, last.max}, Expr()};
  return true;
}

// ---- entry points --------------------------------------------------------------------------

ConstIntBound Simplifier::bound(const Expr& e) {
  CallScope scope(this);
  return compute_const_int_bound(e, facts_, &bound_cache_);
}

Expr Simplifier::mutate(const Expr& e) {
  if (!e.defined() || e.as<IntImmNode>() || e.as<FloatImmNode>()) return e;
  if (auto it = memo_.find(e.get()); it != memo_.end()) return it->second.second;
  Expr result = IRMutator::mutate(e);
  memo_.emplace(e.get(), std::make_pair(e, result));
  return result;
}

Expr Simplifier::simplify(const Expr& e) {
  CallScope scope(this);
  // One round reaches a fixed point for nearly every expression; a rewrite that exposes a new
  // opportunity higher up (a term cancelling after a division simplified) may need another.
  constexpr int kMaxRounds = 4;
  Expr current = e;
  for (int round = 0; round < kMaxRounds; ++round) {
    Expr next = mutate(current);
    if (next.same_as(current)) break;
    current = next;
  }
  return current;
}

bool Simplifier::can_prove(const Expr& condition) {
  CallScope scope(this);
  const int64_t* v = as_const_int_or_broadcast(simplify(condition));
  return v && *v != 0;
}

// ---- nodes ---------------------------------------------------------------------------------

Expr Simplifier::mutate_Var(const VarNode* op, const Expr& self) {
  const VarFact* fact = find_fact(op);
  if (!fact) return self;
  // A bound value is substituted when asked to, or when that costs nothing: a constant or another
  // variable.
  if (fact->value.defined() && (fact->substitute || is_trivial_value(fact->value))) return fact->value;
  if (op->dtype.is_scalar() && op->dtype.is_integral() && fact->bound.is_const()) {
    return make_int(op->dtype, fact->bound.min);
  }
  return self;
}

Expr Simplifier::mutate_Binary(const BinaryNode* op, const Expr& self) {
  bool ring_op = op->op == BinaryOp::kAdd || op->op == BinaryOp::kSub || op->op == BinaryOp::kMul;
  if (ring_op && is_index_type(op->a.dtype())) return keep_identity(simplify_linear_chain(self), self);
  Expr a = mutate(op->a), b = mutate(op->b);
  return keep_identity(rewrite_binary(op->op, a, b), self);
}

Expr Simplifier::mutate_Not(const NotNode* op, const Expr& self) {
  return keep_identity(rewrite_not(mutate(op->a)), self);
}

Expr Simplifier::mutate_Select(const SelectNode* op, const Expr& self) {
  Expr c = mutate(op->condition), t = mutate(op->true_value), f = mutate(op->false_value);
  return keep_identity(rewrite_select(c, t, f), self);
}

Expr Simplifier::mutate_Cast(const CastNode* op, const Expr& self) {
  return keep_identity(rewrite_cast(op->dtype, mutate(op->value)), self);
}

Expr Simplifier::mutate_Ramp(const RampNode* op, const Expr& self) {
  Expr base = mutate(op->base), stride = mutate(op->stride);
  if (is_const_int(stride, 0)) return make_broadcast(base, op->lanes);
  if (base.same_as(op->base) && stride.same_as(op->stride)) return self;
  return make_ramp(base, stride, op->lanes);
}

Expr Simplifier::mutate_Let(const LetNode* op, const Expr& self) {
  // A trivial value is substituted through the fact (see mutate_Var) and the let disappears.
  Expr value = mutate(op->value);
  Expr body;
  {
    ConstIntBound value_bound = value.dtype().is_integral() ? bound(value) : ConstIntBound{};
    ScopedFact fact(this, VarFact{op->var, value_bound, value});
    body = mutate(op->body);
  }
  if (!uses_var(body, op->var)) return body;
  if (value.same_as(op->value) && body.same_as(op->body)) return self;
  return make_let(op->var, value, body);
}

}  // namespace tessel::arith
