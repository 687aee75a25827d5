// Running generated CUDA code: the CUDA driver (libcuda, opened with dlopen on first use, so
// nothing links against it), device buffers with host copies, and a loaded module that launches a
// function's kernels from the launch descriptor of generate_cuda(). On a machine without a GPU or
// driver every entry point throws a CompileError saying so; nothing crashes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tessel/codegen/cuda.h"

namespace tessel::codegen {

// True when libcuda loads and a device initialises; otherwise false with the reason in *why.
bool cuda_device_available(std::string* why = nullptr);

// Device memory of the current device (the primary context of device 0), freed on destruction.
class CudaDeviceBuffer {
 public:
  explicit CudaDeviceBuffer(size_t bytes);
  ~CudaDeviceBuffer();
  CudaDeviceBuffer(const CudaDeviceBuffer&) = delete;
  CudaDeviceBuffer& operator=(const CudaDeviceBuffer&) = delete;

  uint64_t device_pointer() const { return pointer_; }
  size_t bytes() const { return bytes_; }
  void copy_from_host(const void* source, size_t bytes);
  void copy_to_host(void* destination, size_t bytes) const;

 private:
  uint64_t pointer_ = 0;
  size_t bytes_ = 0;
};

// An argument of CudaDeviceModule::run: a device buffer for a buffer parameter, or a scalar.
using CudaArg = std::variant<const CudaDeviceBuffer*, int64_t, double>;

// PTX (or a cubin) loaded into the device, with the launch descriptor of its functions.
class CudaDeviceModule {
 public:
  // Loads binary.cubin when present, else binary.ptx (JIT-compiled by the driver).
  CudaDeviceModule(const CudaModuleSource& source, const CudaBinary& binary);
  ~CudaDeviceModule();
  CudaDeviceModule(const CudaDeviceModule&) = delete;
  CudaDeviceModule& operator=(const CudaDeviceModule&) = delete;

  // Runs function `name`: allocates its workspaces, launches its kernels in order and waits.
  void run(const std::string& name, const std::vector<CudaArg>& args);

 private:
  CudaModuleSource source_;
  void* module_ = nullptr;  // CUmodule
};

}  // namespace tessel::codegen
