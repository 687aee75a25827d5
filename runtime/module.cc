// Loading an exported module library. Checks, in order: the file exists and is an ELF shared
// object for this architecture; it carries Tessel's format-version symbol with this runtime's
// version; the CPU has every feature the kernels were compiled for; the embedded plan is
// consistent (kernels resolve, storages lie inside the pool or the weights). Weights are used
// where the loader mapped them: constants point into the library's read-only data, 64-byte aligned.
// A module of target kind "cuda" has no CPU kernels: after the same checks its CudaExecutor loads
// the embedded PTX/cubin into the GPU and mirrors the storages in device memory (cuda_module.h).
#include <dlfcn.h>
#include <elf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <fstream>

#include "cuda_module.h"
#include "runtime_module.h"

namespace tessel_rt {

namespace {

constexpr const char* kFormatVersionSymbol = "__tessel_format_version";

std::string elf_machine_name(uint16_t machine) {
  switch (machine) {
    case EM_X86_64: return "x86_64";
    case EM_AARCH64: return "aarch64";
    case EM_386: return "i386";
    case EM_ARM: return "arm";
    case EM_RISCV: return "riscv64";
    case EM_PPC64: return "ppc64";
    default: return "machine " + std::to_string(machine);
  }
}

// Checks the file before dlopen, so users get "missing", "not a library" or "wrong architecture"
// rather than a loader message.
void check_file(const std::string& path) {
  struct stat info {};
  TESSEL_RT_CHECK(stat(path.c_str(), &info) == 0, TESSEL_ERROR_FILE_NOT_FOUND)
      << "cannot open module library '" << path << "': " << std::strerror(errno);
  TESSEL_RT_CHECK(S_ISREG(info.st_mode), TESSEL_ERROR_FILE_NOT_FOUND)
      << "module library '" << path << "' is not a regular file";
  std::ifstream file(path, std::ios::binary);
  TESSEL_RT_CHECK(file.good(), TESSEL_ERROR_FILE_NOT_FOUND) << "cannot read module library '" << path << "'";
  Elf64_Ehdr header{};
  file.read(reinterpret_cast<char*>(&header), sizeof(header));
  bool is_elf = file.gcount() >= 20 && std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0;
  TESSEL_RT_CHECK(is_elf, TESSEL_ERROR_NOT_A_MODULE)
      << "'" << path << "' is not a Tessel module library (not an ELF shared library)";
  TESSEL_RT_CHECK(header.e_type == ET_DYN, TESSEL_ERROR_NOT_A_MODULE)
      << "'" << path << "' is not a Tessel module library (an ELF file, but not a shared library)";
  // e_machine sits at the same offset in 32- and 64-bit headers.
  std::string arch = elf_machine_name(header.e_machine);
  TESSEL_RT_CHECK(arch == host_architecture(), TESSEL_ERROR_TARGET_MISMATCH)
      << "module library '" << path << "' was built for " << arch << ", but this machine is "
      << host_architecture();
}

template <typename T>
const T* find_symbol(void* library, const char* name) {
  return static_cast<const T*>(dlsym(library, name));
}

std::vector<int64_t> read_shape(const JsonValue& value) {
  std::vector<int64_t> shape;
  for (const JsonValue& extent : value.as_array("shape")) {
    shape.push_back(extent.as_int("shape extent"));
    TESSEL_RT_CHECK(shape.back() >= 0, TESSEL_ERROR_CORRUPT_MODULE) << "module plan: negative extent";
  }
  return shape;
}

std::vector<TensorInfo> read_tensor_infos(const JsonValue& list, size_t num_storages) {
  std::vector<TensorInfo> infos;
  for (const JsonValue& item : list.as_array("inputs/outputs")) {
    TensorInfo info;
    info.name = item.at("name").as_string("name");
    info.shape = read_shape(item.at("shape"));
    info.dtype = parse_dtype(item.at("dtype").as_string("dtype"));
    info.storage = static_cast<int32_t>(item.at("storage").as_int("storage"));
    TESSEL_RT_CHECK(info.storage >= 0 && static_cast<size_t>(info.storage) < num_storages, TESSEL_ERROR_CORRUPT_MODULE)
        << "module plan: tensor '" << info.name << "' names storage " << info.storage << " out of range";
    infos.push_back(std::move(info));
  }
  return infos;
}

bool aligned(int64_t offset) { return offset % static_cast<int64_t>(kAlignment) == 0; }

// Reads and checks the plan's storages against the pool, the weights and the module's inputs and
// outputs (which it reads from the metadata), and its nodes (kernels not yet resolved).
std::vector<StorageInfo> read_plan(TesselModule& module, const JsonValue& graph, int64_t pool_bytes,
                                   uint64_t weights_size) {
  const std::vector<JsonValue>& storages = graph.at("storages").as_array("storages");
  const size_t num_storages = storages.size();
  const JsonValue& metadata = parse_json(module.metadata_json, "module metadata");
  module.inputs = read_tensor_infos(metadata.at("inputs"), num_storages);
  module.outputs = read_tensor_infos(metadata.at("outputs"), num_storages);

  std::vector<StorageInfo> infos(num_storages);
  for (size_t id = 0; id < num_storages; ++id) {
    const JsonValue& storage = storages[id];
    StorageInfo& info = infos[id];
    info.kind = storage.at("kind").as_string("storage kind");
    info.size = storage.at("size").as_int("storage size");
    if (info.kind == "pool" || info.kind == "constant") {
      info.offset = storage.at("offset").as_int("storage offset");
      const int64_t limit = info.kind == "pool" ? pool_bytes : static_cast<int64_t>(weights_size);
      TESSEL_RT_CHECK(info.offset >= 0 && info.size >= 0 && info.offset + info.size <= limit && aligned(info.offset),
                      TESSEL_ERROR_CORRUPT_MODULE)
          << "module plan: storage " << id << " (" << info.kind << ", offset " << info.offset << ", " << info.size
          << " bytes) lies outside its region of " << limit << " bytes or is not 64-byte aligned";
    } else if (info.kind == "input" || info.kind == "output") {
      info.index = storage.at("index").as_int("storage index");
      auto& tensors = info.kind == "input" ? module.inputs : module.outputs;
      TESSEL_RT_CHECK(info.index >= 0 && static_cast<size_t>(info.index) < tensors.size() &&
                          tensors[info.index].storage == static_cast<int32_t>(id) && tensors[info.index].bytes() == info.size,
                      TESSEL_ERROR_CORRUPT_MODULE)
          << "module plan: storage " << id << " does not match " << info.kind << " " << info.index;
    } else {
      throw RuntimeError(TESSEL_ERROR_CORRUPT_MODULE, "module plan: unknown storage kind '" + info.kind + "'");
    }
  }
  for (const TensorInfo& tensor : module.inputs) {
    const StorageInfo& info = infos[tensor.storage];
    TESSEL_RT_CHECK(info.kind == "input" && infos[tensor.storage].index == &tensor - module.inputs.data(),
                    TESSEL_ERROR_CORRUPT_MODULE)
        << "module plan: input '" << tensor.name << "' has no input storage";
  }
  for (const TensorInfo& tensor : module.outputs) {
    const StorageInfo& info = infos[tensor.storage];
    TESSEL_RT_CHECK(info.kind == "output" && infos[tensor.storage].index == &tensor - module.outputs.data(),
                    TESSEL_ERROR_CORRUPT_MODULE)
        << "module plan: output '" << tensor.name << "' has no output storage";
  }

  size_t max_args = 0;
  for (const JsonValue& item : graph.at("nodes").as_array("nodes")) {
    Node node;
    node.name = item.at("name").as_string("node name");
    node.kernel_name = item.at("kernel").as_string("node kernel");
    for (const char* field : {"inputs", "outputs"}) {
      for (const JsonValue& id : item.at(field).as_array(field)) {
        int64_t storage = id.as_int("node argument");
        TESSEL_RT_CHECK(storage >= 0 && static_cast<size_t>(storage) < num_storages, TESSEL_ERROR_CORRUPT_MODULE)
            << "module plan: node '" << node.name << "' uses storage " << storage << " out of range";
        node.args.push_back(static_cast<int32_t>(storage));
      }
    }
    max_args = std::max(max_args, node.args.size());
    module.nodes.push_back(std::move(node));
  }
  module.arg_scratch.resize(max_args);
  return infos;
}

// The CPU executor: host buffers for the pool, inputs and outputs, weights used in place, kernels
// resolved in the library.
void build_cpu_executor(TesselModule& module, const std::vector<StorageInfo>& storages, int64_t pool_bytes,
                        const char* weights) {
  module.pool = std::make_unique<AlignedBuffer>(static_cast<size_t>(pool_bytes));
  for (const TensorInfo& info : module.inputs)
    module.input_buffers.push_back(std::make_unique<AlignedBuffer>(static_cast<size_t>(info.bytes())));
  for (const TensorInfo& info : module.outputs)
    module.output_buffers.push_back(std::make_unique<AlignedBuffer>(static_cast<size_t>(info.bytes())));
  module.storage_data.assign(storages.size(), nullptr);
  for (size_t id = 0; id < storages.size(); ++id) {
    const StorageInfo& info = storages[id];
    if (info.kind == "pool") module.storage_data[id] = static_cast<char*>(module.pool->data) + info.offset;
    else if (info.kind == "constant") module.storage_data[id] = const_cast<char*>(weights) + info.offset;
    else if (info.kind == "input") module.storage_data[id] = module.input_buffers[info.index]->data;
    else module.storage_data[id] = module.output_buffers[info.index]->data;
  }
  for (Node& node : module.nodes) {
    node.kernel = reinterpret_cast<KernelEntry>(dlsym(module.library, node.kernel_name.c_str()));
    TESSEL_RT_CHECK(node.kernel != nullptr, TESSEL_ERROR_CORRUPT_MODULE)
        << "module library '" << module.path << "' has no kernel '" << node.kernel_name << "'";
  }
}

}  // namespace

// A NUL-terminated text blob and its size symbol, e.g. __tessel_graph_json(_size).
std::string read_blob(void* library, const std::string& symbol, const std::string& path) {
  const char* data = find_symbol<char>(library, symbol.c_str());
  const uint64_t* size = find_symbol<uint64_t>(library, (symbol + "_size").c_str());
  TESSEL_RT_CHECK(data != nullptr && size != nullptr, TESSEL_ERROR_CORRUPT_MODULE)
      << "module library '" << path << "' has no " << symbol;
  return std::string(data, *size);
}

std::unique_ptr<TesselModule> load_module(const std::string& path) {
  check_file(path);
  auto module = std::make_unique<TesselModule>();
  module->path = path;
  // RTLD_LOCAL: kernels of different modules never interpose each other. The library's own
  // dependency on libtessel_runtime.so resolves to this (already loaded) runtime by its soname.
  // dlopen searches the library path for a name without a slash; a module path is a file path.
  std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  module->library = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (module->library == nullptr) {
    const char* reason = dlerror();
    throw RuntimeError(TESSEL_ERROR_NOT_A_MODULE, "cannot load module library '" + path + "': " +
                                                      (reason ? reason : "unknown dlopen error"));
  }
  const uint32_t* version = find_symbol<uint32_t>(module->library, kFormatVersionSymbol);
  TESSEL_RT_CHECK(version != nullptr, TESSEL_ERROR_NOT_A_MODULE)
      << "'" << path << "' is a shared library but not a Tessel module library (no " << kFormatVersionSymbol << ")";
  TESSEL_RT_CHECK(*version == TESSEL_MODULE_FORMAT_VERSION, TESSEL_ERROR_VERSION_MISMATCH)
      << "module library '" << path << "' has format version " << *version << ", but this runtime reads version "
      << TESSEL_MODULE_FORMAT_VERSION << "; re-export it with a matching Tessel";

  module->metadata_json = read_blob(module->library, "__tessel_module_metadata", path);
  module->graph_json = read_blob(module->library, "__tessel_graph_json", path);
  JsonValue metadata = parse_json(module->metadata_json, "module metadata");
  const JsonValue& target = metadata.at("target");
  // "llvm" (CPU kernels in the library) or "cuda" (PTX/cubin run on the GPU); older libraries
  // have no kind and are CPU modules.
  const std::string kind = target.has("kind") ? target.at("kind").as_string("target kind") : "llvm";
  TESSEL_RT_CHECK(kind == "llvm" || kind == "cuda", TESSEL_ERROR_TARGET_MISMATCH)
      << "module library '" << path << "' was compiled for target kind '" << kind
      << "', which this runtime cannot run (it runs llvm and cuda modules)";
  const std::string& triple = target.at("triple").as_string("triple");
  std::string arch = triple.substr(0, triple.find('-'));
  TESSEL_RT_CHECK(arch == host_architecture(), TESSEL_ERROR_TARGET_MISMATCH)
      << "module library '" << path << "' was built for " << triple << ", but this machine is " << host_architecture();
  std::vector<std::string> required;
  for (const JsonValue& feature : target.at("required_features").as_array("required_features"))
    required.push_back(feature.as_string("feature"));
  std::vector<std::string> missing = missing_cpu_features(required);
  if (!missing.empty()) {
    std::string list;
    for (const std::string& name : missing) list += (list.empty() ? "" : ", ") + name;
    throw RuntimeError(TESSEL_ERROR_TARGET_MISMATCH,
                       "module library '" + path + "' needs CPU features this CPU lacks: " + list + " (built for " +
                           target.at("cpu").as_string("cpu") + "); re-export it for this CPU's target");
  }

  const char* weights = find_symbol<char>(module->library, "__tessel_weights");
  const uint64_t* weights_size = find_symbol<uint64_t>(module->library, "__tessel_weights_size");
  TESSEL_RT_CHECK(weights != nullptr && weights_size != nullptr, TESSEL_ERROR_CORRUPT_MODULE)
      << "module library '" << path << "' has no weights section";
  TESSEL_RT_CHECK(reinterpret_cast<uintptr_t>(weights) % kAlignment == 0, TESSEL_ERROR_CORRUPT_MODULE)
      << "module library '" << path << "': weights are not 64-byte aligned";
  module->kernel_last_error = find_symbol<const char*>(module->library, "__tessel_last_error");
  JsonValue graph = parse_json(module->graph_json, "module graph");
  const int64_t pool_bytes = graph.at("pool_bytes").as_int("pool_bytes");
  TESSEL_RT_CHECK(pool_bytes >= 0, TESSEL_ERROR_CORRUPT_MODULE) << "module plan: negative pool size";
  std::vector<StorageInfo> storages = read_plan(*module, graph, pool_bytes, *weights_size);
  if (kind == "cuda") {
    module->cuda = std::make_unique<CudaExecutor>(*module, storages, pool_bytes, weights, *weights_size);
  } else {
    build_cpu_executor(*module, storages, pool_bytes, weights);
  }
  return module;
}

}  // namespace tessel_rt

TesselModule::~TesselModule() {
  cuda.reset();  // device memory and the loaded kernels go before the library
  if (library) dlclose(library);
}

int32_t TesselModule::input_index(const std::string& name) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].name == name) return static_cast<int32_t>(i);
  return -1;
}

int32_t TesselModule::output_index(const std::string& name) const {
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].name == name) return static_cast<int32_t>(i);
  return -1;
}
