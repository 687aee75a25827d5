// The default GPU schedules of the operator library: the scheduled loop IR (thread-bound loops run
// serially) is checked against naive C++ references under the loop-IR interpreter, and the CUDA it
// becomes must compile with NVRTC for sm_90 without a single warning (skipped without NVRTC).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tessel/codegen/cuda.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/printer.h"
#include "tessel/te/ops/common.h"
#include "tessel/te/ops/nn.h"
#include "tessel/te/ops/tensor.h"
#include "tessel/te/schedule.h"

namespace tessel::te::ops {
namespace {

using codegen::CudaTarget;

std::vector<float> random_vector(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

ScheduleTarget gpu() {
  ScheduleTarget t;
  t.kind = "cuda";
  return t;
}

// Schedules `outputs` for the GPU and lowers them with `args` as parameters.
PrimFunc lower_for_gpu(const std::vector<Tensor>& outputs, const std::vector<Tensor>& args, const std::string& name) {
  Schedule s = default_schedule(outputs, gpu());
  return lower_schedule(s, args, name);
}

bool has_thread_bound_loop(const PrimFunc& f, const std::string& tag) {
  bool found = false;
  pre_order_visit(f->body, [&](const Expr*, const Stmt* s) {
    if (s) {
      if (const ForNode* loop = s->as<ForNode>()) found |= loop->thread_tag == tag;
    }
  });
  return found;
}

// Generates CUDA, checks its shape and, when NVRTC is present, compiles it warning-free.
std::string compile_clean(const PrimFunc& f) {
  codegen::CudaModuleSource module = codegen::generate_cuda({f}, CudaTarget::parse("cuda -arch=sm_90"));
  EXPECT_NE(module.source.find("extern \"C\" __global__"), std::string::npos);
  EXPECT_NE(module.source.find("threadIdx.x"), std::string::npos) << module.source;
  std::string why;
  if (codegen::nvrtc_available(&why)) {
    codegen::CudaBinary binary = codegen::compile_cuda(module.source, CudaTarget::parse("cuda -arch=sm_90"), true, f->name);
    EXPECT_EQ(binary.log, "") << module.source;
    EXPECT_NE(binary.ptx.find(".entry"), std::string::npos);
    EXPECT_FALSE(binary.cubin.empty());
  }
  return module.source;
}

void expect_near(const std::vector<float>& got, const std::vector<double>& want, double tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tolerance * (1 + std::fabs(want[i]))) << "element " << i;
  }
}

TEST(CudaOps, MatmulSharedTiles) {
  for (auto [m, n, k] : {std::tuple{64, 64, 32}, std::tuple{37, 29, 13}}) {
    Tensor a = placeholder({m, k}, DataType::Float(32), "A");
    Tensor b = placeholder({k, n}, DataType::Float(32), "B");
    Tensor c = matmul(a, b);
    PrimFunc f = lower_for_gpu({c}, {a, b, c}, "matmul_gpu");
    EXPECT_TRUE(has_thread_bound_loop(f, "threadIdx.y"));
    EXPECT_TRUE(has_thread_bound_loop(f, "blockIdx.y"));
    auto av = random_vector(m * k, 1), bv = random_vector(k * n, 2);
    std::vector<float> cv(m * n);
    interpret(f, {av.data(), bv.data(), cv.data()});
    std::vector<double> want(m * n);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        double sum = 0;
        for (int x = 0; x < k; ++x) sum += double(av[i * k + x]) * bv[x * n + j];
        want[i * n + j] = sum;
      }
    }
    expect_near(cv, want, 1e-4);
    std::string source = compile_clean(f);
    EXPECT_NE(source.find("__shared__"), std::string::npos) << source;
    EXPECT_NE(source.find("__syncthreads()"), std::string::npos) << source;
  }
}

