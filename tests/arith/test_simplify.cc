// Golden tests of the simplifier: each case is an input expression and the exact expected result,
// compared by structural equality. Variables: x, y, z, n free int32; i in [0, 64), j in [0, 8),
// d in [9, 20]; a int64; c int8; u uint8; s int16; g float32.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tessel/ir/arith.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/structural.h"

namespace tessel {
namespace {

class SimplifyTest : public ::testing::Test {
 protected:
  SimplifyTest() {
    analyzer.bind_range(i, 0, 64);
    analyzer.bind_range(j, 0, 8);
    analyzer.bind_bound(d, ConstIntBound{9, 20});
  }

  void check(const Expr& input, const Expr& expected) {
    Expr result = analyzer.simplify(input);
    EXPECT_TRUE(structural_equal(result, expected))
        << "  input:    " << input << "\n  result:   " << result << "\n  expected: " << expected;
    EXPECT_EQ(result.dtype(), input.dtype()) << input;
  }
  // The simplifier must hand back the very same node when it has nothing to do.
  void check_unchanged(const Expr& input) {
    Expr result = analyzer.simplify(input);
    EXPECT_TRUE(result.same_as(input)) << "  input:  " << input << "\n  result: " << result;
  }

  Var x{"x"}, y{"y"}, z{"z"}, n{"n"}, i{"i"}, j{"j"}, d{"d"};
  Var a{"a", DataType::Int(64)};
  Var c{"c", DataType::Int(8)};
  Var u{"u", DataType::UInt(8)};
  Var s{"s", DataType::Int(16)};
  Var g{"g", DataType::Float(32)};
  Analyzer analyzer;

