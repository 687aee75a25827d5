// Running a CUDA module: loads its PTX/cubin into device 0 (the cubin when it was built for this
// GPU's exact architecture, else the PTX, which the driver compiles for the GPU), allocates the
// storages and each function's workspaces once, uploads the weights once, and launches every
// node's kernels on the default stream with cuLaunchKernel. See cuda_module.h for the sections.
#include "cuda_module.h"

#include <cctype>

namespace tessel_rt {

namespace {

// "sm_90" / "compute_90" / "sm_90a" -> 90; -1 when there is no number.
int arch_number(const std::string& arch) {
  size_t at = arch.find('_');
  if (at == std::string::npos) return -1;
  int value = 0;
  size_t digits = 0;
  for (size_t i = at + 1; i < arch.size() && std::isdigit(static_cast<unsigned char>(arch[i])); ++i, ++digits)
    value = value * 10 + (arch[i] - '0');
  return digits == 0 ? -1 : value;
}

std::string sm_name(int number) { return "sm_" + std::to_string(number); }

std::array<unsigned, 3> read_dims(const JsonValue& value, const char* what) {
  const std::vector<JsonValue>& list = value.as_array(what);
  TESSEL_RT_CHECK(list.size() == 3, TESSEL_ERROR_CORRUPT_MODULE) << "CUDA launches: " << what << " needs 3 entries";
  std::array<unsigned, 3> dims{};
  for (int a = 0; a < 3; ++a) {
    int64_t v = list[a].as_int(what);
    TESSEL_RT_CHECK(v >= 0 && v <= 0x7fffffff, TESSEL_ERROR_CORRUPT_MODULE) << "CUDA launches: bad " << what << " " << v;
    dims[a] = static_cast<unsigned>(v);
  }
  return dims;
}

DLTensor view_of(const TensorInfo& info, void* data, DLDevice device) {
  return DLTensor{data, device, static_cast<int32_t>(info.shape.size()), info.dtype,
                  const_cast<int64_t*>(info.shape.data()), nullptr, 0};
}

char* data_of(const DLTensor* t) { return static_cast<char*>(t->data) + t->byte_offset; }

void check_device_tensor(const DLTensor* value, const std::string& what) {
  TESSEL_RT_CHECK(value->device.device_type == kDLCPU || value->device.device_type == kDLCUDA,
                  TESSEL_ERROR_INVALID_ARGUMENT)
      << what << ": the tensor is on device type " << value->device.device_type << ", expected the CPU or CUDA";
  TESSEL_RT_CHECK(value->device.device_type == kDLCPU || value->device.device_id == 0, TESSEL_ERROR_INVALID_ARGUMENT)
      << what << ": the module runs on CUDA device 0, the tensor is on CUDA device " << value->device.device_id;
  TESSEL_RT_CHECK(value->device.device_type == kDLCPU || is_compact(value), TESSEL_ERROR_INVALID_ARGUMENT)
      << what << ": a CUDA tensor must be compact (row-major, contiguous)";
}

}  // namespace

CudaExecutor::CudaExecutor(const TesselModule& module, const std::vector<StorageInfo>& storages, int64_t pool_bytes,
                           const char* weights, uint64_t weights_size)
    : path_(module.path) {
  JsonValue launches = parse_json(read_blob(module.library, "__tessel_cuda_launches", path_), "CUDA launches");
  arch_ = launches.at("arch").as_string("arch");
  for (const JsonValue& item : launches.at("functions").as_array("functions")) {
    Function function;
    function.name = item.at("name").as_string("function name");
    function.num_params = static_cast<size_t>(item.at("num_params").as_int("num_params"));
    size_t num_workspaces = item.at("workspace_bytes").as_array("workspace_bytes").size();
    for (const JsonValue& kernel : item.at("kernels").as_array("kernels")) {
      Launch launch;
      launch.name = kernel.at("name").as_string("kernel name");
      launch.grid = read_dims(kernel.at("grid"), "grid");
      launch.block = read_dims(kernel.at("block"), "block");
      for (const JsonValue& w : kernel.at("workspace_args").as_array("workspace_args")) {
        int64_t index = w.as_int("workspace argument");
        TESSEL_RT_CHECK(index >= 0 && static_cast<size_t>(index) < num_workspaces, TESSEL_ERROR_CORRUPT_MODULE)
            << "CUDA launches: kernel '" << launch.name << "' names workspace " << index << " out of range";
        launch.workspace_args.push_back(static_cast<int>(index));
      }
      function.launches.push_back(std::move(launch));
    }
    functions_.push_back(std::move(function));
  }
  for (const Node& node : module.nodes) {
    const Function& function = function_of(node);
    TESSEL_RT_CHECK(node.args.size() == function.num_params, TESSEL_ERROR_CORRUPT_MODULE)
        << "module plan: node '" << node.name << "' passes " << node.args.size() << " arguments to '" << function.name
        << "', which takes " << function.num_params;
  }

  // Everything above reads only the library; from here on the GPU is needed.
  load_image(module);
  for (size_t f = 0; f < functions_.size(); ++f) {
    const std::vector<JsonValue>& bytes = launches.at("functions").as_array("functions")[f].at("workspace_bytes").as_array("workspace_bytes");
    for (const JsonValue& b : bytes)
      functions_[f].workspaces.push_back(std::make_unique<cuda::DeviceBuffer>(static_cast<size_t>(b.as_int("workspace bytes"))));
  }
  pool_ = std::make_unique<cuda::DeviceBuffer>(static_cast<size_t>(pool_bytes));
  weights_ = std::make_unique<cuda::DeviceBuffer>(static_cast<size_t>(weights_size));
  cuda::copy_to_device(weights_->pointer(), weights, static_cast<size_t>(weights_size));
  for (const TensorInfo& info : module.inputs)
    input_buffers_.push_back(std::make_unique<cuda::DeviceBuffer>(static_cast<size_t>(info.bytes())));
  for (const TensorInfo& info : module.outputs)
    output_buffers_.push_back(std::make_unique<cuda::DeviceBuffer>(static_cast<size_t>(info.bytes())));
  host_inputs_.resize(module.inputs.size());
  host_outputs_.resize(module.outputs.size());
  storage_.assign(storages.size(), 0);
  for (size_t id = 0; id < storages.size(); ++id) {
    const StorageInfo& s = storages[id];
    if (s.kind == "pool") storage_[id] = pool_->pointer() + static_cast<cuda::DevicePtr>(s.offset);
    else if (s.kind == "constant") storage_[id] = weights_->pointer() + static_cast<cuda::DevicePtr>(s.offset);
    else if (s.kind == "input") storage_[id] = input_buffers_[static_cast<size_t>(s.index)]->pointer();
    else storage_[id] = output_buffers_[static_cast<size_t>(s.index)]->pointer();
  }
}

CudaExecutor::~CudaExecutor() {
  functions_.clear();
  if (image_module_ != nullptr) {
    std::string why;
    if (cuda::available(&why)) cuda::driver().module_unload(image_module_);
  }
}

void CudaExecutor::load_image(const TesselModule& module) {
  std::string ptx = read_blob(module.library, "__tessel_cuda_ptx", path_);
  std::string cubin = read_blob(module.library, "__tessel_cuda_cubin", path_);
  TESSEL_RT_CHECK(!ptx.empty() || !cubin.empty(), TESSEL_ERROR_CORRUPT_MODULE)
      << "module library '" << path_ << "' has neither PTX nor a cubin";
  cuda::Driver& d = cuda::driver();  // TESSEL_ERROR_NO_DEVICE without a GPU
  const int wanted = arch_number(arch_), have = d.compute_capability;
  TESSEL_RT_CHECK(wanted > 0, TESSEL_ERROR_CORRUPT_MODULE) << "module library '" << path_ << "': bad CUDA architecture '"
                                                           << arch_ << "'";
  TESSEL_RT_CHECK(wanted <= have, TESSEL_ERROR_TARGET_MISMATCH)
      << "module library '" << path_ << "' was compiled for " << arch_ << ", but this GPU is " << sm_name(have)
      << "; re-export it with -arch=" << sm_name(have);
  // A cubin runs only on the architecture it was built for; the PTX is compiled for this GPU.
  cuda::Result result = -1;
  if (!cubin.empty() && wanted == have) result = d.module_load_data(&image_module_, cubin.data());
  if (result != 0) {
    TESSEL_RT_CHECK(!ptx.empty(), TESSEL_ERROR_TARGET_MISMATCH)
        << "module library '" << path_ << "' has only a cubin for " << arch_ << ", which this " << sm_name(have)
        << " GPU cannot load";
    result = d.module_load_data(&image_module_, ptx.c_str());
    if (result != 0) image_module_ = nullptr;
    cuda::check(result, TESSEL_ERROR_TARGET_MISMATCH,
                "loading the kernels of '" + path_ + "' (PTX for " + arch_ + ") into the " + sm_name(have) + " GPU");
  }
  for (Function& function : functions_) {
    for (Launch& launch : function.launches) {
      cuda::check(d.module_get_function(&launch.function, image_module_, launch.name.c_str()),
                  TESSEL_ERROR_CORRUPT_MODULE, "cuModuleGetFunction(" + launch.name + ")");
    }
  }
}

const CudaExecutor::Function& CudaExecutor::function_of(const Node& node) const {
  for (const Function& function : functions_) {
    if (function.name == node.kernel_name) return function;
  }
  throw RuntimeError(TESSEL_ERROR_CORRUPT_MODULE,
                     "module library '" + path_ + "' has no CUDA function '" + node.kernel_name + "'");
}

void CudaExecutor::set_input(const TensorInfo& info, int32_t index, const DLTensor* value, bool zero_copy) {
  const std::string what = "input '" + info.name + "'";
  const size_t bytes = static_cast<size_t>(info.bytes());
  cuda::DevicePtr own = input_buffers_[index]->pointer();
  if (zero_copy && value == nullptr) {  // unbind: back to the module's own buffer
    storage_[info.storage] = own;
    host_inputs_[index] = {};
    return;
  }
  TESSEL_RT_CHECK(value != nullptr, TESSEL_ERROR_INVALID_ARGUMENT) << what << ": the tensor is null";
  check_device_tensor(value, what);
  check_tensor_shape(value, info.shape.data(), static_cast<int32_t>(info.shape.size()), info.dtype, what);
  host_inputs_[index] = {};
  storage_[info.storage] = own;
  if (value->device.device_type == kDLCUDA) {
    cuda::DevicePtr source = reinterpret_cast<cuda::DevicePtr>(data_of(value));
    if (zero_copy) {
      TESSEL_RT_CHECK(source % kAlignment == 0, TESSEL_ERROR_INVALID_ARGUMENT)
          << what << ": zero-copy binding needs data aligned to 64 bytes";
      storage_[info.storage] = source;
    } else {
      cuda::copy_on_device(own, source, bytes);
    }
    return;
  }
  if (zero_copy && is_compact(value)) {
    host_inputs_[index] = {data_of(value), bytes};
    return;
  }
  if (is_compact(value)) {
    cuda::copy_to_device(own, data_of(value), bytes);
    return;
  }
  AlignedBuffer staging(bytes);
  DLTensor compact = view_of(info, staging.data, DLDevice{kDLCPU, 0});
  copy_strided(value, &compact);
  cuda::copy_to_device(own, staging.data, bytes);
}

void CudaExecutor::set_output_zero_copy(const TensorInfo& info, int32_t index, const DLTensor* value) {
  const std::string what = "output '" + info.name + "'";
  host_outputs_[index] = {};
  storage_[info.storage] = output_buffers_[index]->pointer();
  if (value == nullptr) return;  // unbind
  check_device_tensor(value, what);
  check_tensor_shape(value, info.shape.data(), static_cast<int32_t>(info.shape.size()), info.dtype, what);
  TESSEL_RT_CHECK(is_compact(value), TESSEL_ERROR_INVALID_ARGUMENT)
      << what << ": zero-copy binding needs a compact (row-major, contiguous) tensor";
  if (value->device.device_type == kDLCUDA) {
    cuda::DevicePtr destination = reinterpret_cast<cuda::DevicePtr>(data_of(value));
    TESSEL_RT_CHECK(destination % kAlignment == 0, TESSEL_ERROR_INVALID_ARGUMENT)
        << what << ": zero-copy binding needs data aligned to 64 bytes";
    storage_[info.storage] = destination;
  } else {
    host_outputs_[index] = {data_of(value), static_cast<size_t>(info.bytes())};
  }
}

void CudaExecutor::get_output(const TensorInfo& info, int32_t index, DLTensor* destination) const {
  const std::string what = "output '" + info.name + "'";
  TESSEL_RT_CHECK(destination != nullptr, TESSEL_ERROR_INVALID_ARGUMENT) << what << ": the tensor is null";
  check_device_tensor(destination, what);
  check_tensor_shape(destination, info.shape.data(), static_cast<int32_t>(info.shape.size()), info.dtype, what);
  const size_t bytes = static_cast<size_t>(info.bytes());
  cuda::DevicePtr source = storage_[info.storage];
  if (destination->device.device_type == kDLCUDA) {
    cuda::copy_on_device(reinterpret_cast<cuda::DevicePtr>(data_of(destination)), source, bytes);
    return;
  }
  const HostBinding& bound = host_outputs_[index];
  if (bound.data != nullptr && bound.data == data_of(destination)) return;  // written after the run
  if (is_compact(destination)) {
    cuda::copy_to_host(data_of(destination), source, bytes);
    return;
  }
  AlignedBuffer staging(bytes);
  cuda::copy_to_host(staging.data, source, bytes);
  DLTensor compact = view_of(info, staging.data, DLDevice{kDLCPU, 0});
  copy_strided(&compact, destination);
}

void CudaExecutor::begin_run() {
  for (size_t i = 0; i < host_inputs_.size(); ++i) {
    if (host_inputs_[i].data != nullptr) {
      cuda::copy_to_device(input_buffers_[i]->pointer(), host_inputs_[i].data, host_inputs_[i].bytes);
    }
  }
}

void CudaExecutor::launch_node(const Node& node) {
  const Function& function = function_of(node);
  cuda::Driver& d = cuda::driver();
  for (const Launch& launch : function.launches) {
    if (launch.grid[0] == 0 || launch.grid[1] == 0 || launch.grid[2] == 0) continue;  // nothing to do
    arg_values_.clear();
    for (int32_t storage : node.args) arg_values_.push_back(storage_[static_cast<size_t>(storage)]);
    for (int w : launch.workspace_args) arg_values_.push_back(function.workspaces[static_cast<size_t>(w)]->pointer());
    arg_pointers_.clear();
    for (cuda::DevicePtr& value : arg_values_) arg_pointers_.push_back(&value);
    cuda::Result result = d.launch_kernel(launch.function, launch.grid[0], launch.grid[1], launch.grid[2],
                                          launch.block[0], launch.block[1], launch.block[2],
                                          /*dynamic shared memory=*/0, /*default stream=*/nullptr, arg_pointers_.data(), nullptr);
    cuda::check(result, TESSEL_ERROR_KERNEL_FAILED,
                "launching kernel '" + launch.name + "' (node '" + node.name + "')");
  }
}

void CudaExecutor::synchronize(const std::string& node) const {
  cuda::check(cuda::driver().ctx_synchronize(), TESSEL_ERROR_KERNEL_FAILED,
              "running the kernels (up to node '" + node + "')");
}

void CudaExecutor::finish_run(const std::string& last_node) {
  synchronize(last_node);
  for (size_t i = 0; i < host_outputs_.size(); ++i) {
    if (host_outputs_[i].data != nullptr) {
      cuda::copy_to_host(host_outputs_[i].data, output_buffers_[i]->pointer(), host_outputs_[i].bytes);
    }
  }
}

}  // namespace tessel_rt
