// Layer-norm recognition: the op chain that exporters emit for a layer normalisation over the
// trailing axes (PyTorch 1.13's torch.onnx: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div,
// Mul, Add), which the importer brings in as
//   m = mean(x, axes, keepdims)      d = subtract(x, m)       v = mean(multiply(d, d), axes, keepdims)
//   y = divide(d, sqrt(add(v, eps)))  [y = multiply(y, gamma)]  [y = add(y, beta)]
// becomes one call layer_norm(x, [gamma, [beta]], axes, epsilon): one kernel instead of four.
// Requires: axes are trailing axes of x with keepdims; eps is a one-element constant; gamma and
// beta are constants of x's normalised shape; every intermediate value is used only inside the
// chain (otherwise the chain stays as it is). Leaves the replaced calls unused: run
// eliminate_dead_code after it. Multiply and add may take their operands in either order.
#include <algorithm>
#include <map>
#include <optional>

#include "tessel/relay_like/transforms.h"

namespace tessel::relay {

namespace {

struct Users {
  explicit Users(const Graph& graph) : of(graph.nodes().size()) {
    for (size_t i = 0; i < graph.nodes().size(); ++i) {
      for (const Value& v : graph.nodes()[i].inputs) of[static_cast<size_t>(v.node)].push_back(static_cast<int>(i));
    }
    for (const Value& v : graph.outputs()) of[static_cast<size_t>(v.node)].push_back(-1);  // a graph output
  }
  std::vector<std::vector<int>> of;  // node id -> the nodes using it (-1: a graph output), with repeats
};

const Node* call(const Graph& g, Value v, const char* op) {
  const Node& node = g.node(v.node);
  return node.kind == NodeKind::kCall && node.op == op && v.index == 0 ? &node : nullptr;
}

const NDArray* constant(const Graph& g, Value v) {
  const Node& node = g.node(v.node);
  return node.kind == NodeKind::kConstant ? &node.value : nullptr;
}

// The value of a one-element float constant.
bool scalar_of(const NDArray& a, double* out) {
  if (a.num_elements() != 1) return false;
  if (a.dtype() == DataType::Float(32)) *out = a.as<float>()[0];
  else if (a.dtype() == DataType::Float(64)) *out = a.as<double>()[0];
  else return false;
  return true;
}

// The operand of a commutative call `node` that is not `known`, or nothing.
std::optional<Value> other_operand(const Node& node, Value known) {
  if (node.inputs.size() != 2) return std::nullopt;
  if (node.inputs[0] == known) return node.inputs[1];
  if (node.inputs[1] == known) return node.inputs[0];
  return std::nullopt;
}

struct Match {
  Value x;
  std::vector<Value> affine;  // gamma, then beta (each optional, in that order)
  std::vector<int64_t> axes;
  double epsilon = 0;
  std::vector<int> nodes;     // every call of the chain
};

// The chain whose divide is `div` (a node id), extended by the affine multiply and add.
std::optional<Match> match_at(const Graph& g, const Users& users, int div) {
  const Node& divide = g.node(div);
  if (divide.kind != NodeKind::kCall || divide.op != "divide" || divide.inputs.size() != 2) return std::nullopt;
  const Node* d = call(g, divide.inputs[0], "subtract");
  const Node* s = call(g, divide.inputs[1], "sqrt");
  if (d == nullptr || s == nullptr) return std::nullopt;
  const Node* m = call(g, d->inputs[1], "mean");
  const Node* e = call(g, s->inputs[0], "add");
  if (m == nullptr || e == nullptr || m->inputs[0] != d->inputs[0]) return std::nullopt;
  Match match;
  match.x = d->inputs[0];
  const TensorType& x_type = g.type_of(match.x);
  if (!x_type.dtype.is_float()) return std::nullopt;
  // eps + variance, variance = mean(d * d) over the same axes.
  const Node* v = nullptr;
  for (int k = 0; k < 2 && v == nullptr; ++k) {
    const NDArray* eps = constant(g, e->inputs[static_cast<size_t>(1 - k)]);
    const Node* candidate = call(g, e->inputs[static_cast<size_t>(k)], "mean");
    if (eps != nullptr && candidate != nullptr && scalar_of(*eps, &match.epsilon)) v = candidate;
  }
  if (v == nullptr) return std::nullopt;
  const Node* square = call(g, v->inputs[0], "multiply");
  if (square == nullptr || square->inputs[0] != divide.inputs[0] || square->inputs[1] != divide.inputs[0]) {
    return std::nullopt;
  }
  const int64_t rank = static_cast<int64_t>(x_type.shape.size());
  for (const Node* reduce : {m, v}) {
    if (!reduce->attrs.get_bool("keepdims", true)) return std::nullopt;
  }
  std::vector<int64_t> axes = m->attrs.get_ints("axes", {});
  if (axes.empty() || axes != v->attrs.get_ints("axes", {})) return std::nullopt;
  for (int64_t& a : axes) a = a < 0 ? a + rank : a;
  std::sort(axes.begin(), axes.end());
  for (size_t k = 0; k < axes.size(); ++k) {
    if (axes[k] != rank - static_cast<int64_t>(axes.size()) + static_cast<int64_t>(k)) return std::nullopt;
  }
  match.axes = axes;
  std::vector<int64_t> normalised(x_type.shape.end() - static_cast<std::ptrdiff_t>(axes.size()), x_type.shape.end());
  auto node_id = [](Value value) { return value.node; };
  match.nodes = {node_id(d->inputs[1]), node_id(divide.inputs[0]), node_id(v->inputs[0]), node_id(e->inputs[0]),
                 node_id(e->inputs[1]), node_id(s->inputs[0]), node_id(divide.inputs[1]), div};
  // Optional gamma, then beta: a multiply and an add by a constant of the normalised shape (an
  // add without a multiply before it is left outside: layer_norm takes beta only after gamma).
  int end = div;
  for (const char* op : {"multiply", "add"}) {
    const std::vector<int>& next = users.of[static_cast<size_t>(end)];
    if (next.size() != 1 || next[0] < 0) break;
    const Node& user = g.node(next[0]);
    if (user.kind != NodeKind::kCall || user.op != op) break;
    std::optional<Value> param = other_operand(user, Value{end, 0});
    const NDArray* value = param ? constant(g, *param) : nullptr;
    if (value == nullptr || value->shape() != normalised || value->dtype() != x_type.dtype) break;
    match.affine.push_back(*param);
    end = next[0];
    match.nodes.push_back(end);
  }
  // Only a chain whose inner values nothing else reads can go.
  std::vector<int> inner(match.nodes.begin(), match.nodes.end() - 1);
  for (int n : inner) {
    const Node& node = g.node(n);
    if (node.kind != NodeKind::kCall) continue;  // the eps constant may be shared
    for (int user : users.of[static_cast<size_t>(n)]) {
      if (user < 0 || std::find(match.nodes.begin(), match.nodes.end(), user) == match.nodes.end()) return std::nullopt;
    }
  }
  return match;
}

}  // namespace

Graph recognize_layer_norm(const Graph& graph) {
  Users users(graph);
  std::map<int, Match> matches;  // by the chain's last node
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    if (auto m = match_at(graph, users, static_cast<int>(i))) matches.emplace(m->nodes.back(), std::move(*m));
  }
  if (matches.empty()) return graph;
  GraphRewriter rewriter(graph);
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    auto found = matches.find(static_cast<int>(i));
    if (found == matches.end()) {
      rewriter.copy_node(static_cast<int>(i));
      continue;
    }
    const Match& m = found->second;
    std::vector<Value> inputs{rewriter.map(m.x)};
    for (const Value& p : m.affine) inputs.push_back(rewriter.map(p));
    Attrs attrs;
    attrs.set("axes", m.axes);
    attrs.set("epsilon", m.epsilon);
    rewriter.set(static_cast<int>(i), rewriter.graph.add_call("layer_norm", std::move(inputs), std::move(attrs)));
  }
  return rewriter.finish();
}

}  // namespace tessel::relay
