// Arithmetic analysis and simplification of loop-IR integer expressions.
//   * ConstIntBound: an interval [min, max] (inclusive, with +-infinity) for an integer expression,
//     given bounds of the free variables.
//   * Analyzer: binds variable ranges (loop variables), proves conditions, and simplifies.
// The simplifier does constant folding, canonical linear forms (sum of coefficient * term,
// terms sorted deterministically), floor div/mod under known bounds, min/max, select and
// comparison rewriting. It never changes the value of an expression for any binding of the
// variables that satisfies the bound ranges.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <unordered_map>

#include "tessel/ir/stmt.h"

namespace tessel {

struct ConstIntBound {
  static constexpr int64_t kPosInf = std::numeric_limits<int64_t>::max();
  static constexpr int64_t kNegInf = std::numeric_limits<int64_t>::min();
  int64_t min = kNegInf;  // kNegInf means unbounded below
  int64_t max = kPosInf;  // kPosInf means unbounded above
  bool is_const() const { return min == max && min != kNegInf && max != kPosInf; }
  bool operator==(const ConstIntBound&) const = default;
};

class Analyzer {
 public:
  Analyzer();
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  // Declares that var lies in [min, min + extent) (for loop variables) or in [lo, hi].
  void bind_range(const Var& var, const Expr& min, const Expr& extent);
  void bind_bound(const Var& var, ConstIntBound bound);
  // Binds var to a value (e.g. from a Let); the simplifier may substitute it when cheap.
  void bind_value(const Var& var, const Expr& value);

  ConstIntBound const_int_bound(const Expr& e);
  bool can_prove(const Expr& condition);  // true only when condition holds for every binding
  Expr simplify(const Expr& e);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Simplifies without any variable ranges.
Expr simplify(const Expr& e);

}  // namespace tessel
