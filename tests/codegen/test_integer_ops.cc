// Integer semantics of the LLVM code generator, bit-exact against the interpreter: floor
// division and modulo on negative operands (constant, power-of-two and variable divisors, scalar
// and vector), wrapping int8/uint8/int16 arithmetic, casts between widths, signedness and float,
// min/max, comparisons, select and boolean buffers.
#include <gtest/gtest.h>

#include <functional>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/stmt.h"

namespace tessel::codegen {
namespace {

using testing::AlignedArray;
using testing::bitwise_equal;
using testing::fill_random;

constexpr int kN = 256;

// out[i] = fn(a[i], b[i]) for i < kN: a scalar loop, or vector IR of `lanes` lanes.
PrimFunc make_binary_kernel(const std::string& name, DataType in, DataType out_type,
                            const std::function<Expr(Expr, Expr)>& fn, int lanes = 1) {
  Buffer a = make_buffer("A", in, {kN}), b = make_buffer("B", in, {kN}), out = make_buffer("Out", out_type, {kN});
  Var i("i");
  Stmt body;
  if (lanes == 1) {
    body = make_for(i, 0, kN, ForKind::kSerial, make_store(out, fn(a({i}), b({i})), {i}));
  } else {
    Expr index = make_ramp(i * lanes, 1, lanes);
    body = make_for(i, 0, kN / lanes, ForKind::kSerial,
                    make_store(out, fn(make_load(a, {index}), make_load(b, {index})), {index}));
  }
  return make_prim_func(name, {Param::of(a), Param::of(b), Param::of(out)}, body);
}

template <typename In, typename Out>
void expect_bit_exact(const PrimFunc& f, const AlignedArray<In>& a, const AlignedArray<In>& b) {
  AlignedArray<Out> jit_out(kN), ref_out(kN);
  JitModule module = JitModule::compile({f});
  AlignedArray<In> a_copy(a), b_copy(b);
  module.get_function(f->name).call({a_copy.data(), b_copy.data(), jit_out.data()});
  interpret(f, {a_copy.data(), b_copy.data(), ref_out.data()});
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(jit_out[i], ref_out[i]) << f->name << " element " << i << ": a = " << +a[i] << ", b = " << +b[i];
  }
}

// Divisors that are never zero: values in [-20, -1] or [1, 20].
void make_nonzero(AlignedArray<int32_t>& b) {
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] == 0) b[i] = (i % 2) ? 7 : -3;
  }
}

TEST(CodegenIntegerOps, FloorDivisionAndModuloAgreeWithInterpreter) {
  const DataType i32 = DataType::Int(32);
  AlignedArray<int32_t> a(kN), b(kN);
  fill_random(a, 11, -1000, 1000);
  fill_random(b, 12, -20, 20);
  make_nonzero(b);
  for (int lanes : {1, 8, 16}) {
    std::string suffix = "_";
    suffix += std::to_string(lanes);
    expect_bit_exact<int32_t, int32_t>(make_binary_kernel("div_var" + suffix, i32, i32, [](Expr x, Expr y) { return x / y; }, lanes), a, b);
    expect_bit_exact<int32_t, int32_t>(make_binary_kernel("mod_var" + suffix, i32, i32, [](Expr x, Expr y) { return x % y; }, lanes), a, b);
    for (int divisor : {1, 3, 7, 8, 64, -4, -7}) {
      const std::string tag = suffix + "_" + std::to_string(divisor < 0 ? 100 - divisor : divisor);
      expect_bit_exact<int32_t, int32_t>(
          make_binary_kernel("div_const" + tag, i32, i32, [&](Expr x, Expr) { return x / make_int(i32, divisor); }, lanes), a, b);
      expect_bit_exact<int32_t, int32_t>(
          make_binary_kernel("mod_const" + tag, i32, i32, [&](Expr x, Expr) { return x % make_int(i32, divisor); }, lanes), a, b);
    }
  }
}

