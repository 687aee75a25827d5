// export_library: one shared library per module. Kernels go through emit_object_file; the
// metadata, the graph JSON and the weights go into a generated assembly file (.incbin of blob
// files into 64-byte-aligned read-only sections) assembled by the system C compiler driver, and
// both objects are linked against libtessel_runtime.so with an rpath to the runtime's directory.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tessel/codegen/export.h"
#include "../process.h"
#include "tessel/ir/error.h"
#include "tessel/runtime/c_api.h"


namespace tessel::codegen {

namespace {

namespace fs = std::filesystem;
constexpr int64_t kAlignment = 64;

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\u%04x", c);
      out += escape;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

template <typename T>
std::string json_list(const std::vector<T>& values) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << "]";
  return out.str();
}

std::string tensor_list(const std::vector<PlanTensor>& tensors) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < tensors.size(); ++i) {
    const PlanTensor& t = tensors[i];
    out << (i ? ",\n    " : "\n    ") << "{\"name\": " << quote(t.name) << ", \"shape\": " << json_list(t.shape)
        << ", \"dtype\": " << quote(t.dtype) << ", \"storage\": " << t.storage << "}";
  }
  out << (tensors.empty() ? "]" : "\n  ]");
  return out.str();
}

// "+avx2,+fma,-avx512f" -> {"avx2", "fma"}
std::vector<std::string> enabled_features(const std::string& features) {
  std::vector<std::string> names;
  std::stringstream stream(features);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item.size() > 1 && item[0] == '+') names.push_back(quote(item.substr(1)));
  }
  return names;
}


void write_file(const fs::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary);
  file.write(text.data(), static_cast<std::streamsize>(text.size()));
  user_check(file.good()) << "cannot write " << path.string();
}

// An exported read-only blob, `symbol` followed by a NUL, and `symbol`_size (uint64, without the NUL).
std::string blob_assembly(const std::string& symbol, const fs::path& file, int64_t size, const std::string& section) {
  std::ostringstream out;
  out << "  .section " << section << ",\"a\",@progbits\n"
      << "  .balign 64\n"
      << "  .globl " << symbol << "\n"
      << "  .type " << symbol << ", @object\n"
      << symbol << ":\n"
      << "  .incbin " << quote(file.string()) << "\n"
      << "  .byte 0\n"
      << "  .size " << symbol << ", " << size + 1 << "\n"
      << "  .balign 8\n"
      << "  .globl " << symbol << "_size\n"
      << "  .type " << symbol << "_size, @object\n"
      << symbol << "_size:\n"
      << "  .quad " << size << "\n"
      << "  .size " << symbol << "_size, 8\n";
  return out.str();
}

// Removes the scratch directory however export_library leaves.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() / ("tessel-export-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

}  // namespace

std::string module_metadata_json(const ExecutionPlan& plan, const Target& target, int64_t weights_bytes) {
  std::ostringstream out;
  out << "{\n  \"format\": \"tessel-module\",\n  \"format_version\": " << TESSEL_MODULE_FORMAT_VERSION << ",\n"
      << "  \"name\": " << quote(plan.name) << ",\n"
      << "  \"target\": {\"string\": " << quote(target.to_string()) << ", \"triple\": " << quote(target.triple)
      << ", \"cpu\": " << quote(target.cpu) << ", \"required_features\": " << json_list(enabled_features(target.features))
      << "},\n"
      << "  \"inputs\": " << tensor_list(plan.inputs) << ",\n"
      << "  \"outputs\": " << tensor_list(plan.outputs) << ",\n"
      << "  \"weights_bytes\": " << weights_bytes << "\n}\n";
  return out.str();
}

std::string module_graph_json(const ExecutionPlan& plan, const MemoryPlan& memory,
                              const std::vector<int64_t>& constant_offsets) {
  std::vector<std::string> kind(plan.storage_bytes.size(), "pool");
  std::vector<int64_t> offset = memory.pool_offset, index(plan.storage_bytes.size(), -1);
  for (size_t i = 0; i < plan.inputs.size(); ++i) kind[plan.inputs[i].storage] = "input", index[plan.inputs[i].storage] = i;
  for (size_t i = 0; i < plan.outputs.size(); ++i)
    kind[plan.outputs[i].storage] = "output", index[plan.outputs[i].storage] = i;
  for (size_t i = 0; i < plan.constants.size(); ++i) {
    kind[plan.constants[i].storage] = "constant";
    offset[plan.constants[i].storage] = constant_offsets[i];
  }
  std::ostringstream out;
  std::vector<std::string> kernel_names;
  for (const PrimFunc& kernel : plan.kernels) kernel_names.push_back(quote(kernel->name));
  out << "{\n  \"kernels\": " << json_list(kernel_names) << ",\n  \"pool_bytes\": " << memory.pool_bytes
      << ",\n  \"storages\": [";
  for (size_t id = 0; id < plan.storage_bytes.size(); ++id) {
    out << (id ? ",\n    " : "\n    ") << "{\"id\": " << id << ", \"kind\": " << quote(kind[id])
        << ", \"size\": " << plan.storage_bytes[id];
    if (kind[id] == "input" || kind[id] == "output") out << ", \"index\": " << index[id];
    else out << ", \"offset\": " << offset[id];
    out << "}";
  }
  out << "\n  ],\n  \"nodes\": [";
  for (size_t n = 0; n < plan.nodes.size(); ++n) {
    const PlanNode& node = plan.nodes[n];
    out << (n ? ",\n    " : "\n    ") << "{\"name\": " << quote(node.name.empty() ? node.kernel : node.name)
        << ", \"kernel\": " << quote(node.kernel) << ", \"inputs\": " << json_list(node.inputs)
        << ", \"outputs\": " << json_list(node.outputs) << "}";
  }
  out << "\n  ]\n}\n";
  return out.str();
}

