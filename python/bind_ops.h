// Entry points of the binding files that live beside the core ones: the operator library
// (bind_ops_nn.cc, bind_ops_tensor.cc: operator functions, Tensor in and Tensor out, bound into
// the `_tessel.ops` submodule that the Python package re-exports as `tessel.ops`) and the
// library exporter (bind_export.cc: `_tessel.export_library`). bind_core.cc calls each one when
// its file is built (TESSEL_HAVE_OPS_NN / _OPS_TENSOR / _EXPORT, set by python/CMakeLists.txt).
#pragma once

#include <pybind11/pybind11.h>

void bind_ops_nn(pybind11::module_& ops);
void bind_ops_tensor(pybind11::module_& ops);
void bind_export(pybind11::module_& m);
// The graph IR (bind_relay.cc: the `_tessel.relay` submodule), when TESSEL_HAVE_RELAY is set.
void bind_relay(pybind11::module_& m);
// The auto-scheduler (bind_autotune.cc: the `_tessel.autotune` submodule), when TESSEL_HAVE_AUTOTUNE is set.
void bind_autotune(pybind11::module_& m);
// The tuning-record database (bind_database.cc: `_tessel.autotune.Database`), when
// TESSEL_HAVE_AUTOTUNE is set; called after bind_autotune, whose submodule it extends.
void bind_database(pybind11::module_& m);
// The CUDA code generator (bind_cuda.cc: the `_tessel.cuda` submodule), when TESSEL_HAVE_CUDA is set.
void bind_cuda(pybind11::module_& m);
