// Python bindings for the core queries: version, host target, runtime thread count.
// Bindings stay thin: conversion only, no logic; python/tessel/ builds the user API on top.
// This file owns PYBIND11_MODULE; other bind_*.cc files export `void bind_<area>(py::module_&)`
// and are called from here.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

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
  m.def("version", [] { return std::string(TESSEL_VERSION); },
        "Version of the native library, e.g. '0.1.0'.");
  m.def("host_target", &host_target,
        "Host CPU as the LLVM backend sees it: dict with triple, cpu, features, vector_bits.");
  m.def("num_threads", [] { return tessel_num_threads(); },
        "Threads in the runtime's pool (TESSEL_NUM_THREADS, else the usable CPU count).");
}
