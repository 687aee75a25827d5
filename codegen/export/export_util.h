// Pieces of export_library shared by the CPU (export.cc) and CUDA (export_cuda.cc) exporters:
// JSON text functions, the scratch directory, the weights blob, the generated assembly that embeds
// read-only blobs as exported symbols, and the final link of the module library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tessel/codegen/export.h"

namespace tessel::codegen::export_detail {

namespace fs = std::filesystem;
constexpr int64_t kAlignment = 64;

// A JSON string literal for text.
std::string quote(const std::string& text);

template <typename T>
std::string json_list(const std::vector<T>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    if constexpr (std::is_arithmetic_v<T>) out += std::to_string(values[i]); else out += values[i];
  }
  return out + "]";
}

// The inputs or outputs as a JSON list of {name, shape, dtype, storage}.
std::string tensor_list(const std::vector<PlanTensor>& tensors);

// The metadata document with `target_json` (a JSON object) as its target.
std::string metadata_json(const ExecutionPlan& plan, const std::string& target_json, int64_t weights_bytes);

void write_file(const fs::path& path, const std::string& text);

// Assembly for an exported read-only blob: `symbol` (the file's bytes followed by a NUL) and
// `symbol`_size (uint64, without the NUL), 64-byte aligned in `section`.
std::string blob_assembly(const std::string& symbol, const fs::path& file, int64_t size, const std::string& section);

// A fresh temporary directory, removed however export_library leaves.
struct ScratchDir {
  fs::path path;
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// Writes the constants into `file`, each at a 64-byte-aligned offset (stored in *offsets), and
// returns the blob's size.
int64_t write_weights(const ExecutionPlan& plan, const fs::path& file, std::vector<int64_t>* offsets);

// Assembly of the module data every library carries: the format version, metadata, graph JSON
// and weights (files in dir: metadata.json, graph.json, weights.bin).
std::string module_data_assembly(const fs::path& dir, int64_t metadata_bytes, int64_t graph_bytes,
                                 int64_t weights_bytes);

// Assembles `source` (.s) into `object` with the system C compiler driver.
void assemble(const fs::path& source, const fs::path& object, const std::string& library_path);

// Links the objects into the shared library at `path` against libtessel_runtime.so (rpath to it),
// next to the destination and then renamed, so that a reader never sees a half-written library.
void link_library(const std::vector<fs::path>& objects, const std::string& path);

}  // namespace tessel::codegen::export_detail
