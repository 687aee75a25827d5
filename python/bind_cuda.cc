// Python bindings for the CUDA code generator (`_tessel.cuda`): CUDA targets, CUDA C++ generation
// with its launch descriptor, NVRTC compilation, and the operator library's default GPU schedules.
// Thin: python/tessel/build_module.py builds the user-facing module on top.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bind_common.h"
#include "bind_ops.h"
#include "tessel/codegen/cuda.h"
#include "tessel/codegen/cuda_runtime.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/printer.h"

namespace py = pybind11;

namespace {

using tessel::codegen::CudaTarget;

py::dict launch_to_dict(const tessel::codegen::CudaKernelLaunch& launch) {
  py::dict d;
  d["name"] = launch.name;
  py::list grid, block;
  for (int a = 0; a < 3; ++a) {
    for (auto [dims, list] : {std::pair{&launch.grid, &grid}, std::pair{&launch.block, &block}}) {
      const tessel::Expr& dim = (*dims)[a];
      const int64_t* value = tessel::as_const_int(dim);
      if (value) list->append(*value); else list->append(tessel::to_string(dim));
    }
  }
  d["grid"] = grid;    // ints, or expressions of the scalar parameters as text
  d["block"] = block;
  d["shared_bytes"] = launch.shared_bytes;
  d["workspace_args"] = launch.workspace_args;
  return d;
}

}  // namespace

void bind_cuda(py::module_& m) {
  py::module_ cuda = m.def_submodule("cuda", "The CUDA code generator (CUDA C++ source, NVRTC to PTX/cubin).");

  py::class_<CudaTarget>(cuda, "CudaTarget", "A CUDA target: 'cuda [-arch=sm_XX] [-fast-math]'.")
      .def_static("parse", &CudaTarget::parse, py::arg("text"))
      .def_readonly("arch", &CudaTarget::arch)
      .def_readonly("fast_math", &CudaTarget::fast_math)
      .def("__str__", &CudaTarget::to_string)
      .def("__repr__", [](const CudaTarget& t) { return "CudaTarget(\"" + t.to_string() + "\")"; });

  cuda.def("generate", [](const std::vector<tessel::PrimFunc>& funcs, const CudaTarget& target) {
             tessel::codegen::CudaModuleSource module = tessel::codegen::generate_cuda(funcs, target);
             py::dict result;
             result["source"] = module.source;
             result["host_source"] = module.host_source;
             py::list functions;
             for (const auto& f : module.functions) {
               py::dict fd;
               fd["name"] = f.name;
               py::list kernels, workspaces;
               for (const auto& k : f.kernels) kernels.append(launch_to_dict(k));
               for (const auto& w : f.workspaces) {
                 workspaces.append(py::make_tuple(w.name, w.dtype.to_string(), tessel::to_string(w.num_elements)));
               }
               fd["kernels"] = kernels;
               fd["workspaces"] = workspaces;
               functions.append(fd);
             }
             result["functions"] = functions;
             return result;
           }, py::arg("funcs"), py::arg("target"),
           "CUDA C++ for lowered functions: dict with source, host_source and per-function launch info.");

  cuda.def("nvrtc_available", [] {
             std::string why;
             bool ok = tessel::codegen::nvrtc_available(&why);
             return py::make_tuple(ok, why);
           }, "(True, '') when NVRTC can be loaded, else (False, reason).");

  cuda.def("compile", [](const std::string& source, const CudaTarget& target, bool want_cubin, const std::string& name) {
             tessel::codegen::CudaBinary binary = tessel::codegen::compile_cuda(source, target, want_cubin, name);
             py::dict result;
             result["ptx"] = binary.ptx;
             result["cubin"] = py::bytes(binary.cubin);
             result["log"] = binary.log;
             return result;
           }, py::arg("source"), py::arg("target"), py::arg("want_cubin") = false, py::arg("name") = "module",
           "Compiles CUDA C++ with NVRTC: dict with ptx, cubin (bytes, empty unless asked) and log.");

  cuda.def("device_available", [] {
             std::string why;
             bool ok = tessel::codegen::cuda_device_available(&why);
             return py::make_tuple(ok, why);
           }, "(True, '') when the CUDA driver loads and a GPU initialises, else (False, reason).");

  // Functions loaded into the GPU; run() copies host arrays in, launches, copies outputs back.
  struct DeviceModule {
    std::unique_ptr<tessel::codegen::CudaDeviceModule> module;
  };
  py::class_<DeviceModule>(cuda, "DeviceModule", "Generated CUDA code loaded into the GPU (needs a GPU).")
      .def(py::init([](const std::vector<tessel::PrimFunc>& funcs, const CudaTarget& target, const std::string& ptx) {
             tessel::codegen::CudaBinary binary;
             binary.ptx = ptx;
             auto module = std::make_unique<tessel::codegen::CudaDeviceModule>(
                 tessel::codegen::generate_cuda(funcs, target), binary);
             return DeviceModule{std::move(module)};
           }), py::arg("funcs"), py::arg("target"), py::arg("ptx"))
      .def("run", [](DeviceModule& self, const std::string& name, const std::vector<py::buffer>& arrays,
                     const std::vector<bool>& is_output) {
             std::vector<std::unique_ptr<tessel::codegen::CudaDeviceBuffer>> buffers;
             std::vector<tessel::codegen::CudaArg> args;
             std::vector<py::buffer_info> infos;
             for (const py::buffer& array : arrays) {
               infos.push_back(array.request());
               size_t bytes = static_cast<size_t>(infos.back().size * infos.back().itemsize);
               buffers.push_back(std::make_unique<tessel::codegen::CudaDeviceBuffer>(bytes));
               buffers.back()->copy_from_host(infos.back().ptr, bytes);
               args.push_back(buffers.back().get());
             }
             self.module->run(name, args);
             for (size_t i = 0; i < arrays.size(); ++i) {
               if (i < is_output.size() && is_output[i]) {
                 buffers[i]->copy_to_host(infos[i].ptr, static_cast<size_t>(infos[i].size * infos[i].itemsize));
               }
             }
           }, py::arg("name"), py::arg("arrays"), py::arg("is_output"),
           "Runs function `name` on C-contiguous host arrays (copied to and from the device).");

  cuda.def("has_thread_binding", [](const tessel::PrimFunc& f) {
             bool found = false;
             tessel::pre_order_visit(f->body, [&](const tessel::Expr*, const tessel::Stmt* s) {
               if (s && s->as<tessel::ForNode>()) found |= s->as<tessel::ForNode>()->for_kind == tessel::ForKind::kThreadBound;
             });
             return found;
           }, py::arg("func"), "True when some loop of func is bound to a GPU thread axis.");
}
