// Python binding of export_library for hand-assembled execution plans (tessel.deploy builds the
// plan; this file only converts). Kernels arrive as PrimFunc objects bound by bind_ir.cc.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "tessel/codegen/export.h"

namespace py = pybind11;

#if TESSEL_HAVE_CODEGEN
void bind_export(py::module_& m) {
  using namespace tessel;
  using namespace tessel::codegen;
  m.def(
      "export_library",
      [](const std::string& path, const Target& target, const std::string& name, const std::vector<PrimFunc>& kernels,
         const std::vector<int64_t>& storage_bytes,
         const std::vector<std::tuple<std::string, std::string, std::vector<int>, std::vector<int>>>& nodes,
         const std::vector<std::tuple<std::string, std::vector<int64_t>, std::string, int>>& inputs,
         const std::vector<std::tuple<std::string, std::vector<int64_t>, std::string, int>>& outputs,
         const std::vector<std::tuple<std::string, int, py::buffer>>& constants) {
        ExecutionPlan plan;
        plan.name = name;
        plan.kernels = kernels;
        plan.storage_bytes = storage_bytes;
        for (const auto& [node_name, kernel, ins, outs] : nodes) plan.nodes.push_back({node_name, kernel, ins, outs});
        for (const auto& [tensor, shape, dtype, storage] : inputs) plan.inputs.push_back({tensor, shape, dtype, storage});
        for (const auto& [tensor, shape, dtype, storage] : outputs) plan.outputs.push_back({tensor, shape, dtype, storage});
        for (const auto& [constant, storage, buffer] : constants) {
          py::buffer_info info = buffer.request();
          const auto* bytes = static_cast<const uint8_t*>(info.ptr);
          plan.constants.push_back({constant, storage, std::vector<uint8_t>(bytes, bytes + info.size * info.itemsize)});
        }
        py::gil_scoped_release release;
        export_library(plan, target, path);
      },
      py::arg("path"), py::arg("target"), py::arg("name"), py::arg("kernels"), py::arg("storage_bytes"), py::arg("nodes"),
      py::arg("inputs"), py::arg("outputs"), py::arg("constants"),
      "Exports a hand-assembled execution plan as one shared library (see tessel.deploy).");
}
#endif  // TESSEL_HAVE_CODEGEN
