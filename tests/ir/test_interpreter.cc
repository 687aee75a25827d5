// Tests of the reference interpreter: every node kind against hand-computed or independently
// computed C++ results (integer wrapping, floor division, float rounding, narrow float formats,
// vector memory access, whole kernels) and the errors it reports.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "tessel/ir/buffer.h"
#include "tessel/ir/error.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/stmt.h"

namespace tessel {
namespace {

const DataType kI8 = DataType::Int(8), kI32 = DataType::Int(32), kI64 = DataType::Int(64);
const DataType kU32 = DataType::UInt(32), kF32 = DataType::Float(32), kF64 = DataType::Float(64);
const DataType kF16 = DataType::Float(16), kBF16 = DataType::BFloat16();

Value eval_binary(BinaryOp op, DataType t, int64_t a, int64_t b) {
  Var x("x", t), y("y", t);
  return evaluate(make_binary(op, x, y), {{x.get(), Value::from_int(t, a)}, {y.get(), Value::from_int(t, b)}});
}

double eval_float_binary(BinaryOp op, DataType t, double a, double b) {
  Var x("x", t), y("y", t);
  return evaluate(make_binary(op, x, y), {{x.get(), Value::from_float(t, a)}, {y.get(), Value::from_float(t, b)}})
      .as_float();
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const CompileError& e) {
    return e.what();
  }
  return "<no error>";
}

// ---- integers ------------------------------------------------------------------------------

TEST(Interpreter, FloorDivisionAndModuloForAllSigns) {
  for (DataType t : {kI8, kI32, kI64}) {
    for (int64_t a = -13; a <= 13; ++a) {
      for (int64_t b : {-5, -4, -3, -2, -1, 1, 2, 3, 4, 5}) {
        // Reference: the largest q with q * b <= a (b > 0) or q * b >= a (b < 0).
        const int64_t q = static_cast<int64_t>(std::floor(static_cast<double>(a) / static_cast<double>(b)));
        const int64_t r = a - q * b;
        EXPECT_EQ(eval_binary(BinaryOp::kDiv, t, a, b).as_int(), q) << a << " / " << b << " in " << t.to_string();
        EXPECT_EQ(eval_binary(BinaryOp::kMod, t, a, b).as_int(), r) << a << " % " << b << " in " << t.to_string();
        EXPECT_TRUE(r == 0 || (r < 0) == (b < 0)) << "the remainder takes the divisor's sign";
      }
    }
  }
  // The documented examples.
  EXPECT_EQ(eval_binary(BinaryOp::kDiv, kI32, -7, 2).as_int(), -4);
  EXPECT_EQ(eval_binary(BinaryOp::kMod, kI32, -7, 2).as_int(), 1);
  EXPECT_EQ(eval_binary(BinaryOp::kMod, kI32, 7, -2).as_int(), -1);
  // INT_MIN / -1 wraps instead of trapping.
  EXPECT_EQ(eval_binary(BinaryOp::kDiv, kI32, INT32_MIN, -1).as_int(), INT32_MIN);
  EXPECT_EQ(eval_binary(BinaryOp::kDiv, kI64, INT64_MIN, -1).as_int(), INT64_MIN);
  EXPECT_EQ(eval_binary(BinaryOp::kMod, kI64, INT64_MIN, -1).as_int(), 0);
}

TEST(Interpreter, DivisionByZeroIsAnError) {
  EXPECT_NE(error_of([] { eval_binary(BinaryOp::kDiv, kI32, 7, 0); }).find("division by zero"), std::string::npos);
  EXPECT_NE(error_of([] { eval_binary(BinaryOp::kMod, kI32, 7, 0); }).find("by zero"), std::string::npos);
}

TEST(Interpreter, Int8WrapsAround) {
  EXPECT_EQ(eval_binary(BinaryOp::kAdd, kI8, 100, 100).as_int(), -56);
  EXPECT_EQ(eval_binary(BinaryOp::kSub, kI8, -128, 1).as_int(), 127);
  EXPECT_EQ(eval_binary(BinaryOp::kMul, kI8, 16, 16).as_int(), 0);
  EXPECT_EQ(eval_binary(BinaryOp::kMul, kI8, 13, 11).as_int(), 143 - 256);
  EXPECT_EQ(eval_binary(BinaryOp::kDiv, kI8, -128, -1).as_int(), -128);
  // Exhaustive against the C++ narrowing conversion (modular since C++20).
  for (int a = -128; a < 128; a += 7)
    for (int b = -128; b < 128; b += 5) {
      ASSERT_EQ(eval_binary(BinaryOp::kAdd, kI8, a, b).as_int(), static_cast<int8_t>(a + b));
      ASSERT_EQ(eval_binary(BinaryOp::kMul, kI8, a, b).as_int(), static_cast<int8_t>(a * b));
    }
  Var x("x", kI32);
  EXPECT_EQ(evaluate(make_cast(kI8, x), {{x.get(), Value::from_int(kI32, 300)}}).as_int(), 44);
  EXPECT_EQ(evaluate(make_cast(kI8, x), {{x.get(), Value::from_int(kI32, -129)}}).as_int(), 127);
}

TEST(Interpreter, Int32AndUint32Wrap) {
  EXPECT_EQ(eval_binary(BinaryOp::kAdd, kI32, INT32_MAX, 1).as_int(), INT32_MIN);
  EXPECT_EQ(eval_binary(BinaryOp::kMul, kI32, 65536, 65536).as_int(), 0);
  EXPECT_EQ(eval_binary(BinaryOp::kSub, kU32, 0, 1).as_int(), 4294967295LL);
  EXPECT_EQ(eval_binary(BinaryOp::kMul, kU32, 2147483648LL, 2).as_int(), 0);
  EXPECT_EQ(eval_binary(BinaryOp::kAdd, kU32, 4294967295LL, 3).as_int(), 2);
  // Unsigned comparison and division see 0xFFFFFFFF as large, not as -1.
  EXPECT_EQ(eval_binary(BinaryOp::kGT, kU32, 4294967295LL, 1).as_int(), 1);
  EXPECT_EQ(eval_binary(BinaryOp::kGT, kI32, -1, 1).as_int(), 0);
  EXPECT_EQ(eval_binary(BinaryOp::kDiv, kU32, 4294967295LL, 2).as_int(), 2147483647LL);
  EXPECT_EQ(eval_binary(BinaryOp::kMin, kU32, 4294967295LL, 5).as_int(), 5);
  EXPECT_EQ(eval_binary(BinaryOp::kMax, kI32, -7, 5).as_int(), 5);
  // uint64 keeps its bit pattern and compares unsigned.
  const DataType u64 = DataType::UInt(64);
  EXPECT_EQ(static_cast<uint64_t>(eval_binary(BinaryOp::kSub, u64, 0, 1).as_int()), UINT64_MAX);
  EXPECT_EQ(eval_binary(BinaryOp::kLT, u64, 1, -1).as_int(), 1);
  EXPECT_DOUBLE_EQ(eval_binary(BinaryOp::kSub, u64, 0, 1).as_float(), 18446744073709551615.0);
}

TEST(Interpreter, ComparisonsAndLogic) {
  for (int a = -3; a <= 3; ++a)
    for (int b = -3; b <= 3; ++b) {
      EXPECT_EQ(eval_binary(BinaryOp::kEQ, kI32, a, b).as_int(), a == b);
      EXPECT_EQ(eval_binary(BinaryOp::kNE, kI32, a, b).as_int(), a != b);
      EXPECT_EQ(eval_binary(BinaryOp::kLT, kI32, a, b).as_int(), a < b);
      EXPECT_EQ(eval_binary(BinaryOp::kLE, kI32, a, b).as_int(), a <= b);
      EXPECT_EQ(eval_binary(BinaryOp::kGT, kI32, a, b).as_int(), a > b);
      EXPECT_EQ(eval_binary(BinaryOp::kGE, kI32, a, b).as_int(), a >= b);
    }
  Var p("p", DataType::Bool()), q("q", DataType::Bool());
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      VarBindings env{{p.get(), Value::from_int(DataType::Bool(), a)}, {q.get(), Value::from_int(DataType::Bool(), b)}};
      EXPECT_EQ(evaluate(p && q, env).as_int(), a && b);
      EXPECT_EQ(evaluate(p || q, env).as_int(), a || b);
      EXPECT_EQ(evaluate(!p, env).as_int(), !a);
      EXPECT_EQ(evaluate(make_select(p, Expr(10), Expr(20)), env).as_int(), a ? 10 : 20);
    }
}

