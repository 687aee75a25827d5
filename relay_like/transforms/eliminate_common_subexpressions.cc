// Common-subexpression elimination: a call with the same op, attributes and (already merged)
// inputs as an earlier one is replaced by it; anonymous constants with equal dtype, shape and
// bytes are merged. Named parameters stay distinct (they are the user's weights).
// Leaves the duplicates unused: run eliminate_dead_code after it.
#include <cstring>
#include <functional>
#include <unordered_map>

#include "tessel/relay_like/transforms.h"

namespace tessel::relay {

static size_t hash_bytes(const NDArray& array) {
  std::string_view bytes(static_cast<const char*>(array.data()), static_cast<size_t>(array.byte_size()));
  return std::hash<std::string_view>()(bytes);
}

Graph eliminate_common_subexpressions(const Graph& graph) {
  GraphRewriter rewriter(graph);
  std::unordered_map<std::string, std::vector<Value>> calls;
  std::unordered_multimap<size_t, Value> constants;  // by content hash, in the new graph
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = graph.nodes()[i];
    int id = static_cast<int>(i);
    if (node.kind == NodeKind::kConstant && node.name.empty()) {
      size_t hash = hash_bytes(node.value);
      bool merged = false;
      for (auto [it, end] = constants.equal_range(hash); it != end; ++it) {
        const Node& existing = rewriter.graph.node(it->second.node);
        if (existing.value.content_equal(node.value)) {
          rewriter.set(id, {it->second});
          merged = true;
          break;
        }
      }
      if (!merged) {
        rewriter.copy_node(id);
        constants.emplace(hash, rewriter.map(Value{id, 0}));
      }
      continue;
    }
    if (node.kind != NodeKind::kCall) {
      rewriter.copy_node(id);
      continue;
    }
    std::string key = node.op + "(" + node.attrs.to_string() + ")";
    for (const Value& input : node.inputs) {
      Value mapped = rewriter.map(input);
      key += " " + std::to_string(mapped.node) + "." + std::to_string(mapped.index);
    }
    auto it = calls.find(key);
    if (it != calls.end()) {
      rewriter.set(id, it->second);
    } else {
      rewriter.copy_node(id);
      std::vector<Value> values;
      for (size_t k = 0; k < node.types.size(); ++k) values.push_back(rewriter.map(Value{id, static_cast<int>(k)}));
      calls.emplace(key, values);
    }
  }
  return rewriter.finish();
}

}  // namespace tessel::relay
