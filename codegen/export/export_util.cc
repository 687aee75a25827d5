// Shared steps of the module exporters (see export_util.h).
#include "export/export_util.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "../process.h"
#include "tessel/ir/error.h"
#include "tessel/runtime/c_api.h"

namespace tessel::codegen::export_detail {

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

std::string metadata_json(const ExecutionPlan& plan, const std::string& target_json, int64_t weights_bytes) {
  std::ostringstream out;
  out << "{\n  \"format\": \"tessel-module\",\n  \"format_version\": " << TESSEL_MODULE_FORMAT_VERSION << ",\n"
      << "  \"name\": " << quote(plan.name) << ",\n"
      << "  \"target\": " << target_json << ",\n"
      << "  \"inputs\": " << tensor_list(plan.inputs) << ",\n"
      << "  \"outputs\": " << tensor_list(plan.outputs) << ",\n"
      << "  \"weights_bytes\": " << weights_bytes << "\n}\n";
  return out.str();
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

ScratchDir::ScratchDir() {
  static std::atomic<int> counter{0};
  path = fs::temp_directory_path() / ("tessel-export-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(path);
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

int64_t write_weights(const ExecutionPlan& plan, const fs::path& file, std::vector<int64_t>* offsets) {
  std::ofstream weights(file, std::ios::binary);
  int64_t bytes = 0;
  for (const PlanConstant& constant : plan.constants) {
    int64_t padded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    std::string padding(static_cast<size_t>(padded - bytes), '\0');
    weights.write(padding.data(), static_cast<std::streamsize>(padding.size()));
    offsets->push_back(padded);
    weights.write(reinterpret_cast<const char*>(constant.bytes.data()), static_cast<std::streamsize>(constant.bytes.size()));
    bytes = padded + static_cast<int64_t>(constant.bytes.size());
  }
  user_check(weights.good()) << "cannot write the weights blob " << file.string();
  return bytes;
}

std::string module_data_assembly(const fs::path& dir, int64_t metadata_bytes, int64_t graph_bytes,
                                 int64_t weights_bytes) {
  std::ostringstream assembly;
  assembly << "# Tessel module data: format version, metadata, execution plan, weights.\n"
           << "  .section .rodata.tessel_module,\"a\",@progbits\n"
           << "  .balign 4\n  .globl __tessel_format_version\n  .type __tessel_format_version, @object\n"
           << "__tessel_format_version:\n  .long " << TESSEL_MODULE_FORMAT_VERSION
           << "\n  .size __tessel_format_version, 4\n"
           << blob_assembly("__tessel_module_metadata", dir / "metadata.json", metadata_bytes, ".rodata.tessel_module")
           << blob_assembly("__tessel_graph_json", dir / "graph.json", graph_bytes, ".rodata.tessel_module")
           << blob_assembly("__tessel_weights", dir / "weights.bin", weights_bytes, ".rodata.tessel_weights");
  return assembly.str();
}

namespace {

std::string compiler() {
  const char* compiler_env = std::getenv("CC");
  return compiler_env && *compiler_env ? compiler_env : "cc";
}

}  // namespace

void assemble(const fs::path& source, const fs::path& object, const std::string& library_path) {
  int status = run_program({compiler(), "-c", source.string(), "-o", object.string()});
  user_check(status == 0) << "assembling the data section of " << library_path << " failed: " << compiler()
                          << " exited with status " << status;
}

void link_library(const std::vector<fs::path>& objects, const std::string& path) {
  const std::string runtime_dir = TESSEL_RUNTIME_LIBRARY_DIR;
  fs::path destination = fs::absolute(path);
  fs::path partial = destination;
  partial += ".partial-" + std::to_string(getpid());
  std::vector<std::string> argv = {compiler(), "-shared", "-o", partial.string()};
  for (const fs::path& object : objects) argv.push_back(object.string());
  // -Bsymbolic: kernels bind to their own module's symbols (__tessel_last_error).
  for (const std::string& option : {"-L" + runtime_dir, std::string("-ltessel_runtime"), "-Wl,-rpath," + runtime_dir,
                                    std::string("-Wl,-Bsymbolic"), std::string("-lm")}) {
    argv.push_back(option);
  }
  int status = run_program(argv);
  if (status != 0) {
    std::error_code ignored;
    fs::remove(partial, ignored);
  }
  user_check(status == 0) << "linking " << path << " failed: " << compiler() << " exited with status " << status;
  std::error_code error;
  fs::rename(partial, destination, error);
  user_check(!error) << "cannot write " << path << ": " << error.message();
}

}  // namespace tessel::codegen::export_detail
