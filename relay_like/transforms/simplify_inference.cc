// Inference simplification. dropout and identity are replaced by their input. A batch_norm on the
// channel axis of a conv2d (NCHW) or dense whose weight and bias are constants, and which has no
// other user, is folded into them: with s = gamma / sqrt(var + epsilon),
//   W'[o, ...] = W[o, ...] * s[o],   b'[o] = (b[o] - mean[o]) * s[o] + beta[o]   (b = 0 if absent).
// Leaves the unfolded conv/dense unused: run eliminate_dead_code after it.
#include <cmath>

#include "tessel/relay_like/transforms.h"

namespace tessel::relay {

namespace {

template <typename T>
void fold_into(const NDArray& weight, const NDArray* bias, const std::vector<NDArray>& bn, double epsilon,
               NDArray& new_weight, NDArray& new_bias) {
  int64_t channels = weight.shape()[0];
  int64_t per_channel = weight.num_elements() / channels;
  const T* gamma = bn[0].as<T>();
  const T* beta = bn[1].as<T>();
  const T* mean = bn[2].as<T>();
  const T* var = bn[3].as<T>();
  for (int64_t c = 0; c < channels; ++c) {
    double scale = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + epsilon);
    for (int64_t k = 0; k < per_channel; ++k) {
      new_weight.as<T>()[c * per_channel + k] = static_cast<T>(weight.as<T>()[c * per_channel + k] * scale);
    }
    double b = bias != nullptr ? static_cast<double>(bias->as<T>()[c]) : 0.0;
    new_bias.as<T>()[c] = static_cast<T>((b - static_cast<double>(mean[c])) * scale + static_cast<double>(beta[c]));
  }
}

// The constant behind a value of the new graph, or nullptr.
const NDArray* constant_of(const Graph& graph, Value value) {
  const Node& node = graph.node(value.node);
  return node.kind == NodeKind::kConstant ? &node.value : nullptr;
}

// Tries to fold the batch_norm `bn` (old graph) into its producer; returns the new values or {}.
std::vector<Value> try_fold_batch_norm(GraphRewriter& rewriter, const Node& bn, const std::vector<int>& uses) {
  const Graph& old = rewriter.old();
  const Node& producer = old.node(bn.inputs[0].node);
  if (producer.kind != NodeKind::kCall || uses[static_cast<size_t>(bn.inputs[0].node)] != 1) return {};
  DataType dtype = bn.types[0].dtype;
  if (dtype != DataType::Float(32) && dtype != DataType::Float(64)) return {};
  int64_t axis = bn.attrs.get_int("axis", 1);
  bool conv = producer.op == "conv2d" && producer.attrs.get_string("data_layout", "NCHW") == "NCHW" && axis == 1;
  bool dense = producer.op == "dense" && (axis == 1 || axis == -1);
  if (!conv && !dense) return {};
  const Graph& graph = rewriter.graph;
  const NDArray* weight = constant_of(graph, rewriter.map(producer.inputs[1]));
  const NDArray* bias = producer.inputs.size() == 3 ? constant_of(graph, rewriter.map(producer.inputs[2])) : nullptr;
  if (weight == nullptr || (producer.inputs.size() == 3 && bias == nullptr)) return {};
  std::vector<NDArray> bn_params;
  for (size_t k = 1; k < 5; ++k) {
    const NDArray* p = constant_of(graph, rewriter.map(bn.inputs[k]));
    if (p == nullptr || p->dtype() != dtype || p->num_elements() != weight->shape()[0]) return {};
    bn_params.push_back(*p);
  }
  NDArray new_weight(weight->shape(), dtype);
  NDArray new_bias({weight->shape()[0]}, dtype);
  double epsilon = bn.attrs.get_double("epsilon", 1e-5);
  if (dtype == DataType::Float(32)) fold_into<float>(*weight, bias, bn_params, epsilon, new_weight, new_bias);
  else fold_into<double>(*weight, bias, bn_params, epsilon, new_weight, new_bias);
  Value w = rewriter.graph.add_constant(std::move(new_weight));
  Value b = rewriter.graph.add_constant(std::move(new_bias));
  return rewriter.graph.add_call(producer.op, {rewriter.map(producer.inputs[0]), w, b}, producer.attrs);
}

}  // namespace

Graph simplify_inference(const Graph& graph) {
  GraphRewriter rewriter(graph);
  std::vector<int> uses = graph.use_counts();
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = graph.nodes()[i];
    int id = static_cast<int>(i);
    if (node.kind == NodeKind::kCall && (node.op == "dropout" || node.op == "identity")) {
      rewriter.set(id, {rewriter.map(node.inputs[0])});
      continue;
    }
    if (node.kind == NodeKind::kCall && node.op == "batch_norm") {
      std::vector<Value> folded = try_fold_batch_norm(rewriter, node, uses);
      if (!folded.empty()) {
        rewriter.set(id, std::move(folded));
        continue;
      }
    }
    rewriter.copy_node(id);
  }
  return rewriter.finish();
}

}  // namespace tessel::relay
