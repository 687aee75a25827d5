// Helpers shared by the LLVM code generator tests: 64-byte aligned host arrays (buffers promise
// 64-byte alignment by default), seeded random fills, and running one PrimFunc both through the
// JIT and through the reference interpreter.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <type_traits>
#include <vector>

#include "tessel/codegen/llvm.h"
#include "tessel/ir/error.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/stmt.h"

namespace tessel::codegen::testing {

template <typename T>
class AlignedArray {
 public:
  explicit AlignedArray(size_t size) : size_(size) {
    size_t bytes = (std::max<size_t>(size * sizeof(T), 1) + 63) / 64 * 64;
    data_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
    std::memset(static_cast<void*>(data_.get()), 0, bytes);
  }
  AlignedArray(const AlignedArray& other) : AlignedArray(other.size_) {
    std::memcpy(static_cast<void*>(data_.get()), other.data_.get(), size_ * sizeof(T));
  }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data_.get()[i]; }
  const T& operator[](size_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  size_t size_;
  std::unique_ptr<T, Free> data_;
};

// Uniform values in [low, high] (integers inclusive) from a fixed seed.
template <typename T>
void fill_random(AlignedArray<T>& array, uint32_t seed, double low, double high) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i < array.size(); ++i) {
    if constexpr (std::is_floating_point_v<T>) {
      array[i] = static_cast<T>(std::uniform_real_distribution<double>(low, high)(rng));
    } else {
      array[i] = static_cast<T>(std::uniform_int_distribution<int64_t>(static_cast<int64_t>(low),
                                                                       static_cast<int64_t>(high))(rng));
    }
  }
}

// Largest |a - b| / max(|b|, floor) over two float arrays.
template <typename T>
double max_relative_error(const AlignedArray<T>& actual, const AlignedArray<T>& expected, double floor = 1e-6) {
  double worst = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    double a = actual[i], b = expected[i];
    if (std::isnan(a) || std::isnan(b)) return (std::isnan(a) && std::isnan(b)) ? worst : INFINITY;
    worst = std::max(worst, std::fabs(a - b) / std::max(std::fabs(b), floor));
  }
  return worst;
}

template <typename T>
bool bitwise_equal(const AlignedArray<T>& a, const AlignedArray<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

}  // namespace tessel::codegen::testing
