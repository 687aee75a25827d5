// Python bindings for the core queries (version, host target, runtime thread count) and the
// module itself: error translation and the submodules (ir, te, codegen, ops).
// Bindings stay thin: conversion only, no logic; python/tessel/ builds the user API on top.
// This file owns PYBIND11_MODULE; the other bind_*.cc files export `bind_<area>(py::module_&)`
// and are called from here.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bind_common.h"
#include "bind_ops.h"
#include "tessel/ir/error.h"
#include "tessel/runtime/parallel.h"
#include "tessel/codegen/host.h"

namespace py = pybind11;

namespace {

py::dict host_target() {
  const tessel::codegen::HostCpu& cpu = tessel::codegen::host_cpu();
  py::dict target;
  target["triple"] = cpu.triple;
  target["cpu"] = cpu.cpu_name;
  target["features"] = cpu.features;
  target["vector_bits"] = cpu.vector_bits;
  return target;
}

}  // namespace

PYBIND11_MODULE(_tessel, m) {
  m.doc() = "Native core of the tessel package (thin bindings).";
  // User errors (CompileError) are tessel.TesselError, a ValueError; internal errors (a bug in
  // Tessel) are tessel.InternalError, a RuntimeError.
  py::register_exception<tessel::CompileError>(m, "TesselError", PyExc_ValueError);
  py::register_exception<tessel::InternalError>(m, "InternalError", PyExc_RuntimeError);

  m.def("version", [] { return std::string(TESSEL_VERSION); },
        "Version of the native library, e.g. '0.1.0'.");
  m.def("host_target", &host_target,
        "Host CPU as the LLVM backend sees it: dict with triple, cpu, features, vector_bits.");
  m.def("num_threads", [] { return tessel_num_threads(); },
        "Threads in the runtime's pool (TESSEL_NUM_THREADS, else the usable CPU count).");
  m.attr("has_codegen") = py::bool_(true);

  tessel::python::bind_ir(m);
  tessel::python::bind_te(m);
  tessel::python::bind_codegen(m);
  bind_relay(m);
  bind_autotune(m);
  bind_database(m);
  bind_cuda(m);

  // Operator library: tessel.ops re-exports this submodule.
  py::module_ ops = m.def_submodule("ops", "Operator library (dense, conv2d, pooling, elementwise, ...).");
  bind_ops_nn(ops);
  bind_ops_tensor(ops);
}