// ---- floats --------------------------------------------------------------------------------

TEST(Interpreter, Float32RoundsAfterEveryOperation) {
  // 2^24 + 1 is not a float32: the sum rounds back to 2^24 (it would be exact in double).
  EXPECT_EQ(eval_float_binary(BinaryOp::kAdd, kF32, 16777216.0, 1.0), 16777216.0);
  EXPECT_EQ(eval_float_binary(BinaryOp::kAdd, kF64, 16777216.0, 1.0), 16777217.0);
  // Random chains against native float arithmetic (volatile: each step really is a float op).
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-10.0f, 10.0f);
  Var a("a", kF32), b("b", kF32), c("c", kF32);
  Expr e = (a + b) * c - a / (b + c);
  int differs_from_double = 0;
  for (int trial = 0; trial < 500; ++trial) {
    volatile float x = dist(rng), y = dist(rng), z = dist(rng);
    volatile float s = x + y, p = s * z, t = y + z, d = x / t, expected = p - d;
    double got = evaluate(e, {{a.get(), Value::from_float(kF32, x)},
                              {b.get(), Value::from_float(kF32, y)},
                              {c.get(), Value::from_float(kF32, z)}})
                     .as_float();
    ASSERT_EQ(got, static_cast<double>(expected)) << x << " " << y << " " << z;
    double in_double = (double(x) + y) * z - double(x) / (double(y) + z);
    differs_from_double += in_double != got;
  }
  EXPECT_GT(differs_from_double, 100) << "float32 results should usually differ from a double computation";
  // Float immediates are float32 values too: 0.1f32 is 0.100000001490116...
  EXPECT_EQ(evaluate(Expr(0.1) + Expr(0.0), {}).as_float(), static_cast<double>(0.1f));
}

