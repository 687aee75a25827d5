// 2-D pooling (max with dilation, average with and without count_include_pad, ceil_mode, global,
// adaptive) through the default schedule, JIT-compiled and under the interpreter, against direct
// loops written from PyTorch's definitions.
#include <gtest/gtest.h>

#include <limits>

#include "ops/nn_test_util.h"
#include "tessel/ir/error.h"
#include "tessel/te/ops/nn.h"

namespace tessel::te::ops {
namespace {

using testing::AlignedArray;
using testing::Engine;
using testing::expect_close;
using testing::fill_random;
using testing::run_default_schedule;

const DataType f32 = DataType::Float(32);

struct PoolCase {
  int n, c, h, w;
  std::array<int64_t, 2> kernel, stride;
  Padding2d pad{0, 0, 0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  bool ceil_mode = false;
  bool count_include_pad = true;
  // PyTorch's output size (pooling_output_shape), with this library's asymmetric padding.
  int out(int d) const {
    int64_t in = d == 0 ? h : w, span = in + pad[d] + pad[d + 2] - dilation[d] * (kernel[d] - 1) - 1;
    int64_t o = (ceil_mode ? (span + stride[d] - 1) / stride[d] : span / stride[d]) + 1;
    if (ceil_mode && (o - 1) * stride[d] >= in + pad[d]) --o;
    return static_cast<int>(o);
  }
};

std::vector<double> pool_reference(const PoolCase& p, const AlignedArray<float>& x, bool average) {
  int oh = p.out(0), ow = p.out(1);
  std::vector<double> out(static_cast<size_t>(p.n) * p.c * oh * ow);
  for (int nc = 0; nc < p.n * p.c; ++nc)
    for (int y = 0; y < oh; ++y)
      for (int z = 0; z < ow; ++z) {
        double best = -std::numeric_limits<double>::infinity(), total = 0;
        int real = 0;
        for (int i = 0; i < p.kernel[0]; ++i)
          for (int j = 0; j < p.kernel[1]; ++j) {
            int iy = y * p.stride[0] - p.pad[0] + i * p.dilation[0];
            int ix = z * p.stride[1] - p.pad[1] + j * p.dilation[1];
            if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
            double v = x[(static_cast<size_t>(nc) * p.h + iy) * p.w + ix];
            best = std::max(best, v);
            total += v;
            ++real;
          }
        double value = best;
        if (average) {
          // Divisor: the window clipped to the padded input (count_include_pad) or the real count.
          int hs = y * p.stride[0] - p.pad[0], ws = z * p.stride[1] - p.pad[1];
          int he = std::min<int>(hs + p.kernel[0], p.h + p.pad[2]), we = std::min<int>(ws + p.kernel[1], p.w + p.pad[3]);
          value = total / (p.count_include_pad ? (he - hs) * (we - ws) : real);
        }
        out[(static_cast<size_t>(nc) * oh + y) * ow + z] = value;
      }
  return out;
}

void check_pool(const PoolCase& p, bool average, Engine engine) {
  Tensor x = placeholder({p.n, p.c, p.h, p.w}, f32, "x");
  Tensor out = average ? avg_pool2d(x, p.kernel, p.stride, p.pad, p.ceil_mode, p.count_include_pad)
                       : max_pool2d(x, p.kernel, p.stride, p.pad, p.dilation, p.ceil_mode);
  ASSERT_EQ(testing::num_elements(out), static_cast<size_t>(p.n * p.c * p.out(0) * p.out(1)));
  AlignedArray<float> xa(testing::num_elements(x)), oa(testing::num_elements(out));
  fill_random(xa, 81, -1, 1);
  fill_random(oa, 82, -9, 9);
  run_default_schedule(out, {x, out}, {xa.data(), oa.data()}, engine);
  expect_close(oa, pool_reference(p, xa, average), 1e-5, average ? "avg_pool2d" : "max_pool2d");
}

TEST(NnPool, MaxPoolJit) {
  check_pool({2, 3, 11, 13, {3, 3}, {2, 2}, {1, 1, 1, 1}}, false, Engine::kJit);
  check_pool({1, 5, 32, 40, {2, 2}, {2, 2}}, false, Engine::kJit);
  check_pool({1, 2, 13, 17, {3, 2}, {1, 1}, {1, 0, 1, 1}, {2, 3}}, false, Engine::kJit);  // dilation
  check_pool({1, 1, 1, 1, {1, 1}, {1, 1}}, false, Engine::kJit);
}

TEST(NnPool, CeilModeJit) {
  check_pool({1, 3, 10, 11, {3, 3}, {2, 2}, {0, 0, 0, 0}, {1, 1}, true}, false, Engine::kJit);
  check_pool({2, 2, 9, 14, {3, 2}, {3, 3}, {1, 1, 1, 1}, {1, 1}, true}, false, Engine::kJit);
  check_pool({1, 3, 10, 11, {3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, true}, true, Engine::kJit);
  check_pool({1, 3, 10, 11, {3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, false}, true, Engine::kJit);
}

TEST(NnPool, AvgPoolJit) {
  check_pool({2, 3, 11, 13, {3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, false, true}, true, Engine::kJit);
  check_pool({2, 3, 11, 13, {3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, false, false}, true, Engine::kJit);
  check_pool({1, 4, 17, 37, {2, 3}, {1, 2}, {0, 1, 1, 0}, {1, 1}, false, false}, true, Engine::kJit);
}

TEST(NnPool, Interpreter) {
  check_pool({1, 2, 7, 9, {3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, true}, false, Engine::kInterpreter);
  check_pool({1, 2, 7, 9, {3, 2}, {2, 1}, {1, 0, 0, 1}, {1, 1}, true, false}, true, Engine::kInterpreter);
}

void check_global(bool average, int n, int c, int h, int w) {
  Tensor x = placeholder({n, c, h, w}, f32, "x");
  Tensor out = average ? global_avg_pool2d(x) : global_max_pool2d(x);
  AlignedArray<float> xa(testing::num_elements(x)), oa(n * c);
  fill_random(xa, 91, -1, 1);
  run_default_schedule(out, {x, out}, {xa.data(), oa.data()});
  std::vector<double> ref(n * c);
  for (int i = 0; i < n * c; ++i) {
    double total = 0, best = -std::numeric_limits<double>::infinity();
    for (int k = 0; k < h * w; ++k) {
      total += xa[static_cast<size_t>(i) * h * w + k];
      best = std::max<double>(best, xa[static_cast<size_t>(i) * h * w + k]);
    }
    ref[i] = average ? total / (h * w) : best;
  }
  expect_close(oa, ref, 1e-5, average ? "global_avg_pool2d" : "global_max_pool2d");
}

TEST(NnPool, GlobalJit) {
  check_global(true, 2, 7, 11, 13);
  check_global(false, 2, 7, 11, 13);
  check_global(true, 1, 1, 1, 1);
  check_global(false, 3, 16, 7, 7);
}

void check_adaptive(int n, int c, int h, int w, int oh, int ow, Engine engine = Engine::kJit) {
  Tensor x = placeholder({n, c, h, w}, f32, "x");
  Tensor out = adaptive_avg_pool2d(x, {oh, ow});
  AlignedArray<float> xa(testing::num_elements(x)), oa(n * c * oh * ow);
  fill_random(xa, 101, -1, 1);
  run_default_schedule(out, {x, out}, {xa.data(), oa.data()}, engine);
  std::vector<double> ref(oa.size());
  for (int i = 0; i < n * c; ++i)
    for (int y = 0; y < oh; ++y)
      for (int z = 0; z < ow; ++z) {
        int h0 = y * h / oh, h1 = ((y + 1) * h + oh - 1) / oh, w0 = z * w / ow, w1 = ((z + 1) * w + ow - 1) / ow;
        double total = 0;
        for (int a = h0; a < h1; ++a)
          for (int b = w0; b < w1; ++b) total += xa[(static_cast<size_t>(i) * h + a) * w + b];
        ref[(static_cast<size_t>(i) * oh + y) * ow + z] = total / ((h1 - h0) * (w1 - w0));
      }
  expect_close(oa, ref, 1e-5, "adaptive_avg_pool2d");
}

TEST(NnPool, AdaptiveAvgJit) {
  check_adaptive(2, 3, 11, 13, 3, 5);
  check_adaptive(1, 4, 12, 12, 4, 6);  // uniform windows
  check_adaptive(1, 2, 5, 7, 7, 9);    // output larger than input: overlapping windows
  check_adaptive(1, 3, 9, 9, 1, 1);
}

TEST(NnPool, AdaptiveInterpreter) { check_adaptive(1, 2, 7, 10, 3, 4, Engine::kInterpreter); }

TEST(NnPool, ShapeErrorsAreUserErrors) {
  Tensor x = placeholder({1, 2, 4, 4}, f32, "x");
  EXPECT_THROW(max_pool2d(x, {5, 5}, {1, 1}), CompileError);
  EXPECT_THROW(max_pool2d(x, {2, 2}, {0, 1}), CompileError);
  EXPECT_THROW(adaptive_avg_pool2d(x, {0, 2}), CompileError);
  EXPECT_THROW(global_avg_pool2d(placeholder({4, 4}, f32, "v")), CompileError);
}

}  // namespace
}  // namespace tessel::te::ops
