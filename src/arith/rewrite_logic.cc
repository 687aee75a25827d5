// Rewrites of comparisons, logic, select and casts. Operands arrive simplified. Integer
// comparisons are decided from bounds in every type; index-type comparisons (scalar int32/int64)
// are also brought to a canonical form `positive terms OP negative terms + constant`, which relies
// on the no-overflow assumption stated in simplifier.cc.
#include <numeric>
#include <utility>

#include "arith/bound_math.h"
#include "arith/const_fold.h"
#include "arith/expr_order.h"
#include "arith/simplifier.h"

namespace tessel::arith {

namespace {

// 1 or 0 for a constant (scalar or broadcast) condition, -1 otherwise.
int truth_value(const Expr& e) {
  const int64_t* v = as_const_int_or_broadcast(e);
  return v ? (*v != 0 ? 1 : 0) : -1;
}

bool is_not_of(const Expr& maybe_not, const Expr& e) {
  const NotNode* n = maybe_not.as<NotNode>();
  return n && expr_equal(n->a, e);
}

}  // namespace

// ---- comparisons ---------------------------------------------------------------------------

Expr Simplifier::rewrite_compare(BinaryOp op, const Expr& a, const Expr& b) {
  DataType t = a.dtype();
  int lanes = t.lanes();
  if (!t.is_integral()) return make_binary(op, a, b);  // x == x is false for a NaN
  if (expr_equal(a, b)) return make_bool(op == BinaryOp::kEQ || op == BinaryOp::kLE || op == BinaryOp::kGE, lanes);
  ConstIntBound decided = bound_compare(op, bound(a), bound(b));
  if (decided.is_const()) return make_bool(decided.min != 0, lanes);
  if (is_index_type(t)) return rewrite_index_compare(op, a, b);
  return make_binary(op, a, b);
}

// a OP b becomes d OP 0 for the linear form d = a - b = g * T + c, g the gcd of the coefficients.
// Integer division by g turns that into T + c' OP 0 exactly:
//   g*T + c <  0  <=>  T + floor(c / g) <  0
//   g*T + c <= 0  <=>  T + ceil(c / g)  <= 0
//   g*T + c == 0  <=>  T + c / g == 0 when g divides c, never otherwise.
// The form is then oriented so that its first term (in term order) has a positive coefficient,
// negating it and mirroring the comparison if needed, and written as P OP N - c' with the positive
// terms P on the left and the negated negative terms N on the right: x < y, x >= y + 3, x > 5.
Expr Simplifier::rewrite_index_compare(BinaryOp op, const Expr& a_in, const Expr& b_in) {
  Expr a = a_in, b = b_in;
  DataType t = a.dtype();
  if (op == BinaryOp::kGT || op == BinaryOp::kGE) {
    std::swap(a, b);
    op = op == BinaryOp::kGT ? BinaryOp::kLT : BinaryOp::kLE;
  }
  LinearForm diff = to_linear(a);
  diff.add(to_linear(b), -1);
  diff.normalize();
  ConstIntBound zero{0, 0};
  ConstIntBound decided = bound_compare(op, diff.is_constant() ? ConstIntBound{diff.constant(), diff.constant()}
                                                              : bound(from_linear(diff)),
                                        zero);
  if (decided.is_const()) return make_bool(decided.min != 0);

  uint64_t g_unsigned = 0;
  for (const LinearTerm& term : diff.terms()) {
    uint64_t m = term.coeff < 0 ? 0 - static_cast<uint64_t>(term.coeff) : static_cast<uint64_t>(term.coeff);
    g_unsigned = std::gcd(g_unsigned, m);
  }
  // The gcd of wrapped coefficients can be 2^63 only for int64 coefficient INT64_MIN; leave it.
  int64_t g = g_unsigned > static_cast<uint64_t>(ConstIntBound::kPosInf) ? 1 : static_cast<int64_t>(g_unsigned);
  int64_t c = diff.constant(), reduced_constant;
  switch (op) {
    case BinaryOp::kLT: reduced_constant = floor_div(c, g); break;
    case BinaryOp::kLE: reduced_constant = floor_mod(c, g) == 0 ? c / g : floor_div(c, g) + 1; break;
    default:
      if (c % g != 0) return make_bool(op == BinaryOp::kNE);
      reduced_constant = c / g;
      break;
  }
  // T + c' OP 0  <=>  -T - c' OP' 0 with OP' the mirrored comparison.
  int64_t sign = diff.terms().front().coeff > 0 ? 1 : -1;
  if (sign < 0) {
    op = op == BinaryOp::kLT ? BinaryOp::kGT : op == BinaryOp::kLE ? BinaryOp::kGE : op;
    reduced_constant = static_cast<int64_t>(0 - static_cast<uint64_t>(reduced_constant));
  }
  LinearForm positive(t), negative(t);
  for (const LinearTerm& term : diff.terms()) {
    int64_t coeff = static_cast<int64_t>(static_cast<uint64_t>(term.coeff / g) * static_cast<uint64_t>(sign));
    if (coeff > 0) {
      positive.add_term(term.term, coeff);
    } else {
      negative.add_term(term.term, static_cast<int64_t>(0 - static_cast<uint64_t>(coeff)));
    }
  }
  positive.normalize();
  negative.set_constant(static_cast<int64_t>(0 - static_cast<uint64_t>(reduced_constant)));
  negative.normalize();
  return make_binary(op, from_linear(positive), from_linear(negative));
}

// ---- logic ---------------------------------------------------------------------------------

Expr Simplifier::rewrite_logic(BinaryOp op, const Expr& a, const Expr& b) {
  int ta = truth_value(a), tb = truth_value(b);
  bool is_and = op == BinaryOp::kAnd;
  // The absorbing constant (false for &&, true for ||) wins; the neutral one disappears.
  int absorbing = is_and ? 0 : 1;
  if (ta == absorbing) return a;
  if (tb == absorbing) return b;
  if (ta == 1 - absorbing) return b;
  if (tb == 1 - absorbing) return a;
  if (expr_equal(a, b)) return a;
  // x && !x is false and x || !x true, also when the negation was already folded into a comparison
  // (x < y && y <= x).
  bool complementary = is_not_of(a, b) || is_not_of(b, a);
  if (!complementary && a.as<BinaryNode>() && is_comparison(a.as<BinaryNode>()->op) && b.as<BinaryNode>()) {
    complementary = expr_equal(rewrite_not(a), b);
  }
  if (complementary) return make_bool(!is_and, a.dtype().lanes());
  return make_binary(op, a, b);
}

Expr Simplifier::rewrite_not(const Expr& a) {
  if (const int64_t* v = as_const_int(a)) return make_bool(*v == 0);
  if (const BroadcastNode* b = a.as<BroadcastNode>()) return make_broadcast(rewrite_not(b->value), b->lanes);
  if (const NotNode* n = a.as<NotNode>()) return n->a;
  if (const BinaryNode* cmp = a.as<BinaryNode>(); cmp && is_comparison(cmp->op)) {
    // !(a < b) == a >= b only without NaN; equality negates exactly in IEEE arithmetic too.
    bool integral = cmp->a.dtype().is_integral();
    if (integral || cmp->op == BinaryOp::kEQ || cmp->op == BinaryOp::kNE) {
      return rewrite_compare(negate_comparison(cmp->op), cmp->a, cmp->b);
    }
  }
  return make_not(a);
}

// ---- select and cast -----------------------------------------------------------------------

Expr Simplifier::rewrite_select(const Expr& condition, const Expr& true_value, const Expr& false_value) {
  int truth = truth_value(condition);
  if (truth == 1) return true_value;
  if (truth == 0) return false_value;
  if (expr_equal(true_value, false_value)) return true_value;
  if (const NotNode* n = condition.as<NotNode>()) return rewrite_select(n->a, false_value, true_value);
  DataType t = true_value.dtype();
  if (t.element_of().is_bool() && condition.dtype() == t) {
    if (truth_value(true_value) == 1 && truth_value(false_value) == 0) return condition;
    if (truth_value(true_value) == 0 && truth_value(false_value) == 1) return rewrite_not(condition);
  }
  const BroadcastNode *bc = condition.as<BroadcastNode>(), *bt = true_value.as<BroadcastNode>(),
                      *bf = false_value.as<BroadcastNode>();
  if (bc && bt && bf) return make_broadcast(rewrite_select(bc->value, bt->value, bf->value), bc->lanes);
  return make_select(condition, true_value, false_value);
}

Expr Simplifier::rewrite_cast(DataType t, const Expr& value) {
  DataType from = value.dtype();
  if (from == t) return value;
  if (t.is_scalar()) {
    if (Expr folded = fold_cast(t, value); folded.defined()) return folded;
  }
  if (const BroadcastNode* b = value.as<BroadcastNode>()) {
    return make_broadcast(rewrite_cast(t.element_of(), b->value), b->lanes);
  }
  // cast(T, cast(U, x)) == x for x of type T when x's values all survive the trip through U.
  if (const CastNode* inner = value.as<CastNode>(); inner && inner->value.dtype() == t) {
    const Expr& x = inner->value;
    if (t.is_integral() && from.is_integral()) {
      ConstIntBound bx = bound(x);
      if (bound_cast(from, t, bx) == bx) return x;
    }
    // float32 -> float64 -> float32 is exact.
    if (t.code() == TypeCode::kFloat && from.code() == TypeCode::kFloat && from.bits() > t.bits()) return x;
  }
  return make_cast(t, value);
}

}  // namespace tessel::arith