TEST(Interpreter, FloatModuloAndMinMax) {
  EXPECT_DOUBLE_EQ(eval_float_binary(BinaryOp::kMod, kF64, -7.5, 2.0), 0.5);
  EXPECT_DOUBLE_EQ(eval_float_binary(BinaryOp::kMod, kF64, 7.5, -2.0), -0.5);
  EXPECT_DOUBLE_EQ(eval_float_binary(BinaryOp::kMod, kF32, 5.25, 1.5), 0.75);
  EXPECT_EQ(eval_float_binary(BinaryOp::kMin, kF32, -1.5, 2.0), -1.5);
  EXPECT_EQ(eval_float_binary(BinaryOp::kMax, kF32, -1.5, 2.0), 2.0);
  EXPECT_TRUE(std::isinf(eval_float_binary(BinaryOp::kDiv, kF32, 1.0, 0.0)));  // float division by zero is IEEE
}

TEST(Interpreter, Casts) {
  Var f("f", kF32), i("i", kI32), u("u", kU32);
  auto with_f = [&](double v) { return VarBindings{{f.get(), Value::from_float(kF32, v)}}; };
  EXPECT_EQ(evaluate(make_cast(kI32, f), with_f(2.7)).as_int(), 2);
  EXPECT_EQ(evaluate(make_cast(kI32, f), with_f(-2.7)).as_int(), -2);  // toward zero, not floor
  EXPECT_EQ(evaluate(make_cast(kI8, f), with_f(-0.99)).as_int(), 0);
  EXPECT_EQ(evaluate(make_cast(DataType::Bool(), f), with_f(0.25)).as_int(), 1);
  EXPECT_EQ(evaluate(make_cast(DataType::Bool(), f), with_f(0.0)).as_int(), 0);
  EXPECT_EQ(evaluate(make_cast(DataType::Bool(), i), {{i.get(), Value::from_int(kI32, 256)}}).as_int(), 1);
  // int -> float32 rounds: 2^24 + 1 becomes 2^24.
  EXPECT_EQ(evaluate(make_cast(kF32, i), {{i.get(), Value::from_int(kI32, 16777217)}}).as_float(), 16777216.0);
  EXPECT_EQ(evaluate(make_cast(kF64, u), {{u.get(), Value::from_int(kU32, 4294967295LL)}}).as_float(), 4294967295.0);
  EXPECT_EQ(evaluate(make_cast(kI64, i), {{i.get(), Value::from_int(kI32, -5)}}).as_int(), -5);
  EXPECT_EQ(evaluate(make_cast(kU32, i), {{i.get(), Value::from_int(kI32, -1)}}).as_int(), 4294967295LL);
  // float64 -> float32 rounds to nearest.
  Var d("d", kF64);
  EXPECT_EQ(evaluate(make_cast(kF32, d), {{d.get(), Value::from_float(kF64, 1.0 / 3.0)}}).as_float(),
            static_cast<double>(1.0f / 3.0f));
}

TEST(Interpreter, Intrinsics) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(0.1f, 4.0f);
  Var x("x", kF32), y("y", kF32), z("z", kF32);
  for (int trial = 0; trial < 50; ++trial) {
    const float a = dist(rng), b = dist(rng) - 2.0f, c = dist(rng);
    VarBindings env{{x.get(), Value::from_float(kF32, a)},
                    {y.get(), Value::from_float(kF32, b)},
                    {z.get(), Value::from_float(kF32, c)}};
    auto call = [&](Intrinsic op, std::vector<Expr> args) { return evaluate(make_call(op, std::move(args)), env).as_float(); };
    auto f32 = [](double v) { return static_cast<double>(static_cast<float>(v)); };
    EXPECT_EQ(call(Intrinsic::k_exp, {x}), f32(std::exp(double(a))));
    EXPECT_EQ(call(Intrinsic::k_log, {x}), f32(std::log(double(a))));
    EXPECT_EQ(call(Intrinsic::k_sqrt, {x}), f32(std::sqrt(double(a))));
    EXPECT_EQ(call(Intrinsic::k_rsqrt, {x}), f32(1.0 / std::sqrt(double(a))));
    EXPECT_EQ(call(Intrinsic::k_tanh, {y}), f32(std::tanh(double(b))));
    EXPECT_EQ(call(Intrinsic::k_erf, {y}), f32(std::erf(double(b))));
    EXPECT_EQ(call(Intrinsic::k_sigmoid, {y}), f32(1.0 / (1.0 + std::exp(-double(b)))));
    EXPECT_EQ(call(Intrinsic::k_pow, {x, y}), f32(std::pow(double(a), double(b))));
    EXPECT_EQ(call(Intrinsic::k_fabs, {y}), std::fabs(double(b)));
    EXPECT_EQ(call(Intrinsic::k_floor, {y}), std::floor(double(b)));
    EXPECT_EQ(call(Intrinsic::k_ceil, {y}), std::ceil(double(b)));
    EXPECT_EQ(call(Intrinsic::k_fma, {x, y, z}), static_cast<double>(std::fmaf(a, b, c)));
  }
  // round: halfway cases to even.
  auto round_of = [&](double v) {
    return evaluate(make_call(Intrinsic::k_round, {x}), {{x.get(), Value::from_float(kF32, v)}}).as_float();
  };
  EXPECT_EQ(round_of(2.5), 2.0);
  EXPECT_EQ(round_of(3.5), 4.0);
  EXPECT_EQ(round_of(-2.5), -2.0);
  EXPECT_EQ(round_of(2.6), 3.0);
  // fma rounds once: (1 + 2^-12)^2 - 1 keeps the 2^-24 term that a * b + c loses.
  const float e = 1.0f + std::ldexp(1.0f, -12);
  VarBindings env{{x.get(), Value::from_float(kF32, e)}, {y.get(), Value::from_float(kF32, e)},
                  {z.get(), Value::from_float(kF32, -1.0)}};
  EXPECT_EQ(evaluate(make_call(Intrinsic::k_fma, {x, y, z}), env).as_float(), std::ldexp(1.0, -11) + std::ldexp(1.0, -24));
  EXPECT_EQ(evaluate(x * y + z, env).as_float(), std::ldexp(1.0, -11));
  // Integer fabs.
  Var i("i", kI32);
  EXPECT_EQ(evaluate(make_call(Intrinsic::k_fabs, {i}), {{i.get(), Value::from_int(kI32, -9)}}).as_int(), 9);
}

