// Analyzer and simplify(): the public face of the simplification engine in simplifier.h.
#include "arith/simplifier.h"
#include "tessel/ir/arith.h"
#include "tessel/ir/error.h"

namespace tessel {

struct Analyzer::Impl {
  arith::Simplifier simplifier;
};

Analyzer::Analyzer() : impl_(std::make_unique<Impl>()) {}
Analyzer::~Analyzer() = default;

void Analyzer::bind_range(const Var& var, const Expr& min, const Expr& extent) {
  internal_check(var.defined() && min.defined() && extent.defined()) << "bind_range with an undefined argument";
  arith::VarFact fact;
  // An empty range binds nothing: no value of var is ever observed, any fact would be vacuous.
  if (impl_->simplifier.range_fact(var, min, extent, &fact)) impl_->simplifier.set_fact(std::move(fact));
}

void Analyzer::bind_bound(const Var& var, ConstIntBound bound) {
  internal_check(var.defined() && bound.min <= bound.max) << "bind_bound of an empty range";
  impl_->simplifier.set_fact(arith::VarFact{var, bound, Expr()});
}

void Analyzer::bind_value(const Var& var, const Expr& value) {
  internal_check(var.defined() && value.defined() && var.dtype() == value.dtype())
      << "bind_value of " << (var.defined() ? var.name() : "an undefined variable") << " to a value of another type";
  ConstIntBound bound = value.dtype().is_integral() ? impl_->simplifier.bound(value) : ConstIntBound{};
  impl_->simplifier.set_fact(arith::VarFact{var, bound, value});
}

ConstIntBound Analyzer::const_int_bound(const Expr& e) { return impl_->simplifier.bound(e); }

bool Analyzer::can_prove(const Expr& condition) { return impl_->simplifier.can_prove(condition); }

Expr Analyzer::simplify(const Expr& e) { return impl_->simplifier.simplify(e); }

Expr simplify(const Expr& e) {
  Analyzer analyzer;
  return analyzer.simplify(e);
}

}  // namespace tessel
