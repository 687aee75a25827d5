// Arithmetic rewrites: canonical linear forms for index arithmetic, wrap-safe identities for other
// types, lane-wise vector rules, floor division and modulo, min and max. Operands arrive
// simplified. The overflow assumption these rules rely on is stated in simplifier.cc.
#include <cmath>
#include <numeric>

#include "arith/bound_math.h"
#include "arith/const_fold.h"
#include "arith/expr_order.h"
#include "arith/simplifier.h"

namespace tessel::arith {

namespace {

using Wide = __int128;

int64_t ring_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

uint64_t magnitude(int64_t v) { return v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v); }

// gcd of c > 0 and the magnitudes of the coefficients.
int64_t coefficient_gcd(int64_t c, const LinearForm& form) {
  uint64_t g = static_cast<uint64_t>(c);
  for (const LinearTerm& t : form.terms()) g = std::gcd(g, magnitude(t.coeff));
  return static_cast<int64_t>(g);
}

bool fits_type(DataType t, Wide v) {
  ConstIntBound range = type_range(t);
  return v >= range.min && v <= range.max;
}

// The product of two simplified operands as a linear form: a constant scales the other side,
// c1*x times c2*y becomes (x*y) * (c1*c2), anything else is one product term with its operands
// in canonical order.
LinearForm linear_product(const Expr& a, const Expr& b) {
  LinearForm fa = to_linear(a), fb = to_linear(b);
  if (fa.is_constant()) {
    fb.scale(fa.constant());
    fb.normalize();
    return fb;
  }
  if (fb.is_constant()) {
    fa.scale(fb.constant());
    fa.normalize();
    return fa;
  }
  LinearForm product(a.dtype());
  auto ordered_product = [](Expr x, Expr y) {
    if (expr_compare(y, x) < 0) std::swap(x, y);
    return make_binary(BinaryOp::kMul, x, y);
  };
  if (fa.terms().size() == 1 && fa.constant() == 0 && fb.terms().size() == 1 && fb.constant() == 0) {
    product.add_term(ordered_product(fa.terms()[0].term, fb.terms()[0].term),
                     ring_mul(fa.terms()[0].coeff, fb.terms()[0].coeff));
  } else {
    product.add_term(ordered_product(a, b), 1);
  }
  product.normalize();
  return product;
}

bool is_positive_float_zero(const Expr& e) {
  if (const BroadcastNode* b = e.as<BroadcastNode>()) return is_positive_float_zero(b->value);
  const double* v = as_const_float(e);
  return v && *v == 0.0 && !std::signbit(*v);
}

}  // namespace

// ---- dispatch ------------------------------------------------------------------------------

Expr Simplifier::rewrite_binary(BinaryOp op, const Expr& a, const Expr& b) {
  if (Expr folded = fold_binary(op, a, b); folded.defined()) return folded;
  DataType t = a.dtype();
  if (t.is_vector()) {
    if (Expr v = rewrite_vector_binary(op, a, b); v.defined()) return v;
  }
  switch (op) {
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
    case BinaryOp::kMul:
      return is_index_type(t) ? combine_linear(op, a, b) : rewrite_ring_op(op, a, b);
    case BinaryOp::kDiv: return rewrite_div(a, b);
    case BinaryOp::kMod: return rewrite_mod(a, b);
    case BinaryOp::kMin:
    case BinaryOp::kMax: return rewrite_min_max(op, a, b);
    case BinaryOp::kAnd:
    case BinaryOp::kOr: return rewrite_logic(op, a, b);
    default: return rewrite_compare(op, a, b);
  }
}

// ---- linear forms (index types) ------------------------------------------------------------

// A whole chain of +, - and multiplications by constants is collected at once, so that a long
// sum costs linear time; only the leaves are simplified separately.
Expr Simplifier::simplify_linear_chain(const Expr& e) {
  LinearForm form(e.dtype());
  collect_linear(e, 1, &form);
  form.normalize();
  return from_linear(form);
}

void Simplifier::collect_linear(const Expr& e, int64_t scale, LinearForm* form) {
  if (const int64_t* v = as_const_int(e)) {
    form->add_constant(ring_mul(*v, scale));
    return;
  }
  if (const BinaryNode* op = e.as<BinaryNode>()) {
    switch (op->op) {
      case BinaryOp::kAdd:
        collect_linear(op->a, scale, form);
        collect_linear(op->b, scale, form);
        return;
      case BinaryOp::kSub:
        collect_linear(op->a, scale, form);
        collect_linear(op->b, ring_mul(scale, -1), form);
        return;
      case BinaryOp::kMul:
        if (const int64_t* c = as_const_int(op->b)) return collect_linear(op->a, ring_mul(scale, *c), form);
        if (const int64_t* c = as_const_int(op->a)) return collect_linear(op->b, ring_mul(scale, *c), form);
        form->add(linear_product(mutate(op->a), mutate(op->b)), scale);
        return;
      default:
        break;
    }
  }
  form->add(to_linear(mutate(e)), scale);
}

