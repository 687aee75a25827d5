// Reductions (sum, mean, max, min, prod, sum of squares, argmax, argmin) over many axis sets,
// with and without keepdims, through the "reduce" default schedule (both its outer-axis and its
// rfactor paths) and the LLVM JIT, against double-precision C++ references.
#include <functional>
#include <limits>

#include "tessel/ir/error.h"
#include "ops/test_tensor_util.h"

namespace tessel::te::ops {
namespace {

using testing::HostArray;
using testing::Runner;

using ReduceOp = std::function<Tensor(const Tensor&, std::vector<int>, bool)>;
using Combine = std::function<double(double, double)>;

// Reference reduction of a over `axes` (empty: all): init, combine, then finish(acc, count).
std::vector<double> reference(const HostArray& a, std::vector<int> axes, double init, const Combine& combine,
                              const std::function<double(double, int64_t)>& finish) {
  int n = static_cast<int>(a.shape().size());
  if (axes.empty()) {
    for (int d = 0; d < n; ++d) axes.push_back(d);
  }
  std::vector<bool> reduced(n, false);
  for (int d : axes) reduced[d < 0 ? d + n : d] = true;
  std::vector<int64_t> out_shape;
  int64_t count = 1;
  for (int d = 0; d < n; ++d) {
    out_shape.push_back(reduced[d] ? 1 : a.shape()[d]);
    if (reduced[d]) count *= a.shape()[d];
  }
  int64_t out_size = std::accumulate(out_shape.begin(), out_shape.end(), int64_t{1}, std::multiplies<>());
  std::vector<double> acc(out_size, init);
  for (int64_t i = 0; i < a.size(); ++i) {
    std::vector<int64_t> index = testing::unravel(i, a.shape());
    for (int d = 0; d < n; ++d) {
      if (reduced[d]) index[d] = 0;
    }
    int64_t o = 0;
    for (int d = 0; d < n; ++d) o = o * out_shape[d] + index[d];
    acc[o] = combine(acc[o], a.get(i));
  }
  for (double& v : acc) v = finish(v, count);
  return acc;
}

struct Case {
  std::vector<int64_t> shape;
  std::vector<int> axes;
};

// Shapes and axes that exercise: innermost reduction short (serial) and long (rfactor, dividing or
// not), outer-axis reductions (vectorised kept axis), several axes, all axes (shape [1] result), 1s.
std::vector<Case> cases() {
  return {
      {{7, 13}, {1}},       {{5, 77}, {-1}},     {{3, 64}, {1}},        {{37, 19}, {0}},
      {{2, 3, 41}, {1}},    {{4, 5, 6}, {0, 2}}, {{3, 17, 5}, {}},      {{1, 1, 33}, {2}},
      {{6, 1, 35}, {0, 1}}, {{129}, {0}},        {{2, 5, 3, 7}, {1, 3}}, {{9, 1}, {1}},
  };
}

void check_reduce(const char* name, const ReduceOp& op, DataType t, double init, const Combine& combine,
                  const std::function<double(double, int64_t)>& finish, double low, double high, double rtol,
                  Runner runner = Runner::kJit) {
  uint32_t seed = 100;
  int case_index = 0;
  for (const Case& c : cases()) {
    // keepdims alternates between cases (and runs both ways on the all-axes case) to keep the
    // number of compiled kernels small.
    bool all_axes = c.axes.empty();
    for (bool keepdims : {false, true}) {
      if (!all_axes && keepdims != (case_index % 2 == 1)) continue;
      Tensor x = placeholder(testing::shape_of(c.shape), t, "x");
      Tensor y = op(x, c.axes, keepdims);
      EXPECT_EQ(y->op->tag, "reduce");
      size_t reduced = c.axes.empty() ? c.shape.size() : c.axes.size();
      ASSERT_EQ(y.ndim(), keepdims ? c.shape.size() : std::max<size_t>(1, c.shape.size() - reduced)) << name;
      HostArray a(t, c.shape);
      a.fill(seed++, low, high);
      HostArray out = testing::run_one({x}, {&a}, y, runner);
      std::vector<double> expected = reference(a, c.axes, init, combine, finish);
      if (t == DataType::Float(32)) {
        for (double& v : expected) v = static_cast<float>(v);
      }
      std::string what = std::string(name) + " " + t.to_string() + " shape " + std::to_string(c.shape.size()) + "d [" +
                         std::to_string(c.shape.back()) + "] keepdims " + std::to_string(keepdims) + " axes " +
                         std::to_string(c.axes.size());
      testing::expect_close(out, expected, rtol, rtol, what);
    }
    ++case_index;
  }
}

auto identity_finish = [](double v, int64_t) { return v; };

TEST(TensorReduce, SumFloatAndInt) {
  check_reduce("sum", ops::sum, DataType::Float(32), 0, std::plus<>(), identity_finish, -1, 1, 2e-5);
  check_reduce("sum", ops::sum, DataType::Int(32), 0, std::plus<>(), identity_finish, -1000, 1000, 0);
}

TEST(TensorReduce, MeanFloatAndInt) {
  check_reduce("mean", ops::mean, DataType::Float(32), 0, std::plus<>(), [](double v, int64_t n) { return v / n; },
               -1, 1, 2e-5);
  check_reduce("mean", ops::mean, DataType::Int(32), 0, std::plus<>(),
               [](double v, int64_t n) { return std::trunc(v / n); }, -1000, 1000, 0);
}

TEST(TensorReduce, MaxMin) {
  double inf = std::numeric_limits<double>::infinity();
  check_reduce("max", ops::max, DataType::Float(32), -inf, [](double a, double b) { return std::max(a, b); },
               identity_finish, -5, 5, 0);
  check_reduce("min", ops::min, DataType::Int(16), 32767, [](double a, double b) { return std::min(a, b); }, identity_finish,
               -30000, 30000, 0);
}

TEST(TensorReduce, ProdAndSumOfSquares) {
  // Values near 1 keep long products finite.
  check_reduce("prod", ops::prod, DataType::Float(32), 1, std::multiplies<>(), identity_finish, 0.95, 1.05, 2e-5);
  check_reduce("sum_of_squares", ops::sum_of_squares, DataType::Float(32), 0,
               [](double a, double b) { return a + b * b; }, identity_finish, -1, 1, 2e-5);
}

TEST(TensorReduce, InterpreterAgrees) {
  check_reduce("sum", ops::sum, DataType::Float(32), 0, std::plus<>(), identity_finish, -1, 1, 2e-5,
               Runner::kInterpreter);
}

// argmax/argmin with many ties (small integer range): numpy's first occurrence, or the last.
TEST(TensorReduce, ArgmaxArgminFirstAndLastOccurrence) {
  struct ArgCase {
    std::vector<int64_t> shape;
    int axis;
  };
  std::vector<ArgCase> arg_cases = {{{6, 37}, 1}, {{6, 37}, 0}, {{3, 4, 5}, -2}, {{50}, 0}, {{2, 1, 45}, 2}};
  uint32_t seed = 300;
  for (DataType t : {DataType::Float(32), DataType::Int(32)}) {
    for (const ArgCase& c : arg_cases) {
      for (bool is_max : {true, false}) {
        for (bool last : {false, true}) {
          {
            bool keepdims = last;  // both settings covered without doubling the compiles
            Tensor x = placeholder(testing::shape_of(c.shape), t, "x");
            Tensor y = is_max ? argmax(x, c.axis, keepdims, last) : argmin(x, c.axis, keepdims, last);
            EXPECT_EQ(y.dtype(), DataType::Int(32));
            HostArray a(t, c.shape);
            a.fill(seed++, -4, 4);
            if (t.is_float()) {
              for (int64_t i = 0; i < a.size(); ++i) a.set(i, std::round(a.get(i)));  // ties
            }
            HostArray out = testing::run_one({x}, {&a}, y);
            int n = static_cast<int>(c.shape.size());
            int axis = c.axis < 0 ? c.axis + n : c.axis;
            std::vector<int64_t> kept_shape = c.shape;
            kept_shape[axis] = 1;
            ASSERT_EQ(out.size(), std::accumulate(kept_shape.begin(), kept_shape.end(), int64_t{1}, std::multiplies<>()));
            for (int64_t o = 0; o < out.size(); ++o) {
              std::vector<int64_t> index = testing::unravel(o, kept_shape);
              int64_t best = -1;
              double best_value = 0;
              for (int64_t k = 0; k < c.shape[axis]; ++k) {
                index[axis] = k;
                double v = a.at(index);
                bool better = best < 0 || (is_max ? v > best_value : v < best_value) || (last && v == best_value);
                if (better) {
                  best = k;
                  best_value = v;
                }
              }
              ASSERT_EQ(out.get(o), best) << (is_max ? "argmax" : "argmin") << " last=" << last << " axis " << c.axis
                                          << " " << t.to_string() << " at " << o;
            }
          }
        }
      }
    }
  }
}

TEST(TensorReduce, ArgmaxIndexTypeInt64) {
  Tensor x = placeholder({4, 9}, DataType::Float(32), "x");
  Tensor y = argmax(x, 1, false, false, DataType::Int(64));
  HostArray a(DataType::Float(32), {4, 9});
  a.fill(8);
  HostArray out = testing::run_one({x}, {&a}, y);
  EXPECT_EQ(out.dtype(), DataType::Int(64));
  for (int64_t r = 0; r < 4; ++r) {
    int64_t best = 0;
    for (int64_t k = 1; k < 9; ++k) {
      if (a.at({r, k}) > a.at({r, best})) best = k;
    }
    EXPECT_EQ(out.get(r), best);
  }
}

// The reduce schedule vectorises: an innermost long reduction goes through rfactor, an outer one
// vectorises the kept axis.
TEST(TensorReduce, DefaultScheduleShapes) {
  Tensor x = placeholder({8, 100}, DataType::Float(32), "x");
  Schedule inner = default_schedule({ops::sum(x, {1})});
  EXPECT_EQ(inner.num_stages(), 3) << "placeholder, rfactor stage, sum";
  Schedule outer = default_schedule({ops::sum(x, {0})});
  PrimFunc f = lower_schedule(outer, {x, outer.outputs()[0]}, "sum0");
  std::string text = to_string(f);
  EXPECT_NE(text.find("x16"), std::string::npos) << text;
}

TEST(TensorReduce, Errors) {
  Tensor x = placeholder({4, 9}, DataType::Float(32), "x");
  EXPECT_THROW(ops::sum(x, {2}), CompileError);
  EXPECT_THROW(ops::sum(x, {1, -1}), CompileError);
  EXPECT_THROW(argmax(x, 1, false, false, DataType::Float(32)), CompileError);
  Tensor b = placeholder({4}, DataType::Bool(), "b");
  EXPECT_THROW(ops::sum(b), CompileError);
}

}  // namespace
}  // namespace tessel::te::ops
