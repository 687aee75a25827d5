// Python bindings for the LLVM CPU backend (`_tessel.codegen`): targets, JIT-compiled modules and
// their packed entry points (called with raw buffer addresses), and ahead-of-time text output.
// Argument checking against numpy arrays lives in python/tessel/build.py.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bind_common.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/printer.h"

namespace tessel::python {

using codegen::JitFunction;
using codegen::JitModule;
using codegen::Target;

void bind_codegen(py::module_& m) {
  py::module_ cg = m.def_submodule("codegen", "The LLVM CPU code generator.");

  py::class_<Target>(cg, "Target", "Where code runs: kind, CPU, hardware parameters (codegen/target.h).")
      .def_static("parse", &Target::parse, py::arg("text"),
                  "Parses 'llvm [-mtriple=T] [-mcpu=C] [-mattr=+a,-b]' (plain 'llvm' is the host) or "
                  "'cuda [-arch=sm_XX] [-fast-math]'.")
      .def_static("host", &Target::host, "The machine this process runs on.")
      .def_property_readonly("kind", &Target::kind_name)
      .def_property_readonly("is_cuda", &Target::is_cuda)
      .def_readonly("triple", &Target::triple)
      .def_readonly("cpu", &Target::cpu)
      .def_readonly("features", &Target::features)
      .def_readonly("vector_bits", &Target::vector_bits)
      .def_readonly("vector_registers", &Target::vector_registers)
      .def_readonly("num_cores", &Target::num_cores)
      .def_readonly("l1_bytes", &Target::l1_bytes)
      .def_readonly("l2_bytes", &Target::l2_bytes)
      .def_readonly("l3_bytes", &Target::l3_bytes)
      .def_property_readonly("cuda_arch", [](const Target& t) -> py::object {
        return t.is_cuda() ? py::object(py::str(t.cuda.arch)) : py::object(py::none());
      })
      .def_property_readonly("max_threads_per_block", [](const Target& t) { return t.gpu.max_threads_per_block; })
      .def_readonly("cuda", &Target::cuda, "The CUDA part (arch, fast math) of a CUDA target.")
      .def("runs_on_host", &Target::runs_on_host, "True when code for this target can run in this process.")
      .def("has_feature", &Target::has_feature, py::arg("name"))
      .def("__eq__", [](const Target& a, py::handle b) { return py::isinstance<Target>(b) && a == b.cast<Target>(); },
           py::arg("other"))
      .def("__hash__", [](const Target& t) { return py::hash(py::str(t.to_string())); })
      .def("__str__", &Target::to_string)
      .def("__repr__", [](const Target& t) { return "Target(\"" + t.to_string() + "\")"; });

  py::class_<JitFunction>(cg, "JitFunction", "A compiled function's packed entry point.")
      .def_property_readonly("name", &JitFunction::name)
      .def("call", [](const JitFunction& f, const std::vector<uintptr_t>& addresses) {
             std::vector<void*> args;
             for (uintptr_t address : addresses) args.push_back(reinterpret_cast<void*>(address));
             py::gil_scoped_release release;
             f.call(std::move(args));
           }, py::arg("addresses"),
           "Calls the function with one data address per parameter (buffers must be 64-byte aligned and "
           "must not overlap). A failure raises TesselError with the function's message.");

  py::class_<JitModule>(cg, "JitModule", "Functions JIT-compiled in this process.")
      .def_static("compile", [](const std::vector<PrimFunc>& funcs, const Target& target, const std::string& name) {
                    py::gil_scoped_release release;
                    return JitModule::compile(funcs, target, name);
                  }, py::arg("funcs"), py::arg("target"), py::arg("module_name") = "",
                  "Lowers (when needed), optimises at O3 and JIT-compiles the functions for target.")
      .def("get_function", &JitModule::get_function, py::arg("name"))
      .def_property_readonly("target", &JitModule::target)
      .def_property_readonly("module_name", &JitModule::module_name)
      .def_property_readonly("lowered_functions", &JitModule::lowered_functions, "The loop IR that was compiled.")
      .def("llvm_ir", &JitModule::llvm_ir, "Optimised LLVM IR text.")
      .def("assembly", &JitModule::assembly, "Assembly of the optimised IR.")
      .def("last_error", &JitModule::last_error, "The message of the last failure in this module's code.");

  cg.def("emit_llvm_ir", [](const std::vector<PrimFunc>& funcs, const Target& target, const std::string& name) {
           py::gil_scoped_release release;
           return codegen::emit_llvm_ir(funcs, target, name);
         }, py::arg("funcs"), py::arg("target"), py::arg("module_name") = "",
         "Optimised LLVM IR for any registered target (cross compilation included).");
  cg.def("emit_assembly", [](const std::vector<PrimFunc>& funcs, const Target& target, const std::string& name) {
           py::gil_scoped_release release;
           return codegen::emit_assembly(funcs, target, name);
         }, py::arg("funcs"), py::arg("target"), py::arg("module_name") = "",
         "Assembly for any registered target (cross compilation included).");
  cg.def("is_target_registered", &codegen::is_target_registered, py::arg("triple"),
         "Whether LLVM has a backend for the triple's architecture.");
}

}  // namespace tessel::python
