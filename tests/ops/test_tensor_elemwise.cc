// Unary elementwise operators through their default schedule and the LLVM JIT (a few through the
// loop-IR interpreter), against double-precision C++ references on random data and odd shapes.
#include <functional>

#include "tessel/ir/error.h"
#include "ops/test_tensor_util.h"

namespace tessel::te::ops {
namespace {

using testing::HostArray;
using testing::Runner;

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> reference;
  double low, high;
  double rtol = 2e-6, atol = 2e-6;
};

double erf_gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double tanh_gelu(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

std::vector<UnaryCase> float_cases() {
  return {
      {"relu", relu, [](double x) { return std::max(x, 0.0); }, -3, 3},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.1); }, [](double x) { return x < 0 ? 0.1 * x : x; }, -3, 3},
      {"sigmoid", sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -12, 12},
      {"tanh", ops::tanh, [](double x) { return std::tanh(x); }, -6, 6},
      {"exp", ops::exp, [](double x) { return std::exp(x); }, -20, 20},
      {"log", ops::log, [](double x) { return std::log(x); }, 1e-3, 100, 2e-6, 4e-6},
      {"sqrt", ops::sqrt, [](double x) { return std::sqrt(x); }, 0, 100},
      {"rsqrt", rsqrt, [](double x) { return 1 / std::sqrt(x); }, 0.01, 100},
      {"erf", ops::erf, [](double x) { return std::erf(x); }, -4, 4},
      {"gelu", [](const Tensor& x) { return gelu(x); }, erf_gelu, -6, 6},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, true); }, tanh_gelu, -6, 6},
      {"clip", [](const Tensor& x) { return clip(x, -0.5, 0.75); }, [](double x) { return std::clamp(x, -0.5, 0.75); }, -2, 2},
      {"hard_sigmoid", [](const Tensor& x) { return hard_sigmoid(x); },
       [](double x) { return std::clamp(0.2 * x + 0.5, 0.0, 1.0); }, -4, 4},
      {"hard_swish", hard_swish, [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }, -5, 5},
      {"softplus", softplus, [](double x) { return std::log1p(std::exp(x)); }, -30, 30},
      {"elu", [](const Tensor& x) { return elu(x, 0.7); }, [](double x) { return x > 0 ? x : 0.7 * (std::exp(x) - 1); }, -5, 5},
      {"selu", [](const Tensor& x) { return selu(x); },
       [](double x) { return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (std::exp(x) - 1)); }, -5, 5},
      {"abs", ops::abs, [](double x) { return std::fabs(x); }, -5, 5},
      {"neg", neg, [](double x) { return -x; }, -5, 5},
      {"floor", ops::floor, [](double x) { return std::floor(x); }, -5, 5},
      {"ceil", ops::ceil, [](double x) { return std::ceil(x); }, -5, 5},
      {"round", ops::round, [](double x) { return std::nearbyint(x); }, -5, 5},
      {"sign", sign, [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }, -5, 5},
      {"sin", ops::sin, [](double x) { return std::sin(x); }, -20, 20, 0, 1e-6},
      {"cos", ops::cos, [](double x) { return std::cos(x); }, -20, 20, 0, 1e-6},
      {"reciprocal", reciprocal, [](double x) { return 1 / x; }, 0.1, 10},
  };
}

// Each float op on a shape with a prime inner extent (not a multiple of the vector width).
TEST(TensorElemwise, FloatOpsMatchReference) {
  uint32_t seed = 1;
  for (const UnaryCase& c : float_cases()) {
    std::vector<int64_t> shape = {3, 37};
    Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
    Tensor y = c.op(x);
    EXPECT_EQ(y->op->tag, "elemwise") << c.name;
    HostArray a(DataType::Float(32), shape);
    a.fill(seed++, c.low, c.high);
    HostArray out = testing::run_one({x}, {&a}, y);
    std::vector<double> expected;
    for (int64_t i = 0; i < a.size(); ++i) expected.push_back(static_cast<float>(c.reference(a.get(i))));
    testing::expect_close(out, expected, c.rtol, c.atol, c.name);
  }
}

