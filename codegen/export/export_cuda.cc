// export_cuda_library: CUDA C++ for every plan kernel, NVRTC to PTX (and a cubin for sm_XX), and
// a data-only shared library embedding them with the plan, the weights and the launch descriptors
// (see include/tessel/codegen/export_cuda.h).
#include "tessel/codegen/export_cuda.h"

#include <sstream>

#include "export/export_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/error.h"

namespace tessel::codegen {

using namespace export_detail;  // NOLINT(build/namespaces): the exporters' shared pieces

namespace {

std::string dims_json(const std::array<Expr, 3>& dims, const CudaFunction& function, const std::string& kernel) {
  std::vector<int64_t> values;
  for (const Expr& dim : dims) {
    const int64_t* value = as_const_int(dim);
    user_check(value) << "kernel " << kernel << " of " << function.name
                      << ": its launch dimensions are not constant; an exported module takes only buffers";
    values.push_back(*value);
  }
  return json_list(values);
}

}  // namespace

std::string cuda_launches_json(const CudaModuleSource& module, const CudaTarget& target) {
  std::ostringstream out;
  out << "{\n  \"arch\": " << quote(target.arch) << ",\n  \"functions\": [";
  for (size_t f = 0; f < module.functions.size(); ++f) {
    const CudaFunction& function = module.functions[f];
    for (const Param& p : function.params) {
      user_check(p.is_buffer()) << "function " << function.name << " has scalar parameter " << p.scalar.name()
                                << "; an exported CUDA module takes only buffers";
    }
    std::vector<int64_t> workspace_bytes;
    for (const CudaWorkspace& w : function.workspaces) {
      const int64_t* count = as_const_int(w.num_elements);
      user_check(count) << "function " << function.name << ": the size of intermediate " << w.name << " is not constant";
      workspace_bytes.push_back(*count * w.dtype.bytes());
    }
    out << (f ? ",\n    " : "\n    ") << "{\"name\": " << quote(function.name)
        << ", \"num_params\": " << function.params.size() << ", \"workspace_bytes\": " << json_list(workspace_bytes)
        << ", \"kernels\": [";
    for (size_t k = 0; k < function.kernels.size(); ++k) {
      const CudaKernelLaunch& launch = function.kernels[k];
      out << (k ? ",\n      " : "\n      ") << "{\"name\": " << quote(launch.name)
          << ", \"grid\": " << dims_json(launch.grid, function, launch.name)
          << ", \"block\": " << dims_json(launch.block, function, launch.name)
          << ", \"shared_bytes\": " << launch.shared_bytes
          << ", \"workspace_args\": " << json_list(launch.workspace_args) << "}";
    }
    out << "]}";
  }
  out << "\n  ]\n}\n";
  return out.str();
}

std::string cuda_module_metadata_json(const ExecutionPlan& plan, const CudaTarget& target, int64_t weights_bytes) {
  // The library itself is host code for this machine (data only); the kernels need the GPU.
  std::ostringstream json;
  json << "{\"kind\": \"cuda\", \"string\": " << quote(target.to_string()) << ", \"arch\": " << quote(target.arch)
       << ", \"triple\": " << quote(Target::host().triple) << ", \"cpu\": \"generic\", \"required_features\": []}";
  return metadata_json(plan, json.str(), weights_bytes);
}

void export_cuda_library(const ExecutionPlan& plan, const CudaTarget& target, const std::string& path) {
  MemoryPlan memory = plan_memory(plan);
  CudaModuleSource source = generate_cuda(plan.kernels, target);
  std::string launches = cuda_launches_json(source, target);
  const bool real_arch = target.arch.rfind("sm_", 0) == 0;
  CudaBinary binary = compile_cuda(source.source, target, /*want_cubin=*/real_arch, plan.name);

  ScratchDir scratch;
  std::vector<int64_t> constant_offsets;
  int64_t weights_bytes = write_weights(plan, scratch.path / "weights.bin", &constant_offsets);
  std::string metadata = cuda_module_metadata_json(plan, target, weights_bytes);
  std::string graph = module_graph_json(plan, memory, constant_offsets);
  write_file(scratch.path / "metadata.json", metadata);
  write_file(scratch.path / "graph.json", graph);
  write_file(scratch.path / "kernels.ptx", binary.ptx);
  write_file(scratch.path / "kernels.cubin", binary.cubin);
  write_file(scratch.path / "launches.json", launches);
  std::string assembly =
      module_data_assembly(scratch.path, static_cast<int64_t>(metadata.size()), static_cast<int64_t>(graph.size()),
                           weights_bytes) +
      blob_assembly("__tessel_cuda_ptx", scratch.path / "kernels.ptx", static_cast<int64_t>(binary.ptx.size()),
                    ".rodata.tessel_cuda") +
      blob_assembly("__tessel_cuda_cubin", scratch.path / "kernels.cubin", static_cast<int64_t>(binary.cubin.size()),
                    ".rodata.tessel_cuda") +
      blob_assembly("__tessel_cuda_launches", scratch.path / "launches.json", static_cast<int64_t>(launches.size()),
                    ".rodata.tessel_cuda") +
      "  .section .note.GNU-stack,\"\",@progbits\n";
  write_file(scratch.path / "data.s", assembly);
  fs::path data_object = scratch.path / "data.o";
  assemble(scratch.path / "data.s", data_object, path);
  link_library({data_object}, path);
}

}  // namespace tessel::codegen
