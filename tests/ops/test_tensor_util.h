// Helpers shared by the tensor-operator tests: typed host arrays (64-byte aligned, as compiled
// kernels require), seeded random fills, and running an operator's default schedule through the
// LLVM JIT or the loop-IR interpreter.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/printer.h"
#include "tessel/te/ops/common.h"
#include "tessel/te/ops/tensor.h"

namespace tessel::te::ops::testing {

// A host array of any scalar dtype with a row-major shape; elements are read and written as
// doubles (ints converted exactly within ±2^53).
class HostArray {
 public:
  HostArray(DataType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
    size_ = std::accumulate(shape_.begin(), shape_.end(), int64_t{1}, std::multiplies<>());
    size_t bytes = (std::max<size_t>(size_ * dtype_.bytes(), 1) + 63) / 64 * 64;
    data_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, bytes)));
    std::memset(data_.get(), 0, bytes);
  }
  static HostArray like(const Tensor& t) {
    std::vector<int64_t> shape;
    for (const Expr& e : t.shape()) shape.push_back(*as_const_int(e));
    return HostArray(t.dtype(), shape);
  }

  int64_t size() const { return size_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  DataType dtype() const { return dtype_; }
  void* data() { return data_.get(); }

  double get(int64_t i) const {
    const uint8_t* p = data_.get() + i * dtype_.bytes();
    if (dtype_.is_float()) return dtype_.bits() == 64 ? load<double>(p) : load<float>(p);
    if (dtype_.is_bool()) return *p ? 1 : 0;
    bool s = dtype_.is_int();
    switch (dtype_.bits()) {
      // Each branch converts on its own: a mixed ternary would convert int32 to uint32.
      case 8: return s ? static_cast<double>(load<int8_t>(p)) : static_cast<double>(load<uint8_t>(p));
      case 16: return s ? static_cast<double>(load<int16_t>(p)) : static_cast<double>(load<uint16_t>(p));
      case 32: return s ? static_cast<double>(load<int32_t>(p)) : static_cast<double>(load<uint32_t>(p));
      default: return s ? static_cast<double>(load<int64_t>(p)) : static_cast<double>(load<uint64_t>(p));
    }
  }
  void set(int64_t i, double v) {
    uint8_t* p = data_.get() + i * dtype_.bytes();
    if (dtype_.is_float()) {
      if (dtype_.bits() == 64) store<double>(p, v); else store<float>(p, static_cast<float>(v));
      return;
    }
    if (dtype_.is_bool()) {
      *p = v != 0;
      return;
    }
    bool s = dtype_.is_int();
    switch (dtype_.bits()) {
      case 8: s ? store<int8_t>(p, static_cast<int8_t>(v)) : store<uint8_t>(p, static_cast<uint8_t>(v)); break;
      case 16: s ? store<int16_t>(p, static_cast<int16_t>(v)) : store<uint16_t>(p, static_cast<uint16_t>(v)); break;
      case 32: s ? store<int32_t>(p, static_cast<int32_t>(v)) : store<uint32_t>(p, static_cast<uint32_t>(v)); break;
      default: s ? store<int64_t>(p, static_cast<int64_t>(v)) : store<uint64_t>(p, static_cast<uint64_t>(v)); break;
    }
  }
  // Uniform in [low, high] (integers inclusive), from a fixed seed.
  HostArray& fill(uint32_t seed, double low = -1.0, double high = 1.0) {
    std::mt19937 rng(seed);
    for (int64_t i = 0; i < size_; ++i) {
      if (dtype_.is_float()) {
        set(i, std::uniform_real_distribution<double>(low, high)(rng));
      } else {
        set(i, static_cast<double>(std::uniform_int_distribution<int64_t>(static_cast<int64_t>(low),
                                                                          static_cast<int64_t>(high))(rng)));
      }
    }
    return *this;
  }
  // Row-major flat offset of a multi-index.
  int64_t offset(const std::vector<int64_t>& index) const {
    int64_t o = 0;
    for (size_t d = 0; d < shape_.size(); ++d) o = o * shape_[d] + index[d];
    return o;
  }
  double at(const std::vector<int64_t>& index) const { return get(offset(index)); }

 private:
  template <typename T>
  static T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }
  template <typename T>
  static void store(uint8_t* p, T v) {
    std::memcpy(p, &v, sizeof(T));
  }
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  DataType dtype_;
  std::vector<int64_t> shape_;
  int64_t size_ = 0;
  std::unique_ptr<uint8_t, Free> data_;
};

// Multi-index of a flat row-major offset.
inline std::vector<int64_t> unravel(int64_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> index(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

enum class Runner { kJit, kInterpreter };

// Builds the default schedule of `outputs`, lowers it with parameters inputs ++ outputs, runs it
// on the host arrays and returns the output arrays.
inline std::vector<HostArray> run_default(const std::vector<Tensor>& inputs, std::vector<HostArray*> host_inputs,
                                          const std::vector<Tensor>& outputs, Runner runner = Runner::kJit) {
  ScheduleTarget target;
  target.vector_bits = codegen::Target::host().vector_bits;
  Schedule schedule = default_schedule(outputs, target);
  std::vector<Tensor> args = inputs;
  args.insert(args.end(), outputs.begin(), outputs.end());
  PrimFunc f = lower_schedule(schedule, args, "op");
  std::vector<HostArray> results;
  for (const Tensor& t : outputs) results.push_back(HostArray::like(t));
  std::vector<void*> pointers;
  for (HostArray* h : host_inputs) pointers.push_back(h->data());
  for (HostArray& h : results) {
    // Poison outputs so that unwritten elements show up.
    for (int64_t i = 0; i < h.size(); ++i) h.set(i, h.dtype().is_float() ? NAN : 77);
    pointers.push_back(h.data());
  }
  if (runner == Runner::kJit) {
    codegen::JitModule module = codegen::JitModule::compile({f});
    module.get_function("op").call(pointers);
  } else {
    std::vector<InterpArg> interp_args(pointers.begin(), pointers.end());
    interpret(f, interp_args);
  }
  return results;
}

inline HostArray run_one(const std::vector<Tensor>& inputs, std::vector<HostArray*> host_inputs, const Tensor& output,
                         Runner runner = Runner::kJit) {
  return std::move(run_default(inputs, std::move(host_inputs), {output}, runner)[0]);
}

// Expects |actual - expected| <= atol + rtol * |expected| everywhere (NaN must match NaN).
inline void expect_close(const HostArray& actual, const std::vector<double>& expected, double rtol, double atol,
                         const std::string& what) {
  ASSERT_EQ(actual.size(), static_cast<int64_t>(expected.size())) << what;
  int reported = 0;
  for (int64_t i = 0; i < actual.size(); ++i) {
    double a = actual.get(i), e = expected[i];
    bool ok = (std::isnan(a) && std::isnan(e)) || (a == e) || std::fabs(a - e) <= atol + rtol * std::fabs(e);
    if (!ok && reported++ < 5) ADD_FAILURE() << what << ": element " << i << " is " << a << ", expected " << e;
  }
}

inline std::vector<Expr> shape_of(const std::vector<int64_t>& shape) {
  std::vector<Expr> result;
  for (int64_t v : shape) result.push_back(make_int(DataType::Int(32), v));
  return result;
}

}  // namespace tessel::te::ops::testing
