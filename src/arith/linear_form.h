// Canonical linear forms of scalar integer expressions: constant + sum(coefficient * term), where
// a term is any expression that is not itself a sum, difference or product with a constant.
// Coefficients and the constant are kept wrapped to the expression type. Addition, subtraction
// and multiplication are exact in two's-complement arithmetic (a ring), so decomposing and
// rebuilding an expression never changes its value, even when intermediate results wrap.
#pragma once

#include <cstdint>
#include <vector>

#include "tessel/ir/expr.h"

namespace tessel::arith {

struct LinearTerm {
  Expr term;
  int64_t coeff;
};

class LinearForm {
 public:
  explicit LinearForm(DataType dtype) : dtype_(dtype) {}

  DataType dtype() const { return dtype_; }
  const std::vector<LinearTerm>& terms() const { return terms_; }
  int64_t constant() const { return constant_; }
  bool is_constant() const { return terms_.empty(); }

  void add_constant(int64_t value);
  void set_constant(int64_t value);
  void add_term(const Expr& term, int64_t coeff);
  // this += other * scale.
  void add(const LinearForm& other, int64_t scale);
  void scale(int64_t factor);
  // Sorts terms by expr_compare, merges equal terms, drops zero coefficients and folds
  // (x / c) * c + x % c into x. Must be called before from_linear or before reading terms().
  void normalize();

 private:
  bool fuse_div_mod_pair();
  int64_t wrap(__int128 v) const;

  DataType dtype_;
  std::vector<LinearTerm> terms_;
  int64_t constant_ = 0;
};

// Decomposes e (scalar integer) into a linear form; e's Add/Sub/Mul-by-constant structure is
// flattened, everything else becomes a term. The result is normalized.
LinearForm to_linear(const Expr& e);
// Rebuilds an expression: positive terms first in term order, then negative terms as
// subtractions, then the constant: x*4 + y - z*2 + 3. The form must be normalized.
Expr from_linear(const LinearForm& form);

}  // namespace tessel::arith
