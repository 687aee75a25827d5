// GPU sketch rules and their random annotation: the expected sketches per DAG kind, and for every
// sketch of matmul, conv2d, dense + bias + relu and softmax, sampled and mutated candidates that
// apply, lower, respect the GPU limits, compute the right answer (the loop-IR interpreter runs the
// thread-bound loops serially; naive C++ loops are the reference) and have the structure their rule
// promises. A few per sketch are compiled by NVRTC for sm_90 and must compile without a warning
// (skipped without NVRTC).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "tessel/autotune/sketch_gpu.h"
#include "tessel/codegen/cuda.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/interpreter.h"
#include "tessel/te/ops/nn.h"
#include "tessel/te/ops/tensor.h"

namespace tessel::autotune {
namespace {

using Buffers = std::vector<std::vector<float>>;
// Computes the outputs (in task.args() order after the inputs) from the inputs, in double.
using Reference = std::function<std::vector<std::vector<double>>(const Buffers& inputs)>;

struct GpuCase {
  SearchTask task;
  Reference reference;
  int interpreted = 1 << 30;  // candidates per sketch checked under the interpreter (big DAGs: fewer)
};

te::Tensor f32(std::vector<Expr> shape, const char* name) {
  return te::placeholder(std::move(shape), DataType::Float(32), name);
}

size_t elements(const te::Tensor& t) {
  size_t n = 1;
  for (const Expr& e : t.shape()) n *= static_cast<size_t>(*as_const_int(e));
  return n;
}

// SearchTask only accepts LLVM targets; the DAG is what the GPU rules read.
SearchTask task_of(std::vector<te::Tensor> outputs, const std::string& name) {
  return SearchTask(std::move(outputs), {}, codegen::Target::host(), name);
}

GpuCase matmul_case(int m, int n, int k) {
  te::Tensor a = f32({m, k}, "A"), b = f32({k, n}, "B");
  Reference ref = [=](const Buffers& in) {
    std::vector<double> c(static_cast<size_t>(m) * n);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double s = 0;
        for (int x = 0; x < k; ++x) s += double(in[0][i * k + x]) * in[1][x * n + j];
        c[i * n + j] = s;
      }
    return std::vector<std::vector<double>>{c};
  };
  return {task_of({te::ops::matmul(a, b)}, "matmul"), ref};
}

GpuCase conv_case() {
  const int batch = 1, channels = 3, height = 7, width = 9, out_channels = 4, kernel = 3, pad = 1;
  te::Tensor x = f32({batch, channels, height, width}, "x"), w = f32({out_channels, channels, kernel, kernel}, "w");
  te::Tensor y = te::ops::conv2d_nchw(x, w, {1, 1}, {pad, pad, pad, pad});
  Reference ref = [=](const Buffers& in) {
    std::vector<double> out(static_cast<size_t>(batch) * out_channels * height * width);
    for (int o = 0; o < out_channels; ++o)
      for (int i = 0; i < height; ++i)
        for (int j = 0; j < width; ++j) {
          double s = 0;
          for (int c = 0; c < channels; ++c)
            for (int p = 0; p < kernel; ++p)
              for (int q = 0; q < kernel; ++q) {
                int yy = i + p - pad, xx = j + q - pad;
                if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
                s += double(in[0][(c * height + yy) * width + xx]) * in[1][((o * channels + c) * kernel + p) * kernel + q];
              }
          out[(o * height + i) * width + j] = s;
        }
    return std::vector<std::vector<double>>{out};
  };
  return {task_of({y}, "conv2d"), ref};
}

GpuCase dense_bias_relu_case(int m, int n, int k) {
  te::Tensor x = f32({m, k}, "x"), w = f32({n, k}, "w"), bias = f32({n}, "bias");
  te::Tensor y = te::ops::relu(te::ops::dense(x, w, bias));
  Reference ref = [=](const Buffers& in) {
    std::vector<double> out(static_cast<size_t>(m) * n);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double s = in[2][j];
        for (int z = 0; z < k; ++z) s += double(in[0][i * k + z]) * in[1][j * k + z];
        out[i * n + j] = std::max(s, 0.0);
      }
    return std::vector<std::vector<double>>{out};
  };
  return {task_of({y}, "dense_bias_relu"), ref};
}

GpuCase softmax_case(int rows, int cols) {
  te::Tensor x = f32({rows, cols}, "x");
  Reference ref = [=](const Buffers& in) {
    std::vector<double> out(static_cast<size_t>(rows) * cols);
    for (int r = 0; r < rows; ++r) {
      double mx = -1e30, sum = 0;
      for (int c = 0; c < cols; ++c) mx = std::max(mx, double(in[0][r * cols + c]));
      for (int c = 0; c < cols; ++c) sum += std::exp(in[0][r * cols + c] - mx);
      for (int c = 0; c < cols; ++c) out[r * cols + c] = std::exp(in[0][r * cols + c] - mx) / sum;
    }
    return std::vector<std::vector<double>>{out};
  };
  return {task_of({te::ops::softmax(x)}, "softmax"), ref};
}

