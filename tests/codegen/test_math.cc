// Accuracy of the vectorised float32 math (exp, log, tanh, erf, sigmoid) that the LLVM backend
// emits as polynomials, against double-precision libm, as 16-lane vector code and as scalar code;
// special values (NaN, infinities, zero); and that vector loops call no libm function per lane.
// Tolerance: maximum relative error 1e-6 (the approximations reach about 2e-7 to 4e-7).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/stmt.h"

namespace tessel::codegen {
namespace {

using testing::AlignedArray;

constexpr int kPoints = 1 << 16;

// out[i] = op(in[i]) over n elements, as 16-lane vector IR (lanes = 16) or a scalar loop.
PrimFunc make_unary(Intrinsic op, int lanes, DataType t = DataType::Float(32)) {
  Buffer in = make_buffer("In", t, {kPoints}), out = make_buffer("Out", t, {kPoints});
  Var i("i");
  Stmt body;
  if (lanes == 1) {
    body = make_for(i, 0, kPoints, ForKind::kSerial, make_store(out, make_call(op, {in({i})}), {i}));
  } else {
    Expr index = make_ramp(i * lanes, 1, lanes);
    body = make_for(i, 0, kPoints / lanes, ForKind::kSerial, make_store(out, make_call(op, {make_load(in, {index})}), {index}));
  }
  return make_prim_func(std::string(intrinsic_name(op)) + "_x" + std::to_string(lanes), {Param::of(in), Param::of(out)}, body);
}

struct Accuracy {
  double max_relative_error = 0;
  float worst_input = 0;
};

Accuracy measure(Intrinsic op, int lanes, double low, double high, const std::function<double(double)>& reference) {
  AlignedArray<float> in(kPoints), out(kPoints);
  for (int i = 0; i < kPoints; ++i) in[i] = static_cast<float>(low + (high - low) * i / (kPoints - 1));
  JitModule module = JitModule::compile({make_unary(op, lanes)});
  module.get_function(module.lowered_functions()[0]->name).call({in.data(), out.data()});
  Accuracy accuracy;
  for (int i = 0; i < kPoints; ++i) {
    double expected = reference(static_cast<double>(in[i]));
    if (std::fabs(expected) < 1e-30) continue;  // relative error is meaningless at a zero
    double error = std::fabs(out[i] - expected) / std::fabs(expected);
    if (!(error <= accuracy.max_relative_error)) {
      accuracy.max_relative_error = error;
      accuracy.worst_input = in[i];
    }
  }
  return accuracy;
}

void expect_accurate(Intrinsic op, double low, double high, const std::function<double(double)>& reference) {
  for (int lanes : {16, 1}) {
    Accuracy accuracy = measure(op, lanes, low, high, reference);
    EXPECT_LE(accuracy.max_relative_error, 1e-6)
        << intrinsic_name(op) << " x" << lanes << " worst at " << accuracy.worst_input;
    ::testing::Test::RecordProperty(std::string(intrinsic_name(op)) + "_x" + std::to_string(lanes) + "_on_" +
                                        ::testing::PrintToString(low) + "_" + ::testing::PrintToString(high) +
                                        "_max_rel_error",
                   ::testing::PrintToString(accuracy.max_relative_error));
  }
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(CodegenMath, ExpAccuracy) {
  expect_accurate(Intrinsic::k_exp, -87.0, 88.5, [](double x) { return std::exp(x); });
  expect_accurate(Intrinsic::k_exp, -1.0, 1.0, [](double x) { return std::exp(x); });
}

TEST(CodegenMath, LogAccuracy) {
  expect_accurate(Intrinsic::k_log, 1e-3, 10.0, [](double x) { return std::log(x); });
  expect_accurate(Intrinsic::k_log, 0.5, 2.0, [](double x) { return std::log(x); });
  expect_accurate(Intrinsic::k_log, 1.0, 3e38, [](double x) { return std::log(x); });
}

TEST(CodegenMath, LogOfSubnormals) {
  expect_accurate(Intrinsic::k_log, 1e-44, 1e-38, [](double x) { return std::log(x); });
}

TEST(CodegenMath, TanhAccuracy) {
  expect_accurate(Intrinsic::k_tanh, -12.0, 12.0, [](double x) { return std::tanh(x); });
  expect_accurate(Intrinsic::k_tanh, -0.7, 0.7, [](double x) { return std::tanh(x); });
}

TEST(CodegenMath, ErfAccuracy) {
  expect_accurate(Intrinsic::k_erf, -6.0, 6.0, [](double x) { return std::erf(x); });
  expect_accurate(Intrinsic::k_erf, -1e-3, 1e-3, [](double x) { return std::erf(x); });
}

TEST(CodegenMath, SigmoidAccuracy) {
  expect_accurate(Intrinsic::k_sigmoid, -80.0, 80.0, sigmoid);
  expect_accurate(Intrinsic::k_sigmoid, -5.0, 5.0, sigmoid);
}

TEST(CodegenMath, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float inputs[] = {0.0f, -0.0f, inf, -inf, nan, 100.0f, -100.0f, -1.0f};
  AlignedArray<float> in(kPoints), out(kPoints);
  for (int i = 0; i < kPoints; ++i) in[i] = inputs[i % 8];
  auto run = [&](Intrinsic op) {
    JitModule module = JitModule::compile({make_unary(op, 16)});
    module.get_function(module.lowered_functions()[0]->name).call({in.data(), out.data()});
  };
  run(Intrinsic::k_exp);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[2], inf);
  EXPECT_EQ(out[3], 0.0f);
  EXPECT_TRUE(std::isnan(out[4]));
  EXPECT_EQ(out[5], inf);
  EXPECT_NEAR(out[6], std::exp(-100.0), 1e-44);  // a subnormal result
  run(Intrinsic::k_log);
  EXPECT_EQ(out[0], -inf);
  EXPECT_EQ(out[1], -inf);
  EXPECT_EQ(out[2], inf);
  EXPECT_TRUE(std::isnan(out[3]));
  EXPECT_TRUE(std::isnan(out[4]));
  EXPECT_TRUE(std::isnan(out[7]));
  run(Intrinsic::k_tanh);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[2], 1.0f);
  EXPECT_EQ(out[3], -1.0f);
  EXPECT_TRUE(std::isnan(out[4]));
  EXPECT_EQ(out[5], 1.0f);
  run(Intrinsic::k_erf);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[2], 1.0f);
  EXPECT_EQ(out[3], -1.0f);
  EXPECT_TRUE(std::isnan(out[4]));
  run(Intrinsic::k_sigmoid);
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_EQ(out[2], 1.0f);
  EXPECT_EQ(out[3], 0.0f);
  EXPECT_TRUE(std::isnan(out[4]));
}

