// Python bindings for loop-IR expressions and functions: Expr with Python operators, constants,
// variables, intrinsic calls, select and casts, and PrimFunc (printable lowered functions).
// Operators follow the C++ convenience operators (expr.h): integer `/` and `//` are floor
// division; float `/` is true division and float `//` is floor(a / b).

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "bind_common.h"
#include "tessel/ir/error.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/stmt.h"

namespace tessel::python {

namespace {

bool is_immediate(const Expr& e) { return as_const_int(e) != nullptr || as_const_float(e) != nullptr; }

// A Python int as a constant: of type t when given (scalar int, uint or float), else int32
// (int64 when the value does not fit in 32 bits).
Expr int_constant(py::handle obj, const DataType* t) {
  int overflow = 0;
  long long value = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
  user_check(overflow == 0) << "integer constant " << py::str(obj).cast<std::string>() << " does not fit in 64 bits";
  if (t && t->is_float()) return make_float(*t, static_cast<double>(value));
  if (t && t->is_integral() && !t->is_bool()) return make_int(*t, value);
  bool fits32 = value >= std::numeric_limits<int32_t>::min() && value <= std::numeric_limits<int32_t>::max();
  return make_int(fits32 ? DataType::Int(32) : DataType::Int(64), value);
}

bool is_number(py::handle obj) {
  return PyLong_Check(obj.ptr()) || PyFloat_Check(obj.ptr()) || PyBool_Check(obj.ptr());
}

}  // namespace

Expr try_to_expr(py::handle obj, const Expr& like) {
  DataType hint = like.defined() ? like.dtype().element_of() : DataType::Int(32);
  if (PyBool_Check(obj.ptr())) return make_bool(obj.ptr() == Py_True);
  if (PyLong_Check(obj.ptr())) return int_constant(obj, like.defined() ? &hint : nullptr);
  if (PyFloat_Check(obj.ptr())) {
    double value = PyFloat_AsDouble(obj.ptr());
    return make_float(like.defined() && hint.is_float() ? hint : DataType::Float(32), value);
  }
  if (obj.is_none()) return Expr();  // the caster would accept None as a null reference
  py::detail::make_caster<Expr> caster;
  if (caster.load(obj, /*convert=*/true)) return py::detail::cast_op<Expr>(caster);
  // Other numbers, such as numpy scalars: integers through __index__, the rest through __float__.
  if (PyIndex_Check(obj.ptr())) return try_to_expr(py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr())), like);
  if (PyNumber_Check(obj.ptr()) && py::hasattr(obj, "__float__")) {
    return try_to_expr(py::float_(py::reinterpret_borrow<py::object>(obj)), like);
  }
  return Expr();
}

Expr to_expr(py::handle obj, const Expr& like, const char* what) {
  Expr e = try_to_expr(obj, like);
  user_check(e.defined()) << what << " must be an expression, an axis or a number, not "
                          << py::str(py::type::of(obj).attr("__name__")).cast<std::string>();
  return e;
}

py::object int_or_expr(const Expr& e) {
  if (const int64_t* v = as_const_int(e)) return py::int_(*v);
  return py::cast(e);
}