TEST(Interpreter, LetSelectAndVectors) {
  Var x("x", kI32), t("t", kI32);
  // let t = x * 3 in t + t
  EXPECT_EQ(evaluate(make_let(t, x * 3, t + t), {{x.get(), Value::from_int(kI32, 7)}}).as_int(), 42);
  // Ramp, broadcast and lane-wise arithmetic.
  Expr ramp = make_ramp(x, Expr(3), 4);
  Value v = evaluate(ramp * make_broadcast(Expr(2), 4) + 1, {{x.get(), Value::from_int(kI32, 5)}});
  ASSERT_EQ(v.ints.size(), 4u);
  EXPECT_EQ(v.ints, (std::vector<int64_t>{11, 17, 23, 29}));
  // Lane-wise select on a vector condition.
  Value s = evaluate(make_select(ramp < 10, ramp, make_broadcast(Expr(-1), 4)), {{x.get(), Value::from_int(kI32, 2)}});
  EXPECT_EQ(s.ints, (std::vector<int64_t>{2, 5, 8, -1}));
  // A vector variable bound by a Let, and lane-wise casts.
  Var w("w", DataType::Int(32, 4));
  Value c = evaluate(make_let(w, ramp, make_cast(DataType::Float(32, 4), w) / make_broadcast(Expr(2.0), 4)),
                     {{x.get(), Value::from_int(kI32, -3)}});
  EXPECT_EQ(c.floats, (std::vector<double>{-1.5, 0.0, 1.5, 3.0}));
  // Vector bindings passed to evaluate.
  Var q("q", DataType::Int(8, 3));
  Value qb;
  qb.dtype = DataType::Int(8, 3);
  qb.ints = {100, -100, 5};
  EXPECT_EQ(evaluate(q + make_broadcast(make_int(kI8, 100), 3), {{q.get(), qb}}).ints, (std::vector<int64_t>{-56, 0, 105}));
}

TEST(Interpreter, UnboundVariableIsNamed) {
  Var lonely("lonely_var");
  std::string message = error_of([&] { evaluate(lonely + 1, {}); });
  EXPECT_NE(message.find("lonely_var"), std::string::npos) << message;
}

// ---- memory and statements -----------------------------------------------------------------

