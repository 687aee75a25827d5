// CUDA measurement: the kernel a CUDA task's measurement child builds with NVRTC and runs through
// the CUDA driver, and the probe (cuda_measurement_available) that asks a short-lived child
// whether a device is usable, so that this process never initialises the driver itself.
#include <memory>
#include <string>
#include <vector>

#include "measure_child.h"
#include "measure_kernel.h"
#include "tessel/autotune/measure.h"
#include "tessel/codegen/cuda_runtime.h"

namespace tessel::autotune {

namespace detail {

namespace {

// The module is loaded and the device buffers allocated on the first run (after the go, so that
// children waiting to run hold no device context); the inputs are copied to the device then,
// once, and later runs reuse them.
struct CudaKernel : Kernel {
  codegen::CudaModuleSource source;
  codegen::CudaBinary binary;
  std::string name;
  std::vector<size_t> bytes;     // per arg
  std::vector<bool> is_output;   // per arg
  std::unique_ptr<codegen::CudaDeviceModule> module;
  std::vector<std::unique_ptr<codegen::CudaDeviceBuffer>> buffers;
  std::vector<codegen::CudaArg> device_args;

  void launch(const std::vector<void*>& args) {
    if (!module) {
      module = std::make_unique<codegen::CudaDeviceModule>(source, binary);
      for (size_t i = 0; i < args.size(); ++i) {
        buffers.push_back(std::make_unique<codegen::CudaDeviceBuffer>(bytes[i]));
        if (!is_output[i]) buffers.back()->copy_from_host(args[i], bytes[i]);
        device_args.push_back(buffers.back().get());
      }
    }
    module->run(name, device_args);
  }
  // A driver failure is the run's error text, as a JIT kernel's non-zero status is.
  std::string run_to_host(const std::vector<void*>& args) override {
    try {
      launch(args);
      for (size_t i = 0; i < args.size(); ++i) {
        if (is_output[i]) buffers[i]->copy_to_host(args[i], bytes[i]);
      }
    } catch (const std::exception& e) {
      return e.what();
    }
    return {};
  }
  void run_timed(const std::vector<void*>& args) override { launch(args); }
};

}  // namespace

std::unique_ptr<Kernel> build_cuda_kernel(const PrimFunc& lowered, const std::string& name,
                                          const codegen::CudaTarget& target, const std::vector<size_t>& bytes,
                                          const std::vector<bool>& is_output) {
  auto kernel = std::make_unique<CudaKernel>();
  kernel->source = codegen::generate_cuda({lowered}, target);
  kernel->binary = codegen::compile_cuda(kernel->source.source, target,
                                         /*want_cubin=*/target.arch.rfind("sm_", 0) == 0, name);
  kernel->name = name;
  kernel->bytes = bytes;
  kernel->is_output = is_output;
  return kernel;
}

}  // namespace detail

bool cuda_measurement_available(std::string* why) {
  // The child answers "1" or "0" followed by the driver's reason.
  std::string reply, failure;
  bool asked = detail::ask_child(
      [] {
        std::string reason;
        bool ok = codegen::cuda_device_available(&reason);
        return (ok ? "1" : "0") + reason;
      },
      &reply, &failure);
  if (!asked) {
    if (why) *why = failure;
    return false;
  }
  if (reply.empty()) {
    if (why) *why = "the CUDA driver check crashed";
    return false;
  }
  if (why) *why = reply.substr(1);
  return reply[0] == '1';
}

}  // namespace tessel::autotune
