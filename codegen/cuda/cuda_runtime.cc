// The CUDA driver, opened with dlopen on first use (the C ABI of the driver API is stable), device
// buffers and a loaded module launching kernels from the launch descriptor. Scalars are passed to
// kernels in their parameter's C type; launch dimensions are evaluated from the scalar arguments.
#include <dlfcn.h>

#include <mutex>

#include "tessel/codegen/cuda_runtime.h"
#include "tessel/ir/error.h"

namespace tessel::codegen {

namespace {

using CuResult = int;
using CuDevice = int;
using CuContext = void*;
using CuModule = void*;
using CuFunction = void*;
using CuDevicePtr = unsigned long long;  // NOLINT(runtime/int): the driver's CUdeviceptr

struct Driver {
  void* handle = nullptr;
  std::string error;  // why the driver cannot be used; empty when it can
  CuContext context = nullptr;
  CuResult (*init)(unsigned) = nullptr;
  CuResult (*device_get)(CuDevice*, int) = nullptr;
  CuResult (*primary_ctx_retain)(CuContext*, CuDevice) = nullptr;
  CuResult (*ctx_set_current)(CuContext) = nullptr;
  CuResult (*ctx_synchronize)() = nullptr;
  CuResult (*get_error_string)(CuResult, const char**) = nullptr;
  CuResult (*mem_alloc)(CuDevicePtr*, size_t) = nullptr;
  CuResult (*mem_free)(CuDevicePtr) = nullptr;
  CuResult (*memcpy_htod)(CuDevicePtr, const void*, size_t) = nullptr;
  CuResult (*memcpy_dtoh)(void*, CuDevicePtr, size_t) = nullptr;
  CuResult (*module_load_data)(CuModule*, const void*) = nullptr;
  CuResult (*module_unload)(CuModule) = nullptr;
  CuResult (*module_get_function)(CuFunction*, CuModule, const char*) = nullptr;
  CuResult (*launch_kernel)(CuFunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*,
                            void**, void**) = nullptr;

  std::string describe(CuResult result) const {
    const char* text = nullptr;
    if (get_error_string) get_error_string(result, &text);
    return text ? std::string(text) : "CUDA error " + std::to_string(result);
  }
};

Driver& driver() {
  static Driver* instance = [] {
    auto* d = new Driver();
    for (const char* name : {"libcuda.so.1", "libcuda.so"}) {
      d->handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (d->handle) break;
    }
    if (!d->handle) {
      d->error = "no CUDA driver: libcuda.so.1 not found (running CUDA code needs an NVIDIA GPU and its driver)";
      return d;
    }
    auto load = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(d->handle, name));
      if (!fn && d->error.empty()) d->error = std::string("the CUDA driver lacks ") + name;
    };
    load(d->init, "cuInit");
    load(d->device_get, "cuDeviceGet");
    load(d->primary_ctx_retain, "cuDevicePrimaryCtxRetain");
    load(d->ctx_set_current, "cuCtxSetCurrent");
    load(d->ctx_synchronize, "cuCtxSynchronize");
    load(d->get_error_string, "cuGetErrorString");
    load(d->mem_alloc, "cuMemAlloc_v2");
    load(d->mem_free, "cuMemFree_v2");
    load(d->memcpy_htod, "cuMemcpyHtoD_v2");
    load(d->memcpy_dtoh, "cuMemcpyDtoH_v2");
    load(d->module_load_data, "cuModuleLoadData");
    load(d->module_unload, "cuModuleUnload");
    load(d->module_get_function, "cuModuleGetFunction");
    load(d->launch_kernel, "cuLaunchKernel");
    if (!d->error.empty()) return d;
    CuResult r = d->init(0);
    CuDevice device = 0;
    if (r == 0) r = d->device_get(&device, 0);
    if (r == 0) r = d->primary_ctx_retain(&d->context, device);
    if (r != 0) d->error = "no usable CUDA device: cuInit/device setup failed: " + d->describe(r);
    return d;
  }();
  return *instance;
}

// The driver with device 0's primary context current on this thread; CompileError otherwise.
Driver& ready_driver() {
  Driver& d = driver();
  user_check(d.error.empty()) << d.error;
  CuResult r = d.ctx_set_current(d.context);
  user_check(r == 0) << "cuCtxSetCurrent failed: " << d.describe(r);
  return d;
}

void check(const Driver& d, CuResult result, const char* what) {
  user_check(result == 0) << what << " failed: " << d.describe(result);
}

}  // namespace

bool cuda_device_available(std::string* why) {
  const Driver& d = driver();
  if (why) *why = d.error;
  return d.error.empty();
}

CudaDeviceBuffer::CudaDeviceBuffer(size_t bytes) : bytes_(bytes) {
  Driver& d = ready_driver();
  CuDevicePtr pointer = 0;
  check(d, d.mem_alloc(&pointer, std::max<size_t>(bytes, 1)), "cuMemAlloc");
  pointer_ = pointer;
}

CudaDeviceBuffer::~CudaDeviceBuffer() {
  if (pointer_) driver().mem_free(pointer_);
}

void CudaDeviceBuffer::copy_from_host(const void* source, size_t bytes) {
  user_check(bytes <= bytes_) << "copy of " << bytes << " bytes into a device buffer of " << bytes_;
  Driver& d = ready_driver();
  check(d, d.memcpy_htod(pointer_, source, bytes), "cuMemcpyHtoD");
}

