// Differential tests of the simplifier and the bound analysis against the reference interpreter:
// thousands of random integer expressions (int8 to int64, uint8, uint32, int32x4, bool), each
// evaluated before and after simplification on random bindings within the variables' ranges.
// Bindings under which the original's int32/int64 arithmetic overflows are not compared: the
// simplifier assumes index arithmetic does not overflow (see src/arith/simplifier.cc).
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>
#include <string>

#include "arith/random_expr.h"
#include "tessel/ir/arith.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/structural.h"

namespace tessel {
namespace {

using arith_test::ExactEvaluator;
using arith_test::RandomExprGenerator;

VarBindings to_bindings(const RandomExprGenerator& gen, const std::unordered_map<const VarNode*, int64_t>& values) {
  VarBindings bindings;
  for (const arith_test::RangedVar& v : gen.vars()) bindings[v.var.get()] = Value::from_int(v.var.dtype(), values.at(v.var.get()));
  return bindings;
}

std::string describe(const RandomExprGenerator& gen, const std::unordered_map<const VarNode*, int64_t>& values) {
  std::ostringstream os;
  for (const arith_test::RangedVar& v : gen.vars()) os << v.var.name() << "=" << values.at(v.var.get()) << " ";
  return os.str();
}

// Binds every generator variable in the analyzer: half as loop ranges, half as bounds.
void bind_all(const RandomExprGenerator& gen, Analyzer* analyzer) {
  bool as_range = true;
  for (const arith_test::RangedVar& v : gen.vars()) {
    if (as_range && v.var.dtype().is_int()) {
      analyzer->bind_range(v.var, make_int(v.var.dtype(), v.lo), make_int(v.var.dtype(), v.hi - v.lo + 1));
    } else {
      analyzer->bind_bound(v.var, ConstIntBound{v.lo, v.hi});
    }
    as_range = !as_range;
  }
}

DataType pick_type(RandomExprGenerator& gen, int n) {
  if (n % 9 == 0) return DataType::Int(32, 4);
  if (n % 7 == 0) return DataType::Bool();
  return gen.random_scalar_type();
}

constexpr int kExpressions = 5000;
constexpr int kBindingsPerExpression = 6;

TEST(SimplifyRandom, PreservesValueUnderEveryBinding) {
  RandomExprGenerator gen(20240611);
  Analyzer analyzer;
  bind_all(gen, &analyzer);
  int compared = 0, skipped = 0, changed = 0;
  for (int n = 0; n < kExpressions; ++n) {
    DataType t = pick_type(gen, n);
    Expr e = gen.gen(t, static_cast<int>(gen.uniform(2, 5)));
    Expr s = analyzer.simplify(e);
    ASSERT_EQ(s.dtype(), e.dtype()) << e << " simplified to " << s;
    if (!s.same_as(e)) ++changed;
    for (int k = 0; k < kBindingsPerExpression; ++k) {
      auto values = gen.random_binding();
      ExactEvaluator exact(values);
      std::vector<ExactEvaluator::Wide> expected = exact.eval(e);
      if (exact.index_overflow()) {
        ++skipped;
        continue;
      }
      VarBindings bindings = to_bindings(gen, values);
      Value before = evaluate(e, bindings), after = evaluate(s, bindings);
      for (int lane = 0; lane < t.lanes(); ++lane) {
        // The exact evaluator is a second, independent oracle for the original expression.
        ASSERT_EQ(before.as_int(lane), static_cast<int64_t>(expected[lane])) << e << " with " << describe(gen, values);
        ASSERT_EQ(before.as_int(lane), after.as_int(lane))
            << e << "\n  simplified to " << s << "\n  lane " << lane << " with " << describe(gen, values);
      }
      ++compared;
    }
  }
  // The comparison must be meaningful: nearly all bindings compared, and most expressions rewritten.
  EXPECT_GT(compared, kExpressions * kBindingsPerExpression * 9 / 10);
  EXPECT_GT(changed, kExpressions / 2);
  std::cout << "compared " << compared << " bindings, skipped " << skipped << " (index overflow); " << changed
            << " of " << kExpressions << " expressions changed\n";
}

TEST(SimplifyRandom, WithoutRangesPreservesValue) {
  // No facts: every rewrite must hold for all values of the variables' types (vars still take
  // small values here, so index arithmetic does not overflow).
  RandomExprGenerator gen(777);
  int compared = 0;
  for (int n = 0; n < kExpressions / 2; ++n) {
    DataType t = pick_type(gen, n);
    Expr e = gen.gen(t, static_cast<int>(gen.uniform(2, 4)));
    Expr s = simplify(e);
    for (int k = 0; k < 4; ++k) {
      auto values = gen.random_binding();
      ExactEvaluator exact(values);
      exact.eval(e);
      if (exact.index_overflow()) continue;
      VarBindings bindings = to_bindings(gen, values);
      Value before = evaluate(e, bindings), after = evaluate(s, bindings);
      for (int lane = 0; lane < t.lanes(); ++lane) {
        ASSERT_EQ(before.as_int(lane), after.as_int(lane))
            << e << "\n  simplified to " << s << "\n  with " << describe(gen, values);
      }
      ++compared;
    }
  }
  EXPECT_GT(compared, kExpressions * 2 * 9 / 10);
}

TEST(SimplifyRandom, IsIdempotent) {
  RandomExprGenerator gen(4242);
  Analyzer analyzer;
  bind_all(gen, &analyzer);
  int not_fixed = 0, identity_lost = 0;
  for (int n = 0; n < kExpressions; ++n) {
    Expr e = gen.gen(pick_type(gen, n), static_cast<int>(gen.uniform(2, 5)));
    Expr once = analyzer.simplify(e);
    Expr twice = analyzer.simplify(once);
    if (!structural_equal(once, twice)) {
      if (not_fixed < 5) ADD_FAILURE() << "not a fixed point: " << e << "\n  once:  " << once << "\n  twice: " << twice;
      ++not_fixed;
    } else if (!twice.same_as(once)) {
      ++identity_lost;  // structurally unchanged but a new handle: would report a spurious change
    }
  }
  EXPECT_EQ(not_fixed, 0);
  EXPECT_EQ(identity_lost, 0);
}

TEST(ConstIntBoundRandom, ContainsEveryEvaluatedValue) {
  RandomExprGenerator gen(99);
  Analyzer analyzer;
  bind_all(gen, &analyzer);
  int checked = 0, finite = 0;
  for (int n = 0; n < kExpressions; ++n) {
    DataType t = pick_type(gen, n);
    Expr e = gen.gen(t, static_cast<int>(gen.uniform(1, 5)));
    ConstIntBound bound = analyzer.const_int_bound(e);
    Expr s = analyzer.simplify(e);
    ConstIntBound simplified_bound = analyzer.const_int_bound(s);
    ASSERT_LE(bound.min, bound.max) << e;
    // Only int64 overflow is excluded: the analysis accounts for wraparound in every narrower type.
    for (int k = 0; k < kBindingsPerExpression; ++k) {
      auto values = gen.random_binding();
      ExactEvaluator exact(values);
      exact.eval(e);
      if (exact.int64_overflow()) continue;
      VarBindings bindings = to_bindings(gen, values);
      Value v = evaluate(e, bindings);
      for (int lane = 0; lane < t.lanes(); ++lane) {
        int64_t value = v.as_int(lane);
        ASSERT_TRUE(bound.min <= value && value <= bound.max)
            << e << " = " << value << " outside [" << bound.min << ", " << bound.max << "] with " << describe(gen, values);
        if (!exact.index_overflow()) {
          ASSERT_TRUE(simplified_bound.min <= value && value <= simplified_bound.max)
              << s << " = " << value << " outside [" << simplified_bound.min << ", " << simplified_bound.max << "]";
        }
      }
      ++checked;
    }
    if (bound.min > ConstIntBound::kNegInf && bound.max < ConstIntBound::kPosInf &&
        bound.max - bound.min < (int64_t{1} << 20)) {
      ++finite;
    }
  }
  EXPECT_GT(checked, kExpressions * kBindingsPerExpression * 9 / 10);
  EXPECT_GT(finite, kExpressions / 2);  // the analysis is useful, not just "everything"
}

TEST(SimplifyRandom, CanProveIsSound) {
  RandomExprGenerator gen(31337);
  Analyzer analyzer;
  bind_all(gen, &analyzer);
  int proved = 0;
  for (int n = 0; n < kExpressions; ++n) {
    Expr condition = gen.gen_bool(static_cast<int>(gen.uniform(1, 3)));
    if (!analyzer.can_prove(condition)) continue;
    ++proved;
    for (int k = 0; k < 10; ++k) {
      auto values = gen.random_binding();
      ExactEvaluator exact(values);
      exact.eval(condition);
      if (exact.index_overflow()) continue;
      ASSERT_EQ(evaluate(condition, to_bindings(gen, values)).as_int(), 1)
          << "proved " << condition << " but it is false with " << describe(gen, values);
    }
  }
  EXPECT_GT(proved, 50);
}

}  // namespace
}  // namespace tessel
