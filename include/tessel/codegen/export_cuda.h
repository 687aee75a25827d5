// Exporting a module whose kernels run on an NVIDIA GPU: the plan's kernels become CUDA C++
// (generate_cuda), NVRTC compiles them to PTX and, for a real sm_XX architecture, a cubin, and ONE
// shared library carries them with the execution plan, the weights and the launch descriptors.
// The library holds no host code: libtessel_runtime.so loads the PTX/cubin through the CUDA
// driver (dlopen'ed, see runtime/cuda_module.h) and launches each kernel from its descriptor.
//
// Library format: as in export.h (format version, metadata, graph JSON, weights), with
//   metadata "target": {"kind": "cuda", "string": "cuda -arch=sm_90", "arch": "sm_90",
//                       "triple": <host triple>, "cpu": "generic", "required_features": []}
//   __tessel_cuda_ptx(_size), __tessel_cuda_cubin(_size) (size 0 for a compute_XX target),
//   __tessel_cuda_launches(_size): JSON, per plan kernel its parameter count, workspace sizes in
//                                  bytes and kernels in launch order (name, grid, block, static
//                                  shared bytes, workspace arguments).
// The memory plan is the same as for the CPU; the runtime lays it out in device memory.
#pragma once

#include <string>

#include "tessel/codegen/cuda.h"
#include "tessel/codegen/export.h"

namespace tessel::codegen {

// The launch descriptor document (__tessel_cuda_launches) for generated CUDA whose functions
// have only buffer parameters (so every grid, block and workspace size is a constant).
std::string cuda_launches_json(const CudaModuleSource& module, const CudaTarget& target);

// Generates, compiles (NVRTC, which needs the CUDA toolkit but no GPU) and links the library at
// `path`. Throws CompileError when NVRTC is missing or rejects the code, or for a kernel with
// scalar parameters.
void export_cuda_library(const ExecutionPlan& plan, const CudaTarget& target, const std::string& path);

// The metadata document of a CUDA module (exposed for tests and tools).
std::string cuda_module_metadata_json(const ExecutionPlan& plan, const CudaTarget& target, int64_t weights_bytes);

}  // namespace tessel::codegen
