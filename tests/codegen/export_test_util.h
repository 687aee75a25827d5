// Helpers for the export tests: a two-kernel model (dense with constant weights, then bias + ReLU)
// as an ExecutionPlan, its naive C++ reference, and a scratch directory.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tessel/codegen/export.h"
#include "tessel/ir/stmt.h"

namespace tessel::codegen::testing {

// Y = relu(X @ W + B); X: [m, k] input, W: [k, n] and B: [n] constants, Y: [m, n] output.
struct DenseReluModel {
  int m, k, n;
  std::vector<float> weight, bias;

  DenseReluModel(int m_, int k_, int n_, uint32_t seed) : m(m_), k(k_), n(n_), weight(k_ * n_), bias(n_) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (float& w : weight) w = dist(rng);
    for (float& b : bias) b = dist(rng);
  }

  std::vector<float> reference(const std::vector<float>& x) const {
    std::vector<float> y(static_cast<size_t>(m) * n);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        double sum = 0;
        for (int p = 0; p < k; ++p) sum += static_cast<double>(x[i * k + p]) * weight[p * n + j];
        y[i * n + j] = static_cast<float>(std::max(sum + bias[j], 0.0));
      }
    }
    return y;
  }

  ExecutionPlan plan(const std::string& name = "dense_relu") const {
    DataType f32 = DataType::Float(32);
    Buffer x = make_buffer("X", f32, {m, k}), w = make_buffer("W", f32, {k, n}), h = make_buffer("H", f32, {m, n});
    Var i("i"), j("j"), p("p");
    Stmt dense_body = make_for(
        i, 0, m, ForKind::kSerial,
        make_for(j, 0, n, ForKind::kSerial,
                 make_seq({make_store(h, make_float(f32, 0.0), {i, j}),
                           make_for(p, 0, k, ForKind::kSerial,
                                    make_store(h, h({i, j}) + x({i, p}) * w({p, j}), {i, j}))})));
    PrimFunc dense = make_prim_func("dense", {Param::of(x), Param::of(w), Param::of(h)}, dense_body);

    Buffer h2 = make_buffer("H", f32, {m, n}), b = make_buffer("B", f32, {n}), y = make_buffer("Y", f32, {m, n});
    Var i2("i"), j2("j");
    Stmt relu_body = make_for(i2, 0, m, ForKind::kSerial,
                              make_for(j2, 0, n, ForKind::kSerial,
                                       make_store(y, max(h2({i2, j2}) + b({j2}), make_float(f32, 0.0)), {i2, j2})));
    PrimFunc bias_relu = make_prim_func("bias_relu", {Param::of(h2), Param::of(b), Param::of(y)}, relu_body);

    ExecutionPlan plan;
    plan.name = name;
    plan.kernels = {dense, bias_relu};
    const int64_t f = 4;
    plan.storage_bytes = {f * m * k, f * k * n, f * n, f * m * n, f * m * n};
    plan.inputs = {{"x", {m, k}, "float32", 0}};
    plan.outputs = {{"y", {m, n}, "float32", 4}};
    plan.constants = {{"weight", 1, bytes_of(weight)}, {"bias", 2, bytes_of(bias)}};
    plan.nodes = {{"dense0", "dense", {0, 1}, {3}}, {"bias_relu0", "bias_relu", {3, 2}, {4}}};
    return plan;
  }

  static std::vector<uint8_t> bytes_of(const std::vector<float>& values) {
    std::vector<uint8_t> bytes(values.size() * sizeof(float));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
  }
};

inline std::vector<float> random_floats(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// A fresh directory removed by the destructor.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() / ("tessel-" + tag + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace tessel::codegen::testing