void export_library(const ExecutionPlan& plan, const Target& target, const std::string& path) {
  user_check(target.runs_on_host()) << "cannot export a library for " << target.to_string()
                                    << " on this machine; cross linking is not supported";
  MemoryPlan memory = plan_memory(plan);
  ScratchDir scratch;

  // Weights: each constant at a 64-byte-aligned offset of one blob.
  std::vector<int64_t> constant_offsets;
  int64_t weights_bytes = 0;
  {
    std::ofstream weights(scratch.path / "weights.bin", std::ios::binary);
    for (const PlanConstant& constant : plan.constants) {
      int64_t padded = (weights_bytes + kAlignment - 1) / kAlignment * kAlignment;
      std::string padding(static_cast<size_t>(padded - weights_bytes), '\0');
      weights.write(padding.data(), static_cast<std::streamsize>(padding.size()));
      constant_offsets.push_back(padded);
      weights.write(reinterpret_cast<const char*>(constant.bytes.data()), static_cast<std::streamsize>(constant.bytes.size()));
      weights_bytes = padded + static_cast<int64_t>(constant.bytes.size());
    }
    user_check(weights.good()) << "cannot write the weights of " << path;
  }
  std::string metadata = module_metadata_json(plan, target, weights_bytes);
  std::string graph = module_graph_json(plan, memory, constant_offsets);
  write_file(scratch.path / "metadata.json", metadata);
  write_file(scratch.path / "graph.json", graph);

  std::ostringstream assembly;
  assembly << "# Tessel module data: format version, metadata, execution plan, weights.\n"
           << "  .section .rodata.tessel_module,\"a\",@progbits\n"
           << "  .balign 4\n  .globl __tessel_format_version\n  .type __tessel_format_version, @object\n"
           << "__tessel_format_version:\n  .long " << TESSEL_MODULE_FORMAT_VERSION
           << "\n  .size __tessel_format_version, 4\n"
           << blob_assembly("__tessel_module_metadata", scratch.path / "metadata.json",
                            static_cast<int64_t>(metadata.size()), ".rodata.tessel_module")
           << blob_assembly("__tessel_graph_json", scratch.path / "graph.json", static_cast<int64_t>(graph.size()),
                            ".rodata.tessel_module")
           << blob_assembly("__tessel_weights", scratch.path / "weights.bin", weights_bytes, ".rodata.tessel_weights")
           << "  .section .note.GNU-stack,\"\",@progbits\n";
  write_file(scratch.path / "data.s", assembly.str());

  fs::path kernels_object = scratch.path / "kernels.o", data_object = scratch.path / "data.o";
  emit_object_file(plan.kernels, target, kernels_object.string(), plan.name);
  const char* compiler_env = std::getenv("CC");
  const std::string compiler = compiler_env && *compiler_env ? compiler_env : "cc";
  int status = run_program({compiler, "-c", (scratch.path / "data.s").string(), "-o", data_object.string()});
  user_check(status == 0) << "assembling the data section of " << path << " failed: " << compiler << " exited with status "
                          << status;

  // Link next to the destination, then rename: a reader never sees a half-written library.
  const std::string runtime_dir = TESSEL_RUNTIME_LIBRARY_DIR;
  fs::path destination = fs::absolute(path);
  fs::path partial = destination;
  partial += ".partial-" + std::to_string(getpid());
  std::vector<std::string> argv = {compiler,
                                   "-shared",
                                   "-o",
                                   partial.string(),
                                   kernels_object.string(),
                                   data_object.string(),
                                   "-L" + runtime_dir,
                                   "-ltessel_runtime",
                                   "-Wl,-rpath," + runtime_dir,
                                   // Kernels bind to their own module's symbols (__tessel_last_error).
                                   "-Wl,-Bsymbolic",
                                   "-lm"};
  status = run_program(argv);
  if (status != 0) {
    std::error_code ignored;
    fs::remove(partial, ignored);
  }
  user_check(status == 0) << "linking " << path << " failed: " << compiler << " exited with status " << status;
  std::error_code error;
  fs::rename(partial, destination, error);
  user_check(!error) << "cannot write " << path << ": " << error.message();
}

}  // namespace tessel::codegen