  static Expr i8(int64_t v) { return make_int(DataType::Int(8), v); }
  static Expr u8(int64_t v) { return make_int(DataType::UInt(8), v); }
  static Expr i16(int64_t v) { return make_int(DataType::Int(16), v); }
  static Expr i64(int64_t v) { return make_int(DataType::Int(64), v); }
  static Expr f32(double v) { return make_float(DataType::Float(32), v); }
  static Expr div(Expr p, Expr q) { return make_binary(BinaryOp::kDiv, std::move(p), std::move(q)); }
  static Expr mod(Expr p, Expr q) { return make_binary(BinaryOp::kMod, std::move(p), std::move(q)); }
  static Expr bcast(Expr v, int lanes) { return make_broadcast(std::move(v), lanes); }
  static Expr ramp(Expr base, Expr stride, int lanes) { return make_ramp(std::move(base), std::move(stride), lanes); }
};

TEST_F(SimplifyTest, LinearForms) {
  check((x * 4 + y) - x * 4, y);
  check(x + 3 + x - 3, x * 2);
  check(x - x, 0);
  check(x + 0, x);
  check(0 + x, x);
  check(x * 1, x);
  check(x * 0, 0);
  check((x + y) * 3 - y * 3, x * 3);
  check(2 * (x + 1), x * 2 + 2);
  check(x * 3 * 5, x * 15);
  check(y + x, x + y);  // terms sorted by name
  check(0 - x, x * -1);
  check((x - y) + (y - z), x - z);
  check(x * y * 2 + y * x, x * y * 3);
  check(3 + x - 10, x - 7);
  check(a + i64(1) - a, i64(1));
  check(x * 2 - y + 5 - x, x - y + 5);
  check(10 - (x + 10), x * -1);
}

TEST_F(SimplifyTest, ConstantFolding) {
  check(Expr(7) + 5, 12);
  check(div(7, -2), -4);  // floor division
  check(mod(-7, 2), 1);   // floor modulo: sign of the divisor
  check(mod(7, -2), -1);
  check(min(3, 9), 3);
  check(max(Expr(-3), Expr(-9)), -3);
  check(i8(100) + i8(100), i8(-56));  // wraps at 8 bits
  check(u8(3) - u8(5), u8(254));
  check(div(u8(200), u8(7)), u8(28));
  check(Expr(3) < Expr(4), make_bool(true));
  check(make_bool(true) && make_bool(false), make_bool(false));
  check(make_cast(DataType::Int(8), Expr(300)), i8(44));
  check(make_cast(DataType::Float(32), Expr(16777217)), f32(16777216.0));  // rounds to float32
  check(make_cast(DataType::Int(32), f32(-2.75)), -2);                     // truncates toward zero
  check(f32(1.5) + f32(2.25), f32(3.75));
  check(f32(0.1) + f32(0.2), f32(static_cast<double>(static_cast<float>(0.1 + 0.2))));
  check(i16(30000) * i16(3), i16(24464));
  // uint64 immediates hold their bit pattern and operate unsigned.
  DataType u64 = DataType::UInt(64);
  check(div(make_int(u64, -1), make_int(u64, 2)), make_int(u64, INT64_MAX));
  check(make_int(u64, INT64_MIN) > make_int(u64, 1), make_bool(true));
  check(min(make_int(u64, -2), make_int(u64, 7)), make_int(u64, 7));
  Var big("big", u64);
  check_unchanged(min(big, make_int(u64, INT64_MAX)));  // big may exceed 2^63 - 1
}

TEST_F(SimplifyTest, FloorDivisionAndModulo) {
  check(div(i * 8 + j, 8), i);
  check(mod(i * 8 + j, 8), j);
  check(div(x, 1), x);
  check(mod(x, 1), 0);
  check(div(div(x, 4), 2), div(x, 8));
  check(div(x * 4, 8), div(x, 2));
  check(div(x * 8 + 12, 4), x * 2 + 3);
  check(mod(x * 6 + 4, 3), 1);
  check(mod(j, 8), j);
  check(div(j, 8), 0);
  check(mod(i + 64, 64), i);
  check(div(x * 4 + 2, 2), x * 2 + 1);
  check(div(x + 9, 8), div(x + 1, 8) + 1);
  check(mod(mod(x, 16), 8), mod(x, 8));
  check(div(j, d), 0);  // 0 <= j < 8 < d
  check(mod(j, d), j);
  check(div(x * 2 + 1, 4), div(x, 2));
  check(mod(x * 2 + 1, 4), mod(x, 2) * 2 + 1);
  check(div(i, 8) * 8 + mod(i, 8), i);
  check(div(x + 1, 2) * 4 + mod(x + 1, 2) * 2, x * 2 + 2);
  check(div(i * 16 + j * 2, 4), i * 4 + div(j, 2));
  check(mod(u, u8(1)), u8(0));
}

TEST_F(SimplifyTest, MinMax) {
  check(min(x, x), x);
  check(min(x, x + 1), x);
  check(max(x, x - 1), x);
  check(min(i, 64), i);
  check(max(i, -1), i);
  check(min(min(x, 3), 5), min(x, 3));
  check(max(max(x, 3), 5), max(x, 5));
  check(min(5, x), min(x, 5));
  check(max(x, min(x, y)), x);
  check(min(x, max(x, y)), x);
  check(min(min(x, y), y), min(x, y));
  check(max(j, i + 8), i + 8);
  check(min(c, i8(127)), c);  // decided by int8's range
}

TEST_F(SimplifyTest, Select) {
  check(make_select(make_bool(true), x, y), x);
  check(make_select(x < y, z, z), z);
  check(make_select(i < 64, x, y), x);
  Var flag("flag", DataType::Bool());
  check(make_select(!flag, x, y), make_select(flag, y, x));
  check(make_select(!(x < y), x, y), make_select(x >= y, x, y));
  check(make_select(x < y, make_bool(true), make_bool(false)), x < y);
  check(make_select(x < y, make_bool(false), make_bool(true)), x >= y);
}

TEST_F(SimplifyTest, Comparisons) {
  check(i < 64, make_bool(true));
  check(i >= 64, make_bool(false));
  check(x == x, make_bool(true));
  check(x < x, make_bool(false));
  check(x + 1 < y + 1, x < y);
  check(x * 2 < 5, x < 3);
  check(x * 2 <= 5, x <= 2);
  check(x * 2 > 5, x > 2);
  check(x * 2 == 3, make_bool(false));
  check(x * 4 == 8, x == 2);
  check(Expr(5) < x, x > 5);
  check(x - y < 0, x < y);
  check(y > x, x < y);
  check(y == x, x == y);
  check(Expr(10) < x + y, x + y > 10);
  check(x + 3 <= y, x <= y - 3);
  check(x * 6 + 4 >= y * 3 + 1, x * 2 >= y - 1);
  check(j != 8, make_bool(true));
  check(i + j < 71, make_bool(true));
  check(i + j < 70, i + j < 70);
  check(c <= i8(127), make_bool(true));
  check(u >= u8(0), make_bool(true));
  check(u == u, make_bool(true));
}

TEST_F(SimplifyTest, Logic) {
  check(make_bool(true) && (x < y), x < y);
  check((x < y) || make_bool(true), make_bool(true));
  check((x < y) || make_bool(false), x < y);
  check(!!(x < y), x < y);
  check(!(x < y), x >= y);
  check(!(x == y), x != y);
  check((x < y) && !(x < y), make_bool(false));
  check((x < y) || !(x < y), make_bool(true));
  check((x < y) && (x < y), x < y);
  check((x < y) && (y <= x), make_bool(false));
  check((x == y) || (x != y), make_bool(true));
  check(!make_bool(false), make_bool(true));
}

TEST_F(SimplifyTest, FloatsOnlyExactRewrites) {
  check(g * 1.0, g);
  check(g / 1.0, g);
  check(g - 0.0, g);
  check_unchanged(g + 0.0);   // -0 + 0 is +0
  check_unchanged(g * 0.0);   // NaN * 0 is NaN, -1 * 0 is -0
  check_unchanged(g == g);    // false for NaN
  check_unchanged(g - f32(-0.0));
  check_unchanged(min(g, g + 1.0));
}

TEST_F(SimplifyTest, Casts) {
  check(make_cast(DataType::Int(32), make_cast(DataType::Int(64), x)), x);
  check(make_cast(DataType::Int(8), make_cast(DataType::Int(32), c)), c);
  check(make_cast(DataType::Int(32), make_cast(DataType::Int(8), j)), j);  // 0 <= j < 8 fits int8
  check_unchanged(make_cast(DataType::Int(32), make_cast(DataType::Int(8), x)));
  check(make_cast(DataType::Int(64, 4), bcast(x, 4) - bcast(x, 4)), bcast(i64(0), 4));
  check(make_cast(DataType::Int(64, 4), bcast(x, 4)), bcast(make_cast(DataType::Int(64), x), 4));
}

TEST_F(SimplifyTest, Vectors) {
  check(ramp(x, 1, 4) + bcast(y, 4), ramp(x + y, 1, 4));
  check(bcast(x, 4) * bcast(2, 4), bcast(x * 2, 4));
  check(ramp(x, 2, 4) - ramp(y, 2, 4), bcast(x - y, 4));
  check(ramp(x, 1, 4) * bcast(3, 4), ramp(x * 3, 3, 4));
  check(bcast(y, 4) - ramp(x, 1, 4), ramp(y - x, -1, 4));
  check(div(ramp(i * 8, 1, 8), bcast(8, 8)), bcast(i, 8));
  check(mod(ramp(i * 8, 1, 8), bcast(8, 8)), ramp(0, 1, 8));
  check(ramp(x, 0, 4), bcast(x, 4));
  check(ramp(i, 1, 4) < bcast(67, 4), bcast(make_bool(true), 4));
  check(ramp(x, 1, 4) + bcast(0, 4), ramp(x, 1, 4));
  check_unchanged(div(ramp(i * 8 + 5, 1, 8), bcast(8, 8)));  // lanes straddle a multiple of 8
}

TEST_F(SimplifyTest, Let) {
  Var v("v");
  check(make_let(v, 3, v + x), x + 3);
  check(make_let(v, y, v * 2 - y), y);
  check(make_let(v, x + 1, y), y);
  Expr square = make_let(v, x + 1, v * v);
  check_unchanged(square);
  check(make_let(v, j + 1, div(v, 16)), 0);  // the value's bound is known in the body
}

TEST_F(SimplifyTest, NarrowTypesAreNotReassociated) {
  // Only folding and identities exact under wraparound apply below 32 bits and to unsigned types.
  check_unchanged((c + i8(3)) + i8(5));
  check_unchanged(div(s * i16(2), i16(2)));  // s = 20000 wraps in s * 2
  check_unchanged(u8(250) + u);
  check(c - c, i8(0));
  check(u * u8(1), u);
  check(s * i16(0), i16(0));
}

TEST_F(SimplifyTest, UnchangedExpressionsKeepTheirIdentity) {
  for (const Expr& e : std::vector<Expr>{x + y, x * y, div(x, 8), mod(x, 8), min(x, y), x < y, x * 4 + y - 3,
                                         10 - x, make_select(x < y, x, y), x == y && y < z, make_cast(DataType::Int(64), x)}) {
    check_unchanged(e);
  }
}

TEST(Analyzer, ProvesAndBinds) {
  Var i("i"), x("x"), v("v");
  Analyzer analyzer;
  analyzer.bind_range(i, 0, 64);
  EXPECT_TRUE(analyzer.can_prove(i < 64));
  EXPECT_TRUE(analyzer.can_prove(i * 2 + 1 <= 127));
  EXPECT_FALSE(analyzer.can_prove(i < 63));
  EXPECT_FALSE(analyzer.can_prove(x < 64));
  EXPECT_TRUE(analyzer.can_prove(x * 2 != x * 2 + 1));
  analyzer.bind_value(v, 5);
  EXPECT_TRUE(structural_equal(analyzer.simplify(v + x), x + 5));
  // A later binding replaces the earlier one.
  analyzer.bind_range(i, 0, 8);
  EXPECT_TRUE(analyzer.can_prove(i < 8));
  analyzer.bind_bound(x, ConstIntBound{3, 3});
  EXPECT_TRUE(structural_equal(analyzer.simplify(x + i - i), Expr(3)));
}

TEST(Analyzer, FreeSimplifyKnowsNoRanges) {
  Var i("i");
  Expr e = i < 64;
  EXPECT_TRUE(simplify(e).same_as(e));
  EXPECT_TRUE(structural_equal(simplify(i * 2 - i), i));
}

}  // namespace
}  // namespace tessel
