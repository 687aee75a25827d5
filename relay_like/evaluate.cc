// Host evaluation of single graph calls through the JIT (constant folding, reference runs).
#include "tessel/relay_like/evaluate.h"

#include "tessel/codegen/llvm.h"
#include "tessel/ir/error.h"
#include "tessel/relay_like/op.h"
#include "tessel/te/ops/common.h"

namespace tessel::relay {

std::vector<NDArray> evaluate_call(const Node& node, const std::vector<NDArray>& inputs) {
  internal_check(inputs.size() == node.inputs.size()) << node.op << ": " << inputs.size() << " arrays for "
                                                       << node.inputs.size() << " inputs";
  std::vector<te::Tensor> placeholders;
  for (size_t i = 0; i < inputs.size(); ++i) {
    placeholders.push_back(placeholder_of(TensorType{inputs[i].shape(), inputs[i].dtype()}, "in" + std::to_string(i)));
  }
  std::vector<te::Tensor> outputs = lower_call(node, placeholders);
  te::Schedule schedule = te::ops::default_schedule(outputs);
  std::vector<te::Tensor> args = placeholders;
  args.insert(args.end(), outputs.begin(), outputs.end());
  PrimFunc func = te::lower_schedule(schedule, args, "evaluate_" + node.op);
  codegen::JitModule module = codegen::JitModule::compile({func});
  std::vector<NDArray> results;
  std::vector<void*> pointers;
  for (const NDArray& input : inputs) pointers.push_back(const_cast<void*>(input.data()));
  for (const te::Tensor& out : outputs) {
    std::vector<int64_t> shape;
    for (const Expr& e : out.shape()) shape.push_back(*as_const_int(e));
    results.emplace_back(shape, out.dtype());
    pointers.push_back(results.back().data());
  }
  module.get_function("evaluate_" + node.op).call(pointers);
  return results;
}

std::vector<NDArray> evaluate_graph(const Graph& graph, const std::map<std::string, NDArray>& inputs) {
  std::vector<std::vector<NDArray>> values(graph.nodes().size());
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = graph.nodes()[i];
    if (node.kind == NodeKind::kInput) {
      auto it = inputs.find(node.name);
      user_check(it != inputs.end()) << "no value given for graph input '" << node.name << "'";
      user_check((TensorType{it->second.shape(), it->second.dtype()} == node.types[0]))
          << "input '" << node.name << "' must be " << node.types[0].to_string();
      values[i] = {it->second};
    } else if (node.kind == NodeKind::kConstant) {
      values[i] = {node.value};
    } else {
      std::vector<NDArray> args;
      for (const Value& v : node.inputs) args.push_back(values[static_cast<size_t>(v.node)][static_cast<size_t>(v.index)]);
      values[i] = evaluate_call(node, args);
    }
  }
  std::vector<NDArray> outputs;
  for (const Value& v : graph.outputs()) outputs.push_back(values[static_cast<size_t>(v.node)][static_cast<size_t>(v.index)]);
  return outputs;
}

}  // namespace tessel::relay