TEST(CudaOps, DenseWithBiasAndRelu) {
  int m = 5, n = 33, k = 19;
  Tensor x = placeholder({m, k}, DataType::Float(32), "x");
  Tensor w = placeholder({n, k}, DataType::Float(32), "w");
  Tensor bias = placeholder({n}, DataType::Float(32), "bias");
  Tensor y = relu(dense(x, w, bias));
  PrimFunc f = lower_for_gpu({y}, {x, w, bias, y}, "dense_gpu");
  auto xv = random_vector(m * k, 3), wv = random_vector(n * k, 4), bv = random_vector(n, 5);
  std::vector<float> yv(m * n);
  interpret(f, {xv.data(), wv.data(), bv.data(), yv.data()});
  std::vector<double> want(m * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double sum = bv[j];
      for (int z = 0; z < k; ++z) sum += double(xv[i * k + z]) * wv[j * k + z];
      want[i * n + j] = std::max(sum, 0.0);
    }
  }
  expect_near(yv, want, 1e-4);
  compile_clean(f);
}

// Naive NCHW convolution with zero padding, stride and groups.
std::vector<double> conv_reference(const std::vector<float>& x, const std::vector<float>& w, int batch, int channels,
                                   int height, int width, int out_channels, int kernel, int stride, int pad,
                                   int groups, int out_h, int out_w) {
  std::vector<double> y(batch * out_channels * out_h * out_w);
  int in_per_group = channels / groups, out_per_group = out_channels / groups;
  for (int b = 0; b < batch; ++b)
    for (int o = 0; o < out_channels; ++o)
      for (int i = 0; i < out_h; ++i)
        for (int j = 0; j < out_w; ++j) {
          double sum = 0;
          for (int c = 0; c < in_per_group; ++c)
            for (int p = 0; p < kernel; ++p)
              for (int q = 0; q < kernel; ++q) {
                int yy = i * stride + p - pad, xx = j * stride + q - pad;
                if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
                int channel = (o / out_per_group) * in_per_group + c;
                sum += double(x[((b * channels + channel) * height + yy) * width + xx]) *
                       w[((o * in_per_group + c) * kernel + p) * kernel + q];
              }
          y[((b * out_channels + o) * out_h + i) * out_w + j] = sum;
        }
  return y;
}

TEST(CudaOps, Conv2dNchw) {
  int batch = 2, channels = 3, height = 11, width = 9, out_channels = 5, kernel = 3, stride = 2, pad = 1;
  int out_h = (height + 2 * pad - kernel) / stride + 1, out_w = (width + 2 * pad - kernel) / stride + 1;
  Tensor x = placeholder({batch, channels, height, width}, DataType::Float(32), "x");
  Tensor w = placeholder({out_channels, channels, kernel, kernel}, DataType::Float(32), "w");
  Tensor y = conv2d_nchw(x, w, {stride, stride}, {pad, pad, pad, pad});
  PrimFunc f = lower_for_gpu({y}, {x, w, y}, "conv_gpu");
  auto xv = random_vector(batch * channels * height * width, 6);
  auto wv = random_vector(out_channels * channels * kernel * kernel, 7);
  std::vector<float> yv(batch * out_channels * out_h * out_w);
  interpret(f, {xv.data(), wv.data(), yv.data()});
  expect_near(yv, conv_reference(xv, wv, batch, channels, height, width, out_channels, kernel, stride, pad, 1, out_h, out_w),
              1e-4);
  compile_clean(f);
}

TEST(CudaOps, DepthwiseConv2d) {
  int batch = 1, channels = 7, height = 13, width = 10, kernel = 3, pad = 1;
  Tensor x = placeholder({batch, channels, height, width}, DataType::Float(32), "x");
  Tensor w = placeholder({channels, 1, kernel, kernel}, DataType::Float(32), "w");
  Tensor y = conv2d_nchw(x, w, {1, 1}, {pad, pad, pad, pad}, {1, 1}, channels);
  PrimFunc f = lower_for_gpu({y}, {x, w, y}, "depthwise_gpu");
  auto xv = random_vector(batch * channels * height * width, 8), wv = random_vector(channels * kernel * kernel, 9);
  std::vector<float> yv(batch * channels * height * width);
  interpret(f, {xv.data(), wv.data(), yv.data()});
  expect_near(yv, conv_reference(xv, wv, batch, channels, height, width, channels, kernel, 1, pad, channels, height, width),
              1e-4);
  compile_clean(f);
}

