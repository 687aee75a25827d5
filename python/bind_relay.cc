// Python bindings of the graph IR (`_tessel.relay`): graphs built call by call, the passes, fusion
// and compilation to a deployable module. Thin: attribute values arrive tagged with their kind
// from python/tessel/relay.py, which holds the user API.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bind_ops.h"
#include "tessel/ir/error.h"
#include "tessel/relay_like/compile.h"
#include "tessel/relay_like/evaluate.h"
#include "tessel/relay_like/graph.h"
#include "tessel/relay_like/transforms.h"

namespace py = pybind11;

namespace {

using namespace tessel;
using namespace tessel::relay;

NDArray to_ndarray(const py::array& input) {
  py::array array = py::array::ensure(input, py::array::c_style | py::array::forcecast);
  std::string dtype = py::str(array.dtype()).cast<std::string>();
  std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
  return NDArray::from_bytes(shape, DataType::parse(dtype), array.data());
}

py::array to_numpy(const NDArray& array) {
  std::string dtype = array.dtype().to_string();
  py::array result(py::dtype(dtype), array.shape());
  std::memcpy(result.mutable_data(), array.data(), static_cast<size_t>(array.byte_size()));
  return result;
}

// A read-only numpy view of the array's storage (kept alive by the view), so that a graph's
// weights reach Python without a copy and go back to compile() without another one.
py::array read_only_view(const NDArray& array) {
  auto* owner = new NDArray(array);
  py::capsule keep(owner, [](void* p) { delete static_cast<NDArray*>(p); });
  py::array view(py::dtype(array.dtype().to_string()), array.shape(), {}, array.data(), keep);
  view.attr("setflags")(py::arg("write") = false);
  return view;
}

// (name, kind, value) with kind one of int, float, bool, str, ints, floats.
Attrs to_attrs(const std::vector<std::tuple<std::string, std::string, py::object>>& items) {
  Attrs attrs;
  for (const auto& [name, kind, value] : items) {
    if (kind == "int") attrs.set(name, value.cast<int64_t>());
    else if (kind == "float") attrs.set(name, value.cast<double>());
    else if (kind == "bool") attrs.set(name, value.cast<bool>());
    else if (kind == "str") attrs.set(name, value.cast<std::string>());
    else if (kind == "ints") attrs.set(name, value.cast<std::vector<int64_t>>());
    else if (kind == "floats") attrs.set(name, value.cast<std::vector<double>>());
    else throw CompileError("attribute '" + name + "' has an unsupported kind '" + kind + "'");
  }
  return attrs;
}

py::tuple type_tuple(const TensorType& type) {
  return py::make_tuple(py::tuple(py::cast(type.shape)), type.dtype.to_string());
}

}  // namespace

