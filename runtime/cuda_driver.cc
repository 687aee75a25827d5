// Lazy loading of the CUDA driver (libcuda.so.1, by dlopen) and the few driver calls the runtime
// needs. The first use decides, once per process, whether a GPU is usable; the reason it is not
// (no driver library, a missing entry point, cuInit's error) is kept and reported on every use.
#include "cuda_driver.h"

#include <dlfcn.h>

#include <algorithm>
#include <type_traits>

namespace tessel_rt::cuda {

namespace {

constexpr int kAttributeComputeCapabilityMajor = 75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttributeComputeCapabilityMinor = 76;
constexpr Result kErrorOutOfMemory = 2;               // CUDA_ERROR_OUT_OF_MEMORY

struct Loaded {
  Driver driver;
  std::string error;  // why the driver cannot be used; empty when it can
};

Loaded& loaded() {
  static Loaded* instance = [] {
    auto* state = new Loaded();  // never freed: modules may be destroyed during exit
    void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      state->error = "no CUDA driver: libcuda.so.1 not found (running a CUDA module needs an NVIDIA GPU and its driver)";
      return state;
    }
    Driver& d = state->driver;
    auto load = [&](auto& function, const char* name) {
      function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(handle, name));
      if (function == nullptr && state->error.empty()) state->error = std::string("the CUDA driver lacks ") + name;
    };
    load(d.init, "cuInit");
    load(d.device_get, "cuDeviceGet");
    load(d.device_get_attribute, "cuDeviceGetAttribute");
    load(d.primary_ctx_retain, "cuDevicePrimaryCtxRetain");
    load(d.ctx_set_current, "cuCtxSetCurrent");
    load(d.ctx_synchronize, "cuCtxSynchronize");
    load(d.get_error_string, "cuGetErrorString");
    load(d.mem_alloc, "cuMemAlloc_v2");
    load(d.mem_free, "cuMemFree_v2");
    load(d.memcpy_htod, "cuMemcpyHtoD_v2");
    load(d.memcpy_dtoh, "cuMemcpyDtoH_v2");
    load(d.memcpy_dtod, "cuMemcpyDtoD_v2");
    load(d.module_load_data, "cuModuleLoadData");
    load(d.module_unload, "cuModuleUnload");
    load(d.module_get_function, "cuModuleGetFunction");
    load(d.launch_kernel, "cuLaunchKernel");
    if (!state->error.empty()) return state;
    Result result = d.init(0);
    if (result != 0) {
      state->error = "CUDA driver: cuInit failed: " + d.describe(result) + " (no usable NVIDIA GPU?)";
      return state;
    }
    int device = 0, major = 0, minor = 0;
    result = d.device_get(&device, 0);
    if (result == 0) result = d.device_get_attribute(&major, kAttributeComputeCapabilityMajor, device);
    if (result == 0) result = d.device_get_attribute(&minor, kAttributeComputeCapabilityMinor, device);
    if (result == 0) result = d.primary_ctx_retain(&d.context, device);
    if (result != 0) {
      state->error = "CUDA driver: cannot use device 0: " + d.describe(result);
      return state;
    }
    d.compute_capability = major * 10 + minor;
    return state;
  }();
  return *instance;
}

}  // namespace

std::string Driver::describe(Result result) const {
  const char* text = nullptr;
  if (get_error_string != nullptr) get_error_string(result, &text);
  return text != nullptr ? std::string(text) + " (CUDA error " + std::to_string(result) + ")"
                         : "CUDA error " + std::to_string(result);
}

Driver& driver() {
  Loaded& state = loaded();
  TESSEL_RT_CHECK(state.error.empty(), TESSEL_ERROR_NO_DEVICE) << state.error;
  Result result = state.driver.ctx_set_current(state.driver.context);
  TESSEL_RT_CHECK(result == 0, TESSEL_ERROR_NO_DEVICE) << "cuCtxSetCurrent failed: " << state.driver.describe(result);
  return state.driver;
}

bool available(std::string* why) {
  Loaded& state = loaded();
  if (why != nullptr) *why = state.error;
  return state.error.empty();
}

void check(Result result, TesselStatus status, const std::string& what) {
  if (result == 0) return;
  throw RuntimeError(result == kErrorOutOfMemory ? TESSEL_ERROR_OUT_OF_MEMORY : status,
                     what + " failed: " + loaded().driver.describe(result));
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  Driver& d = driver();
  DevicePtr pointer = 0;
  check(d.mem_alloc(&pointer, std::max<size_t>(bytes, 1)), TESSEL_ERROR_OUT_OF_MEMORY,
        "cuMemAlloc of " + std::to_string(bytes) + " bytes");
  pointer_ = pointer;
}

DeviceBuffer::~DeviceBuffer() {
  if (pointer_ != 0) loaded().driver.mem_free(pointer_);
}

void copy_to_device(DevicePtr destination, const void* source, size_t bytes) {
  if (bytes == 0) return;
  check(driver().memcpy_htod(destination, source, bytes), TESSEL_ERROR_INTERNAL, "cuMemcpyHtoD");
}

void copy_to_host(void* destination, DevicePtr source, size_t bytes) {
  if (bytes == 0) return;
  check(driver().memcpy_dtoh(destination, source, bytes), TESSEL_ERROR_KERNEL_FAILED, "cuMemcpyDtoH");
}

void copy_on_device(DevicePtr destination, DevicePtr source, size_t bytes) {
  if (bytes == 0 || destination == source) return;
  check(driver().memcpy_dtod(destination, source, bytes), TESSEL_ERROR_KERNEL_FAILED, "cuMemcpyDtoD");
}

}  // namespace tessel_rt::cuda