void CudaDeviceBuffer::copy_to_host(void* destination, size_t bytes) const {
  user_check(bytes <= bytes_) << "copy of " << bytes << " bytes out of a device buffer of " << bytes_;
  Driver& d = ready_driver();
  check(d, d.memcpy_dtoh(destination, pointer_, bytes), "cuMemcpyDtoH");
}

CudaDeviceModule::CudaDeviceModule(const CudaModuleSource& source, const CudaBinary& binary) : source_(source) {
  Driver& d = ready_driver();
  const std::string& image = binary.cubin.empty() ? binary.ptx : binary.cubin;
  user_check(!image.empty()) << "CudaDeviceModule: no PTX or cubin to load";
  CuModule module = nullptr;
  check(d, d.module_load_data(&module, image.c_str()), "cuModuleLoadData");
  module_ = module;
}

CudaDeviceModule::~CudaDeviceModule() {
  if (module_) driver().module_unload(module_);
}

void CudaDeviceModule::run(const std::string& name, const std::vector<CudaArg>& args) {
  const CudaFunction* function = nullptr;
  for (const CudaFunction& f : source_.functions) {
    if (f.name == name) function = &f;
  }
  user_check(function) << "the CUDA module has no function " << name;
  user_check(args.size() == function->params.size())
      << name << " takes " << function->params.size() << " arguments, got " << args.size();
  Driver& d = ready_driver();
  // Kernel arguments: device pointers and scalars in their parameter's C type.
  std::vector<int64_t> scalar_values(args.size(), 0);
  std::vector<CuDevicePtr> pointers(args.size(), 0);
  std::vector<int64_t> ints(args.size(), 0);
  std::vector<int32_t> ints32(args.size(), 0);
  std::vector<double> doubles(args.size(), 0);
  std::vector<float> floats(args.size(), 0);
  std::vector<void*> slots;
  for (size_t i = 0; i < args.size(); ++i) {
    const Param& p = function->params[i];
    if (p.is_buffer()) {
      const auto* buffer = std::get_if<const CudaDeviceBuffer*>(&args[i]);
      user_check(buffer && *buffer) << name << ": argument " << i << " (" << p.buffer->name << ") must be a device buffer";
      pointers[i] = (*buffer)->device_pointer();
      slots.push_back(&pointers[i]);
      continue;
    }
    DataType t = p.scalar.dtype();
    double value = std::holds_alternative<double>(args[i]) ? std::get<double>(args[i])
                 : std::holds_alternative<int64_t>(args[i]) ? static_cast<double>(std::get<int64_t>(args[i]))
                                                            : 0.0;
    user_check(!std::holds_alternative<const CudaDeviceBuffer*>(args[i]))
        << name << ": argument " << i << " (" << p.scalar.name() << ") must be a scalar";
    if (t.is_float()) {
      user_check(t.bits() == 32 || t.bits() == 64) << name << ": unsupported scalar type " << t.to_string();
      floats[i] = static_cast<float>(value);
      doubles[i] = value;
      slots.push_back(t.bits() == 32 ? static_cast<void*>(&floats[i]) : static_cast<void*>(&doubles[i]));
    } else {
      user_check(t.bits() == 32 || t.bits() == 64) << name << ": unsupported scalar type " << t.to_string();
      int64_t v = std::holds_alternative<int64_t>(args[i]) ? std::get<int64_t>(args[i]) : static_cast<int64_t>(value);
      scalar_values[i] = v;
      ints[i] = v;
      ints32[i] = static_cast<int32_t>(v);
      slots.push_back(t.bits() == 32 ? static_cast<void*>(&ints32[i]) : static_cast<void*>(&ints[i]));
    }
  }
  std::vector<std::unique_ptr<CudaDeviceBuffer>> workspaces;
  std::vector<CuDevicePtr> workspace_pointers;
  for (const CudaWorkspace& w : function->workspaces) {
    int64_t count = evaluate_launch_dim(w.num_elements, function->params, scalar_values);
    workspaces.push_back(std::make_unique<CudaDeviceBuffer>(static_cast<size_t>(count) * w.dtype.bytes()));
    workspace_pointers.push_back(workspaces.back()->device_pointer());
  }
  for (const CudaKernelLaunch& launch : function->kernels) {
    CuFunction kernel = nullptr;
    check(d, d.module_get_function(&kernel, module_, launch.name.c_str()), "cuModuleGetFunction");
    std::vector<void*> kernel_args = slots;
    for (int w : launch.workspace_args) kernel_args.push_back(&workspace_pointers[w]);
    unsigned dims[6];
    for (int a = 0; a < 3; ++a) {
      dims[a] = static_cast<unsigned>(evaluate_launch_dim(launch.grid[a], function->params, scalar_values));
      dims[3 + a] = static_cast<unsigned>(evaluate_launch_dim(launch.block[a], function->params, scalar_values));
    }
    if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0) continue;  // an empty grid launches nothing
    check(d, d.launch_kernel(kernel, dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], 0, nullptr,
                             kernel_args.data(), nullptr),
          "cuLaunchKernel");
  }
  check(d, d.ctx_synchronize(), "cuCtxSynchronize");
}

}  // namespace tessel::codegen
