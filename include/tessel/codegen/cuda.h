// The CUDA code generator: loop IR whose loops are bound to GPU thread axes (blockIdx.*,
// threadIdx.*) becomes CUDA C++ source, one `extern "C" __global__` kernel per top-level loop nest,
// plus a launch descriptor saying how the host launches each kernel. NVRTC (opened with dlopen at
// run time, so nothing here links CUDA) compiles the source to PTX and cubin without a GPU.
// No CUDA types appear here; the implementation lives in codegen/cuda/.
//
// Kernel semantics. A loop `for v in [min, min + extent)` bound to axis T runs as one thread (or
// block) per iteration: v = min + T. The launch dimension of T is the largest extent of all loops
// bound to T in the kernel; a loop with a smaller extent is guarded by `if (T < extent)`. Code
// outside thread-bound loops runs redundantly in every thread. Shared-scope allocations become
// `__shared__` arrays of the block (the lowered IR allocates them once per thread iteration, which
// the serial interpreter executes as one copy per iteration; on the GPU the block's threads fill
// one copy cooperatively), local-scope ones per-thread arrays. `__syncthreads()` separates writes
// to shared memory from later reads (and from the next iteration's writes).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tessel/codegen/target.h"
#include "tessel/ir/stmt.h"

namespace tessel::codegen {

// How the host launches one kernel.
struct CudaKernelLaunch {
  std::string name;                 // the kernel's C symbol
  // Grid and block dimensions (x, y, z) as int64 expressions of the function's scalar parameters
  // (constants for constant shapes).
  std::array<Expr, 3> grid, block;
  int64_t shared_bytes = 0;         // static shared memory of the kernel
  // The kernel's arguments, in order: the function's parameters, then the workspace buffers (by
  // index into CudaFunction::workspaces).
  std::vector<int> workspace_args;
};

// A global intermediate that outlives one kernel: the host allocates it on the device before the
// first kernel and frees it after the last.
struct CudaWorkspace {
  std::string name;
  DataType dtype;
  Expr num_elements;  // int64 expression of the scalar parameters
};

// One PrimFunc, split into kernels launched in order.
struct CudaFunction {
  std::string name;
  std::vector<Param> params;
  std::vector<CudaWorkspace> workspaces;
  std::vector<CudaKernelLaunch> kernels;
};

struct CudaModuleSource {
  std::string source;                   // CUDA C++, self-contained (no #include)
  std::vector<CudaFunction> functions;
  // Host-side C++ that launches every function through the CUDA driver API (cuLaunchKernel),
  // for embedding in a host program; the launch descriptor above carries the same information.
  std::string host_source;
};

// Generates CUDA C++ for the functions (lowered loop IR, after the pass pipeline). Throws
// CompileError for IR the GPU cannot run (parallel loops, non-constant shared allocations, a
// launch dimension that depends on something other than scalar parameters, a barrier under a
// thread guard). With TESSEL_DUMP_CODE=dir, writes dir/<first function>.cu.
CudaModuleSource generate_cuda(const std::vector<PrimFunc>& funcs, const CudaTarget& target = CudaTarget());

// Evaluates a launch dimension for given scalar parameter values (by parameter position; buffer
// positions are ignored).
int64_t evaluate_launch_dim(const Expr& dim, const std::vector<Param>& params, const std::vector<int64_t>& scalars);

// ---- NVRTC ---------------------------------------------------------------------------------

// True when libnvrtc can be opened (from CUDA_HOME/CUDA_PATH, /usr/local/cuda or the loader path);
// otherwise false with the reason in *why.
bool nvrtc_available(std::string* why = nullptr);

struct CudaBinary {
  std::string ptx;
  std::string cubin;  // empty unless asked for (needs a real sm_XX arch)
  std::string log;    // NVRTC's compile log (warnings); empty for a clean compile
};

// Compiles CUDA C++ with NVRTC for target.arch. Throws CompileError with the log when compilation
// fails or NVRTC is missing. With TESSEL_DUMP_CODE=dir, writes dir/<name>.ptx.
CudaBinary compile_cuda(const std::string& source, const CudaTarget& target, bool want_cubin = false,
                        const std::string& name = "module");

}  // namespace tessel::codegen
