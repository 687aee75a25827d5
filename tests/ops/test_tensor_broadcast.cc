// Broadcasting binary operators, where() and broadcast_to() through their default schedules and
// the LLVM JIT, against C++ references that broadcast index by index.
#include <functional>

#include "tessel/ir/error.h"
#include "ops/test_tensor_util.h"

namespace tessel::te::ops {
namespace {

using testing::HostArray;

// The element of `a` (shape a.shape()) read at output multi-index `out` under numpy broadcasting.
double broadcast_read(const HostArray& a, const std::vector<int64_t>& out) {
  size_t offset = out.size() - a.shape().size();
  std::vector<int64_t> index;
  for (size_t d = 0; d < a.shape().size(); ++d) index.push_back(a.shape()[d] == 1 ? 0 : out[offset + d]);
  return a.at(index);
}

using BinaryRef = std::function<double(double, double)>;

void check_binary(const char* name, const std::function<Tensor(const Tensor&, const Tensor&)>& op, const BinaryRef& ref,
                  DataType t, std::vector<int64_t> sa, std::vector<int64_t> sb, std::vector<int64_t> expected_shape,
                  double low, double high, double rtol = 0) {
  Tensor a = placeholder(testing::shape_of(sa), t, "a");
  Tensor b = placeholder(testing::shape_of(sb), t, "b");
  Tensor c = op(a, b);
  std::vector<int64_t> shape;
  for (const Expr& e : c.shape()) shape.push_back(*as_const_int(e));
  ASSERT_EQ(shape, expected_shape) << name;
  HostArray ha(t, sa), hb(t, sb);
  ha.fill(21, low, high);
  hb.fill(22, low, high);
  HostArray out = testing::run_one({a, b}, {&ha, &hb}, c);
  std::vector<double> expected;
  for (int64_t i = 0; i < out.size(); ++i) {
    std::vector<int64_t> index = testing::unravel(i, shape);
    double v = ref(broadcast_read(ha, index), broadcast_read(hb, index));
    if (c.dtype() == DataType::Float(32)) v = static_cast<float>(v);
    expected.push_back(v);
  }
  testing::expect_close(out, expected, rtol, rtol, std::string(name) + " " + t.to_string());
}

TEST(TensorBroadcast, ShapesFollowNumpy) {
  auto shape = [](std::vector<int64_t> a, std::vector<int64_t> b) {
    std::vector<int64_t> result;
    for (const Expr& e : broadcast_shape(testing::shape_of(a), testing::shape_of(b), "test")) result.push_back(*as_const_int(e));
    return result;
  };
  EXPECT_EQ(shape({3, 1, 17}, {5, 1}), (std::vector<int64_t>{3, 5, 17}));
  EXPECT_EQ(shape({1}, {7, 1, 2}), (std::vector<int64_t>{7, 1, 2}));
  EXPECT_EQ(shape({4, 6}, {4, 6}), (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(shape({}, {2, 3}), (std::vector<int64_t>{2, 3}));
  EXPECT_THROW(shape({3, 4}, {5, 4}), CompileError);
}

TEST(TensorBroadcast, FloatArithmetic) {
  DataType f = DataType::Float(32);
  std::vector<int64_t> sa = {3, 1, 17}, sb = {5, 1}, out = {3, 5, 17};
  check_binary("add", [](auto& a, auto& b) { return add(a, b); }, std::plus<>(), f, sa, sb, out, -2, 2);
  check_binary("subtract", [](auto& a, auto& b) { return subtract(a, b); }, std::minus<>(), f, sa, sb, out, -2, 2);
  check_binary("multiply", [](auto& a, auto& b) { return multiply(a, b); }, std::multiplies<>(), f, sa, sb, out, -2, 2);
  check_binary("divide", [](auto& a, auto& b) { return divide(a, b); }, std::divides<>(), f, sa, sb, out, 0.5, 2, 1e-7);
  check_binary("power", [](auto& a, auto& b) { return power(a, b); }, [](double x, double y) { return std::pow(x, y); },
               f, sa, sb, out, 0.1, 3, 1e-6);
  check_binary("maximum", [](auto& a, auto& b) { return maximum(a, b); },
               [](double x, double y) { return std::max(x, y); }, f, {2, 33}, {33}, {2, 33}, -2, 2);
  check_binary("minimum", [](auto& a, auto& b) { return minimum(a, b); },
               [](double x, double y) { return std::min(x, y); }, f, {1, 33}, {4, 1}, {4, 33}, -2, 2);
  check_binary("floor_divide", [](auto& a, auto& b) { return floor_divide(a, b); },
               [](double x, double y) { return std::floor(static_cast<float>(x / y)); }, f, {19}, {19}, {19}, -9, 9);
  check_binary("floor_mod", [](auto& a, auto& b) { return floor_mod(a, b); },
               [](double x, double y) { return x - std::floor(static_cast<float>(x / y)) * y; }, f, {19}, {19}, {19}, 1, 9,
               1e-5);
}

TEST(TensorBroadcast, IntegerDivisionSemantics) {
  DataType i32 = DataType::Int(32);
  // Nonzero divisors: values in [-9, 9] with zero replaced below by the reference too.
  auto trunc_ref = [](double x, double y) { return y == 0 ? 0.0 : std::trunc(x / y); };
  auto floor_ref = [](double x, double y) { return y == 0 ? 0.0 : std::floor(x / y); };
  auto mod_ref = [](double x, double y) { return y == 0 ? 0.0 : x - std::floor(x / y) * y; };
  auto nonzero = [](const std::function<Tensor(const Tensor&, const Tensor&)>& op) {
    // Divisor b with zeros mapped to 1 by a where(); the reference sees the same divisor values.
    return [op](const Tensor& a, const Tensor& b) { return op(a, where(equal(b, 0), 7, b)); };
  };
  auto fix = [](const BinaryRef& r) { return [r](double x, double y) { return r(x, y == 0 ? 7 : y); }; };
  check_binary("divide", nonzero([](auto& a, auto& b) { return divide(a, b); }), fix(trunc_ref), i32, {4, 29}, {29},
               {4, 29}, -50, 50);
  check_binary("trunc_divide", nonzero([](auto& a, auto& b) { return trunc_divide(a, b); }), fix(trunc_ref), i32, {4, 29},
               {4, 1}, {4, 29}, -50, 50);
  check_binary("floor_divide", nonzero([](auto& a, auto& b) { return floor_divide(a, b); }), fix(floor_ref), i32, {4, 29},
               {29}, {4, 29}, -50, 50);
  check_binary("floor_mod", nonzero([](auto& a, auto& b) { return floor_mod(a, b); }), fix(mod_ref), i32, {4, 29}, {29},
               {4, 29}, -50, 50);
  check_binary("add int8 wraps", [](auto& a, auto& b) { return add(a, b); },
               [](double x, double y) { return static_cast<double>(static_cast<int8_t>(x + y)); }, DataType::Int(8), {37},
               {37}, {37}, -128, 127);
}

TEST(TensorBroadcast, ComparisonsAndLogic) {
  DataType i16 = DataType::Int(16);
  std::vector<int64_t> sa = {3, 1, 18}, sb = {2, 18}, out = {3, 2, 18};
  check_binary("equal", [](auto& a, auto& b) { return equal(a, b); }, std::equal_to<>(), i16, sa, sb, out, -3, 3);
  check_binary("not_equal", [](auto& a, auto& b) { return not_equal(a, b); }, std::not_equal_to<>(), i16, sa, sb, out, -3, 3);
  check_binary("less", [](auto& a, auto& b) { return less(a, b); }, std::less<>(), i16, sa, sb, out, -3, 3);
  check_binary("less_equal", [](auto& a, auto& b) { return less_equal(a, b); }, std::less_equal<>(), i16, sa, sb, out, -3, 3);
  check_binary("greater", [](auto& a, auto& b) { return greater(a, b); }, std::greater<>(), i16, sa, sb, out, -3, 3);
  check_binary("greater_equal", [](auto& a, auto& b) { return greater_equal(a, b); }, std::greater_equal<>(), i16, sa, sb,
               out, -3, 3);
  DataType b = DataType::Bool();
  check_binary("logical_and", [](auto& x, auto& y) { return logical_and(x, y); },
               [](double x, double y) { return (x != 0) && (y != 0); }, b, {5, 17}, {17}, {5, 17}, 0, 1);
  check_binary("logical_or", [](auto& x, auto& y) { return logical_or(x, y); },
               [](double x, double y) { return (x != 0) || (y != 0); }, b, {5, 17}, {5, 1}, {5, 17}, 0, 1);
  check_binary("logical_xor", [](auto& x, auto& y) { return logical_xor(x, y); },
               [](double x, double y) { return (x != 0) != (y != 0); }, b, {17}, {5, 17}, {5, 17}, 0, 1);
}

TEST(TensorBroadcast, ScalarOperandsTakeTheTensorType) {
  Tensor x = placeholder({3, 19}, DataType::Float(64), "x");
  Tensor y = placeholder({3, 19}, DataType::Int(32), "y");
  HostArray hx(DataType::Float(64), {3, 19}), hy(DataType::Int(32), {3, 19});
  hx.fill(1, -2, 2);
  hy.fill(2, -20, 20);
  auto outs = testing::run_default({x, y}, {&hx, &hy},
                                   {add(x, 0.1), subtract(1, x), multiply(y, 3), greater(y, Expr(4)), maximum(0.25, x)});
  EXPECT_EQ(outs[0].dtype(), DataType::Float(64));
  EXPECT_EQ(outs[2].dtype(), DataType::Int(32));
  for (int64_t i = 0; i < hx.size(); ++i) {
    EXPECT_EQ(outs[0].get(i), hx.get(i) + 0.1) << "0.1 must stay a double constant";
    EXPECT_EQ(outs[1].get(i), 1 - hx.get(i));
    EXPECT_EQ(outs[2].get(i), hy.get(i) * 3);
    EXPECT_EQ(outs[3].get(i), hy.get(i) > 4 ? 1 : 0);
    EXPECT_EQ(outs[4].get(i), std::max(0.25, hx.get(i)));
  }
}

TEST(TensorBroadcast, WhereBroadcastsAllThree) {
  Tensor c = placeholder({4, 1, 1}, DataType::Bool(), "c");
  Tensor x = placeholder({1, 3, 17}, DataType::Float(32), "x");
  Tensor y = placeholder({17}, DataType::Float(32), "y");
  HostArray hc(DataType::Bool(), {4, 1, 1}), hx(DataType::Float(32), {1, 3, 17}), hy(DataType::Float(32), {17});
  hc.fill(3, 0, 1);
  hx.fill(4);
  hy.fill(5);
  Tensor w = where(c, x, y);
  EXPECT_EQ(w->op->tag, "broadcast");
  HostArray out = testing::run_one({c, x, y}, {&hc, &hx, &hy}, w);
  std::vector<int64_t> shape = {4, 3, 17};
  ASSERT_EQ(out.shape(), shape);
  std::vector<double> expected;
  for (int64_t i = 0; i < out.size(); ++i) {
    auto index = testing::unravel(i, shape);
    expected.push_back(broadcast_read(hc, index) != 0 ? broadcast_read(hx, index) : broadcast_read(hy, index));
  }
  testing::expect_close(out, expected, 0, 0, "where");
  // A scalar branch and a non-bool condition (compared with zero).
  Tensor w2 = where(x, x, -1.5);
  HostArray out2 = testing::run_one({x}, {&hx}, w2);
  for (int64_t i = 0; i < hx.size(); ++i) EXPECT_EQ(out2.get(i), hx.get(i) != 0 ? hx.get(i) : -1.5);
}

TEST(TensorBroadcast, BroadcastTo) {
  Tensor x = placeholder({3, 1}, DataType::Int(32), "x");
  Tensor y = broadcast_to(x, testing::shape_of({2, 3, 21}));
  HostArray hx(DataType::Int(32), {3, 1});
  hx.fill(6, -9, 9);
  HostArray out = testing::run_one({x}, {&hx}, y);
  for (int64_t i = 0; i < out.size(); ++i) {
    auto index = testing::unravel(i, {2, 3, 21});
    EXPECT_EQ(out.get(i), hx.at({index[1], 0})) << i;
  }
  EXPECT_THROW(broadcast_to(x, testing::shape_of({2, 4, 5})), CompileError);
  EXPECT_THROW(broadcast_to(x, testing::shape_of({3})), CompileError);
}

TEST(TensorBroadcast, ErrorsNameTheOp) {
  Tensor a = placeholder({3}, DataType::Float(32), "a");
  Tensor b = placeholder({3}, DataType::Int(32), "b");
  try {
    add(a, b);
    FAIL() << "no error";
  } catch (const CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("add"), std::string::npos) << e.what();
  }
  EXPECT_THROW(logical_and(a, a), CompileError);
  EXPECT_THROW(power(b, b), CompileError);
  EXPECT_THROW(add(1, 2.0), CompileError);
}

}  // namespace
}  // namespace tessel::te::ops