TEST(CodegenMath, VectorLoopsCallNoLibm) {
  for (Intrinsic op : {Intrinsic::k_exp, Intrinsic::k_log, Intrinsic::k_tanh, Intrinsic::k_erf, Intrinsic::k_sigmoid}) {
    JitModule module = JitModule::compile({make_unary(op, 16)});
    const std::string& ir = module.llvm_ir();
    for (const char* libm : {"@expf", "@logf", "@tanhf", "@erff", "@llvm.exp.", "@llvm.log."}) {
      EXPECT_EQ(ir.find(libm), std::string::npos) << intrinsic_name(op) << " calls " << libm;
    }
  }
}

TEST(CodegenMath, Float64UsesLibmPrecision) {
  const DataType f64 = DataType::Float(64);
  for (Intrinsic op : {Intrinsic::k_exp, Intrinsic::k_tanh, Intrinsic::k_erf, Intrinsic::k_log}) {
    AlignedArray<double> in(kPoints), out(kPoints);
    for (int i = 0; i < kPoints; ++i) in[i] = 0.01 + 5.0 * i / kPoints;
    JitModule module = JitModule::compile({make_unary(op, 4, f64)});
    module.get_function(module.lowered_functions()[0]->name).call({in.data(), out.data()});
    for (int i = 0; i < kPoints; i += 97) {
      double x = in[i];
      double expected = op == Intrinsic::k_exp ? std::exp(x) : op == Intrinsic::k_tanh ? std::tanh(x)
                        : op == Intrinsic::k_erf ? std::erf(x) : std::log(x);
      ASSERT_NEAR(out[i], expected, 1e-14 * std::fabs(expected)) << intrinsic_name(op) << "(" << x << ")";
    }
  }
}

TEST(CodegenMath, OtherIntrinsicsMatchLibm) {
  // sqrt, rsqrt, floor, ceil, round (half to even), fabs, pow, fma on 16 lanes.
  AlignedArray<float> in(kPoints), out(kPoints);
  for (int i = 0; i < kPoints; ++i) in[i] = -50.0f + 100.0f * i / kPoints;
  in[0] = 2.5f;
  in[1] = -3.5f;
  struct Case {
    Intrinsic op;
    std::function<double(float)> reference;
  };
  std::vector<Case> cases = {
      {Intrinsic::k_floor, [](float x) { return std::floor(x); }},
      {Intrinsic::k_ceil, [](float x) { return std::ceil(x); }},
      {Intrinsic::k_round, [](float x) { return std::nearbyint(x); }},
      {Intrinsic::k_fabs, [](float x) { return std::fabs(x); }},
  };
  for (const Case& c : cases) {
    JitModule module = JitModule::compile({make_unary(c.op, 16)});
    module.get_function(module.lowered_functions()[0]->name).call({in.data(), out.data()});
    for (int i = 0; i < kPoints; ++i) ASSERT_EQ(out[i], static_cast<float>(c.reference(in[i]))) << intrinsic_name(c.op) << "(" << in[i] << ")";
  }
  for (int i = 0; i < kPoints; ++i) in[i] = 0.001f + 100.0f * i / kPoints;
  {
    JitModule module = JitModule::compile({make_unary(Intrinsic::k_sqrt, 16)});
    module.get_function(module.lowered_functions()[0]->name).call({in.data(), out.data()});
    for (int i = 0; i < kPoints; ++i) ASSERT_EQ(out[i], std::sqrt(in[i]));
  }
  {
    JitModule module = JitModule::compile({make_unary(Intrinsic::k_rsqrt, 16)});
    module.get_function(module.lowered_functions()[0]->name).call({in.data(), out.data()});
    for (int i = 0; i < kPoints; ++i) ASSERT_EQ(out[i], 1.0f / std::sqrt(in[i]));
  }
}

}  // namespace
}  // namespace tessel::codegen
