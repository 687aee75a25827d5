// Dead-code elimination: keeps the graph inputs and the nodes some output depends on.
// Guarantees: no call or constant is unused; node order is preserved.
#include "tessel/relay_like/transforms.h"

namespace tessel::relay {

Graph eliminate_dead_code(const Graph& graph) {
  const auto& nodes = graph.nodes();
  std::vector<bool> live(nodes.size(), false);
  for (const Value& output : graph.outputs()) live[static_cast<size_t>(output.node)] = true;
  for (size_t i = nodes.size(); i-- > 0;) {
    if (nodes[i].kind == NodeKind::kInput) live[i] = true;
    if (!live[i]) continue;
    for (const Value& input : nodes[i].inputs) live[static_cast<size_t>(input.node)] = true;
  }
  GraphRewriter rewriter(graph);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (live[i]) rewriter.copy_node(static_cast<int>(i));
  }
  return rewriter.finish();
}

}  // namespace tessel::relay