TEST(Interpreter, NarrowFloatFormatsRoundTo16Bits) {
  // Buffers of float16 / bfloat16 raw bits are converted through float32 in both directions.
  Buffer half = make_buffer("half", kF16, {Expr(16)});
  Buffer wide = make_buffer("wide", kF32, {Expr(16)});
  Var i("i");
  PrimFunc to_half = make_prim_func("to_half", {Param::of(wide), Param::of(half)},
                                    make_for(i, 0, 16, ForKind::kSerial, make_store(half, make_cast(kF16, wide({i})), {i})));
  PrimFunc from_half = make_prim_func("from_half", {Param::of(half), Param::of(wide)},
                                      make_for(i, 0, 16, ForKind::kSerial, make_store(wide, make_cast(kF32, half({i})), {i})));
  const float inputs[] = {1.0f, -2.0f, 65504.0f, 65520.0f, 1.0f + std::ldexp(1.0f, -11),
                          1.0f + 3 * std::ldexp(1.0f, -11), std::ldexp(1.0f, -24), std::ldexp(1.0f, -25),
                          3 * std::ldexp(1.0f, -26), 0.1f, -0.0f, 65519.0f, 1e-10f, -70000.0f, 0.333333f, 2049.0f};
  // Hand-computed binary16 encodings (round to nearest, ties to even).
  const uint16_t expected[] = {0x3C00, 0xC000, 0x7BFF, 0x7C00, 0x3C00, 0x3C02, 0x0001, 0x0000,
                               0x0001, 0x2E66, 0x8000, 0x7BFF, 0x0000, 0xFC00, 0x3555, 0x6800};
  float in[16], back[16];
  uint16_t bits[16];
  std::memcpy(in, inputs, sizeof(in));
  interpret(to_half, {in, bits});
  for (int k = 0; k < 16; ++k) EXPECT_EQ(bits[k], expected[k]) << "input " << inputs[k];
  interpret(from_half, {bits, back});
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[2], 65504.0f);
  EXPECT_TRUE(std::isinf(back[3]));
  EXPECT_EQ(back[6], std::ldexp(1.0f, -24));
  EXPECT_EQ(back[14], 0.333251953125f);
  EXPECT_EQ(back[15], 2048.0f);  // 2049 lies halfway between 2048 and 2050: ties to even

  // Every binary16 pattern survives half -> float32 -> half (NaNs stay NaNs).
  Buffer all_half = make_buffer("all_half", kF16, {Expr(65536)});
  Buffer all_wide = make_buffer("all_wide", kF32, {Expr(65536)});
  Buffer all_back = make_buffer("all_back", kF16, {Expr(65536)});
  Var j("j");
  PrimFunc round_trip = make_prim_func(
      "round_trip", {Param::of(all_half), Param::of(all_wide), Param::of(all_back)},
      make_for(j, 0, 65536, ForKind::kSerial,
               make_seq({make_store(all_wide, make_cast(kF32, all_half({j})), {j}),
                         make_store(all_back, make_cast(kF16, all_wide({j})), {j})})));
  std::vector<uint16_t> patterns(65536), returned(65536);
  std::vector<float> widened(65536);
  for (int k = 0; k < 65536; ++k) patterns[k] = static_cast<uint16_t>(k);
  interpret(round_trip, {patterns.data(), widened.data(), returned.data()});
  for (int k = 0; k < 65536; ++k) {
    const bool is_nan = (k & 0x7C00) == 0x7C00 && (k & 0x3FF);
    if (is_nan) {
      ASSERT_TRUE(std::isnan(widened[k])) << k;
      ASSERT_EQ(returned[k] & 0x7C00, 0x7C00);
      ASSERT_NE(returned[k] & 0x3FF, 0);
    } else {
      ASSERT_EQ(returned[k], patterns[k]) << "pattern " << k;
    }
  }
  // Independent check of the decoding: sign * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
  for (int k : {0x0001, 0x03FF, 0x0400, 0x3BFF, 0x4000, 0x7BFF, 0x8401, 0xC500}) {
    const int e = (k >> 10) & 0x1F, m = k & 0x3FF;
    double v = e ? std::ldexp(1.0 + m / 1024.0, e - 15) : std::ldexp(m / 1024.0, -14);
    EXPECT_EQ(widened[k], static_cast<float>(k & 0x8000 ? -v : v)) << k;
  }
}

TEST(Interpreter, BFloat16RoundsAndRoundTrips) {
  Buffer src = make_buffer("src", kF32, {Expr(8)});
  Buffer dst = make_buffer("dst", kBF16, {Expr(8)});
  Var i("i");
  PrimFunc f = make_prim_func("to_bf16", {Param::of(src), Param::of(dst)},
                              make_for(i, 0, 8, ForKind::kSerial, make_store(dst, make_cast(kBF16, src({i})), {i})));
  float in[8] = {1.0f, 1.0f + std::ldexp(1.0f, -8), 1.0f + 3 * std::ldexp(1.0f, -8), 3.14159265f,
                 -2.0f, 3.4e38f, 1e-40f, 0.0f};
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even keeps 1.
  // 3.4e38 lies beyond the midpoint between the largest bfloat16 (0x7F7F, 3.3895e38) and 2^128, so
  // it rounds to infinity; 1e-40 rounds to the smallest subnormal, 2^-133.
  const uint16_t expected[8] = {0x3F80, 0x3F80, 0x3F82, 0x4049, 0xC000, 0x7F80, 0x0001, 0x0000};
  uint16_t out[8];
  interpret(f, {in, out});
  for (int k = 0; k < 8; ++k) EXPECT_EQ(out[k], expected[k]) << "input " << in[k];

  // All non-NaN bfloat16 patterns: widen, add zero in bfloat16, store back: unchanged.
  Buffer all = make_buffer("all", kBF16, {Expr(65536)});
  Buffer again = make_buffer("again", kBF16, {Expr(65536)});
  Var j("j");
  PrimFunc g = make_prim_func("copy", {Param::of(all), Param::of(again)},
                              make_for(j, 0, 65536, ForKind::kSerial,
                                       make_store(again, all({j}) * make_float(kBF16, 1.0), {j})));
  std::vector<uint16_t> patterns(65536), returned(65536);
  for (int k = 0; k < 65536; ++k) patterns[k] = static_cast<uint16_t>(k);
  interpret(g, {patterns.data(), returned.data()});
  for (int k = 0; k < 65536; ++k) {
    if ((k & 0x7F80) == 0x7F80 && (k & 0x7F)) continue;  // NaN
    ASSERT_EQ(returned[k], patterns[k]) << k;
  }
}

TEST(Interpreter, Float16ArithmeticRoundsToHalfPrecision) {
  Var a("a", kF16), b("b", kF16);
  auto add = [&](double x, double y) {
    return evaluate(a + b, {{a.get(), Value::from_float(kF16, x)}, {b.get(), Value::from_float(kF16, y)}}).as_float();
  };
  EXPECT_EQ(add(2048, 1), 2048.0);   // spacing 2 above 2048, tie to even
  EXPECT_EQ(add(2048, 3), 2052.0);   // 2051 is a tie between 2050 and 2052: even mantissa wins
  EXPECT_EQ(add(60000, 10000), INFINITY);
  EXPECT_EQ(add(0.1, 0.2), 0.2998046875);  // 0.0999755859375 + 0.199951171875 rounded to binary16
}

