// Declarations shared by the binding files of the _tessel extension: the per-area entry points
// called from bind_core.cc and the Python-value -> loop-IR conversions every area uses.
// Conversions only; semantics stay in the C++ libraries and the Python package.
#pragma once

#include <pybind11/pybind11.h>

#include "tessel/ir/expr.h"

namespace tessel::python {

namespace py = pybind11;

// Converts a Python value to an expression: an Expr (or anything implicitly convertible, such as
// an IterVar), a bool, an int or a float. A Python int takes the element type of `like` when it
// is defined (int, uint or float), else int32 (int64 when it does not fit); a float takes `like`'s
// float type, else float32. Throws CompileError naming `what` when obj is none of these.
Expr to_expr(py::handle obj, const Expr& like = Expr(), const char* what = "value");
// Like to_expr, but returns an undefined Expr instead of throwing when obj is not convertible.
Expr try_to_expr(py::handle obj, const Expr& like = Expr());
// An expression as a Python value: an int for an integer constant, else the Expr itself.
py::object int_or_expr(const Expr& e);

// Installs Python operators (+ - * / // % comparisons & | ~ unary -, abs) on an expression-like
// class whose instances convert to Expr, plus __bool__ (a user error) and identity __hash__.
void add_expr_operators(py::handle cls);

void bind_ir(py::module_& m);
void bind_te(py::module_& m);
void bind_codegen(py::module_& m);

}  // namespace tessel::python
