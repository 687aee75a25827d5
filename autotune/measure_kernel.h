// A built candidate as its measurement child runs it: the interface that the run, the output
// check and the repeat timer use, whether the candidate is an LLVM JIT function (measure.cc) or
// NVRTC output run through the CUDA driver (measure_cuda.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tessel/codegen/cuda.h"
#include "tessel/ir/stmt.h"

namespace tessel::autotune::detail {

// `args` are host arrays (64-byte aligned), inputs filled.
struct Kernel {
  virtual ~Kernel() = default;
  // Runs once and leaves the outputs in the host arrays; the error text, empty on success.
  virtual std::string run_to_host(const std::vector<void*>& args) = 0;
  // Runs once for timing; the outputs may stay where the kernel wrote them.
  virtual void run_timed(const std::vector<void*>& args) = 0;
};

// Build side of a CUDA task (in the build child): CUDA source for `lowered` (its function
// `name`) and NVRTC's PTX, plus a cubin for a real sm_XX architecture. Throws on failure. The
// module is loaded only by the first run. `bytes` and `is_output` describe the arguments.
std::unique_ptr<Kernel> build_cuda_kernel(const PrimFunc& lowered, const std::string& name,
                                          const codegen::CudaTarget& target, const std::vector<size_t>& bytes,
                                          const std::vector<bool>& is_output);

}  // namespace tessel::autotune::detail