bool has_rule(const GpuSketch& sketch, GpuStageRule rule) {
  for (const GpuStagePlan& p : sketch.plans) {
    if (p.rule == rule) return true;
  }
  return false;
}

bool has_rule(const std::vector<GpuSketch>& sketches, GpuStageRule rule) {
  for (const GpuSketch& s : sketches) {
    if (has_rule(s, rule)) return true;
  }
  return false;
}

// Runs the lowered function under the interpreter on random inputs and compares with the reference.
void expect_correct(const GpuCase& c, const PrimFunc& func, const std::string& what) {
  const auto& args = c.task.args();
  size_t num_outputs = c.task.outputs().size();
  Buffers buffers;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const te::Tensor& t : args) {
    buffers.emplace_back(elements(t));
    for (float& v : buffers.back()) v = dist(rng);
  }
  std::vector<InterpArg> interp_args;
  for (auto& b : buffers) interp_args.push_back(static_cast<void*>(b.data()));
  interpret(func, interp_args);
  Buffers inputs(buffers.begin(), buffers.end() - static_cast<long>(num_outputs));
  auto want = c.reference(inputs);
  for (size_t o = 0; o < num_outputs; ++o) {
    const auto& got = buffers[buffers.size() - num_outputs + o];
    ASSERT_EQ(got.size(), want[o].size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], want[o][i], 1e-4 * (1 + std::fabs(want[o][i]))) << what << ": element " << i;
    }
  }
}

// The CUDA of a function: launch limits checked on the generated kernels, the structure of the
// sketch checked on the source, and (for `compile`) a warning-free NVRTC compile for sm_90.
void expect_cuda(const PrimFunc& func, const GpuSketch& sketch, const GpuLimits& limits, bool compile,
                 const std::string& what) {
  codegen::CudaTarget target = codegen::CudaTarget::parse("cuda -arch=sm_90");
  codegen::CudaModuleSource module = codegen::generate_cuda({func}, target);
  for (const codegen::CudaFunction& f : module.functions) {
    for (const codegen::CudaKernelLaunch& k : f.kernels) {
      int64_t threads = 1;
      for (const Expr& dim : k.block) threads *= *as_const_int(dim);
      EXPECT_LE(threads, limits.max_threads_per_block) << what;
      EXPECT_LE(k.shared_bytes, limits.max_shared_memory_per_block) << what;
    }
  }
  const std::string& src = module.source;
  EXPECT_NE(src.find("threadIdx.x"), std::string::npos) << what << "\n" << src;
  if (has_rule(sketch, GpuStageRule::kTile)) {
    EXPECT_NE(src.find("__shared__"), std::string::npos) << what << "\n" << src;
    EXPECT_NE(src.find("__syncthreads()"), std::string::npos) << what << "\n" << src;
  }
  if (has_rule(sketch, GpuStageRule::kCrossThread)) {
    EXPECT_NE(src.find("tessel_block_allreduce("), std::string::npos) << what << "\n" << src;
  }
  if (compile && codegen::nvrtc_available()) {
    codegen::CudaBinary binary = codegen::compile_cuda(src, target, false, func->name);
    EXPECT_EQ(binary.log, "") << what << "\n" << src;
    EXPECT_NE(binary.ptx.find(".entry"), std::string::npos) << what;
  }
}

