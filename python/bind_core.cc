// Python bindings for the core queries (version, host target, runtime thread count) and the
// module itself: error translation and the submodules (ir, te, codegen, ops).
// Bindings stay thin: conversion only, no logic; python/tessel/ builds the user API on top.
// This file owns PYBIND11_MODULE; the other bind_*.cc files export `bind_<area>(py::module_&)`
// and are called from here.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "bind_common.h"
#include "bind_ops.h"
#include "tessel/ir/error.h"
#include "tessel/runtime/parallel.h"
#if TESSEL_HAVE_CODEGEN
#include "tessel/codegen/host.h"
#endif

namespace py = pybind11;

namespace {

py::dict host_target() {
#if TESSEL_HAVE_CODEGEN
  const tessel::codegen::HostCpu& cpu = tessel::codegen::host_cpu();
  py::dict target;
  target["triple"] = cpu.triple;
  target["cpu"] = cpu.cpu_name;
  target["features"] = cpu.features;
  target["vector_bits"] = cpu.vector_bits;
  return target;
#else
  throw std::runtime_error("this build of tessel has no code generator (tessel_codegen)");
#endif
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
  m.attr("has_codegen") = py::bool_(TESSEL_HAVE_CODEGEN != 0);

  tessel::python::bind_ir(m);
  tessel::python::bind_te(m);
#if TESSEL_HAVE_CODEGEN
  tessel::python::bind_codegen(m);
#if TESSEL_HAVE_EXPORT
  bind_export(m);
#endif
#if TESSEL_HAVE_RELAY
  bind_relay(m);
#endif
#if TESSEL_HAVE_AUTOTUNE
  bind_autotune(m);
  bind_database(m);
#endif
#if TESSEL_HAVE_CUDA
  bind_cuda(m);
#endif
#endif

  // Operator library: tessel.ops re-exports this submodule.
  py::module_ ops = m.def_submodule("ops", "Operator library (dense, conv2d, pooling, elementwise, ...).");
#if TESSEL_HAVE_OPS_NN
  bind_ops_nn(ops);
#endif
#if TESSEL_HAVE_OPS_TENSOR
  bind_ops_tensor(ops);
#endif
  (void)ops;
}