namespace {

enum class PyOp { kAdd, kSub, kMul, kTrueDiv, kFloorDiv, kMod, kLT, kLE, kGT, kGE, kEQ, kNE, kAnd, kOr };

const char* py_op_symbol(PyOp op) {
  switch (op) {
    case PyOp::kAdd: return "+";
    case PyOp::kSub: return "-";
    case PyOp::kMul: return "*";
    case PyOp::kTrueDiv: return "/";
    case PyOp::kFloorDiv: return "//";
    case PyOp::kMod: return "%";
    case PyOp::kLT: return "<";
    case PyOp::kLE: return "<=";
    case PyOp::kGT: return ">";
    case PyOp::kGE: return ">=";
    case PyOp::kEQ: return "==";
    case PyOp::kNE: return "!=";
    case PyOp::kAnd: return "&";
    case PyOp::kOr: return "|";
  }
  return "?";
}

// Checks that a and b can meet in one operation: the same element type, or an immediate that the
// C++ operators retype to the other side's type (an int constant anywhere, a float constant next
// to a float). Raises a user error instead of the IR's internal type check.
void check_operands(const Expr& a, const Expr& b, PyOp op) {
  DataType ta = a.dtype(), tb = b.dtype();
  auto retypable = [](const Expr& imm, DataType to) {
    return as_const_int(imm) != nullptr || (as_const_float(imm) != nullptr && to.is_float());
  };
  user_check(ta.element_of() == tb.element_of() || retypable(a, tb) || retypable(b, ta))
      << "operands of `" << py_op_symbol(op) << "` have different types: " << ta.to_string() << " ("
      << to_string(a) << ") and " << tb.to_string() << " (" << to_string(b)
      << "); convert one side with .astype(dtype)";
  user_check(ta.lanes() == tb.lanes() || ta.lanes() == 1 || tb.lanes() == 1)
      << "operands of `" << py_op_symbol(op) << "` have different vector lanes: " << ta.to_string() << " and "
      << tb.to_string();
  user_check(!ta.is_handle() && !tb.is_handle()) << "`" << py_op_symbol(op) << "` on a handle expression";
}

Expr apply(PyOp op, Expr a, Expr b) {
  check_operands(a, b, op);
  switch (op) {
    case PyOp::kAdd: return a + b;
    case PyOp::kSub: return a - b;
    case PyOp::kMul: return a * b;
    case PyOp::kTrueDiv: return a / b;
    case PyOp::kFloorDiv: {
      Expr q = a / b;
      return q.dtype().is_float() ? make_call(Intrinsic::k_floor, {q}) : q;
    }
    case PyOp::kMod: return a % b;
    case PyOp::kLT: return a < b;
    case PyOp::kLE: return a <= b;
    case PyOp::kGT: return a > b;
    case PyOp::kGE: return a >= b;
    case PyOp::kEQ: return a == b;
    case PyOp::kNE: return a != b;
    case PyOp::kAnd:
    case PyOp::kOr:
      user_check(a.dtype().element_of().is_bool() && b.dtype().element_of().is_bool())
          << "`" << py_op_symbol(op) << "` is logical and/or and needs bool operands, got " << a.dtype().to_string()
          << " and " << b.dtype().to_string();
      return op == PyOp::kAnd ? (a && b) : (a || b);
  }
  internal_error() << "unknown operator";
  return Expr();
}

// self (op) other, or other (op) self when reflected. NotImplemented when other is not an
// expression or a number, so that Python can try the other operand.
py::object binary(py::handle self, py::handle other, PyOp op, bool reflected) {
  Expr a = to_expr(self, Expr(), "operand");
  Expr b = try_to_expr(other, a);
  if (!b.defined()) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
  return py::cast(reflected ? apply(op, b, a) : apply(op, a, b));
}

void set_method(py::handle cls, const char* name, py::cpp_function function) { py::setattr(cls, name, function); }

}  // namespace