// Samples `per_sketch` candidates of every sketch (every other one mutated twice) and checks each.
void check_samples(const GpuCase& c, int per_sketch, int compiled_per_sketch, unsigned seed,
                   const GpuLimits& limits = GpuLimits()) {
  std::vector<GpuSketch> sketches = generate_gpu_sketches(c.task);
  ASSERT_FALSE(sketches.empty());
  std::mt19937_64 rng(seed);
  for (int s = 0; s < static_cast<int>(sketches.size()); ++s) {
    for (int i = 0; i < per_sketch; ++i) {
      GpuCandidate cand = sample_gpu_candidate(c.task, sketches, s, rng, limits);
      if (i % 2 == 1) {
        cand = mutate_gpu_candidate(c.task, sketches, mutate_gpu_candidate(c.task, sketches, cand, rng, limits), rng,
                                    limits);
      }
      te::Schedule schedule = apply_gpu_candidate(c.task, sketches, cand);
      std::string what = c.task.name() + " sketch [" + sketches[s].to_string() + "] sample " + std::to_string(i) +
                         " steps " + te::steps_to_json(schedule.steps());
      // The steps replay onto a fresh schedule (that is how records are used).
      te::Schedule replayed = c.task.replay(schedule.steps());
      PrimFunc func = c.task.lower(replayed, c.task.name() + "_gpu");
      std::string why;
      EXPECT_TRUE(gpu_function_fits(func, limits, &why)) << what << ": " << why;
      expect_cuda(func, sketches[s], limits, i < compiled_per_sketch, what);
      if (i < c.interpreted) expect_correct(c, func, what);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(SketchGpu, RulesPerDagKind) {
  auto mm = generate_gpu_sketches(matmul_case(67, 45, 39).task);
  ASSERT_EQ(mm.size(), 2u);
  EXPECT_TRUE(has_rule(mm[0], GpuStageRule::kTile));
  EXPECT_TRUE(has_rule(mm[1], GpuStageRule::kSimple));
  auto dense = generate_gpu_sketches(dense_bias_relu_case(13, 33, 37).task);
  EXPECT_TRUE(has_rule(dense[0], GpuStageRule::kTile));
  EXPECT_TRUE(has_rule(dense[0], GpuStageRule::kFusedInto));
  EXPECT_TRUE(has_rule(dense[0], GpuStageRule::kInline));
  auto softmax = generate_gpu_sketches(softmax_case(4, 300).task);
  EXPECT_TRUE(has_rule(softmax[0], GpuStageRule::kCrossThread));
  EXPECT_FALSE(has_rule(softmax, GpuStageRule::kTile));
  // A GEMV has little spatial parallelism: cross-thread, not tiled.
  te::Tensor v = f32({1, 700}, "v"), w = f32({700, 9}, "w");
  auto gemv = generate_gpu_sketches(task_of({te::ops::matmul(v, w)}, "gemv"));
  EXPECT_TRUE(has_rule(gemv[0], GpuStageRule::kCrossThread));
  te::Tensor x = f32({7, 45}, "x"), y = f32({7, 45}, "y");
  auto ew = generate_gpu_sketches(task_of({te::ops::relu(te::ops::add(x, y))}, "elementwise"));
  ASSERT_EQ(ew.size(), 1u);
  EXPECT_TRUE(has_rule(ew[0], GpuStageRule::kSimple));
}

TEST(SketchGpu, LimitsOfTargets) {
  EXPECT_EQ(gpu_limits_for(codegen::CudaTarget::parse("cuda -arch=sm_90")), GpuLimits());
  GpuLimits l = gpu_limits_for(codegen::CudaTarget::parse("cuda -arch=sm_80"));
  EXPECT_EQ(l.max_threads_per_block, 1024);
  EXPECT_EQ(l.max_shared_memory_per_block, 48 * 1024);
  EXPECT_EQ(l.warp_size, 32);
}

TEST(SketchGpu, FitsRejectsOversizedBlocks) {
  GpuCase c = matmul_case(64, 64, 64);
  std::vector<GpuSketch> sketches = generate_gpu_sketches(c.task);
  GpuCandidate cand{0, {}};
  GpuStageAnnotation a;
  a.spatial = {{1, 32, 1, 1}, {1, 64, 1, 1}};  // 2048 threads
  a.reduce = {{64, 1}};
  cand.stages.push_back(a);
  te::Schedule s = apply_gpu_candidate(c.task, sketches, cand);
  std::string why;
  EXPECT_FALSE(gpu_candidate_fits(c.task, s, GpuLimits(), &why));
  EXPECT_NE(why.find("threads per block"), std::string::npos) << why;
  // 256 threads fit; a 64-deep reduce tile of two 16 x 64 operand tiles is 8 KiB of shared memory.
  cand.stages[0].spatial = {{1, 16, 1, 1}, {1, 16, 1, 4}};
  te::Schedule t = apply_gpu_candidate(c.task, sketches, cand);
  EXPECT_TRUE(gpu_candidate_fits(c.task, t, GpuLimits(), &why)) << why;
  GpuLimits small;
  small.max_shared_memory_per_block = 4 * 1024;
  EXPECT_FALSE(gpu_candidate_fits(c.task, t, small, &why));
  EXPECT_NE(why.find("shared memory"), std::string::npos) << why;
}

// The interpreter is slow: every candidate is interpreted on small odd shapes, a few on larger ones.
TEST(SketchGpu, MatmulOddShape) {
  check_samples(matmul_case(23, 19, 13), 20, 3, 1);
  GpuCase c = matmul_case(67, 45, 39);
  c.interpreted = 2;
  check_samples(c, 20, 2, 8);
}

TEST(SketchGpu, Matmul256) {
  GpuCase c = matmul_case(256, 256, 256);
  c.interpreted = 0;
  check_samples(c, 20, 2, 2);
}

TEST(SketchGpu, Conv2dNchw) { check_samples(conv_case(), 20, 3, 3); }

TEST(SketchGpu, DenseBiasRelu) { check_samples(dense_bias_relu_case(11, 17, 13), 20, 3, 4); }

TEST(SketchGpu, Softmax) {
  check_samples(softmax_case(4, 300), 20, 3, 5);
  check_samples(softmax_case(3, 37), 6, 1, 6);
}

// A GEMV (one row times a matrix): little spatial parallelism, so the cross-thread rule.
TEST(SketchGpu, Gemv) { check_samples(matmul_case(1, 9, 700), 10, 2, 9); }

TEST(SketchGpu, SmallerLimitsAreRespected) {
  GpuLimits small;
  small.max_threads_per_block = 128;
  small.max_shared_memory_per_block = 6 * 1024;
  small.max_vthread_extent = 2;
  small.max_local_memory_per_thread = 64;
  check_samples(matmul_case(37, 29, 17), 10, 1, 7, small);
}

}  // namespace
}  // namespace tessel::autotune
