// The test-only fault hook: TESSEL_TEST_FAULT="crash:N,hang:M,wrong:K,buildhang:B" names
// candidates (0-based, counted per Measurer) whose measurement child crashes, hangs or corrupts
// its outputs in the run, or hangs in the build, so that tests can check each costs one candidate.
#pragma once

#include <map>
#include <vector>

#include "tessel/te/tensor.h"

namespace tessel::autotune::detail {

enum class Fault { kNone, kCrash, kHang, kWrong, kBuildHang };

// Which candidates get which fault.
class FaultPlan {
 public:
  // Reads TESSEL_TEST_FAULT; unset: no faults. Items of an unknown kind are ignored.
  static FaultPlan from_environment();
  // The fault of candidate number `candidate`, kNone for most.
  Fault fault_of(int candidate) const;

 private:
  std::map<int, Fault> faults_;
};

// Child side, before the build: a kBuildHang child hangs here (until the build timeout kills it).
void inject_build_fault(Fault fault);
// Child side, before the first run: a kCrash child dies of SIGSEGV, a kHang child hangs.
void inject_run_fault(Fault fault);
// Child side, after the first run: for kWrong, changes the first element of every output among
// `args` (`is_output` and `tensors` per arg), so that the output check fails.
void inject_wrong_output(Fault fault, const std::vector<void*>& args, const std::vector<bool>& is_output,
                         const std::vector<te::Tensor>& tensors);

}  // namespace tessel::autotune::detail