Expr Simplifier::combine_linear(BinaryOp op, const Expr& a, const Expr& b) {
  LinearForm form(a.dtype());
  if (op == BinaryOp::kMul) {
    form = linear_product(a, b);
  } else {
    form.add(to_linear(a), 1);
    form.add(to_linear(b), op == BinaryOp::kSub ? -1 : 1);
    form.normalize();
  }
  return from_linear(form);
}

// ---- other types: identities exact under wraparound and in IEEE arithmetic -----------------

Expr Simplifier::rewrite_ring_op(BinaryOp op, const Expr& a, const Expr& b) {
  DataType t = a.dtype();
  if (t.is_float()) {
    if (op == BinaryOp::kMul && is_one(b)) return a;
    if (op == BinaryOp::kMul && is_one(a)) return b;
    if (op == BinaryOp::kSub && is_positive_float_zero(b)) return a;  // x - (+0) == x, also for x = -0
    return make_binary(op, a, b);
  }
  switch (op) {
    case BinaryOp::kAdd:
      if (is_zero(a)) return b;
      if (is_zero(b)) return a;
      break;
    case BinaryOp::kSub:
      if (is_zero(b)) return a;
      if (expr_equal(a, b)) return int_const(t, 0);
      break;
    case BinaryOp::kMul:
      if (is_zero(a)) return a;
      if (is_zero(b)) return b;
      if (is_one(a)) return b;
      if (is_one(b)) return a;
      break;
    default:
      break;
  }
  return make_binary(op, a, b);
}

// ---- vectors -------------------------------------------------------------------------------

Expr Simplifier::rewrite_vector_binary(BinaryOp op, const Expr& a, const Expr& b) {
  DataType t = a.dtype();
  int lanes = t.lanes();
  const BroadcastNode *ba = a.as<BroadcastNode>(), *bb = b.as<BroadcastNode>();
  if (ba && bb) return make_broadcast(rewrite_binary(op, ba->value, bb->value), lanes);
  if (!t.is_integral()) return Expr();
  const RampNode *ra = a.as<RampNode>(), *rb = b.as<RampNode>();
  // Lane i of a ramp is base + i * stride, so ramps combine with broadcasts and with each other
  // under +, - and * by a broadcast exactly, in every integer type.
  auto ramp = [&](const Expr& base, const Expr& stride) {
    return is_const_int(stride, 0) ? make_broadcast(base, lanes) : make_ramp(base, stride, lanes);
  };
  DataType element = t.element_of();
  switch (op) {
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
      if (ra && rb) return ramp(rewrite_binary(op, ra->base, rb->base), rewrite_binary(op, ra->stride, rb->stride));
      if (ra && bb) return ramp(rewrite_binary(op, ra->base, bb->value), ra->stride);
      if (ba && rb) {
        Expr stride = op == BinaryOp::kAdd ? rb->stride : rewrite_binary(BinaryOp::kSub, make_int(element, 0), rb->stride);
        return ramp(rewrite_binary(op, ba->value, rb->base), stride);
      }
      break;
    case BinaryOp::kMul:
      if (ra && bb) return ramp(rewrite_binary(op, ra->base, bb->value), rewrite_binary(op, ra->stride, bb->value));
      if (ba && rb) return ramp(rewrite_binary(op, ba->value, rb->base), rewrite_binary(op, ba->value, rb->stride));
      break;
    case BinaryOp::kDiv:
    case BinaryOp::kMod: {
      // ramp(base, s, n) / c with base % c + s * (n - 1) < c: every lane has the quotient base / c
      // and the remainder base % c + i * s.
      if (!ra || !bb || !is_index_type(element)) break;
      const int64_t* c = as_const_int(bb->value);
      const int64_t* s = as_const_int(ra->stride);
      if (!c || !s || *c <= 0 || *s < 0) break;
      Expr remainder = rewrite_mod(ra->base, bb->value);
      ConstIntBound r = bound(remainder);
      if (r.min < 0 || is_pos_inf(r.max) || Wide{r.max} + Wide{*s} * (lanes - 1) >= *c) break;
      if (op == BinaryOp::kDiv) return make_broadcast(rewrite_div(ra->base, bb->value), lanes);
      return ramp(remainder, ra->stride);
    }
    default:
      break;
  }
  return Expr();
}