// Installs the Python operators on an expression-like class whose instances convert to Expr.
void add_expr_operators(py::handle cls) {
  struct Entry { const char* name; const char* reflected; PyOp op; };
  static const Entry entries[] = {
      {"__add__", "__radd__", PyOp::kAdd},          {"__sub__", "__rsub__", PyOp::kSub},
      {"__mul__", "__rmul__", PyOp::kMul},          {"__truediv__", "__rtruediv__", PyOp::kTrueDiv},
      {"__floordiv__", "__rfloordiv__", PyOp::kFloorDiv}, {"__mod__", "__rmod__", PyOp::kMod},
      {"__and__", "__rand__", PyOp::kAnd},          {"__or__", "__ror__", PyOp::kOr},
      {"__lt__", nullptr, PyOp::kLT},               {"__le__", nullptr, PyOp::kLE},
      {"__gt__", nullptr, PyOp::kGT},               {"__ge__", nullptr, PyOp::kGE},
      {"__eq__", nullptr, PyOp::kEQ},               {"__ne__", nullptr, PyOp::kNE},
  };
  for (const Entry& entry : entries) {
    PyOp op = entry.op;
    set_method(cls, entry.name,
               py::cpp_function([op](py::handle self, py::handle other) { return binary(self, other, op, false); },
                                py::name(entry.name), py::is_method(cls), py::arg("other")));
    if (entry.reflected) {
      set_method(cls, entry.reflected,
                 py::cpp_function([op](py::handle self, py::handle other) { return binary(self, other, op, true); },
                                  py::name(entry.reflected), py::is_method(cls), py::arg("other")));
    }
  }
  set_method(cls, "__neg__", py::cpp_function([](py::handle self) { return -to_expr(self); }, py::name("__neg__"),
                                              py::is_method(cls)));
  set_method(cls, "__pos__", py::cpp_function([](py::handle self) { return to_expr(self); }, py::name("__pos__"),
                                              py::is_method(cls)));
  set_method(cls, "__abs__", py::cpp_function([](py::handle self) { return make_call(Intrinsic::k_fabs, {to_expr(self)}); },
                                              py::name("__abs__"), py::is_method(cls)));
  set_method(cls, "__invert__", py::cpp_function(
                                    [](py::handle self) {
                                      Expr a = to_expr(self);
                                      user_check(a.dtype().element_of().is_bool())
                                          << "`~` is logical not and needs a bool operand, got " << a.dtype().to_string();
                                      return make_not(a);
                                    },
                                    py::name("__invert__"), py::is_method(cls)));
  set_method(cls, "__bool__", py::cpp_function(
                                  [](py::handle self) -> bool {
                                    user_error() << "a tessel expression (" << to_string(to_expr(self))
                                                 << ") has no Python truth value: it is symbolic. Use "
                                                    "te.if_then_else for a conditional value, `&`/`|`/`~` for "
                                                    "logic, and .same_as() to compare identity";
                                    return false;
                                  },
                                  py::name("__bool__"), py::is_method(cls)));
  // numpy scalars on the left (np.float32(2) * x) defer to the reflected operators above.
  py::setattr(cls, "__array_ufunc__", py::none());
  // Identity hashing: `==` builds an expression, so hashing must not depend on it.
  set_method(cls, "__hash__", py::cpp_function([](py::handle self) { return reinterpret_cast<uintptr_t>(self.ptr()) >> 4; },
                                               py::name("__hash__"), py::is_method(cls)));
}