TEST(Interpreter, VectorLoadsStoresGatherScatter) {
  const int n = 64;
  Buffer a = make_buffer("A", kF32, {Expr(n)});
  Buffer b = make_buffer("B", kF32, {Expr(n)});
  Buffer c = make_buffer("C", kF32, {Expr(n)});
  Var io("io");
  // B[ramp(io*8, 1, 8)] = A[ramp(io*8, 1, 8)] * 2 + x8(1);  C[ramp(io, 8, 8)] = A[ramp(63 - io*8, -1, 8)]
  Expr contiguous = make_ramp(io * 8, 1, 8);
  Stmt body = make_seq({
      make_store(b, a({contiguous}) * make_broadcast(Expr(2.0), 8) + make_broadcast(Expr(1.0), 8), {contiguous}),
      make_store(c, a({make_ramp(Expr(63) - io * 8, -1, 8)}), {make_ramp(io, 8, 8)}),
  });
  PrimFunc f = make_prim_func("vec", {Param::of(a), Param::of(b), Param::of(c)},
                              make_for(io, 0, 8, ForKind::kVectorized, body));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> av(n), bv(n), cv(n);
  for (float& x : av) x = dist(rng);
  interpret(f, {av.data(), bv.data(), cv.data()});
  for (int k = 0; k < n; ++k) {
    EXPECT_EQ(bv[k], av[k] * 2.0f + 1.0f) << k;
    const int io_k = k % 8, lane = k / 8;  // C[io + 8 * lane] = A[63 - io*8 - lane]
    EXPECT_EQ(cv[k], av[63 - io_k * 8 - lane]) << k;
  }
}

TEST(Interpreter, MultiDimensionalVectorAccessUsesStrides) {
  // A 4x6 view over padded rows of 8 elements: strides [8, 1].
  Buffer a = make_buffer("A", kI32, {Expr(4), Expr(6)}, {Expr(8), Expr(1)});
  Buffer out = make_buffer("out", kI32, {Expr(4), Expr(6)});
  Var i("i");
  PrimFunc f = make_prim_func(
      "copy_rows", {Param::of(a), Param::of(out)},
      make_for(i, 0, 4, ForKind::kSerial, make_store(out, a({i, make_ramp(Expr(0), 1, 6)}) + make_broadcast(i, 6),
                                                     {i, make_ramp(Expr(0), 1, 6)})));
  std::vector<int32_t> padded(32), result(24);
  for (int k = 0; k < 32; ++k) padded[k] = 100 + k;
  interpret(f, {padded.data(), result.data()});
  for (int r = 0; r < 4; ++r)
    for (int col = 0; col < 6; ++col) EXPECT_EQ(result[r * 6 + col], 100 + r * 8 + col + r);
}

TEST(Interpreter, FlatViewSharesStorage) {
  Buffer b2 = make_buffer("B", kI32, {Expr(3), Expr(5)});
  Buffer flat = make_buffer_view(b2, "B_flat", {Expr(15)});
  Buffer out = make_buffer("out", kI32, {Expr(3), Expr(5)});
  Var k("k"), i("i"), j("j");
  Stmt body = make_allocate(
      b2, make_seq({make_for(k, 0, 15, ForKind::kSerial, make_store(flat, k * k, {k})),
                    make_for(i, 0, 3, ForKind::kSerial,
                             make_for(j, 0, 5, ForKind::kSerial, make_store(out, b2({i, j}), {i, j})))}));
  PrimFunc f = make_prim_func("view", {Param::of(out)}, body);
  std::vector<int32_t> result(15, -1);
  interpret(f, {result.data()});
  for (int n = 0; n < 15; ++n) EXPECT_EQ(result[n], n * n);
}

TEST(Interpreter, NaiveMatmulMatchesTripleLoop) {
  const int M = 19, N = 23, K = 17;
  Buffer a = make_buffer("A", kF32, {Expr(M), Expr(K)});
  Buffer b = make_buffer("B", kF32, {Expr(K), Expr(N)});
  Buffer c = make_buffer("C", kF32, {Expr(M), Expr(N)});
  Var i("i"), j("j"), k("k");
  Stmt body = make_for(
      i, 0, M, ForKind::kParallel,
      make_for(j, 0, N, ForKind::kSerial,
               make_seq({make_store(c, Expr(0.0), {i, j}),
                         make_for(k, 0, K, ForKind::kUnrolled,
                                  make_store(c, c({i, j}) + a({i, k}) * b({k, j}), {i, j}))})));
  PrimFunc f = make_prim_func("matmul", {Param::of(a), Param::of(b), Param::of(c)}, body);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> av(M * K), bv(K * N), cv(M * N, 123.0f);
  for (float& x : av) x = dist(rng);
  for (float& x : bv) x = dist(rng);
  interpret(f, {av.data(), bv.data(), cv.data()});
  for (int x = 0; x < M; ++x)
    for (int y = 0; y < N; ++y) {
      volatile float acc = 0.0f;
      for (int z = 0; z < K; ++z) {
        volatile float product = av[x * K + z] * bv[z * N + y];
        acc = acc + product;
      }
      ASSERT_EQ(cv[x * N + y], acc) << x << ", " << y;  // same order, same float32 rounding: bit-exact
    }
}

