// Python bindings for tensor expressions and schedules (`_tessel.te`): axes, reducers, tensors,
// operations, schedules and stages, lowering to loop IR, step JSON and workload keys.
// The user API (te.compute with reductions, te.sum with keyword axes, ...) is python/tessel/te.py.

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bind_common.h"
#include "tessel/ir/error.h"
#include "tessel/ir/printer.h"
#include "tessel/relay_like/compile.h"
#include "tessel/te/ops/common.h"
#include "tessel/te/schedule.h"
#include "tessel/te/tensor.h"
#include "tessel/te/workload_key.h"

namespace tessel::python {

using te::IterVar;
using te::Schedule;
using te::Tensor;

namespace {

// Python-side handles for node types held through shared_ptr<const ...>.
struct PyOperation {
  te::Operation op;
  Tensor tensor;  // the tensor it writes
};
struct PyCommReducer {
  te::CommReducer node;
};
// A GPU thread axis tag for Stage.bind ("threadIdx.x", "blockIdx.y", ...).
struct ThreadAxis {
  std::string tag;
};

// A stage handle that stays valid while the schedule grows: it names the stage by the tensor it
// writes, so stages added by cache_read/cache_write/rfactor do not shift it.
struct PyStage {
  std::shared_ptr<Schedule> schedule;
  Tensor output;
  te::Stage get() const { return (*schedule)[output]; }
};

PyStage stage_of(const std::shared_ptr<Schedule>& schedule, int index) {
  return PyStage{schedule, schedule->stage(index).node().output};
}

// The stage computing `op` (the op itself, or the tensor's op for cache-written stages).
PyStage stage_of_op(const std::shared_ptr<Schedule>& schedule, const te::Operation& op) {
  for (int i = 0; i < schedule->num_stages(); ++i) {
    const te::StageNode& node = schedule->stage_node(i);
    if (node.op == op || node.output.op() == op) return stage_of(schedule, i);
  }
  user_error() << "operation " << op->name << " is not part of this schedule";
  return {};
}

std::vector<IterVar> to_axes(py::handle axes, const char* what) {
  std::vector<IterVar> result;
  if (py::isinstance<IterVar>(axes)) {
    result.push_back(axes.cast<IterVar>());
    return result;
  }
  user_check(py::isinstance<py::sequence>(axes)) << what << ": expected an axis or a list of axes";
  for (py::handle item : axes) {
    user_check(py::isinstance<IterVar>(item)) << what << ": expected axes (IterVar), got "
                                             << py::str(py::type::of(item).attr("__name__")).cast<std::string>();
    result.push_back(item.cast<IterVar>());
  }
  return result;
}

std::vector<Expr> to_shape(py::handle shape, const char* what) {
  std::vector<Expr> result;
  if (!py::isinstance<py::sequence>(shape)) {
    result.push_back(to_expr(shape, Expr(), what));
    return result;
  }
  for (py::handle item : shape) result.push_back(to_expr(item, Expr(), what));
  return result;
}

std::vector<Tensor> to_tensors(py::handle tensors, const char* what) {
  std::vector<Tensor> result;
  if (py::isinstance<Tensor>(tensors) || py::isinstance<PyOperation>(tensors)) return to_tensors(py::make_tuple(tensors), what);
  user_check(py::isinstance<py::sequence>(tensors)) << what << ": expected a tensor or a list of tensors";
  for (py::handle item : tensors) {
    if (py::isinstance<PyOperation>(item)) {
      // An operation stands for its output tensor (TVM style: create_schedule(C.op)).
      const PyOperation& op = item.cast<const PyOperation&>();
      user_check(op.tensor.defined()) << what << ": operation " << op.op->name << " has no known output tensor";
      result.push_back(op.tensor);
      continue;
    }
    user_check(py::isinstance<Tensor>(item)) << what << ": expected tensors, got "
                                            << py::str(py::type::of(item).attr("__name__")).cast<std::string>();
    result.push_back(item.cast<Tensor>());
  }
  return result;
}

Expr tensor_element(const Tensor& tensor, py::handle indices) {
  std::vector<Expr> exprs;
  if (py::isinstance<py::tuple>(indices) || py::isinstance<py::list>(indices)) {
    for (py::handle item : indices) exprs.push_back(to_expr(item, Expr(), "tensor index"));
  } else {
    exprs.push_back(to_expr(indices, Expr(), "tensor index"));
  }
  for (const Expr& e : exprs) {
    user_check(e.dtype().is_int() || e.dtype().is_uint())
        << "index into tensor " << tensor.name() << " must be an integer, got " << e.dtype().to_string() << " ("
        << to_string(e) << ")";
  }
  return tensor(std::move(exprs));
}

py::tuple shape_tuple(const std::vector<Expr>& shape) {
  py::tuple result(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) result[i] = int_or_expr(shape[i]);
  return result;
}

// An optional condition: None means always.
Expr to_condition(py::handle where) {
  if (where.is_none()) return Expr();
  Expr c = to_expr(where, Expr(), "reduction condition (where)");
  user_check(c.dtype() == DataType::Bool()) << "reduction condition (where) must be a scalar bool, got "
                                            << c.dtype().to_string();
  return c;
}

te::Reduction builtin_reduction(const std::string& kind, py::handle source, py::handle axes, py::handle where) {
  Expr src = to_expr(source, Expr(), kind.c_str());
  std::vector<IterVar> ivs = to_axes(axes, kind.c_str());
  user_check(!ivs.empty()) << kind << ": needs at least one reduce axis";
  Expr condition = to_condition(where);
  if (kind == "sum") return te::sum(src, ivs, condition);
  if (kind == "max") return te::max(src, ivs, condition);
  if (kind == "min") return te::min(src, ivs, condition);
  if (kind == "prod") return te::prod(src, ivs, condition);
  user_error() << "unknown reduction '" << kind << "' (expected sum, max, min or prod)";
  return {};
}

te::Reduction custom_reduction(const PyCommReducer& reducer, py::handle source, py::handle axes, py::handle where) {
  Expr src = to_expr(source, Expr(), reducer.node->name.c_str());
  user_check(src.dtype() == reducer.node->lhs.dtype())
      << "reducer " << reducer.node->name << " combines " << reducer.node->lhs.dtype().to_string() << ", got "
      << src.dtype().to_string();
  std::vector<IterVar> ivs = to_axes(axes, reducer.node->name.c_str());
  user_check(!ivs.empty()) << reducer.node->name << ": needs at least one reduce axis";
  for (const IterVar& iv : ivs) {
    user_check(iv->kind == te::IterVarKind::kReduce) << reducer.node->name << ": axis " << iv->var->name
                                                     << " is not a reduce axis";
  }
  return te::Reduction{reducer.node, src, ivs, to_condition(where)};
}

PyCommReducer make_comm_reducer(const std::string& name, const std::string& dtype, const py::function& fcombine,
                                py::handle identity) {
  DataType t = DataType::parse(dtype);
  Expr id = to_expr(identity, make_const(t, 0), "reducer identity");
  auto combine = [&](Expr lhs, Expr rhs) {
    py::object result = fcombine(lhs, rhs);
    return to_expr(result, lhs, "the reducer's combined value");
  };
  return PyCommReducer{te::comm_reducer(name, t, combine, id)};
}

std::string kind_name(te::IterVarKind kind) { return kind == te::IterVarKind::kReduce ? "reduce" : "data_par"; }

void bind_axes(py::module_& m) {
  py::class_<te::Range>(m, "Range", "The interval [min, min + extent) of an axis.")
      .def_property_readonly("min", [](const te::Range& r) { return int_or_expr(r.min); })
      .def_property_readonly("extent", [](const te::Range& r) { return int_or_expr(r.extent); })
      .def("__repr__", [](const te::Range& r) { return "range(min=" + to_string(r.min) + ", ext=" + to_string(r.extent) + ")"; });

  py::class_<IterVar> iter_var(m, "IterVar",
                               "An iteration axis: a variable over a range. Arithmetic on it uses its variable.");
  iter_var.def_property_readonly("var", [](const IterVar& iv) { return Expr(iv.var()); })
      .def_property_readonly("dom", [](const IterVar& iv) { return iv->dom; })
      .def_property_readonly("name", [](const IterVar& iv) { return iv->var->name; })
      .def_property_readonly("kind", [](const IterVar& iv) { return kind_name(iv->kind); },
                             "'data_par' for a data-parallel axis, 'reduce' for a reduction axis.")
      .def("same_as", [](const IterVar& iv, const IterVar& other) { return iv.same_as(other); }, py::arg("other"))
      .def("__repr__", [](const IterVar& iv) {
        return "IterVar(" + iv->var->name + ", " + kind_name(iv->kind) + ", range(min=" + to_string(iv->dom.min) +
               ", ext=" + to_string(iv->dom.extent) + "))";
      });
  add_expr_operators(iter_var);
  // Axis == axis is identity (axes are compared and collected as handles); axis == number or
  // expression builds an expression, like Expr.
  // (Replaced with setattr, not def: def would append an overload behind the expression ones.)
  py::object expr_eq = iter_var.attr("__eq__"), expr_ne = iter_var.attr("__ne__");
  iter_var.attr("__eq__") = py::cpp_function(
      [expr_eq](py::handle self, py::handle other) -> py::object {
        if (py::isinstance<IterVar>(other)) return py::bool_(self.cast<IterVar>().same_as(other.cast<IterVar>()));
        return expr_eq(self, other);
      },
      py::name("__eq__"), py::is_method(iter_var), py::arg("other"));
  iter_var.attr("__ne__") = py::cpp_function(
      [expr_ne](py::handle self, py::handle other) -> py::object {
        if (py::isinstance<IterVar>(other)) return py::bool_(!self.cast<IterVar>().same_as(other.cast<IterVar>()));
        return expr_ne(self, other);
      },
      py::name("__ne__"), py::is_method(iter_var), py::arg("other"));
  iter_var.attr("__hash__") = py::cpp_function(
      [](const IterVar& iv) { return reinterpret_cast<uintptr_t>(iv.get()); }, py::name("__hash__"),
      py::is_method(iter_var));

  // Anything that takes an Expr also takes an axis (its variable).
  auto expr_class = py::reinterpret_borrow<py::class_<Expr>>(py::type::of<Expr>());
  expr_class.def(py::init([](const IterVar& iv) { return Expr(iv.var()); }), py::arg("axis"));
  expr_class.def(py::init([](int64_t value) { return to_expr(py::int_(value)); }), py::arg("value"));
  expr_class.def(py::init([](double value) { return make_float(DataType::Float(32), value); }), py::arg("value"));
  py::implicitly_convertible<IterVar, Expr>();
  py::implicitly_convertible<py::int_, Expr>();
  py::implicitly_convertible<py::float_, Expr>();

  m.def("data_axis", [](py::handle extent, const std::string& name) {
          Expr ext = to_expr(extent, Expr(), "shape extent");
          user_check(ext.dtype().is_int() && ext.dtype().is_scalar()) << "axis " << name
                                                                      << ": extent must be a scalar integer";
          if (const int64_t* v = as_const_int(ext)) user_check(*v > 0) << "axis " << name << ": extent " << *v
                                                                       << " is not positive";
          return te::make_iter_var({make_const(ext.dtype(), 0), ext}, name, te::IterVarKind::kDataParallel);
        }, py::arg("extent"), py::arg("name"), "A data-parallel axis over [0, extent).");
  m.def("reduce_axis", [](py::handle lo, py::handle hi, const std::string& name) {
          Expr min = to_expr(lo, Expr(), "reduce_axis bound"), max = to_expr(hi, min, "reduce_axis bound");
          if (as_const_int(min) && !as_const_int(max)) min = to_expr(lo, max, "reduce_axis bound");
          user_check(min.dtype().is_int() && max.dtype().is_int()) << "reduce_axis " << name
                                                                   << ": bounds must be integers";
          if (as_const_int(min) && as_const_int(max)) {
            user_check(*as_const_int(max) > *as_const_int(min))
                << "reduce_axis " << name << ": empty range [" << *as_const_int(min) << ", " << *as_const_int(max) << ")";
          }
          return te::reduce_axis(min, max, name);
        }, py::arg("min"), py::arg("max"), py::arg("name"), "A reduction axis over [min, max).");
}

void bind_reductions(py::module_& m) {
  py::class_<PyCommReducer>(m, "CommReducer", "A commutative, associative combiner with an identity.")
      .def_property_readonly("name", [](const PyCommReducer& r) { return r.node->name; })
      .def_property_readonly("dtype", [](const PyCommReducer& r) { return r.node->lhs.dtype().to_string(); })
      .def_property_readonly("identity", [](const PyCommReducer& r) { return r.node->identity; })
      .def_property_readonly("result", [](const PyCommReducer& r) { return r.node->result; });

  py::class_<te::Reduction>(m, "Reduction",
                            "A reduction (te.sum(...), ...): must be the whole body of te.compute.")
      .def_property_readonly("combiner", [](const te::Reduction& r) { return PyCommReducer{r.combiner}; })
      .def_property_readonly("source", [](const te::Reduction& r) { return r.source; })
      .def_property_readonly("axis", [](const te::Reduction& r) { return r.axes; })
      .def_property_readonly("condition", [](const te::Reduction& r) -> py::object {
        return r.condition.defined() ? py::cast(r.condition) : py::none();
      })
      .def_property_readonly("dtype", [](const te::Reduction& r) { return r.source.dtype().to_string(); })
      .def("__repr__", [](const te::Reduction& r) {
        return "<Reduction " + r.combiner->name + "(" + to_string(r.source) + ")>";
      });

  m.def("reduce", &builtin_reduction, py::arg("kind"), py::arg("source"), py::arg("axis"), py::arg("where") = py::none(),
        "A built-in reduction: kind is sum, max, min or prod.");
  m.def("reduce_with", &custom_reduction, py::arg("reducer"), py::arg("source"), py::arg("axis"),
        py::arg("where") = py::none(), "A reduction with a custom combiner (from comm_reducer).");
  m.def("comm_reducer", &make_comm_reducer, py::arg("name"), py::arg("dtype"), py::arg("fcombine"), py::arg("identity"),
        "Builds a combiner for dtype: fcombine(lhs, rhs) -> Expr and its identity value.");
}

void bind_tensors(py::module_& m) {
  py::class_<PyOperation>(m, "Operation", "The operation producing a tensor: its axes, reduce axes and tag.")
      .def_property_readonly("name", [](const PyOperation& o) { return o.op->name; })
      .def_property_readonly("tag", [](const PyOperation& o) { return o.op->tag; })
      .def_property_readonly("axis", [](const PyOperation& o) { return o.op->axis; })
      .def_property_readonly("reduce_axis", [](const PyOperation& o) {
        return o.op->has_reduction ? o.op->reduction.axes : std::vector<IterVar>{};
      })
      .def_property_readonly("input_tensors", [](const PyOperation& o) { return o.op->inputs(); })
      .def("output", [](const PyOperation& o, int index) {
             user_check(index == 0 && o.tensor.defined()) << "operation " << o.op->name << " has no output " << index;
             return o.tensor;
           }, py::arg("index"), "The tensor this operation produces (index 0).")
      .def_property_readonly("num_outputs", [](const PyOperation&) { return 1; })
      .def_property_readonly("is_placeholder", [](const PyOperation& o) { return o.op->kind == te::OpKind::kPlaceholder; })
      .def_property_readonly("body", [](const PyOperation& o) -> py::object {
        if (o.op->has_reduction) return py::cast(o.op->reduction);
        return o.op->body.defined() ? py::cast(o.op->body) : py::none();
      })
      .def("__eq__", [](const PyOperation& a, py::handle b) {
        return py::isinstance<PyOperation>(b) && a.op == b.cast<PyOperation>().op;
      }, py::arg("other"))
      .def("__hash__", [](const PyOperation& o) { return reinterpret_cast<uintptr_t>(o.op.get()); })
      .def("__repr__", [](const PyOperation& o) {
        return std::string(o.op->kind == te::OpKind::kPlaceholder ? "PlaceholderOp(" : "ComputeOp(") + o.op->name + ")";
      });

  py::class_<Tensor>(m, "Tensor", "A tensor of a compute DAG. Index it (A[i, j]) to read an element.")
      .def_property_readonly("name", &Tensor::name)
      .def_property_readonly("dtype", [](const Tensor& t) { return t.dtype().to_string(); })
      .def_property_readonly("shape", [](const Tensor& t) { return shape_tuple(t.shape()); },
                             "Extents: ints when constant, else expressions.")
      .def_property_readonly("ndim", &Tensor::ndim)
      .def_property_readonly("op", [](const Tensor& t) { return PyOperation{t.op(), t}; })
      .def("__getitem__", &tensor_element, py::arg("indices"))
      .def("__call__", [](const Tensor& t, py::args indices) { return tensor_element(t, indices); })
      .def("__eq__", [](const Tensor& a, py::handle b) { return py::isinstance<Tensor>(b) && a.same_as(b.cast<Tensor>()); },
           py::arg("other"))
      .def("__hash__", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.get()); })
      .def("__repr__", [](const Tensor& t) {
        std::string shape;
        for (const Expr& e : t.shape()) shape += (shape.empty() ? "" : ", ") + to_string(e);
        return "Tensor(" + t.name() + ", shape=(" + shape + "), dtype=" + t.dtype().to_string() + ")";
      });

