// Bound analysis (Analyzer::const_int_bound): exact intervals for each operator, infinities,
// wraparound of narrow and int32 types, and facts from bind_range / bind_bound / bind_value.
#include <gtest/gtest.h>

#include "tessel/ir/arith.h"
#include "tessel/ir/buffer.h"
#include "tessel/ir/printer.h"

namespace tessel {
namespace {

constexpr int64_t kNegInf = ConstIntBound::kNegInf;
constexpr int64_t kPosInf = ConstIntBound::kPosInf;
constexpr int64_t kInt32Min = -(int64_t{1} << 31), kInt32Max = (int64_t{1} << 31) - 1;

class ConstIntBoundTest : public ::testing::Test {
 protected:
  ConstIntBoundTest() {
    analyzer.bind_range(i, 0, 64);
    analyzer.bind_range(j, -4, 8);                 // [-4, 3]
    analyzer.bind_bound(d, ConstIntBound{3, 7});
    analyzer.bind_bound(m, ConstIntBound{-5, -2});
    analyzer.bind_bound(w, ConstIntBound{-3, 4});  // spans zero
    analyzer.bind_bound(p, ConstIntBound{0, kPosInf});
  }

  void expect(const Expr& e, int64_t lo, int64_t hi) {
    ConstIntBound b = analyzer.const_int_bound(e);
    EXPECT_EQ(b.min, lo) << e;
    EXPECT_EQ(b.max, hi) << e;
  }

  static Expr div(Expr a, Expr b) { return std::move(a) / std::move(b); }  // floor division
  static Expr mod(Expr a, Expr b) { return std::move(a) % std::move(b); }  // floor modulo

