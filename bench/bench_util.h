// Helpers for the benchmark programs: 64-byte aligned float arrays with seeded random contents,
// and interleaved timing of two competitors (medians after warm-up), so that machine noise hits
// both alike.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <utility>
#include <vector>

namespace tessel::bench {

class FloatArray {
 public:
  explicit FloatArray(size_t size) : size_(size) {
    size_t bytes = (std::max<size_t>(size, 1) * sizeof(float) + 63) / 64 * 64;
    data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    std::memset(data_.get(), 0, bytes);
  }
  void fill_random(uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (size_t i = 0; i < size_; ++i) data_.get()[i] = uniform(rng);
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }
  float operator[](size_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  size_t size_;
  std::unique_ptr<float, Free> data_;
};

inline double elapsed_ms(const std::function<void()>& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// Runs `warmup` untimed rounds, then `runs` timed rounds of first(), second() alternately;
// returns the median milliseconds of each.
inline std::pair<double, double> interleaved_median_ms(const std::function<void()>& first,
                                                       const std::function<void()>& second, int warmup, int runs) {
  for (int i = 0; i < warmup; ++i) {
    first();
    second();
  }
  std::vector<double> first_ms, second_ms;
  for (int i = 0; i < runs; ++i) {
    first_ms.push_back(elapsed_ms(first));
    second_ms.push_back(elapsed_ms(second));
  }
  return {median(first_ms), median(second_ms)};
}

inline double gflops(double m, double n, double k, double ms) { return 2.0 * m * n * k / (ms * 1e6); }

}  // namespace tessel::bench
