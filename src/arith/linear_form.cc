// Linear forms: decomposition, normalization and rebuilding (see linear_form.h).
#include "arith/linear_form.h"

#include <algorithm>

#include "arith/expr_order.h"
#include "tessel/ir/error.h"

namespace tessel::arith {

namespace {

// Multiplication in the two's-complement ring of int64 (the form wraps further to its type).
int64_t ring_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

void decompose(const Expr& e, int64_t scale, LinearForm* form) {
  if (const int64_t* v = as_const_int(e)) {
    form->add_constant(ring_mul(*v, scale));
    return;
  }
  if (const BinaryNode* op = e.as<BinaryNode>()) {
    switch (op->op) {
      case BinaryOp::kAdd:
        decompose(op->a, scale, form);
        decompose(op->b, scale, form);
        return;
      case BinaryOp::kSub:
        decompose(op->a, scale, form);
        decompose(op->b, ring_mul(scale, -1), form);
        return;
      case BinaryOp::kMul:
        if (const int64_t* c = as_const_int(op->b)) return decompose(op->a, ring_mul(scale, *c), form);
        if (const int64_t* c = as_const_int(op->a)) return decompose(op->b, ring_mul(scale, *c), form);
        break;
      default:
        break;
    }
  }
  form->add_term(e, scale);
}

// The Div(x, c) / Mod(x, c) operands of a term, c a nonzero constant.
bool as_div_or_mod(const Expr& term, BinaryOp op, Expr* x, int64_t* c) {
  const BinaryNode* node = term.as<BinaryNode>();
  if (!node || node->op != op) return false;
  const int64_t* divisor = as_const_int(node->b);
  if (!divisor || *divisor == 0) return false;
  *x = node->a;
  *c = *divisor;
  return true;
}

}  // namespace

int64_t LinearForm::wrap(__int128 v) const {
  return wrap_to_type(dtype_, static_cast<int64_t>(static_cast<uint64_t>(static_cast<unsigned __int128>(v))));
}

void LinearForm::add_constant(int64_t value) { constant_ = wrap(static_cast<__int128>(constant_) + value); }

void LinearForm::set_constant(int64_t value) { constant_ = wrap(value); }

void LinearForm::add_term(const Expr& term, int64_t coeff) {
  internal_check(term.dtype() == dtype_) << "linear term of type " << term.dtype().to_string() << " in a form of "
                                          << dtype_.to_string();
  terms_.push_back({term, wrap(coeff)});
}

void LinearForm::add(const LinearForm& other, int64_t scale) {
  for (const LinearTerm& t : other.terms_) add_term(t.term, wrap(static_cast<__int128>(t.coeff) * scale));
  constant_ = wrap(static_cast<__int128>(constant_) + static_cast<__int128>(other.constant_) * scale);
}

void LinearForm::scale(int64_t factor) {
  for (LinearTerm& t : terms_) t.coeff = wrap(static_cast<__int128>(t.coeff) * factor);
  constant_ = wrap(static_cast<__int128>(constant_) * factor);
}

void LinearForm::normalize() {
  auto sort_and_merge = [this] {
    std::stable_sort(terms_.begin(), terms_.end(),
                     [](const LinearTerm& a, const LinearTerm& b) { return expr_compare(a.term, b.term) < 0; });
    std::vector<LinearTerm> merged;
    for (LinearTerm& t : terms_) {
      if (!merged.empty() && expr_equal(merged.back().term, t.term)) {
        merged.back().coeff = wrap(static_cast<__int128>(merged.back().coeff) + t.coeff);
      } else {
        merged.push_back(std::move(t));
      }
    }
    merged.erase(std::remove_if(merged.begin(), merged.end(), [](const LinearTerm& t) { return t.coeff == 0; }),
                 merged.end());
    terms_ = std::move(merged);
  };
  sort_and_merge();
  while (fuse_div_mod_pair()) sort_and_merge();
}

// (x / c) * (m * c) + (x % c) * m == x * m for floor division, exactly (x == c * (x / c) + x % c).
bool LinearForm::fuse_div_mod_pair() {
  for (size_t i = 0; i < terms_.size(); ++i) {
    Expr x;
    int64_t c;
    if (!as_div_or_mod(terms_[i].term, BinaryOp::kDiv, &x, &c)) continue;
    if (c == -1 || terms_[i].coeff % c != 0) continue;
    int64_t m = terms_[i].coeff / c;
    for (size_t j = 0; j < terms_.size(); ++j) {
      Expr y;
      int64_t d;
      if (!as_div_or_mod(terms_[j].term, BinaryOp::kMod, &y, &d) || d != c || terms_[j].coeff != m) continue;
      if (!expr_equal(x, y)) continue;
      terms_.erase(terms_.begin() + static_cast<std::ptrdiff_t>(std::max(i, j)));
      terms_.erase(terms_.begin() + static_cast<std::ptrdiff_t>(std::min(i, j)));
      add(to_linear(x), m);
      return true;
    }
  }
  return false;
}

LinearForm to_linear(const Expr& e) {
  internal_check(e.dtype().is_scalar() && e.dtype().is_integral()) << "linear form of " << e.dtype().to_string();
  LinearForm form(e.dtype());
  decompose(e, 1, &form);
  form.normalize();
  return form;
}

Expr from_linear(const LinearForm& form) {
  DataType t = form.dtype();
  auto scaled = [&](const Expr& term, int64_t coeff) {
    return coeff == 1 ? term : make_binary(BinaryOp::kMul, term, make_int(t, coeff));
  };
  // Negation in the type's two's-complement ring.
  auto negate = [&](int64_t v) { return wrap_to_type(t, static_cast<int64_t>(0 - static_cast<uint64_t>(v))); };
  Expr result;
  int64_t constant = form.constant();
  for (const LinearTerm& term : form.terms()) {
    if (term.coeff < 0) continue;
    result = result.defined() ? make_binary(BinaryOp::kAdd, result, scaled(term.term, term.coeff))
                              : scaled(term.term, term.coeff);
  }
  for (const LinearTerm& term : form.terms()) {
    if (term.coeff >= 0) continue;
    if (!result.defined() && constant > 0) {
      result = make_int(t, constant);  // 10 - x rather than x * -1 + 10
      constant = 0;
    }
    int64_t magnitude = negate(term.coeff);
    if (!result.defined()) {
      result = scaled(term.term, term.coeff);
    } else if (magnitude > 0) {
      result = make_binary(BinaryOp::kSub, result, scaled(term.term, magnitude));
    } else {
      result = make_binary(BinaryOp::kAdd, result, scaled(term.term, term.coeff));  // the type's minimum
    }
  }
  if (!result.defined()) return make_int(t, constant);
  if (constant > 0) return make_binary(BinaryOp::kAdd, result, make_int(t, constant));
  if (constant < 0) {
    int64_t magnitude = negate(constant);
    if (magnitude > 0) return make_binary(BinaryOp::kSub, result, make_int(t, magnitude));
    return make_binary(BinaryOp::kAdd, result, make_int(t, constant));
  }
  return result;
}

}  // namespace tessel::arith