TEST(CudaOps, FusedConvBiasRelu) {
  int batch = 1, channels = 4, height = 8, width = 7, out_channels = 6, kernel = 3;
  int out_h = height - kernel + 1, out_w = width - kernel + 1;
  Tensor x = placeholder({batch, channels, height, width}, DataType::Float(32), "x");
  Tensor w = placeholder({out_channels, channels, kernel, kernel}, DataType::Float(32), "w");
  Tensor bias = placeholder({out_channels, 1, 1}, DataType::Float(32), "bias");
  Tensor y = relu(add(conv2d_nchw(x, w), bias));
  PrimFunc f = lower_for_gpu({y}, {x, w, bias, y}, "conv_bias_relu_gpu");
  auto xv = random_vector(batch * channels * height * width, 10);
  auto wv = random_vector(out_channels * channels * kernel * kernel, 11), bv = random_vector(out_channels, 12);
  std::vector<float> yv(batch * out_channels * out_h * out_w);
  interpret(f, {xv.data(), wv.data(), bv.data(), yv.data()});
  auto want = conv_reference(xv, wv, batch, channels, height, width, out_channels, kernel, 1, 0, 1, out_h, out_w);
  for (size_t i = 0; i < want.size(); ++i) want[i] = std::max(0.0, want[i] + bv[(i / (out_h * out_w)) % out_channels]);
  expect_near(yv, want, 1e-4);
  std::string source = compile_clean(f);
  // One kernel: the epilogue is fused into the convolution.
  EXPECT_EQ(source.find("__global__", source.find("__global__") + 1), std::string::npos) << source;
}

TEST(CudaOps, SoftmaxCrossThreadReduction) {
  for (auto [rows, cols] : {std::pair{3, 300}, std::pair{4, 37}}) {
    Tensor x = placeholder({rows, cols}, DataType::Float(32), "x");
    Tensor y = softmax(x);
    PrimFunc f = lower_for_gpu({y}, {x, y}, "softmax_gpu");
    auto xv = random_vector(rows * cols, 13);
    std::vector<float> yv(rows * cols);
    interpret(f, {xv.data(), yv.data()});
    std::vector<double> want(rows * cols);
    for (int r = 0; r < rows; ++r) {
      double mx = -1e30, sum = 0;
      for (int c = 0; c < cols; ++c) mx = std::max(mx, double(xv[r * cols + c]));
      for (int c = 0; c < cols; ++c) sum += std::exp(xv[r * cols + c] - mx);
      for (int c = 0; c < cols; ++c) want[r * cols + c] = std::exp(xv[r * cols + c] - mx) / sum;
    }
    expect_near(yv, want, 1e-5);
    std::string source = compile_clean(f);
    EXPECT_NE(source.find("tessel_block_allreduce("), std::string::npos) << source;
    EXPECT_NE(source.find("expf("), std::string::npos) << source;
  }
}

TEST(CudaOps, LayerNorm) {
  int rows = 6, cols = 129;
  Tensor x = placeholder({rows, cols}, DataType::Float(32), "x");
  Tensor gamma = placeholder({cols}, DataType::Float(32), "gamma");
  Tensor beta = placeholder({cols}, DataType::Float(32), "beta");
  Tensor y = layer_norm(x, gamma, beta, {-1}, 1e-5);
  PrimFunc f = lower_for_gpu({y}, {x, gamma, beta, y}, "layer_norm_gpu");
  auto xv = random_vector(rows * cols, 14), gv = random_vector(cols, 15), bv = random_vector(cols, 16);
  std::vector<float> yv(rows * cols);
  interpret(f, {xv.data(), gv.data(), bv.data(), yv.data()});
  std::vector<double> want(rows * cols);
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int c = 0; c < cols; ++c) mean += xv[r * cols + c];
    mean /= cols;
    for (int c = 0; c < cols; ++c) var += (xv[r * cols + c] - mean) * (xv[r * cols + c] - mean);
    var /= cols;
    for (int c = 0; c < cols; ++c) want[r * cols + c] = (xv[r * cols + c] - mean) / std::sqrt(var + 1e-5) * gv[c] + bv[c];
  }
  expect_near(yv, want, 1e-4);
  compile_clean(f);
}