namespace {

Intrinsic intrinsic_of(const std::string& name) {
#define TESSEL_X(op, arity) \
  if (name == #op) return Intrinsic::k_##op;
  TESSEL_INTRINSICS(TESSEL_X)
#undef TESSEL_X
  user_error() << "unknown intrinsic '" << name << "'";
  return Intrinsic::k_exp;
}

// An intrinsic call; Python numbers take the type of the first expression argument.
Expr call_intrinsic(const std::string& name, const std::vector<py::object>& args) {
  Intrinsic op = intrinsic_of(name);
  user_check(static_cast<int>(args.size()) == intrinsic_arity(op))
      << name << " takes " << intrinsic_arity(op) << " argument(s), got " << args.size();
  Expr like;
  for (const py::object& arg : args) {
    if (is_number(arg)) continue;
    like = to_expr(arg, Expr(), name.c_str());
    break;
  }
  if (!like.defined()) like = make_float(DataType::Float(32), 0.0);  // all numbers: float32
  std::vector<Expr> exprs;
  for (const py::object& arg : args) exprs.push_back(to_expr(arg, like, name.c_str()));
  DataType t = exprs[0].dtype();
  for (const Expr& e : exprs) {
    user_check(e.dtype() == t) << name << ": argument types differ (" << t.to_string() << " and " << e.dtype().to_string()
                               << "); convert with .astype(dtype)";
  }
  user_check(t.is_float() || op == Intrinsic::k_fabs)
      << name << " needs a float argument, got " << t.to_string() << " (" << to_string(exprs[0])
      << "); convert with .astype('float32')";
  return make_call(op, std::move(exprs));
}

Expr select(py::handle condition, py::handle true_value, py::handle false_value) {
  Expr c = to_expr(condition, Expr(), "if_then_else condition");
  user_check(c.dtype().element_of().is_bool()) << "if_then_else: the condition must be bool, got " << c.dtype().to_string();
  // Numbers take the type of the other branch; two numbers are float32 when either is a float.
  Expr t, f;
  if (!is_number(true_value)) {
    t = to_expr(true_value, Expr(), "if_then_else value");
    f = to_expr(false_value, t, "if_then_else value");
  } else if (!is_number(false_value)) {
    f = to_expr(false_value, Expr(), "if_then_else value");
    t = to_expr(true_value, f, "if_then_else value");
  } else {
    Expr like = PyFloat_Check(true_value.ptr()) || PyFloat_Check(false_value.ptr()) ? make_float(DataType::Float(32), 0.0)
                                                                                    : Expr();
    t = to_expr(true_value, like, "if_then_else value");
    f = to_expr(false_value, like.defined() ? like : t, "if_then_else value");
  }
  check_operands(t, f, PyOp::kAdd);
  match_types(t, f);
  user_check(c.dtype().lanes() == 1 || c.dtype().lanes() == t.dtype().lanes())
      << "if_then_else: condition lanes do not match the values";
  return make_select(c, t, f);
}

Expr constant(py::handle value, const std::string& dtype) {
  DataType t = DataType::parse(dtype);
  user_check(t.is_scalar()) << "const: dtype must be scalar, got " << dtype;
  user_check(!t.is_handle()) << "const: no constants of type handle";
  if (t.is_bool()) return make_bool(py::cast<bool>(value));
  if (t.is_float()) return make_float(t, py::cast<double>(value));
  user_check(PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
      << "const: an integer constant of type " << dtype << " needs an int value, got "
      << py::str(value).cast<std::string>();
  return make_int(t, py::cast<int64_t>(value));
}

// The largest (or smallest) finite value of a scalar type, as a constant.
Expr extreme_value(const std::string& dtype, bool largest) {
  DataType t = DataType::parse(dtype);
  user_check(t.is_scalar() && !t.is_handle()) << "max_value/min_value: unsupported dtype " << dtype;
  if (t.is_bool()) return make_bool(largest);
  if (t.is_float()) {
    double top = t.bits() == 64   ? std::numeric_limits<double>::max()
                 : t.bits() == 32 ? static_cast<double>(std::numeric_limits<float>::max())
                 : t.is_bfloat16() ? 3.3895313892515355e38
                                   : 65504.0;
    return make_float(t, largest ? top : -top);
  }
  if (t.is_int()) {
    int64_t top = t.bits() == 64 ? std::numeric_limits<int64_t>::max() : (int64_t{1} << (t.bits() - 1)) - 1;
    return make_int(t, largest ? top : -top - 1);
  }
  return make_int(t, largest ? -1 : 0);  // unsigned: -1 wraps to all ones
}

}  // namespace

void bind_ir(py::module_& m) {
  py::module_ ir = m.def_submodule("ir", "Loop-IR expressions and functions.");

  py::class_<Expr> expr(ir, "Expr", "An immutable loop-IR expression (symbolic; print it with str()).");
  expr.def_property_readonly("dtype", [](const Expr& e) { return e.dtype().to_string(); },
                             "Type of the expression, e.g. 'float32', 'int32x8', 'bool'.")
      .def("astype", [](const Expr& e, const std::string& dtype) {
             DataType t = DataType::parse(dtype);
             return make_cast(t.with_lanes(e.dtype().lanes() * t.lanes()), e);
           }, py::arg("dtype"), "Converts to dtype (float -> int truncates toward zero).")
      .def("same_as", [](const Expr& e, const Expr& other) { return e.same_as(other); }, py::arg("other"),
           "True when both are the same node (identity, not structural equality).")
      .def_property_readonly("value", [](const Expr& e) -> py::object {
             if (const int64_t* v = as_const_int(e)) return e.dtype().is_bool() ? py::object(py::bool_(*v != 0)) : py::int_(*v);
             if (const double* v = as_const_float(e)) return py::float_(*v);
             return py::none();
           }, "The value of a constant (int, float or bool), else None.")
      .def_property_readonly("name", [](const Expr& e) -> py::object {
             if (const VarNode* v = e.as<VarNode>()) return py::str(v->name);
             return py::none();
           }, "The name of a variable, else None.")
      .def("__str__", [](const Expr& e) { return to_string(e); })
      .def("__repr__", [](const Expr& e) { return "<Expr " + e.dtype().to_string() + ": " + to_string(e) + ">"; });
  add_expr_operators(expr);

  ir.def("const", &constant, py::arg("value"), py::arg("dtype"), "A constant of the given scalar type.");
  ir.def("var", [](const std::string& name, const std::string& dtype) {
           DataType t = DataType::parse(dtype);
           return Expr(Var(name, t));
         }, py::arg("name"), py::arg("dtype") = "int32", "A new variable (identity object; the name is a hint).");
  ir.def("call", &call_intrinsic, py::arg("name"), py::arg("args"),
         "Calls a math intrinsic (exp, log, sqrt, rsqrt, tanh, erf, sigmoid, pow, fabs, floor, ceil, round, fma).");
  ir.def("select", &select, py::arg("condition"), py::arg("true_value"), py::arg("false_value"),
         "condition ? true_value : false_value (both branches may be evaluated).");
  ir.def("max_value", [](const std::string& dtype) { return extreme_value(dtype, true); }, py::arg("dtype"),
         "The largest finite value of dtype as a constant.");
  ir.def("min_value", [](const std::string& dtype) { return extreme_value(dtype, false); }, py::arg("dtype"),
         "The smallest finite value of dtype as a constant.");
  ir.def("to_expr", [](py::handle value) { return to_expr(value); }, py::arg("value"),
         "Converts a number, an axis or an expression to an expression.");
  ir.def("elementwise_max", [](py::handle a, py::handle b) {
           Expr x = to_expr(a), y = to_expr(b, x);
           if (is_immediate(x) && !is_immediate(y)) x = to_expr(a, y);
           check_operands(x, y, PyOp::kAdd);
           return max(x, y);
         }, py::arg("a"), py::arg("b"), "max(a, b), element by element.");
  ir.def("elementwise_min", [](py::handle a, py::handle b) {
           Expr x = to_expr(a), y = to_expr(b, x);
           if (is_immediate(x) && !is_immediate(y)) x = to_expr(a, y);
           check_operands(x, y, PyOp::kAdd);
           return min(x, y);
         }, py::arg("a"), py::arg("b"), "min(a, b), element by element.");

  py::class_<PrimFunc>(ir, "PrimFunc", "A loop-IR function; str() gives its readable text.")
      .def_property_readonly("name", [](const PrimFunc& f) { return f->name; })
      .def_property_readonly("params", [](const PrimFunc& f) {
             std::vector<std::string> names;
             for (const Param& p : f->params) names.push_back(p.is_buffer() ? p.buffer->name : p.scalar.name());
             return names;
           }, "Parameter names, in order.")
      .def("__str__", [](const PrimFunc& f) { return to_string(f); })
      .def("__repr__", [](const PrimFunc& f) { return "<PrimFunc " + f->name + ">"; });
}

}  // namespace tessel::python