TEST(CodegenIntegerOps, KnownFloorDivisionValues) {
  // Independent of the interpreter: Python's // and % on a few negative numbers.
  const DataType i32 = DataType::Int(32);
  AlignedArray<int32_t> a(kN), b(kN), q(kN), r(kN);
  const int cases[][4] = {{-7, 2, -4, 1}, {7, -2, -4, -1}, {-7, -2, 3, -1}, {7, 2, 3, 1}, {-8, 4, -2, 0}, {-1, 8, -1, 7}};
  for (int i = 0; i < kN; ++i) {
    a[i] = cases[i % 6][0];
    b[i] = cases[i % 6][1];
  }
  JitModule module = JitModule::compile(
      {make_binary_kernel("div", i32, i32, [](Expr x, Expr y) { return x / y; }, 16),
       make_binary_kernel("mod", i32, i32, [](Expr x, Expr y) { return x % y; })});
  module.get_function("div").call({a.data(), b.data(), q.data()});
  module.get_function("mod").call({a.data(), b.data(), r.data()});
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(q[i], cases[i % 6][2]) << a[i] << " / " << b[i];
    ASSERT_EQ(r[i], cases[i % 6][3]) << a[i] << " % " << b[i];
  }
}

TEST(CodegenIntegerOps, Int8AndUInt8Wrap) {
  const DataType i8 = DataType::Int(8), u8 = DataType::UInt(8);
  AlignedArray<int8_t> a(kN), b(kN);
  fill_random(a, 21, -128, 127);
  fill_random(b, 22, -128, 127);
  auto arithmetic = [](Expr x, Expr y) { return x * y + x - y * make_const(y.dtype(), 3); };
  for (int lanes : {1, 16}) {
    expect_bit_exact<int8_t, int8_t>(make_binary_kernel("i8_arith_" + std::to_string(lanes), i8, i8, arithmetic, lanes), a, b);
  }
  AlignedArray<uint8_t> ua(kN), ub(kN);
  fill_random(ua, 23, 0, 255);
  fill_random(ub, 24, 1, 255);
  expect_bit_exact<uint8_t, uint8_t>(make_binary_kernel("u8_arith", u8, u8, arithmetic, 16), ua, ub);
  expect_bit_exact<uint8_t, uint8_t>(make_binary_kernel("u8_div", u8, u8, [](Expr x, Expr y) { return x / y + x % y; }), ua, ub);
  expect_bit_exact<uint8_t, uint8_t>(make_binary_kernel("u8_minmax", u8, u8, [](Expr x, Expr y) { return min(x, y) - max(x, y); }, 16), ua, ub);
}

TEST(CodegenIntegerOps, CastsBetweenWidthsAndSignedness) {
  const DataType i16 = DataType::Int(16), i32 = DataType::Int(32), u8 = DataType::UInt(8), i64 = DataType::Int(64);
  AlignedArray<int16_t> a(kN), b(kN);
  fill_random(a, 31, -32768, 32767);
  fill_random(b, 32, -32768, 32767);
  // Truncation, sign and zero extension, round trips through unsigned.
  auto casts = [&](Expr x, Expr y) {
    const int lanes = x.dtype().lanes();
    Expr narrow = make_cast(u8.with_lanes(lanes), x);  // wraps modulo 256
    Expr widened = make_cast(i32.with_lanes(lanes), narrow) + make_cast(i32.with_lanes(lanes), y);  // zext + sext
    Expr via64 = make_cast(i64.with_lanes(lanes), widened) * make_const(i64.with_lanes(lanes), 70000);
    return make_cast(i16.with_lanes(lanes), make_cast(i32.with_lanes(lanes), via64 / make_const(i64.with_lanes(lanes), 3)));
  };
  for (int lanes : {1, 8}) {
    expect_bit_exact<int16_t, int16_t>(make_binary_kernel("casts_" + std::to_string(lanes), i16, i16, casts, lanes), a, b);
  }
}