  m.def("placeholder", [](py::handle shape, const std::string& dtype, const std::string& name) {
          DataType t = DataType::parse(dtype);
          return te::placeholder(to_shape(shape, "placeholder shape"), t, name);
        }, py::arg("shape"), py::arg("dtype"), py::arg("name"), "An input tensor.");
  m.def("make_compute", [](const std::string& name, const std::vector<IterVar>& axes, py::handle body,
                           const std::string& tag) {
          Expr value = to_expr(body, Expr(), "the value returned by fcompute");
          user_check(value.dtype().is_scalar()) << "compute " << name << ": the body must be a scalar expression";
          return te::make_compute_tensor(name, axes, value.dtype(), value, tag);
        }, py::arg("name"), py::arg("axes"), py::arg("body"), py::arg("tag") = "",
        "A compute tensor whose element at the axes' point is body.");
  m.def("make_reduce", &te::make_reduce_tensor, py::arg("name"), py::arg("axes"), py::arg("reduction"),
        py::arg("tag") = "", "A compute tensor whose element is a reduction.");

  py::class_<ThreadAxis>(m, "ThreadAxis", "A GPU thread index (threadIdx.x, blockIdx.y, ...) for Stage.bind.")
      .def(py::init([](const std::string& tag) { return ThreadAxis{tag}; }), py::arg("tag"))
      .def_property_readonly("thread_tag", [](const ThreadAxis& a) { return a.tag; })
      .def("__repr__", [](const ThreadAxis& a) { return "ThreadAxis(" + a.tag + ")"; });
}

