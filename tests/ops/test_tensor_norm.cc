// Normalisations (softmax, log_softmax, layer_norm, batch_norm, instance_norm) through their
// multi-stage default schedules and the LLVM JIT (and once through the interpreter), against
// double-precision C++ references on odd shapes.
#include <functional>

#include "tessel/ir/error.h"
#include "ops/test_tensor_util.h"

namespace tessel::te::ops {
namespace {

using testing::HostArray;
using testing::Runner;

// Calls f(row_indices) for each 1-d line of `shape` along `axis`: the flat offsets of its elements.
void for_each_line(const std::vector<int64_t>& shape, int axis, const std::function<void(const std::vector<int64_t>&)>& f) {
  int64_t inner = 1, outer = 1;
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      std::vector<int64_t> offsets;
      for (int64_t k = 0; k < shape[axis]; ++k) offsets.push_back((o * shape[axis] + k) * inner + in);
      f(offsets);
    }
  }
}

std::vector<double> softmax_reference(const HostArray& a, int axis, bool log) {
  std::vector<double> out(a.size());
  for_each_line(a.shape(), axis, [&](const std::vector<int64_t>& line) {
    double m = -INFINITY, s = 0;
    for (int64_t o : line) m = std::max(m, a.get(o));
    for (int64_t o : line) s += std::exp(a.get(o) - m);
    for (int64_t o : line) out[o] = log ? a.get(o) - m - std::log(s) : std::exp(a.get(o) - m) / s;
  });
  return out;
}

TEST(TensorNorm, SoftmaxAndLogSoftmaxOnEveryAxis) {
  struct Case {
    std::vector<int64_t> shape;
    int axis;
  };
  std::vector<Case> cases = {{{7, 77}, -1}, {{3, 5}, 1},      {{4, 33, 6}, 1}, {{19, 3}, 0},
                             {{2, 3, 5, 7}, 3}, {{1, 129}, 1}, {{6, 64}, 1},   {{2, 17, 1}, 1}};
  uint32_t seed = 40;
  for (const Case& c : cases) {
    for (bool log : {false, true}) {
      Tensor x = placeholder(testing::shape_of(c.shape), DataType::Float(32), "x");
      Tensor y = log ? log_softmax(x, c.axis) : softmax(x, c.axis);
      EXPECT_EQ(y->op->tag, log ? "log_softmax" : "softmax");
      HostArray a(DataType::Float(32), c.shape);
      a.fill(seed++, -8, 8);
      HostArray out = testing::run_one({x}, {&a}, y);
      int axis = c.axis < 0 ? c.axis + static_cast<int>(c.shape.size()) : c.axis;
      testing::expect_close(out, softmax_reference(a, axis, log), 1e-5, 1e-6,
                            std::string(log ? "log_softmax" : "softmax") + " axis " + std::to_string(c.axis) +
                                " inner " + std::to_string(c.shape.back()));
    }
  }
}

TEST(TensorNorm, SoftmaxIsStableForLargeInputs) {
  Tensor x = placeholder({2, 40}, DataType::Float(32), "x");
  HostArray a(DataType::Float(32), {2, 40});
  a.fill(1, 500, 1000);  // exp would overflow without subtracting the max
  HostArray out = testing::run_one({x}, {&a}, softmax(x));
  testing::expect_close(out, softmax_reference(a, 1, false), 1e-5, 1e-7, "softmax of large values");
}

TEST(TensorNorm, SoftmaxInterpreterAgrees) {
  Tensor x = placeholder({3, 37}, DataType::Float(32), "x");
  HostArray a(DataType::Float(32), {3, 37});
  a.fill(2, -3, 3);
  HostArray out = testing::run_one({x}, {&a}, softmax(x), Runner::kInterpreter);
  testing::expect_close(out, softmax_reference(a, 1, false), 1e-5, 1e-7, "softmax (interpreter)");
}

