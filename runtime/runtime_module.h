// The loaded module behind the C ABI's opaque TesselModule: the dlopen'ed library, its metadata,
// and the graph executor state (storage table, static memory pool, resolved kernel calls).
// module.cc loads and validates; graph_executor.cc sets inputs, runs and profiles. A module whose
// target kind is "cuda" keeps its storages on the GPU instead (cuda_module.h), and the executor
// entry points forward to it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime_internal.h"

namespace tessel_rt {

using KernelEntry = int32_t (*)(void** args, int32_t num_args);

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  DLDataType dtype{};
  int32_t storage = -1;  // storage id in the plan
  int64_t bytes() const { return num_elements(shape.data(), static_cast<int32_t>(shape.size())) * dtype_bytes(dtype); }
};

struct Node {
  std::string name;
  std::string kernel_name;
  KernelEntry kernel = nullptr;  // CPU modules; null in CUDA modules
  std::vector<int32_t> args;  // storage ids: inputs then outputs (the kernel's parameter order)
};

// One storage of the execution plan, as validated at load time.
struct StorageInfo {
  std::string kind;     // "input", "output", "pool" or "constant"
  int64_t size = 0;     // bytes
  int64_t offset = 0;   // into the pool or the weights ("pool", "constant")
  int64_t index = -1;   // input or output index ("input", "output")
};

class CudaExecutor;

}  // namespace tessel_rt

struct TesselModule {
  ~TesselModule();

  std::string path;
  void* library = nullptr;  // dlopen handle
  const char* const* kernel_last_error = nullptr;
  std::string metadata_json, graph_json;
  std::vector<tessel_rt::TensorInfo> inputs, outputs;
  std::vector<tessel_rt::Node> nodes;

  // Executor state. storage_data[id] is where storage `id` lives right now: inside the pool,
  // inside the mapped weights, or in an input/output buffer (owned, or the caller's zero-copy one).
  std::vector<void*> storage_data;
  std::unique_ptr<tessel_rt::AlignedBuffer> pool;
  std::vector<std::unique_ptr<tessel_rt::AlignedBuffer>> input_buffers, output_buffers;
  std::vector<void*> arg_scratch;
  std::string profile_table;
  // Set for modules compiled for target kind "cuda": storages live in device memory there.
  std::unique_ptr<tessel_rt::CudaExecutor> cuda;

  int32_t input_index(const std::string& name) const;   // -1 when unknown
  int32_t output_index(const std::string& name) const;  // -1 when unknown
  void set_input(int32_t index, const DLTensor* value, bool zero_copy);
  void set_output_zero_copy(int32_t index, const DLTensor* value);
  void run();
  void get_output(int32_t index, DLTensor* dst) const;
  const std::string& run_profile(int32_t repeat);
  // Runs node n of the plan (a CPU kernel call or the node's CUDA launches, not waited for).
  void run_node(size_t n);
};

namespace tessel_rt {
// Loads and validates an exported library (throws RuntimeError with the matching status).
std::unique_ptr<TesselModule> load_module(const std::string& path);
// A NUL-terminated blob of the loaded library and its size symbol, e.g. __tessel_graph_json(_size)
// (TESSEL_ERROR_CORRUPT_MODULE naming `path` when either is missing).
std::string read_blob(void* library, const std::string& symbol, const std::string& path);
}  // namespace tessel_rt