std::pair<IterVar, IterVar> stage_split(const PyStage& stage, const IterVar& parent, py::handle factor,
                                        py::handle nparts) {
  te::Stage s = stage.get();
  user_check(factor.is_none() != nparts.is_none())
      << "split on stage " << s.name() << ": give exactly one of factor and nparts";
  if (!factor.is_none()) return s.split(parent, factor.cast<int64_t>());
  return s.split_nparts(parent, nparts.cast<int64_t>());
}

// f(a, b, c) or f([a, b, c]).
py::object axes_argument(const py::args& axes) {
  if (axes.size() == 1 && !py::isinstance<IterVar>(axes[0])) return axes[0];
  return axes;
}

IterVar stage_fuse(const PyStage& stage, py::args axes) {
  te::Stage s = stage.get();
  std::vector<IterVar> ivs = to_axes(axes_argument(axes), "fuse");
  user_check(!ivs.empty()) << "fuse on stage " << s.name() << ": no axes given";
  IterVar fused = ivs[0];
  for (size_t i = 1; i < ivs.size(); ++i) fused = s.fuse(fused, ivs[i]);
  return fused;
}

void bind_schedule(py::module_& m) {
  py::class_<PyStage>(m, "Stage", "One stage of a schedule; its primitives are recorded as steps.")
      .def_property_readonly("name", [](const PyStage& s) { return s.get().name(); })
      .def_property_readonly("op", [](const PyStage& s) {
             return PyOperation{s.get().op(), s.output};  // the op writes the stage's output tensor
           })
      .def_property_readonly("output", [](const PyStage& s) { return s.output; })
      .def_property_readonly("leaf_iter_vars", [](const PyStage& s) { return s.get().leaf_iter_vars(); })
      .def_property_readonly("all_iter_vars", [](const PyStage& s) { return s.get().node().all_iter_vars; })
      .def_property_readonly("attach", [](const PyStage& s) {
        switch (s.get().node().attach) {
          case te::AttachKind::kRoot: return "root";
          case te::AttachKind::kInline: return "inline";
          case te::AttachKind::kScope: return "scope";
        }
        return "root";
      }, "'root', 'inline' or 'scope' (computed at another stage's loop).")
      .def_property_readonly("scope", [](const PyStage& s) { return memory_scope_name(s.get().node().scope); })
      .def("split", &stage_split, py::arg("parent"), py::arg("factor") = py::none(), py::arg("nparts") = py::none(),
           "Splits parent into (outer, inner): inner has extent factor, or outer has extent nparts.")
      .def("tile", [](const PyStage& s, const IterVar& x, const IterVar& y, int64_t x_factor, int64_t y_factor) {
             auto t = s.get().tile(x, y, x_factor, y_factor);
             return py::make_tuple(t[0], t[1], t[2], t[3]);
           }, py::arg("x_parent"), py::arg("y_parent"), py::arg("x_factor"), py::arg("y_factor"),
           "Splits x and y and orders the loops (x_outer, y_outer, x_inner, y_inner); returns them.")
      .def("fuse", &stage_fuse, "Fuses adjacent axes, outermost first, into one axis and returns it.")
      .def("reorder", [](const PyStage& s, py::args axes) {
             s.get().reorder(to_axes(axes_argument(axes), "reorder"));
           }, "Orders the given leaf axes as listed (the other axes keep their places).")
      .def("compute_at", [](const PyStage& s, const PyStage& parent, const IterVar& axis) {
             user_check(s.schedule == parent.schedule) << "compute_at: stage " << parent.get().name()
                                                       << " belongs to another schedule";
             s.get().compute_at(parent.get(), axis);
           }, py::arg("parent"), py::arg("axis"), "Computes this stage inside parent's loop over axis.")
      .def("compute_inline", [](const PyStage& s) { s.get().compute_inline(); },
           "Substitutes this stage's expression into its consumers.")
      .def("compute_root", [](const PyStage& s) { s.get().compute_root(); }, "Computes this stage at the root.")
      .def("vectorize", [](const PyStage& s, const IterVar& axis) { s.get().vectorize(axis); }, py::arg("axis"))
      .def("unroll", [](const PyStage& s, const IterVar& axis) { s.get().unroll(axis); }, py::arg("axis"))
      .def("parallel", [](const PyStage& s, const IterVar& axis) { s.get().parallel(axis); }, py::arg("axis"))
      .def("bind", [](const PyStage& s, const IterVar& axis, py::handle thread) {
             std::string tag = py::isinstance<ThreadAxis>(thread) ? thread.cast<ThreadAxis>().tag
                                                                  : thread.cast<std::string>();
             s.get().bind(axis, tag);
           }, py::arg("axis"), py::arg("thread_axis"), "Binds axis to a GPU thread index (te.thread_axis).")
      .def("pragma", [](const PyStage& s, const IterVar& axis, const std::string& key, int64_t value) {
             s.get().pragma(axis, key, value);
           }, py::arg("axis"), py::arg("pragma_type"), py::arg("pragma_value"),
           "Annotates a loop; supported: 'auto_unroll_max_step' (unroll inner loops up to that many steps).")
      .def("storage_align", [](const PyStage& s, const IterVar& axis, int64_t factor, int64_t offset) {
             s.get().storage_align(axis, factor, offset);
           }, py::arg("axis"), py::arg("factor"), py::arg("offset"),
           "Pads the stride of the buffer dimension of axis to factor * n + offset elements.")
      .def("storage_pack", [](const PyStage& s, int64_t factor) { s.get().storage_pack(factor); }, py::arg("factor"),
           "Stores this intermediate tensor with its last dimension in blocks of factor elements, the "
           "block index outermost (a packed panel: T[k, j] lives at [j // factor, k, j % factor]).")
      .def("__repr__", [](const PyStage& s) { return "Stage(" + s.get().name() + ")"; });

  py::class_<Schedule, std::shared_ptr<Schedule>>(m, "Schedule", "How a compute DAG runs: one stage per compute op.")
      .def("__getitem__", [](const std::shared_ptr<Schedule>& s, py::handle key) {
             if (py::isinstance<PyOperation>(key)) return stage_of_op(s, key.cast<PyOperation>().op);
             user_check(py::isinstance<Tensor>(key)) << "schedule[...] takes a tensor or an operation";
             Tensor t = key.cast<Tensor>();
             (void)(*s)[t];  // raises a user error naming the tensor when it has no stage
             return PyStage{s, t};
           }, py::arg("tensor"))
      .def_property_readonly("stages", [](const std::shared_ptr<Schedule>& s) {
             std::vector<PyStage> stages;
             for (int i = 0; i < s->num_stages(); ++i) stages.push_back(stage_of(s, i));
             return stages;
           })
      .def_property_readonly("outputs", [](const Schedule& s) { return s.outputs(); })
      .def("cache_read", [](Schedule& s, const Tensor& tensor, const std::string& scope, py::handle readers) {
             return s.cache_read(tensor, scope, to_tensors(readers, "cache_read readers"));
           }, py::arg("tensor"), py::arg("scope"), py::arg("readers"),
           "Adds a stage copying tensor into scope for the readers; returns the copy.")
      .def("cache_write", &Schedule::cache_write, py::arg("tensor"), py::arg("scope"),
           "Computes tensor into a new scope stage and makes tensor a copy of it; returns the cache.")
      .def("rfactor", [](Schedule& s, const Tensor& tensor, const IterVar& axis, int factor_axis) {
             user_check(factor_axis == 0) << "rfactor of " << tensor.name() << ": only factor_axis=0 is supported";
             return s.rfactor(tensor, axis);
           }, py::arg("tensor"), py::arg("axis"), py::arg("factor_axis") = 0,
           "Factors the reduction over the leaf axis into a new stage keeping axis as its first dimension.")
      .def("steps_json", [](const Schedule& s) { return te::steps_to_json(s.steps()); },
           "The recorded primitives as JSON (replayable onto an identical DAG).")
      .def_property_readonly("num_steps", [](const Schedule& s) { return s.steps().size(); })
      .def("replay", [](Schedule& s, const std::string& json) { s.replay(te::steps_from_json(json)); },
           py::arg("steps_json"), "Applies a step list (from steps_json) to this fresh schedule.");

  m.def("create_schedule", [](py::handle outputs) {
          return std::make_shared<Schedule>(te::create_schedule(to_tensors(outputs, "create_schedule")));
        }, py::arg("outputs"), "A default schedule (every stage at root, loops in order) for the outputs.");
  m.def("lower_schedule", [](Schedule& s, py::handle args, const std::string& name, bool run_pipeline) {
          return te::lower_schedule(s, to_tensors(args, "lower arguments"), name, run_pipeline);
        }, py::arg("schedule"), py::arg("args"), py::arg("name"), py::arg("run_pipeline") = true,
        "Lowers to a loop-IR function with args as its parameters.");
  m.def("default_schedule", [](py::handle outputs, const codegen::Target& target) {
          return std::make_shared<Schedule>(te::ops::default_schedule(to_tensors(outputs, "default_schedule"),
                                                                      relay::default_schedule_target(target)));
        }, py::arg("outputs"), py::arg("target"),
        "The operator library's default schedule for the outputs on the target (what compile falls back to).");
  m.def("workload_key", [](py::handle outputs) { return te::workload_key(to_tensors(outputs, "workload_key")); },
        py::arg("outputs"), "Structural identity of the DAG: equal for equal computations whatever the names.");
  m.def("workload_text", [](py::handle outputs) { return te::workload_text(to_tensors(outputs, "workload_text")); },
        py::arg("outputs"), "The canonical text the workload key hashes.");
}

}  // namespace

void bind_te(py::module_& m) {
  py::module_ te = m.def_submodule("te", "Tensor expressions and schedules.");
  bind_axes(te);
  bind_reductions(te);
  bind_tensors(te);
  bind_schedule(te);
}

}  // namespace tessel::python