TEST(CudaOps, ElementwiseFloat4) {
  Tensor x = placeholder({5, 12}, DataType::Float(32), "x");
  Tensor z = placeholder({5, 12}, DataType::Float(32), "z");
  Tensor y = add(tanh(x), z);
  PrimFunc f = lower_for_gpu({y}, {x, z, y}, "elementwise_gpu");
  auto xv = random_vector(60, 17), zv = random_vector(60, 18);
  std::vector<float> yv(60);
  interpret(f, {xv.data(), zv.data(), yv.data()});
  std::vector<double> want(60);
  for (int i = 0; i < 60; ++i) want[i] = std::tanh(double(xv[i])) + zv[i];
  expect_near(yv, want, 1e-5);
  std::string source = compile_clean(f);
  EXPECT_NE(source.find("float4"), std::string::npos) << source;
  EXPECT_NE(source.find("tanhf("), std::string::npos) << source;
}

TEST(CudaOps, ElementwiseOddShapeStaysScalar) {
  Tensor x = placeholder({7, 13}, DataType::Float(32), "x");
  Tensor y = sigmoid(x);
  PrimFunc f = lower_for_gpu({y}, {x, y}, "sigmoid_gpu");
  auto xv = random_vector(91, 19);
  std::vector<float> yv(91);
  interpret(f, {xv.data(), yv.data()});
  std::vector<double> want(91);
  for (int i = 0; i < 91; ++i) want[i] = 1 / (1 + std::exp(-double(xv[i])));
  expect_near(yv, want, 1e-5);
  std::string source = compile_clean(f);
  EXPECT_EQ(source.find("float4"), std::string::npos) << source;
}

TEST(CudaOps, GenericReductionAndPooling) {
  // No dedicated GPU schedule: the generic one gives one output per thread.
  Tensor x = placeholder({3, 5, 11}, DataType::Float(32), "x");
  Tensor y = sum(x, {2});
  PrimFunc f = lower_for_gpu({y}, {x, y}, "sum_gpu");
  auto xv = random_vector(3 * 5 * 11, 20);
  std::vector<float> yv(15);
  interpret(f, {xv.data(), yv.data()});
  std::vector<double> want(15, 0.0);
  for (int i = 0; i < 15; ++i) {
    for (int k = 0; k < 11; ++k) want[i] += xv[i * 11 + k];
  }
  expect_near(yv, want, 1e-5);
  compile_clean(f);

  Tensor image = placeholder({1, 2, 9, 9}, DataType::Float(32), "image");
  Tensor pooled = max_pool2d(image, {3, 3}, {2, 2});
  PrimFunc pool = lower_for_gpu({pooled}, {image, pooled}, "pool_gpu");
  auto iv = random_vector(2 * 81, 21);
  std::vector<float> pv(2 * 16);
  interpret(pool, {iv.data(), pv.data()});
  std::vector<double> pool_want(2 * 16);
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        double m = -1e30;
        for (int p = 0; p < 3; ++p)
          for (int q = 0; q < 3; ++q) m = std::max(m, double(iv[c * 81 + (2 * i + p) * 9 + 2 * j + q]));
        pool_want[c * 16 + i * 4 + j] = m;
      }
  expect_near(pv, pool_want, 1e-6);
  compile_clean(pool);
}

}  // namespace
}  // namespace tessel::te::ops
