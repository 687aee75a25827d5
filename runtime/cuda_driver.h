// The CUDA driver API as the runtime uses it: libcuda.so.1 opened with dlopen on first use (the
// runtime links nothing of CUDA), device 0's primary context, device memory and copies. Every
// failure is a RuntimeError: TESSEL_ERROR_NO_DEVICE when there is no driver or GPU (with the
// loader's or cuInit's reason), TESSEL_ERROR_OUT_OF_MEMORY for allocations, else the caller's status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime_internal.h"

namespace tessel_rt::cuda {

using DevicePtr = unsigned long long;  // NOLINT(runtime/int): the driver's CUdeviceptr
using Result = int;                    // CUresult; 0 is CUDA_SUCCESS

// The entry points the runtime calls (the C ABI of the driver API is stable across versions).
struct Driver {
  Result (*init)(unsigned) = nullptr;
  Result (*device_get)(int*, int) = nullptr;
  Result (*device_get_attribute)(int*, int, int) = nullptr;
  Result (*primary_ctx_retain)(void**, int) = nullptr;
  Result (*ctx_set_current)(void*) = nullptr;
  Result (*ctx_synchronize)() = nullptr;
  Result (*get_error_string)(Result, const char**) = nullptr;
  Result (*mem_alloc)(DevicePtr*, size_t) = nullptr;
  Result (*mem_free)(DevicePtr) = nullptr;
  Result (*memcpy_htod)(DevicePtr, const void*, size_t) = nullptr;
  Result (*memcpy_dtoh)(void*, DevicePtr, size_t) = nullptr;
  Result (*memcpy_dtod)(DevicePtr, DevicePtr, size_t) = nullptr;
  Result (*module_load_data)(void**, const void*) = nullptr;
  Result (*module_unload)(void*) = nullptr;
  Result (*module_get_function)(void**, void*, const char*) = nullptr;
  Result (*launch_kernel)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**,
                          void**) = nullptr;

  void* context = nullptr;  // device 0's primary context
  int compute_capability = 0;  // e.g. 90 for sm_90

  // The driver's name for a result code ("CUDA_ERROR_OUT_OF_MEMORY: out of memory" style text).
  std::string describe(Result result) const;
};

// Loads the driver and initialises device 0 once per process; afterwards makes its context
// current on the calling thread. Throws TESSEL_ERROR_NO_DEVICE with the reason when it cannot.
Driver& driver();
// Whether driver() would succeed; the reason in *why otherwise. Never throws.
bool available(std::string* why);
// Throws RuntimeError(status, "<what> failed: <driver message>") unless result is success.
void check(Result result, TesselStatus status, const std::string& what);

// Device memory freed on destruction (at least one byte is allocated, so the pointer is valid).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DevicePtr pointer() const { return pointer_; }
  size_t bytes() const { return bytes_; }

 private:
  DevicePtr pointer_ = 0;
  size_t bytes_ = 0;
};

// Synchronous copies (they wait for earlier work on the device).
void copy_to_device(DevicePtr destination, const void* source, size_t bytes);
void copy_to_host(void* destination, DevicePtr source, size_t bytes);
void copy_on_device(DevicePtr destination, DevicePtr source, size_t bytes);

}  // namespace tessel_rt::cuda
