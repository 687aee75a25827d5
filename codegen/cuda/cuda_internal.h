// Pieces of the CUDA code generator shared between its files: the kernel emitter (one kernel from
// one top-level statement) and the host launcher emitter.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tessel/codegen/cuda.h"

namespace tessel::codegen {

// CUDA C++ of one `extern "C" __global__` kernel whose body is `body`. Its parameters are the
// function's parameters followed by the workspace buffers. `dims` maps each thread tag used in
// body to its launch dimension. Stores the static shared memory in *shared_bytes.
std::string emit_cuda_kernel(const CudaKernelLaunch& launch, const std::vector<Param>& params,
                             const std::vector<Buffer>& workspaces, const Stmt& body,
                             const std::map<std::string, Expr>& dims, const CudaTarget& target,
                             int64_t* shared_bytes);

// C++ host code launching each function's kernels through the driver API.
std::string emit_cuda_host_launcher(const std::vector<CudaFunction>& functions);

// The C type of a scalar dtype ("float", "long long", ...); CompileError for unsupported types.
std::string cuda_type_name(DataType dtype);

}  // namespace tessel::codegen