// sin/cos accuracy claim of the header: max abs error well below 1e-6 on [-100, 100].
TEST(TensorElemwise, SinCosAccuracyOnWideRange) {
  int64_t n = 20011;
  Tensor x = placeholder({static_cast<int>(n)}, DataType::Float(32), "x");
  Tensor s = ops::sin(x), c = ops::cos(x);
  HostArray a(DataType::Float(32), {n});
  for (int64_t i = 0; i < n; ++i) a.set(i, -100.0 + 200.0 * static_cast<double>(i) / static_cast<double>(n - 1));
  a.set(0, 0.0);
  a.set(1, -0.0);
  a.set(2, 1e-30);
  auto outs = testing::run_default({x}, {&a}, {s, c});
  double worst_sin = 0, worst_cos = 0;
  for (int64_t i = 0; i < n; ++i) {
    worst_sin = std::max(worst_sin, std::fabs(outs[0].get(i) - std::sin(a.get(i))));
    worst_cos = std::max(worst_cos, std::fabs(outs[1].get(i) - std::cos(a.get(i))));
  }
  EXPECT_LT(worst_sin, 2e-7);
  EXPECT_LT(worst_cos, 2e-7);
  EXPECT_EQ(outs[0].get(2), static_cast<float>(1e-30));  // tiny arguments are returned exactly
}

TEST(TensorElemwise, SinOfInfinityAndNanIsNan) {
  Tensor x = placeholder({3}, DataType::Float(32), "x");
  HostArray a(DataType::Float(32), {3});
  a.set(0, INFINITY);
  a.set(1, -INFINITY);
  a.set(2, NAN);
  HostArray out = testing::run_one({x}, {&a}, ops::sin(x));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(std::isnan(out.get(i))) << i;
}

