// Shared helpers of the auto-scheduler tests: small compute DAGs, aligned buffers, and a check
// that runs a JIT-compiled schedule against the loop-IR interpreter on the unscheduled DAG.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tessel/autotune/measure.h"
#include "tessel/autotune/search.h"
#include "tessel/autotune/search_task.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"
#include "tessel/te/ops/nn.h"
#include "tessel/te/ops/tensor.h"

namespace tessel::autotune::testing {

// A path in the temp directory unique to this process ("<prefix>_<pid>_<name>"), removed first.
inline std::string temp_path(const std::string& prefix, const std::string& name) {
  std::string path =
      (std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(getpid()) + "_" + name)).string();
  std::filesystem::remove(path);
  return path;
}

// Measurement for tests: `repeat` repeats of about a millisecond each.
inline MeasureOptions quick_measure(int repeat, double run_timeout_seconds) {
  MeasureOptions o;
  o.repeat = repeat;
  o.min_repeat_seconds = 0.001;
  o.run_timeout_seconds = run_timeout_seconds;
  // Some sampled candidates take LLVM 2-4 s to compile even on a tiny matmul (fully unrolled
  // remainder loops). With the test suite running on 2 shared cores, the default 4 s build timeout
  // would turn them into build timeouts, which the tests count as unexpected failures.
  // HangingBuildCostsOneCandidate sets its own short timeout.
  o.build_timeout_seconds = 60;
  return o;
}

// Tuning for tests: the random cost model, a small population over two generations, no output.
inline TuneOptions quick_tune(const std::string& records, int trials, int batch, unsigned seed,
                              const MeasureOptions& measure) {
  TuneOptions o;
  o.trials = trials;
  o.batch_size = batch;
  o.seed = seed;
  o.records_path = records;
  o.cost_model = "random";
  o.population = 16;
  o.generations = 2;
  o.verbose = false;
  o.confirm_top = 0;  // record counts are trial counts here (Records/TuneInto covers confirmation)
  o.measure = measure;
  return o;
}

struct AlignedBuffer {
  float* data = nullptr;
  size_t size = 0;
  explicit AlignedBuffer(size_t n) : size(n) {
    data = static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64));
    std::memset(data, 0, (n * sizeof(float) + 63) / 64 * 64);
  }
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : data(o.data), size(o.size) { o.data = nullptr; }
};

inline size_t elements(const te::Tensor& t) {
  size_t n = 1;
  for (const Expr& e : t.shape()) n *= static_cast<size_t>(*as_const_int(e));
  return n;
}

inline te::Tensor f32(std::vector<Expr> shape, const char* name) {
  return te::placeholder(std::move(shape), DataType::Float(32), name);
}

inline SearchTask matmul_task(int m, int n, int k) {
  te::Tensor a = f32({m, k}, "A"), b = f32({k, n}, "B");
  return SearchTask({te::ops::matmul(a, b)}, {}, codegen::Target::host(), "matmul");
}

inline SearchTask matmul_bias_relu_task(int m, int n, int k) {
  te::Tensor a = f32({m, k}, "A"), b = f32({k, n}, "B"), bias = f32({n}, "bias");
  te::Tensor c = te::ops::relu(te::ops::add(te::ops::matmul(a, b), bias));
  return SearchTask({c}, {}, codegen::Target::host(), "matmul_bias_relu");
}

inline SearchTask conv_task() {
  te::Tensor x = f32({1, 3, 11, 9}, "x"), w = f32({5, 3, 3, 3}, "w");
  return SearchTask({te::ops::conv2d_nchw(x, w, {1, 1}, {1, 1, 1, 1})}, {}, codegen::Target::host(), "conv");
}

inline SearchTask row_sum_task() {
  te::Tensor x = f32({3, 1021}, "x");
  return SearchTask({te::ops::sum(x, {1})}, {}, codegen::Target::host(), "row_sum");
}

inline SearchTask elementwise_task() {
  te::Tensor x = f32({7, 45}, "x"), y = f32({7, 45}, "y");
  te::Tensor z = te::ops::relu(te::ops::multiply(te::ops::add(x, y), x));
  return SearchTask({z}, {}, codegen::Target::host(), "elementwise");
}

// Runs `schedule` (JIT) and the unscheduled DAG (interpreter) on the same random inputs and
// compares every output element.
inline void expect_matches_reference(const SearchTask& task, te::Schedule& schedule, const std::string& what) {
  std::vector<AlignedBuffer> got, want;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<size_t> outputs;
  for (size_t i = 0; i < task.args().size(); ++i) {
    const te::Tensor& t = task.args()[i];
    got.emplace_back(elements(t));
    want.emplace_back(elements(t));
    bool is_out = false;
    for (const te::Tensor& o : task.outputs()) is_out |= o.same_as(t);
    if (is_out) {
      outputs.push_back(i);
    } else {
      for (size_t e = 0; e < elements(t); ++e) got[i].data[e] = want[i].data[e] = dist(rng);
    }
  }
  PrimFunc f = task.lower(schedule, "candidate");
  codegen::JitModule module = codegen::JitModule::compile({f}, task.target());
  std::vector<void*> ptrs;
  for (auto& b : got) ptrs.push_back(b.data);
  module.get_function("candidate").call(ptrs);
  te::Schedule plain = task.fresh_schedule();
  PrimFunc ref = task.lower(plain, "reference");
  std::vector<InterpArg> iargs;
  for (auto& b : want) iargs.push_back(static_cast<void*>(b.data));
  interpret(ref, iargs);
  for (size_t i : outputs) {
    for (size_t e = 0; e < got[i].size; ++e) {
      ASSERT_NEAR(got[i].data[e], want[i].data[e], 1e-3 * (1 + std::fabs(want[i].data[e])))
          << what << ": element " << e;
    }
  }
}

}  // namespace tessel::autotune::testing
