// Constant folding: a call whose inputs are all constants is evaluated on the host (lowered to TE
// with its default schedule and JIT-compiled, see evaluate.h) and replaced by an anonymous
// constant. Walking forward folds whole constant subgraphs (e.g. reshape or layout_transform of a
// weight). Leaves the folded inputs unused: run eliminate_dead_code after it.
#include "tessel/relay_like/evaluate.h"
#include "tessel/relay_like/transforms.h"

namespace tessel::relay {

Graph fold_constants(const Graph& graph) {
  GraphRewriter rewriter(graph);
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = graph.nodes()[i];
    int id = static_cast<int>(i);
    bool all_constant = node.kind == NodeKind::kCall && !node.inputs.empty();
    std::vector<NDArray> arguments;
    for (const Value& input : node.inputs) {
      if (!all_constant) break;
      const Node& mapped = rewriter.graph.node(rewriter.map(input).node);
      all_constant = mapped.kind == NodeKind::kConstant;
      if (all_constant) arguments.push_back(mapped.value);
    }
    if (!all_constant) {
      rewriter.copy_node(id);
      continue;
    }
    std::vector<Value> values;
    for (NDArray& result : evaluate_call(node, arguments)) values.push_back(rewriter.graph.add_constant(std::move(result)));
    rewriter.set(id, std::move(values));
  }
  return rewriter.finish();
}

}  // namespace tessel::relay