// (x - mean) / sqrt(var + eps) * gamma + beta over the trailing `count` axes; gamma/beta indexed
// by the position inside the normalised block (or 1 and 0 when absent).
std::vector<double> layer_norm_reference(const HostArray& a, int count, const HostArray* gamma, const HostArray* beta,
                                         double eps) {
  int64_t block = 1;
  for (size_t d = a.shape().size() - count; d < a.shape().size(); ++d) block *= a.shape()[d];
  std::vector<double> out(a.size());
  for (int64_t start = 0; start < a.size(); start += block) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < block; ++i) mean += a.get(start + i);
    mean /= block;
    for (int64_t i = 0; i < block; ++i) var += (a.get(start + i) - mean) * (a.get(start + i) - mean);
    var /= block;
    for (int64_t i = 0; i < block; ++i) {
      double v = (a.get(start + i) - mean) / std::sqrt(var + eps);
      out[start + i] = v * (gamma ? gamma->get(i) : 1.0) + (beta ? beta->get(i) : 0.0);
    }
  }
  return out;
}

TEST(TensorNorm, LayerNorm) {
  struct Case {
    std::vector<int64_t> shape;
    std::vector<int> axes;
  };
  std::vector<Case> cases = {{{5, 77}, {-1}}, {{2, 3, 16}, {2}}, {{4, 3, 11}, {1, 2}}, {{1, 7}, {-1}}, {{3, 200}, {1}}};
  uint32_t seed = 60;
  for (const Case& c : cases) {
    for (bool affine : {true, false}) {
      std::vector<int64_t> param_shape(c.shape.end() - c.axes.size(), c.shape.end());
      Tensor x = placeholder(testing::shape_of(c.shape), DataType::Float(32), "x");
      Tensor g = placeholder(testing::shape_of(param_shape), DataType::Float(32), "gamma");
      Tensor b = placeholder(testing::shape_of(param_shape), DataType::Float(32), "beta");
      HostArray a(DataType::Float(32), c.shape), hg(DataType::Float(32), param_shape), hb(DataType::Float(32), param_shape);
      a.fill(seed++, -3, 5);
      hg.fill(seed++, 0.5, 1.5);
      hb.fill(seed++, -1, 1);
      Tensor y = affine ? layer_norm(x, g, b, c.axes, 1e-5) : layer_norm(x, Tensor(), Tensor(), c.axes, 1e-3);
      EXPECT_EQ(y->op->tag, "layer_norm");
      HostArray out = affine ? testing::run_one({x, g, b}, {&a, &hg, &hb}, y) : testing::run_one({x}, {&a}, y);
      auto expected = affine ? layer_norm_reference(a, static_cast<int>(c.axes.size()), &hg, &hb, 1e-5)
                             : layer_norm_reference(a, static_cast<int>(c.axes.size()), nullptr, nullptr, 1e-3);
      testing::expect_close(out, expected, 1e-5, 2e-5, "layer_norm rank " + std::to_string(c.shape.size()));
    }
  }
}

TEST(TensorNorm, InstanceNorm) {
  for (std::vector<int64_t> shape : std::vector<std::vector<int64_t>>{{2, 3, 5, 7}, {1, 4, 37}, {3, 2, 4, 4}}) {
    int64_t channels = shape[1];
    Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
    Tensor g = placeholder({static_cast<int>(channels)}, DataType::Float(32), "gamma");
    Tensor b = placeholder({static_cast<int>(channels)}, DataType::Float(32), "beta");
    HostArray a(DataType::Float(32), shape), hg(DataType::Float(32), {channels}), hb(DataType::Float(32), {channels});
    a.fill(7, -2, 2);
    hg.fill(8, 0.5, 2);
    hb.fill(9);
    HostArray out = testing::run_one({x, g, b}, {&a, &hg, &hb}, instance_norm(x, g, b, 1e-5));
    // Per (n, c) block: normalise without affine, then apply the channel's gamma and beta.
    std::vector<double> expected = layer_norm_reference(a, static_cast<int>(shape.size()) - 2, nullptr, nullptr, 1e-5);
    int64_t block = a.size() / (shape[0] * channels);
    for (int64_t i = 0; i < a.size(); ++i) {
      int64_t c = (i / block) % channels;
      expected[i] = expected[i] * hg.get(c) + hb.get(c);
    }
    testing::expect_close(out, expected, 1e-5, 2e-5, "instance_norm rank " + std::to_string(shape.size()));
  }
}