TEST(CodegenIntegerOps, FloatIntConversions) {
  const DataType f32 = DataType::Float(32), i32 = DataType::Int(32);
  AlignedArray<float> a(kN), b(kN);
  fill_random(a, 41, -1e6, 1e6);
  fill_random(b, 42, -100, 100);
  // float -> int truncates toward zero; int -> float rounds to nearest.
  auto conversions = [&](Expr x, Expr y) {
    const int lanes = x.dtype().lanes();
    Expr truncated = make_cast(i32.with_lanes(lanes), x) + make_cast(i32.with_lanes(lanes), y);
    return make_cast(f32.with_lanes(lanes), truncated * make_const(i32.with_lanes(lanes), 3)) +
           make_cast(f32.with_lanes(lanes), make_cast(DataType::Bool(lanes), y));
  };
  for (int lanes : {1, 16}) {
    expect_bit_exact<float, float>(make_binary_kernel("float_int_" + std::to_string(lanes), f32, f32, conversions, lanes), a, b);
  }
}

TEST(CodegenIntegerOps, ComparisonsSelectAndLogic) {
  const DataType i32 = DataType::Int(32);
  AlignedArray<int32_t> a(kN), b(kN);
  fill_random(a, 51, -5, 5);
  fill_random(b, 52, -5, 5);
  auto logic = [&](Expr x, Expr y) {
    Expr c1 = x < y, c2 = x >= make_const(x.dtype(), 0), c3 = x == y, c4 = x != make_const(x.dtype(), 2);
    Expr chosen = make_select((c1 && c2) || !c4, x * make_const(x.dtype(), 10), y - x);
    return make_select(c3, min(x, y), max(chosen, make_const(x.dtype(), -7)));
  };
  for (int lanes : {1, 16}) {
    expect_bit_exact<int32_t, int32_t>(make_binary_kernel("logic_" + std::to_string(lanes), i32, i32, logic, lanes), a, b);
  }
  // The same on unsigned values, where the comparisons must be unsigned.
  const DataType u32 = DataType::UInt(32);
  AlignedArray<uint32_t> ua(kN), ub(kN);
  fill_random(ua, 53, 0, 4294967295.0);
  fill_random(ub, 54, 0, 4294967295.0);
  expect_bit_exact<uint32_t, uint32_t>(make_binary_kernel("logic_unsigned", u32, u32, logic, 16), ua, ub);
}

TEST(CodegenIntegerOps, BoolBuffersAreBytes) {
  const DataType i32 = DataType::Int(32);
  Buffer a = make_buffer("A", i32, {kN}), flags = make_buffer("Flags", DataType::Bool(), {kN}),
         out = make_buffer("Out", i32, {kN});
  Var i("i"), j("j");
  Stmt write = make_for(i, 0, kN, ForKind::kSerial, make_store(flags, a({i}) % 3 == 0, {i}));
  Expr index = make_ramp(j * 16, 1, 16);
  Stmt read = make_for(j, 0, kN / 16, ForKind::kSerial,
                       make_store(out, make_select(make_load(flags, {index}), make_load(a, {index}), make_const(i32.with_lanes(16), -1)), {index}));
  PrimFunc f = make_prim_func("bools", {Param::of(a), Param::of(flags), Param::of(out)}, make_seq({write, read}));
  AlignedArray<int32_t> values(kN), jit_out(kN), ref_out(kN);
  AlignedArray<uint8_t> jit_flags(kN), ref_flags(kN);
  fill_random(values, 61, -100, 100);
  JitModule::compile({f}).get_function("bools").call({values.data(), jit_flags.data(), jit_out.data()});
  interpret(f, {values.data(), ref_flags.data(), ref_out.data()});
  EXPECT_TRUE(bitwise_equal(jit_flags, ref_flags));
  EXPECT_TRUE(bitwise_equal(jit_out, ref_out));
  for (int k = 0; k < kN; ++k) ASSERT_TRUE(jit_flags[k] == 0 || jit_flags[k] == 1);
}

TEST(CodegenIntegerOps, IntegerAbsWrapsAtMinimum) {
  const DataType i8 = DataType::Int(8);
  AlignedArray<int8_t> a(kN), b(kN);
  fill_random(a, 71, -128, 127);
  a[0] = -128;
  expect_bit_exact<int8_t, int8_t>(make_binary_kernel("abs_i8", i8, i8, [](Expr x, Expr) { return make_call(Intrinsic::k_fabs, {x}); }, 16), a, b);
}

}  // namespace
}  // namespace tessel::codegen