// ---- floor division and modulo -------------------------------------------------------------

Expr Simplifier::rewrite_div(const Expr& a, const Expr& b) {
  DataType t = a.dtype();
  if (t.is_float()) return is_one(b) ? a : make_binary(BinaryOp::kDiv, a, b);
  if (is_one(b)) return a;
  if (is_zero(a) && !is_zero(b)) return a;  // 0 / y == 0 for every y != 0
  ConstIntBound divisor = bound(b);
  bool nonzero = divisor.min > 0 || divisor.max < 0;
  ConstIntBound quotient = bound_floor_div(t, bound(a), divisor);
  if (nonzero && quotient.is_const()) return int_const(t, quotient.min);
  if (is_index_type(t)) {
    if (const int64_t* c = as_const_int(b); c && *c > 0) return div_by_constant(a, *c);
  }
  return make_binary(BinaryOp::kDiv, a, b);
}

Expr Simplifier::rewrite_mod(const Expr& a, const Expr& b) {
  DataType t = a.dtype();
  if (t.is_float()) return make_binary(BinaryOp::kMod, a, b);
  if (is_one(b)) return int_const(t, 0);
  if (is_zero(a) && !is_zero(b)) return a;
  ConstIntBound x = bound(a), divisor = bound(b);
  // x % y == x when x already lies in [0, y) (or in (y, 0] for negative divisors).
  if (divisor.min >= 1 && x.min >= 0 && x.max < divisor.min) return a;
  if (divisor.max <= -1 && x.max <= 0 && x.min > divisor.max) return a;
  bool nonzero = divisor.min > 0 || divisor.max < 0;
  ConstIntBound remainder = bound_floor_mod(t, x, divisor);
  if (nonzero && remainder.is_const()) return int_const(t, remainder.min);
  if (is_index_type(t)) {
    if (const int64_t* c = as_const_int(b); c && *c > 0) return mod_by_constant(a, *c);
  }
  return make_binary(BinaryOp::kMod, a, b);
}

// For a = D + R with D a multiple of c (the terms whose coefficients c divides, and the multiple
// of c in the constant): a / c == D / c + R / c exactly. R = g * R' + r with g = gcd(c, R's
// coefficients) and 0 <= r < g, and then R / c == R' / (c / g). R' / (c / g) is folded to a constant
// when R's bounds decide it.
Expr Simplifier::div_by_constant(const Expr& a, int64_t c) {
  DataType t = a.dtype();
  if (c == 1) return a;
  // (x / c1) / c == x / (c1 * c) for positive divisors.
  if (const BinaryNode* inner = a.as<BinaryNode>(); inner && inner->op == BinaryOp::kDiv) {
    const int64_t* c1 = as_const_int(inner->b);
    if (c1 && *c1 > 0 && fits_type(t, Wide{*c1} * c)) return div_by_constant(inner->a, *c1 * c);
  }
  LinearForm form = to_linear(a), quotient(t), rest(t);
  for (const LinearTerm& term : form.terms()) {
    if (term.coeff % c == 0) {
      quotient.add_term(term.term, term.coeff / c);
    } else {
      rest.add_term(term.term, term.coeff);
    }
  }
  quotient.set_constant(floor_div(form.constant(), c));
  rest.set_constant(floor_mod(form.constant(), c));
  if (!rest.is_constant()) {
    int64_t g = coefficient_gcd(c, rest);
    LinearForm reduced(t);
    for (const LinearTerm& term : rest.terms()) reduced.add_term(term.term, term.coeff / g);
    reduced.set_constant(rest.constant() / g);
    reduced.normalize();
    int64_t divisor = c / g;
    Expr numerator = from_linear(reduced);
    ConstIntBound q = bound_floor_div(t, bound(numerator), ConstIntBound{divisor, divisor});
    if (q.is_const()) {
      quotient.add_constant(q.min);
    } else if (divisor == c && expr_equal(numerator, a)) {
      quotient.add_term(make_binary(BinaryOp::kDiv, a, make_int(t, c)), 1);  // nothing to split
    } else {
      quotient.add_term(div_by_constant(numerator, divisor), 1);
    }
  }
  quotient.normalize();
  return from_linear(quotient);
}

