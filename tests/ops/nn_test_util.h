// Helpers for the operator-library tests: build an op's default schedule, lower it, run it through
// the LLVM JIT (or the loop-IR interpreter) on 64-byte aligned host arrays, and compare with a
// reference computed in double.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/printer.h"
#include "tessel/te/ops/common.h"
#include "tessel/te/schedule.h"

namespace tessel::te::ops::testing {

using codegen::testing::AlignedArray;
using codegen::testing::fill_random;

inline ScheduleTarget host_schedule_target() {
  ScheduleTarget target;
  target.vector_bits = codegen::Target::host().vector_bits;
  return target;
}

inline size_t num_elements(const Tensor& t) {
  size_t n = 1;
  for (const Expr& e : t.shape()) n *= static_cast<size_t>(*as_const_int(e));
  return n;
}

enum class Engine { kJit, kInterpreter };

// Default-schedules `output`, lowers it with `args` (inputs..., output) and runs it on `buffers`
// (one per arg). Returns the lowered function for IR checks.
inline PrimFunc run_default_schedule(const Tensor& output, const std::vector<Tensor>& args,
                                     const std::vector<float*>& buffers, Engine engine = Engine::kJit) {
  Schedule schedule = default_schedule({output}, host_schedule_target());
  PrimFunc f = lower_schedule(schedule, args, "kernel");
  std::vector<void*> pointers(buffers.begin(), buffers.end());
  if (engine == Engine::kJit) {
    codegen::JitModule module = codegen::JitModule::compile({f});
    module.get_function("kernel").call(pointers);
  } else {
    std::vector<InterpArg> interp_args(pointers.begin(), pointers.end());
    interpret(f, interp_args);
  }
  return f;
}

// |actual - expected| <= tolerance * max(1, |expected|) elementwise.
inline void expect_close(const AlignedArray<float>& actual, const std::vector<double>& expected,
                         double tolerance = 1e-4, const std::string& what = "") {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double largest = 0;
  for (double v : expected) largest = std::max(largest, std::fabs(v));
  ASSERT_GT(largest, 0.0) << what << ": reference is all zeros";
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(actual[i], expected[i], tolerance * std::max(1.0, std::fabs(expected[i])))
        << what << ": element " << i << " of " << expected.size();
  }
}

}  // namespace tessel::te::ops::testing