TEST(Interpreter, SoftmaxRowMatchesDoubleReference) {
  const int n = 37;
  Buffer x = make_buffer("x", kF32, {Expr(n)});
  Buffer y = make_buffer("y", kF32, {Expr(n)});
  Buffer stats = make_buffer("stats", kF32, {Expr(2)}, {}, MemoryScope::kLocal);
  Var i("i"), j("j"), k("k"), l("l");
  Stmt body = make_allocate(
      stats,
      make_seq({make_store(stats, make_float(kF32, -INFINITY), {Expr(0)}),
                make_for(i, 0, n, ForKind::kSerial, make_store(stats, max(stats({Expr(0)}), x({i})), {Expr(0)})),
                make_store(stats, Expr(0.0), {Expr(1)}),
                make_for(j, 0, n, ForKind::kSerial,
                         make_seq({make_store(y, make_call(Intrinsic::k_exp, {x({j}) - stats({Expr(0)})}), {j}),
                                   make_store(stats, stats({Expr(1)}) + y({j}), {Expr(1)})})),
                make_for(k, 0, n, ForKind::kSerial, make_store(y, y({k}) / stats({Expr(1)}), {k}))}));
  PrimFunc f = make_prim_func("softmax", {Param::of(x), Param::of(y)}, body);
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0, 3);
  std::vector<float> xv(n), yv(n);
  for (float& v : xv) v = dist(rng);
  interpret(f, {xv.data(), yv.data()});
  double mx = -INFINITY, sum = 0;
  for (float v : xv) mx = std::max(mx, double(v));
  for (float v : xv) sum += std::exp(double(v) - mx);
  double total = 0;
  for (int q = 0; q < n; ++q) {
    const double expected = std::exp(double(xv[q]) - mx) / sum;
    EXPECT_NEAR(yv[q], expected, 1e-6 + 1e-5 * expected) << q;
    total += yv[q];
  }
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(Interpreter, ScalarParametersAndSymbolicShapes) {
  Var n("n"), i("i");
  Var alpha("alpha", kF32), offset("offset", kI64);
  Buffer a = make_buffer("A", kF32, {n});
  Buffer idx = make_buffer("idx", kI64, {n});
  Stmt body = make_for(i, 0, n, ForKind::kSerial,
                       make_seq({make_store(a, a({i}) * alpha, {i}),
                                 make_store(idx, make_cast(kI64, i) + offset, {i})}));
  PrimFunc f = make_prim_func("scale", {Param::of(a), Param::of(idx), Param::of(n), Param::of(alpha), Param::of(offset)}, body);
  std::vector<float> av = {1.5f, -2.0f, 3.25f, 8.0f, 100.0f};
  std::vector<int64_t> iv(5, 0);
  interpret(f, {av.data(), iv.data(), int64_t{4}, 0.5, int64_t{10000000000LL}});
  EXPECT_EQ(av, (std::vector<float>{0.75f, -1.0f, 1.625f, 4.0f, 100.0f}));  // n = 4 leaves the last alone
  EXPECT_EQ(iv, (std::vector<int64_t>{10000000000LL, 10000000001LL, 10000000002LL, 10000000003LL, 0}));
  // Wrong argument kinds and counts are user errors.
  EXPECT_THROW(interpret(f, {av.data(), iv.data(), int64_t{4}, 0.5}), CompileError);
  EXPECT_THROW(interpret(f, {av.data(), iv.data(), 2.5, 0.5, int64_t{0}}), CompileError);
  EXPECT_THROW(interpret(f, {int64_t{1}, iv.data(), int64_t{4}, 0.5, int64_t{0}}), CompileError);
}

TEST(Interpreter, ControlFlowLetAndAllocate) {
  Buffer out = make_buffer("out", kI32, {Expr(10)});
  Buffer tmp = make_buffer("tmp", kI32, {Expr(1)}, {}, MemoryScope::kLocal);
  Var i("i"), t("t"), tx("tx");
  // out[i] = i even ? i*i : -(i) ; then accumulate a prefix sum through a local scalar.
  Stmt fill = make_for(i, 0, 10, ForKind::kThreadBound,
                       make_let_stmt(t, i * i,
                                     make_if(i % 2 == 0, make_store(out, t, {i}), make_store(out, -i, {i}))),
                       "threadIdx.x");
  Stmt prefix = make_allocate(
      tmp, make_seq({make_store(tmp, Expr(0), {Expr(0)}),
                     make_for(tx, 0, 10, ForKind::kSerial,
                              make_seq({make_store(tmp, tmp({Expr(0)}) + out({tx}), {Expr(0)}),
                                        make_store(out, tmp({Expr(0)}), {tx})})),
                     make_evaluate(tmp({Expr(0)}))}));
  PrimFunc f = make_prim_func("flow", {Param::of(out)}, make_seq({fill, prefix}));
  std::vector<int32_t> result(10, 0);
  interpret(f, {result.data()});
  int running = 0;
  for (int k = 0; k < 10; ++k) {
    running += k % 2 == 0 ? k * k : -k;
    EXPECT_EQ(result[k], running) << k;
  }
}

