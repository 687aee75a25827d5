// Entry points of the binding files that bind_core.cc calls: the operator library
// (bind_ops_nn.cc, bind_ops_tensor.cc: operator functions, Tensor in and Tensor out, bound into
// the `_tessel.ops` submodule that the Python package re-exports as `tessel.ops`), the graph IR,
// the auto-scheduler and its record stores, and the CUDA code generator.
#pragma once

#include <pybind11/pybind11.h>

void bind_ops_nn(pybind11::module_& ops);
void bind_ops_tensor(pybind11::module_& ops);
// The graph IR (bind_relay.cc: the `_tessel.relay` submodule).
void bind_relay(pybind11::module_& m);
// The auto-scheduler (bind_autotune.cc: the `_tessel.autotune` submodule).
void bind_autotune(pybind11::module_& m);
// The tuning-record database and record stores (bind_database.cc), called after bind_autotune,
// whose submodule it extends.
void bind_database(pybind11::module_& m);
// The CUDA code generator (bind_cuda.cc: the `_tessel.cuda` submodule).
void bind_cuda(pybind11::module_& m);
