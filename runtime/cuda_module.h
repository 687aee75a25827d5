// The GPU side of a module compiled for target kind "cuda": its PTX (and cubin) loaded into CUDA
// device 0, the launch descriptor of every kernel, and the execution plan's storages in device
// memory (inputs, outputs, the static pool and the weights, uploaded once at load). CPU tensors
// given to set_input/get_output are copied to and from the device; CUDA tensors are used directly.
//
// Library sections (written by codegen::export_cuda_library):
//   __tessel_cuda_ptx(_size)       PTX text of every kernel
//   __tessel_cuda_cubin(_size)     the cubin for the target's sm_XX (size 0 when absent)
//   __tessel_cuda_launches(_size)  JSON: {"arch": "sm_90", "functions": [{"name", "num_params",
//                                  "workspace_bytes": [..], "kernels": [{"name", "grid": [x,y,z],
//                                  "block": [x,y,z], "shared_bytes" (static, for
//                                  information), "workspace_args": [..]}]}]}
//   A plan node calls a function: its kernels are launched in order with the node's storages as
//   the first arguments and the function's workspaces (device memory owned here) after them.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "cuda_driver.h"
#include "runtime_module.h"

namespace tessel_rt {

class CudaExecutor {
 public:
  // Loads the kernels into the GPU and lays out the storages (throws RuntimeError:
  // TESSEL_ERROR_NO_DEVICE without a usable GPU, TESSEL_ERROR_TARGET_MISMATCH when the GPU cannot
  // run the module's architecture, TESSEL_ERROR_CORRUPT_MODULE for inconsistent sections).
  CudaExecutor(const TesselModule& module, const std::vector<StorageInfo>& storages, int64_t pool_bytes,
               const char* weights, uint64_t weights_size);
  ~CudaExecutor();
  CudaExecutor(const CudaExecutor&) = delete;
  CudaExecutor& operator=(const CudaExecutor&) = delete;

  void set_input(const TensorInfo& info, int32_t index, const DLTensor* value, bool zero_copy);
  void set_output_zero_copy(const TensorInfo& info, int32_t index, const DLTensor* value);
  void get_output(const TensorInfo& info, int32_t index, DLTensor* destination) const;

  // A run: begin_run uploads inputs bound to CPU memory, launch_node queues one node's kernels,
  // finish_run waits for the device (naming `last_node` on failure) and downloads outputs bound to
  // CPU memory.
  void begin_run();
  void launch_node(const Node& node);
  void finish_run(const std::string& last_node);
  // Waits for the device; a failure names the node.
  void synchronize(const std::string& node) const;

  const std::string& arch() const { return arch_; }

 private:
  struct Launch {
    std::string name;
    void* function = nullptr;  // CUfunction
    std::array<unsigned, 3> grid{}, block{};  // shared memory is static, declared by the kernel
    std::vector<int> workspace_args;
  };
  struct Function {
    std::string name;
    size_t num_params = 0;
    std::vector<std::unique_ptr<cuda::DeviceBuffer>> workspaces;
    std::vector<Launch> launches;
  };
  // CPU memory bound to an input (read at each run) or output (written after each run).
  struct HostBinding {
    void* data = nullptr;
    size_t bytes = 0;
  };

  const Function& function_of(const Node& node) const;
  void load_image(const TesselModule& module);

  std::string path_, arch_;
  void* image_module_ = nullptr;  // CUmodule
  std::vector<Function> functions_;
  std::unique_ptr<cuda::DeviceBuffer> pool_, weights_;
  std::vector<std::unique_ptr<cuda::DeviceBuffer>> input_buffers_, output_buffers_;
  std::vector<cuda::DevicePtr> storage_;  // by storage id: where it lives on the device now
  std::vector<HostBinding> host_inputs_, host_outputs_;
  std::vector<cuda::DevicePtr> arg_values_;  // kernel arguments of the launch in progress
  std::vector<void*> arg_pointers_;
};

}  // namespace tessel_rt