TEST(Interpreter, UninitialisedAllocationsAreConspicuous) {
  Buffer out = make_buffer("out", kI32, {Expr(1)});
  Buffer tmp = make_buffer("tmp", kI32, {Expr(4)}, {}, MemoryScope::kLocal);
  PrimFunc f = make_prim_func("peek", {Param::of(out)}, make_allocate(tmp, make_store(out, tmp({Expr(2)}), {Expr(0)})));
  int32_t result = 0;
  interpret(f, {&result});
  EXPECT_EQ(result, 0x7F7F7F7F);
}

TEST(Interpreter, BoolBuffersUseOneByte) {
  Buffer flags = make_buffer("flags", DataType::Bool(), {Expr(6)});
  Var i("i");
  PrimFunc f = make_prim_func("flags", {Param::of(flags)},
                              make_for(i, 0, 6, ForKind::kSerial, make_store(flags, i % 3 == 1, {i})));
  uint8_t bytes[8] = {9, 9, 9, 9, 9, 9, 9, 9};
  interpret(f, {bytes});
  EXPECT_EQ(std::vector<uint8_t>(bytes, bytes + 8), (std::vector<uint8_t>{0, 1, 0, 0, 1, 0, 9, 9}));
}

TEST(Interpreter, AssertFailureCarriesItsMessage) {
  Var n("n");
  Buffer out = make_buffer("out", kI32, {Expr(1)});
  PrimFunc f = make_prim_func("checked", {Param::of(out), Param::of(n)},
                              make_seq({make_assert(n < 10, "n must be below 10"), make_store(out, n, {Expr(0)})}));
  int32_t result = -1;
  interpret(f, {&result, int64_t{7}});
  EXPECT_EQ(result, 7);
  EXPECT_EQ(error_of([&] { interpret(f, {&result, int64_t{12}}); }), "n must be below 10");
  EXPECT_EQ(result, 7);  // the store after the failed assert did not run
}

TEST(Interpreter, OutOfBoundsAccessesAreReported) {
  Buffer a = make_buffer("Aoob", kF32, {Expr(8)});
  Var i("i");
  PrimFunc f = make_prim_func("overrun", {Param::of(a)}, make_for(i, 0, 9, ForKind::kSerial, make_store(a, Expr(1.0), {i})));
  std::vector<float> av(16, 0.0f);
  std::string message = error_of([&] { interpret(f, {av.data()}); });
  EXPECT_NE(message.find("Aoob"), std::string::npos) << message;
  EXPECT_NE(message.find("index 8"), std::string::npos) << message;
  EXPECT_EQ(av[8], 0.0f);  // nothing was written out of bounds

  // A 2-D access checks each dimension, even when the flat offset would be in range.
  Buffer m = make_buffer("M2", kF32, {Expr(4), Expr(4)});
  Buffer out = make_buffer("out", kF32, {Expr(1)});
  PrimFunc g = make_prim_func("wrong_column", {Param::of(m), Param::of(out)},
                              make_store(out, m({Expr(1), Expr(5)}), {Expr(0)}));
  message = error_of([&] { interpret(g, {av.data(), av.data()}); });
  EXPECT_NE(message.find("M2"), std::string::npos) << message;
  EXPECT_NE(message.find("dimension 1"), std::string::npos) << message;

  // A vector access names the offending lane.
  PrimFunc h = make_prim_func("vector_overrun", {Param::of(a)},
                              make_store(a, make_broadcast(Expr(2.0), 4), {make_ramp(Expr(6), 1, 4)}));
  message = error_of([&] { interpret(h, {av.data()}); });
  EXPECT_NE(message.find("lane 2"), std::string::npos) << message;

  // Through a view of unknown shape, the allocation itself bounds the access.
  Var n("n");
  Buffer tmp = make_buffer("tmp", kF32, {Expr(4)}, {}, MemoryScope::kLocal);
  Buffer view = make_buffer_view(tmp, "tmp_view", {n});
  PrimFunc v = make_prim_func("view_overrun", {Param::of(n)},
                              make_allocate(tmp, make_for(i, 0, n, ForKind::kSerial, make_store(view, Expr(0.0), {i}))));
  EXPECT_NO_THROW(interpret(v, {int64_t{4}}));
  message = error_of([&] { interpret(v, {int64_t{5}}); });
  EXPECT_NE(message.find("tmp_view"), std::string::npos) << message;
}

TEST(Interpreter, ValueHelpers) {
  Value v = Value::from_int(DataType::Int(8, 3), 200);
  EXPECT_EQ(v.ints, (std::vector<int64_t>{-56, -56, -56}));
  EXPECT_EQ(v.as_float(1), -56.0);
  Value f = Value::from_float(kF32, 0.1);
  EXPECT_EQ(f.as_float(), static_cast<double>(0.1f));
  EXPECT_EQ(Value::from_float(kF32, -2.9).as_int(), -2);
}

}  // namespace
}  // namespace tessel