TEST(TensorNorm, BatchNormInference) {
  for (int axis : {1, -1}) {
    std::vector<int64_t> shape = {2, 6, 3, 6};
    int64_t channels = 6;
    Tensor x = placeholder(testing::shape_of(shape), DataType::Float(32), "x");
    std::vector<Tensor> params;
    std::vector<HostArray> hosts;
    for (const char* name : {"gamma", "beta", "mean", "var"}) {
      params.push_back(placeholder({6}, DataType::Float(32), name));
      hosts.emplace_back(DataType::Float(32), std::vector<int64_t>{channels});
    }
    HostArray a(DataType::Float(32), shape);
    a.fill(3, -2, 2);
    hosts[0].fill(4, 0.5, 1.5);
    hosts[1].fill(5);
    hosts[2].fill(6);
    hosts[3].fill(7, 0.1, 2);
    Tensor y = batch_norm(x, params[0], params[1], params[2], params[3], 1e-3, axis);
    EXPECT_EQ(y->op->tag, "broadcast");
    HostArray out = testing::run_one({x, params[0], params[1], params[2], params[3]},
                                     {&a, &hosts[0], &hosts[1], &hosts[2], &hosts[3]}, y);
    std::vector<double> expected;
    for (int64_t i = 0; i < a.size(); ++i) {
      int64_t c = testing::unravel(i, shape)[axis < 0 ? axis + 4 : axis];
      double v = (a.get(i) - hosts[2].get(c)) / std::sqrt(hosts[3].get(c) + 1e-3);
      expected.push_back(v * hosts[0].get(c) + hosts[1].get(c));
    }
    testing::expect_close(out, expected, 1e-5, 1e-6, "batch_norm axis " + std::to_string(axis));
  }
}

// An elementwise epilogue after softmax / a reduction, scheduled through
// schedule_tensor_epilogue (as the dispatch for injective outputs would).
TEST(TensorNorm, EpilogueSchedules) {
  Tensor x = placeholder({5, 45}, DataType::Float(32), "x");
  HostArray a(DataType::Float(32), {5, 45});
  a.fill(31, -3, 3);
  std::vector<double> sm = softmax_reference(a, 1, false);
  struct Case {
    Tensor out;
    std::function<double(int64_t)> ref;
    int64_t size;
  };
  std::vector<Case> cases = {
      {multiply(softmax(x), 2.0), [&](int64_t i) { return 2 * sm[i]; }, 5 * 45},
      {relu(ops::sum(x, {1})), [&](int64_t r) {
         double s = 0;
         for (int64_t k = 0; k < 45; ++k) s += a.get(r * 45 + k);
         return std::max(s, 0.0);
       }, 5},
  };
  for (const Case& c : cases) {
    Schedule s = create_schedule({c.out});
    ASSERT_TRUE(schedule_tensor_epilogue(s, c.out, ScheduleTarget()));
    PrimFunc f = lower_schedule(s, {x, c.out}, "op");
    EXPECT_NE(to_string(f).find("parallel"), std::string::npos) << to_string(f);
    HostArray out = HostArray::like(c.out);
    codegen::JitModule::compile({f}).get_function("op").call({a.data(), out.data()});
    std::vector<double> expected;
    for (int64_t i = 0; i < c.size; ++i) expected.push_back(c.ref(i));
    testing::expect_close(out, expected, 1e-5, 1e-6, "epilogue");
  }
  // Not a tensor operator's reduction: nothing applied.
  Tensor y = placeholder({4}, DataType::Float(32), "y");
  IterVar k = reduce_axis(0, 4, "k");
  Tensor custom = compute_reduce({1}, [&](const std::vector<Var>&) { return te::sum(y({k}), {k}); }, "custom", "dense");
  Tensor epilogue = relu(custom);
  Schedule s = create_schedule({epilogue});
  EXPECT_FALSE(schedule_tensor_epilogue(s, epilogue, ScheduleTarget()));
  EXPECT_TRUE(s.steps().empty());
}

TEST(TensorNorm, Errors) {
  Tensor x = placeholder({4, 9}, DataType::Float(32), "x");
  Tensor g = placeholder({4}, DataType::Float(32), "g");
  EXPECT_THROW(layer_norm(x, g, g, {0}), CompileError);  // not trailing
  EXPECT_THROW(layer_norm(x, g, g, {-1}), CompileError);  // wrong gamma extent
  EXPECT_THROW(softmax(placeholder({3}, DataType::Int(32), "i")), CompileError);
  EXPECT_THROW(softmax(x, 2), CompileError);
  EXPECT_THROW(instance_norm(x, g, g), CompileError);  // rank 2
}

}  // namespace
}  // namespace tessel::te::ops
