// Helpers for loop-pass tests: random host memory for a function's parameters, and a check that two
// versions of a function (before and after a pass) write the same bytes under the interpreter.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tessel/ir/interpreter.h"
#include "tessel/ir/printer.h"

namespace tessel::testing {

// Elements a buffer parameter's memory must hold: the reach of its (constant) shape and strides.
inline int64_t buffer_span(const Buffer& b) {
  std::vector<Expr> strides = b.effective_strides();
  int64_t span = 1;
  for (int d = 0; d < b.ndim(); ++d) {
    const int64_t* extent = as_const_int(b->shape[d]);
    const int64_t* stride = as_const_int(strides[d]);
    EXPECT_TRUE(extent && stride) << "test buffers need constant shapes and strides: " << b->name;
    if (!extent || !stride) return 0;
    if (*extent == 0) return 0;
    span += (*extent - 1) * *stride;
  }
  return span;
}

// One byte vector per parameter (empty for scalars). Floats are uniform in [-1, 1), integers in
// [-50, 50]; a fixed seed makes every run identical.
inline std::vector<std::vector<unsigned char>> random_memory(const PrimFunc& f, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  std::uniform_int_distribution<int64_t> integer(-50, 50);
  std::vector<std::vector<unsigned char>> memory;
  for (const Param& p : f->params) {
    memory.emplace_back();
    if (!p.is_buffer()) continue;
    DataType t = p.buffer->dtype;
    int64_t n = buffer_span(p.buffer);
    std::vector<unsigned char>& bytes = memory.back();
    bytes.resize(static_cast<size_t>(n * t.bytes()));
    for (int64_t k = 0; k < n; ++k) {
      unsigned char* at = bytes.data() + k * t.bytes();
      if (t == DataType::Float(32)) {
        float v = real(rng);
        std::memcpy(at, &v, 4);
      } else if (t == DataType::Float(64)) {
        double v = real(rng);
        std::memcpy(at, &v, 8);
      } else if (t.is_integral() && t.bytes() == 4) {
        int32_t v = static_cast<int32_t>(integer(rng));
        std::memcpy(at, &v, 4);
      } else if (t.is_integral() && t.bytes() == 8) {
        int64_t v = integer(rng);
        std::memcpy(at, &v, 8);
      } else {
        ADD_FAILURE() << "unsupported test buffer type " << t.to_string();
      }
    }
  }
  return memory;
}

// Interpreter arguments: each buffer parameter points into `memory`; scalar parameters take the
// values of `scalars`, in order.
inline std::vector<InterpArg> make_args(const PrimFunc& f, std::vector<std::vector<unsigned char>>& memory,
                                        const std::vector<int64_t>& scalars = {}) {
  std::vector<InterpArg> args;
  size_t next_scalar = 0;
  for (size_t k = 0; k < f->params.size(); ++k) {
    if (f->params[k].is_buffer()) {
      args.emplace_back(static_cast<void*>(memory[k].data()));
    } else {
      EXPECT_LT(next_scalar, scalars.size()) << "missing scalar argument";
      args.emplace_back(next_scalar < scalars.size() ? scalars[next_scalar++] : int64_t{0});
    }
  }
  return args;
}

template <typename T>
T element(const std::vector<unsigned char>& bytes, int64_t k) {
  T value;
  std::memcpy(&value, bytes.data() + k * sizeof(T), sizeof(T));
  return value;
}

// Runs `before` and `after` (same parameters) on identical random inputs and expects every
// parameter's memory to end up byte-for-byte equal. Returns the memory after `after` ran.
inline std::vector<std::vector<unsigned char>> expect_same_results(const PrimFunc& before, const PrimFunc& after,
                                                                   uint64_t seed,
                                                                   const std::vector<int64_t>& scalars = {}) {
  std::vector<std::vector<unsigned char>> input = random_memory(before, seed);
  std::vector<std::vector<unsigned char>> expected = input, actual = input;
  interpret(before, make_args(before, expected, scalars));
  interpret(after, make_args(after, actual, scalars));
  for (size_t k = 0; k < before->params.size(); ++k) {
    if (!before->params[k].is_buffer()) continue;
    EXPECT_TRUE(expected[k] == actual[k]) << "buffer " << before->params[k].buffer->name
                                          << " differs after the pass\nbefore:\n"
                                          << to_string(before) << "\nafter:\n"
                                          << to_string(after);
  }
  // The inputs must matter: some output must differ from the untouched random contents.
  EXPECT_TRUE(expected != input) << "the function wrote nothing; the test cannot fail";
  return actual;
}

}  // namespace tessel::testing