TEST(TensorElemwise, RoundHalfToEven) {
  std::vector<double> values = {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999997, -0.49999997, 1e7 + 0.5, 2.4999998};
  Tensor x = placeholder({static_cast<int>(values.size())}, DataType::Float(32), "x");
  HostArray a(DataType::Float(32), {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) a.set(i, values[i]);
  HostArray out = testing::run_one({x}, {&a}, ops::round(x));
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(out.get(i), std::nearbyint(a.get(i))) << values[i];
}

TEST(TensorElemwise, SoftplusDoesNotOverflow) {
  Tensor x = placeholder({4}, DataType::Float(32), "x");
  HostArray a(DataType::Float(32), {4});
  std::vector<double> v = {100.0, -100.0, 88.0, 0.0};
  for (int i = 0; i < 4; ++i) a.set(i, v[i]);
  HostArray out = testing::run_one({x}, {&a}, softplus(x));
  EXPECT_FLOAT_EQ(out.get(0), 100.0f);
  EXPECT_NEAR(out.get(1), 0.0, 1e-30);
  EXPECT_FLOAT_EQ(out.get(2), 88.0f);
  EXPECT_FLOAT_EQ(out.get(3), static_cast<float>(std::log(2.0)));
}

// The same ops on the interpreter (exact float32 semantics, bounds-checked reads).
TEST(TensorElemwise, InterpreterAgrees) {
  std::vector<int64_t> shape = {2, 3, 19};
  Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
  HostArray a(DataType::Float(32), shape);
  a.fill(7, -4, 4);
  for (const UnaryCase& c : float_cases()) {
    std::string name = c.name;
    if (name != "sin" && name != "cos" && name != "gelu_tanh" && name != "hard_swish" && name != "sign") continue;
    HostArray out = testing::run_one({x}, {&a}, c.op(x), Runner::kInterpreter);
    std::vector<double> expected;
    for (int64_t i = 0; i < a.size(); ++i) expected.push_back(c.reference(a.get(i)));
    testing::expect_close(out, expected, 2e-6, 1e-6, name + " (interpreter)");
  }
}

TEST(TensorElemwise, IntegerOps) {
  std::vector<int64_t> shape = {5, 23};
  for (DataType t : {DataType::Int(32), DataType::Int(8), DataType::Int(64)}) {
    Tensor x = placeholder(testing::shape_of(shape), t, "x");
    HostArray a(t, shape);
    a.fill(11, -100, 100);
    struct Case {
      const char* name;
      Tensor y;
      std::function<double(double)> ref;
    };
    std::vector<Case> cases = {
        {"relu", relu(x), [](double v) { return std::max(v, 0.0); }},
        {"abs", ops::abs(x), [](double v) { return std::fabs(v); }},
        {"neg", neg(x), [](double v) { return -v; }},
        {"sign", sign(x), [](double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }},
        {"clip", clip(x, -7, 42), [](double v) { return std::clamp(v, -7.0, 42.0); }},
        {"floor", ops::floor(x), [](double v) { return v; }},
    };
    for (const Case& c : cases) {
      HostArray out = testing::run_one({x}, {&a}, c.y);
      std::vector<double> expected;
      for (int64_t i = 0; i < a.size(); ++i) expected.push_back(c.ref(a.get(i)));
      testing::expect_close(out, expected, 0, 0, std::string(c.name) + " " + t.to_string());
    }
  }
}

TEST(TensorElemwise, PreluBroadcastsSlopeOnChannelAxis) {
  std::vector<int64_t> shape = {2, 5, 3, 7};
  Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
  Tensor slope = placeholder({5}, DataType::Float(32), "slope");
  HostArray a(DataType::Float(32), shape), s(DataType::Float(32), {5});
  a.fill(3);
  s.fill(4, 0, 0.5);
  Tensor y = prelu(x, slope, 1);
  EXPECT_EQ(y->op->tag, "broadcast");
  HostArray out = testing::run_one({x, slope}, {&a, &s}, y);
  std::vector<double> expected;
  for (int64_t i = 0; i < a.size(); ++i) {
    double v = a.get(i), alpha = s.get(testing::unravel(i, shape)[1]);
    expected.push_back(static_cast<float>(v < 0 ? alpha * v : v));
  }
  testing::expect_close(out, expected, 1e-6, 0, "prelu");
}

TEST(TensorElemwise, CastsAndLogicalNot) {
  std::vector<int64_t> shape = {3, 17};
  Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
  HostArray a(DataType::Float(32), shape);
  a.fill(5, -50, 50);
  a.set(0, 0.0);
  auto outs = testing::run_default({x}, {&a},
                                   {cast(x, DataType::Int(32)), cast(x, DataType::Bool()), logical_not(x),
                                    cast(cast(x, DataType::Int(16)), DataType::Float(64))});
  for (int64_t i = 0; i < a.size(); ++i) {
    double v = a.get(i);
    EXPECT_EQ(outs[0].get(i), std::trunc(v)) << i;
    EXPECT_EQ(outs[1].get(i), v != 0 ? 1 : 0) << i;
    EXPECT_EQ(outs[2].get(i), v == 0 ? 1 : 0) << i;
    EXPECT_EQ(outs[3].get(i), std::trunc(v)) << i;
  }
}

TEST(TensorElemwise, Float64Inputs) {
  Tensor x = placeholder({29}, DataType::Float(64), "x");
  HostArray a(DataType::Float(64), {29});
  a.fill(9, -3, 3);
  auto outs = testing::run_default({x}, {&a}, {ops::exp(x), gelu(x), ops::sin(x)});
  for (int64_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(outs[0].get(i), std::exp(a.get(i)), 1e-12 * std::exp(a.get(i))) << i;
    EXPECT_NEAR(outs[1].get(i), erf_gelu(a.get(i)), 1e-12) << i;
    EXPECT_NEAR(outs[2].get(i), std::sin(a.get(i)), 1e-6) << i;
  }
}

TEST(TensorElemwise, FloatOnlyOpsRejectIntegers) {
  Tensor x = placeholder({4}, DataType::Int(32), "x");
  EXPECT_THROW(sigmoid(x), CompileError);
  EXPECT_THROW(ops::sin(x), CompileError);
  EXPECT_THROW(gelu(x), CompileError);
  try {
    ops::exp(x);
    FAIL() << "no error";
  } catch (const CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("exp"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tessel::te::ops