void bind_relay(py::module_& m) {
  py::module_ relay = m.def_submodule("relay", "Graph IR: graphs, passes, fusion and compilation.");

  py::class_<Value>(relay, "Value")
      .def_readonly("node", &Value::node)
      .def_readonly("index", &Value::index)
      .def("__repr__", [](const Value& v) { return "Value(%" + std::to_string(v.node) + "." + std::to_string(v.index) + ")"; })
      .def("__eq__", [](const Value& a, const Value& b) { return a == b; })
      .def("__hash__", [](const Value& v) { return std::hash<int64_t>()((static_cast<int64_t>(v.node) << 16) ^ v.index); });

  py::class_<Graph>(relay, "Graph")
      .def(py::init<>())
      .def("copy", [](const Graph& g) { return Graph(g); })
      .def("add_input", [](Graph& g, const std::string& name, const std::vector<int64_t>& shape, const std::string& dtype) {
        return g.add_input(name, TensorType{shape, DataType::parse(dtype)});
      })
      .def("add_constant", [](Graph& g, const py::array& value, const std::string& name) {
        return g.add_constant(to_ndarray(value), name);
      }, py::arg("value"), py::arg("name") = "")
      .def("add_call", [](Graph& g, const std::string& op, const std::vector<Value>& inputs,
                          const std::vector<std::tuple<std::string, std::string, py::object>>& attrs) {
        return g.add_call(op, inputs, to_attrs(attrs));
      })
      .def("add_output", &Graph::add_output)
      .def("type_of", [](const Graph& g, Value v) { return type_tuple(g.type_of(v)); })
      .def("params", [](const Graph& g) {
        py::dict params;
        for (const auto& [name, value] : g.params()) params[py::str(name)] = read_only_view(value);
        return params;
      })
      .def("set_param", [](Graph& g, const std::string& name, const py::array& value) { g.set_param(name, to_ndarray(value)); })
      .def("holds_param", [](const Graph& g, const std::string& name, const py::array& value) {
        auto params = g.params();
        auto it = params.find(name);
        return it != params.end() && it->second.data() == value.data() &&
               static_cast<int64_t>(value.nbytes()) == it->second.byte_size();
      }, py::arg("name"), py::arg("value"), "Whether `value` is the param's own storage (a view from params()).")
      .def_property_readonly("num_calls", &Graph::num_calls)
      .def_property_readonly("num_nodes", [](const Graph& g) { return g.nodes().size(); })
      .def("input_names", [](const Graph& g) {
        std::vector<std::string> names;
        for (int id : g.input_nodes()) names.push_back(g.node(id).name);
        return names;
      })
      .def("ops", [](const Graph& g) {
        std::vector<std::string> ops;
        for (const Node& n : g.nodes()) if (n.kind == NodeKind::kCall) ops.push_back(n.op);
        return ops;
      })
      .def("__str__", &Graph::to_string);

  relay.def("registered_ops", &registered_ops);
  relay.def("run_pass", [](const std::string& name, const Graph& g) {
    if (name == "optimize") return optimize(g);
    if (name == "infer_types") return infer_types(g);
    for (const GraphPass& pass : default_pipeline()) {
      if (pass.name == name) return pass.run(g);
    }
    throw CompileError("unknown graph pass '" + name + "'");
  }, "Runs one graph pass by name (see default_pipeline) or the whole 'optimize' pipeline.");
  relay.def("pipeline", [] {
    std::vector<std::string> names;
    for (const GraphPass& pass : default_pipeline()) names.push_back(pass.name);
    return names;
  });
  relay.def("fuse_ops", [](const Graph& g) {
    FusionPlan plan = fuse_ops(g);
    std::vector<std::vector<int>> groups;
    for (const FusedGroup& group : plan.groups) groups.push_back(group.nodes);
    return py::make_tuple(plan.to_string(g), groups);
  }, "Fusion groups: (text, list of node-id lists).");
  relay.def("evaluate", [](const Graph& g, const std::map<std::string, py::array>& inputs) {
    std::map<std::string, NDArray> arrays;
    for (const auto& [name, value] : inputs) arrays[name] = to_ndarray(value);
    std::vector<py::array> outputs;
    for (const NDArray& out : evaluate_graph(g, arrays)) outputs.push_back(to_numpy(out));
    return outputs;
  }, "Runs the graph op by op (unfused) through the JIT; a reference for graph rewrites.");

  py::class_<CompiledModule>(relay, "CompiledModule")
      .def("export_library", [](const CompiledModule& c, const std::string& path) {
        py::gil_scoped_release release;
        c.export_library(path);
      })
      .def("summary", &CompiledModule::summary)
      .def_property_readonly("num_kernel_calls", [](const CompiledModule& c) { return c.plan.nodes.size(); })
      .def_property_readonly("num_kernels", [](const CompiledModule& c) { return c.plan.kernels.size(); })
      .def_property_readonly("num_tuned", &CompiledModule::num_tuned)
      .def_property_readonly("num_tuned_to_default", &CompiledModule::num_tuned_to_default)
      .def_property_readonly("target", [](const CompiledModule& c) { return c.target; })
      .def_property_readonly("graph", [](const CompiledModule& c) { return c.graph; })
      .def_property_readonly("fusion", [](const CompiledModule& c) { return c.fusion.to_string(c.graph); })
      .def_property_readonly("kernel_calls", [](const CompiledModule& c) {
        std::vector<std::string> kernels;
        for (const auto& node : c.plan.nodes) kernels.push_back(node.kernel);
        return kernels;
      });
  relay.def("compile", [](const Graph& g, const codegen::Target& target, const std::string& name, bool print_summary) {
    CompileOptions options;
    options.target = target;
    options.name = name;
    options.print_summary = print_summary;
    py::gil_scoped_release release;
    return compile(g, options);
  }, py::arg("graph"), py::arg("target"), py::arg("name") = "tessel_module", py::arg("print_summary") = true);
}
