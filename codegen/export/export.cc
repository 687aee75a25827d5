// export_library: one shared library per module. Kernels go through emit_object_file; the
// metadata, the graph JSON and the weights go into a generated assembly file (.incbin of blob
// files into 64-byte-aligned read-only sections) assembled by the system C compiler driver, and
// both objects are linked against libtessel_runtime.so with an rpath to the runtime's directory.
#include <sstream>

#include "tessel/codegen/export.h"
#include "export/export_util.h"
#include "tessel/ir/error.h"
#include "tessel/runtime/c_api.h"


namespace tessel::codegen {

using namespace export_detail;  // NOLINT(build/namespaces): the exporters' shared pieces

namespace {

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

}  // namespace

std::string module_metadata_json(const ExecutionPlan& plan, const Target& target, int64_t weights_bytes) {
  std::ostringstream json;
  json << "{\"kind\": \"llvm\", \"string\": " << quote(target.to_string()) << ", \"triple\": " << quote(target.triple)
       << ", \"cpu\": " << quote(target.cpu) << ", \"required_features\": " << json_list(enabled_features(target.features))
       << "}";
  return metadata_json(plan, json.str(), weights_bytes);
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
  std::vector<int64_t> constant_offsets;
  int64_t weights_bytes = write_weights(plan, scratch.path / "weights.bin", &constant_offsets);
  std::string metadata = module_metadata_json(plan, target, weights_bytes);
  std::string graph = module_graph_json(plan, memory, constant_offsets);
  write_file(scratch.path / "metadata.json", metadata);
  write_file(scratch.path / "graph.json", graph);
  write_file(scratch.path / "data.s", module_data_assembly(scratch.path, static_cast<int64_t>(metadata.size()),
                                                           static_cast<int64_t>(graph.size()), weights_bytes) +
                                          "  .section .note.GNU-stack,\"\",@progbits\n");
  fs::path kernels_object = scratch.path / "kernels.o", data_object = scratch.path / "data.o";
  emit_object_file(plan.kernels, target, kernels_object.string(), plan.name);
  assemble(scratch.path / "data.s", data_object, path);
  link_library({kernels_object, data_object}, path);
}

}  // namespace tessel::codegen