  Var i{"i"}, j{"j"}, d{"d"}, m{"m"}, w{"w"}, x{"x"};
  Var p{"p", DataType::Int(64)}, q{"q", DataType::Int(64)};
  Analyzer analyzer;
};

TEST_F(ConstIntBoundTest, LeavesAndTypeRanges) {
  expect(Expr(7), 7, 7);
  expect(make_int(DataType::UInt(8), 200), 200, 200);
  expect(i, 0, 63);
  expect(j, -4, 3);
  expect(x, kInt32Min, kInt32Max);  // unbound: the type's range
  expect(q, kNegInf, kPosInf);      // int64's range is the unbounded one
  expect(Var("b", DataType::Int(8)), -128, 127);
  expect(Var("u", DataType::UInt(16)), 0, 65535);
  expect(Var("flag", DataType::Bool()), 0, 1);
  expect(Var("big", DataType::UInt(64)), 0, kPosInf);
  expect(make_int(DataType::UInt(64), -1), 0, kPosInf);  // 2^64 - 1 is beyond int64
  expect(make_int(DataType::UInt(64), kPosInf), 0, kPosInf);
  expect(make_int(DataType::Int(64), kPosInf), kPosInf, kPosInf);  // int64's own maximum
  ConstIntBound f = analyzer.const_int_bound(Var("f", DataType::Float(32)));
  EXPECT_EQ(f.min, kNegInf);
  EXPECT_EQ(f.max, kPosInf);
}

TEST_F(ConstIntBoundTest, AddSubMul) {
  expect(i + j, -4, 66);
  expect(i - j, -3, 67);
  expect(i * j, -252, 189);
  expect(j * j, -12, 16);
  expect(i * -2 + 1, -125, 1);
  expect(p + 1, 1, kPosInf);  // infinities absorb finite values
  expect(p * 0, 0, 0);        // an unbounded factor times zero is zero
  expect(p * -3, kNegInf, 0);
  expect(p - p, kNegInf, kPosInf);
  // int32 results that could leave the type may have wrapped: the whole range.
  expect(x + 1, kInt32Min, kInt32Max);
  expect(i * 33554432, 0, 63 * int64_t{33554432});  // 2^25 * 63 < 2^31
  expect(i * 67108864, kInt32Min, kInt32Max);         // 2^26 * 63 >= 2^31
}

TEST_F(ConstIntBoundTest, NarrowTypesWrap) {
  Var b("b", DataType::Int(8)), u("u", DataType::UInt(8));
  analyzer.bind_bound(b, ConstIntBound{0, 100});
  analyzer.bind_bound(u, ConstIntBound{10, 20});
  expect(b + make_int(DataType::Int(8), 27), 27, 127);
  expect(b + make_int(DataType::Int(8), 28), -128, 127);  // 100 + 28 wraps
  expect(u - make_int(DataType::UInt(8), 10), 0, 10);
  expect(u - make_int(DataType::UInt(8), 11), 0, 255);    // 10 - 11 wraps to 255
  expect(u * make_int(DataType::UInt(8), 12), 120, 240);
  expect(u * make_int(DataType::UInt(8), 13), 0, 255);
}

TEST_F(ConstIntBoundTest, FloorDivision) {
  expect(div(i, 8), 0, 7);
  expect(div(j, 2), -2, 1);   // floor(-4 / 2), floor(3 / 2)
  expect(div(j, 3), -2, 1);   // floor(-4 / 3) = -2
  expect(div(j, -2), -2, 2);  // floor(3 / -2) = -2, floor(-4 / -2) = 2
  expect(div(i, d), 0, 21);   // 63 / 3
  expect(div(j, d), -2, 1);   // -4 / 3 -> -2, 3 / 3 -> 1
  expect(div(i, m), -32, 0);  // 63 / -2 -> -32 (floor of -31.5)
  expect(div(j, w), -4, 4);   // divisor spans zero: |quotient| <= |dividend|
  expect(div(p, 4), 0, kPosInf);
  expect(div(Expr(-7), Expr(2)), -4, -4);
}

TEST_F(ConstIntBoundTest, FloorModulo) {
  expect(mod(i, 8), 0, 7);
  expect(mod(j, 8), 0, 7);    // -4 % 8 = 4: the result has the divisor's sign
  expect(mod(i, 64), 0, 63);
  expect(mod(i, 100), 0, 63); // already below the divisor
  expect(mod(i + 64, 64), 0, 63);
  expect(mod(i + 130, 128), 2, 65);   // [130, 193] lies in one period
  expect(mod(i + 128, 128), 0, 63);  // one period: exact
  expect(mod(i, d), 0, 6);
  expect(mod(i, m), -4, 0);   // negative divisor: (m, 0]
  expect(mod(j, w), -2, 3);   // divisor spans zero
  expect(mod(p, 10), 0, 9);
}

TEST_F(ConstIntBoundTest, MinMaxSelectCast) {
  expect(min(i, j), -4, 3);
  expect(max(i, j), 0, 63);
  expect(min(i, 10), 0, 10);
  expect(make_select(x < 5, i, j), -4, 63);            // union of the branches
  expect(make_select(i < 64, i, Expr(1000)), 0, 63);   // the condition is decided
  expect(make_cast(DataType::Int(8), i), 0, 63);       // fits: kept
  expect(make_cast(DataType::Int(8), i * 3), -128, 127);  // may wrap
  expect(make_cast(DataType::UInt(8), j), 0, 255);     // negative values wrap
  expect(make_cast(DataType::Int(64), x), kInt32Min, kInt32Max);
  expect(make_cast(DataType::Int(32), p), kInt32Min, kInt32Max);
  expect(make_cast(DataType::Bool(), i), 0, 1);
  expect(make_cast(DataType::Int(32), make_float(DataType::Float(32), 2.5)), kInt32Min, kInt32Max);
  expect(make_cast(DataType::Int(64), Var("big", DataType::UInt(64))), kNegInf, kPosInf);
}

TEST_F(ConstIntBoundTest, BoolsLoadsLetsVectors) {
  expect(i < 64, 1, 1);
  expect(i < 63, 0, 1);
  expect(i > 70, 0, 0);
  expect(i == 100, 0, 0);
  expect(x < 3, 0, 1);
  expect((i < 64) && (x < 3), 0, 1);
  expect((i < 64) || (x < 3), 1, 1);
  expect(!(i < 64), 0, 0);
  Buffer buffer = make_buffer("A", DataType::Int(16), {64});
  expect(buffer({i}), -32768, 32767);
  Var v("v");
  expect(make_let(v, i * 2, v + 1), 1, 127);
  expect(make_ramp(i * 4, 1, 4), 0, 255);
  expect(make_ramp(Expr(10), Expr(-3), 4), 1, 10);
  expect(make_broadcast(j, 8), -4, 3);
}

TEST_F(ConstIntBoundTest, FactsFromBindings) {
  Var v("v"), k("k");
  analyzer.bind_value(v, i + 1);
  expect(v, 1, 64);
  analyzer.bind_range(k, i, 10);  // k in [i, i + 10): at most 63 + 9
  expect(k, 0, 72);
  analyzer.bind_range(k, 0, 4);   // rebinding replaces
  expect(k, 0, 3);
  Var empty("empty");
  analyzer.bind_range(empty, 0, 0);  // an empty range binds nothing
  expect(empty, kInt32Min, kInt32Max);
}

}  // namespace
}  // namespace tessel