// With a = D + R as in div_by_constant: a % c == R % c, and R % c == g * (R' % (c / g)) + r.
// When R's bounds put R' within one period, R' % (c / g) == R' - q * (c / g).
Expr Simplifier::mod_by_constant(const Expr& a, int64_t c) {
  DataType t = a.dtype();
  if (c == 1) return make_int(t, 0);
  // (x % c1) % c == x % c when c divides c1.
  if (const BinaryNode* inner = a.as<BinaryNode>(); inner && inner->op == BinaryOp::kMod) {
    const int64_t* c1 = as_const_int(inner->b);
    if (c1 && *c1 > 0 && *c1 % c == 0) return mod_by_constant(inner->a, c);
  }
  LinearForm form = to_linear(a), rest(t);
  for (const LinearTerm& term : form.terms()) {
    if (term.coeff % c != 0) rest.add_term(term.term, term.coeff);
  }
  rest.set_constant(floor_mod(form.constant(), c));
  if (rest.is_constant()) return make_int(t, rest.constant());
  int64_t g = coefficient_gcd(c, rest);
  LinearForm reduced(t);
  for (const LinearTerm& term : rest.terms()) reduced.add_term(term.term, term.coeff / g);
  reduced.set_constant(rest.constant() / g);
  reduced.normalize();
  int64_t low = rest.constant() % g, divisor = c / g;
  Expr numerator = from_linear(reduced);
  ConstIntBound nb = bound(numerator);
  LinearForm result(t);
  if (!is_neg_inf(nb.min) && !is_pos_inf(nb.max) && floor_div(nb.min, divisor) == floor_div(nb.max, divisor)) {
    result.add(reduced, g);
    result.add_constant(ring_mul(ring_mul(floor_div(nb.min, divisor), divisor), -g));
  } else if (divisor == c && expr_equal(numerator, a)) {
    result.add_term(make_binary(BinaryOp::kMod, a, make_int(t, c)), 1);  // nothing to split
  } else {
    result.add(to_linear(mod_by_constant(numerator, divisor)), g);
  }
  result.add_constant(low);
  result.normalize();
  return from_linear(result);
}

// ---- min and max ---------------------------------------------------------------------------

Expr Simplifier::rewrite_min_max(BinaryOp op, const Expr& a, const Expr& b) {
  DataType t = a.dtype();
  bool is_min = op == BinaryOp::kMin;
  if (expr_equal(a, b)) return a;
  if (!t.is_integral()) return make_binary(op, a, b);
  // Decided by bounds: min(a, b) == a when a <= b for every binding.
  ConstIntBound ba = bound(a), bb = bound(b);
  if (is_min ? ba.max <= bb.min : ba.min >= bb.max) return a;
  if (is_min ? bb.max <= ba.min : bb.min >= ba.max) return b;
  if (is_index_type(t)) {
    LinearForm diff = to_linear(a);
    diff.add(to_linear(b), -1);
    diff.normalize();
    ConstIntBound d = bound(from_linear(diff));
    if (d.max <= 0) return is_min ? a : b;  // a <= b
    if (d.min >= 0) return is_min ? b : a;  // a >= b
  }
  // Constants go to the right.
  if (as_const_int_or_broadcast(a) && !as_const_int_or_broadcast(b)) return rewrite_min_max(op, b, a);
  if (const BinaryNode* inner = a.as<BinaryNode>(); inner && inner->op == op) {
    // min(min(x, c1), c2) == min(x, min(c1, c2))
    if (as_const_int_or_broadcast(inner->b) && as_const_int_or_broadcast(b)) {
      return rewrite_min_max(op, inner->a, rewrite_binary(op, inner->b, b));
    }
    // min(min(x, y), y) == min(x, y)
    if (expr_equal(inner->a, b) || expr_equal(inner->b, b)) return a;
  }
  if (const BinaryNode* inner = b.as<BinaryNode>(); inner && inner->op == op) {
    if (expr_equal(inner->a, a) || expr_equal(inner->b, a)) return b;
  }
  // Absorption: min(x, max(x, y)) == x and max(x, min(x, y)) == x.
  BinaryOp dual = is_min ? BinaryOp::kMax : BinaryOp::kMin;
  if (const BinaryNode* inner = b.as<BinaryNode>(); inner && inner->op == dual) {
    if (expr_equal(inner->a, a) || expr_equal(inner->b, a)) return a;
  }
  if (const BinaryNode* inner = a.as<BinaryNode>(); inner && inner->op == dual) {
    if (expr_equal(inner->a, b) || expr_equal(inner->b, b)) return b;
  }
  return make_binary(op, a, b);
}

}  // namespace tessel::arith
