// Operator fusion (see transforms.h for the rules). One forward walk: each call either joins the
// group of a producer (the producer being that group's root, with this call as its only
// consumer) or starts a group. Because a group is only ever entered through its root's single
// consumer, every group has one output and no path leaves a group and comes back into it, so the
// groups ordered by root form a valid execution order.
#include <algorithm>
#include <set>
#include <sstream>

#include "tessel/relay_like/transforms.h"

namespace tessel::relay {

namespace {

bool is_anchor(OpPattern p) { return p == OpPattern::kOutEWiseFusable || p == OpPattern::kCommReduce; }
bool is_elementwise(OpPattern p) { return p == OpPattern::kElemWise || p == OpPattern::kBroadcast; }

// Whether call `op_pattern` may join a group of kind `group_pattern` as its new root.
bool may_join(OpPattern group_pattern, OpPattern op_pattern) {
  if (is_anchor(group_pattern)) return is_elementwise(op_pattern);  // the anchor's epilogue
  if (group_pattern > OpPattern::kInjective) return false;         // opaque
  if (op_pattern <= OpPattern::kInjective) return true;             // injective chains
  // A reduction takes its elementwise producers.
  return op_pattern == OpPattern::kCommReduce && is_elementwise(group_pattern);
}

}  // namespace

FusionPlan fuse_ops(const Graph& graph) {
  const auto& nodes = graph.nodes();
  // Distinct consumers per node; graph outputs count as a consumer of their own.
  std::vector<std::set<int>> consumers(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const Value& input : nodes[i].inputs) consumers[static_cast<size_t>(input.node)].insert(static_cast<int>(i));
  }
  for (const Value& output : graph.outputs()) consumers[static_cast<size_t>(output.node)].insert(-1);

  // Groups under construction, by index; merged groups are emptied.
  std::vector<FusedGroup> groups;
  std::vector<int> group_of(nodes.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& node = nodes[i];
    if (node.kind != NodeKind::kCall) continue;
    int id = static_cast<int>(i);
    OpPattern pattern = get_op(node.op).pattern;
    std::vector<int> joined;  // producer groups this call merges with
    bool single_output = node.types.size() == 1;
    if (single_output && pattern != OpPattern::kOpaque) {
      std::set<int> seen;
      for (const Value& input : node.inputs) {
        int producer = input.node;
        int g = group_of[static_cast<size_t>(producer)];
        if (g < 0 || !seen.insert(g).second) continue;
        const FusedGroup& group = groups[static_cast<size_t>(g)];
        bool sole_consumer = consumers[static_cast<size_t>(producer)] == std::set<int>{id};
        if (group.root != producer || nodes[static_cast<size_t>(producer)].types.size() != 1 || !sole_consumer) continue;
        if (!may_join(group.pattern, pattern)) continue;
        // An epilogue runs inside the anchor's loop nest: it must not broadcast to a larger shape.
        if (is_anchor(group.pattern) && node.types[0].shape != nodes[static_cast<size_t>(producer)].types[0].shape) continue;
        joined.push_back(g);
      }
      // At most one anchor per group, and an anchor's epilogue joins no other producer group
      // (its schedule places the epilogue, not other producers): keep the anchored group alone.
      auto anchored = std::find_if(joined.begin(), joined.end(),
                                   [&](int g) { return is_anchor(groups[static_cast<size_t>(g)].pattern); });
      if (anchored != joined.end()) joined = {*anchored};
    }
    FusedGroup merged;
    merged.pattern = pattern;
    for (int g : joined) {
      FusedGroup& group = groups[static_cast<size_t>(g)];
      merged.nodes.insert(merged.nodes.end(), group.nodes.begin(), group.nodes.end());
      if (is_anchor(group.pattern) || group.pattern > merged.pattern) merged.pattern = group.pattern;
      group.nodes.clear();
      group.root = -1;
    }
    if (is_anchor(pattern)) merged.pattern = pattern;
    merged.nodes.push_back(id);
    std::sort(merged.nodes.begin(), merged.nodes.end());
    merged.root = id;
    int index = static_cast<int>(groups.size());
    for (int n : merged.nodes) group_of[static_cast<size_t>(n)] = index;
    groups.push_back(std::move(merged));
  }

  FusionPlan plan;
  plan.group_of.assign(nodes.size(), -1);
  for (FusedGroup& group : groups) {
    if (group.nodes.empty()) continue;
    int index = static_cast<int>(plan.groups.size());
    for (int n : group.nodes) plan.group_of[static_cast<size_t>(n)] = index;
    plan.groups.push_back(std::move(group));
  }
  // Groups were created in increasing root order already.
  return plan;
}

std::string group_name(const Graph& graph, const FusedGroup& group) {
  std::string name = "fused";
  int listed = 0;
  for (int n : group.nodes) {
    if (++listed > 6) {
      name += "_etc";
      break;
    }
    name += "_" + graph.node(n).op;
  }
  return name;
}

std::string FusionPlan::to_string(const Graph& graph) const {
  std::ostringstream os;
  for (const FusedGroup& group : groups) {
    os << group_name(graph, group) << ":";
    for (int n : group.nodes) os << " %" << n;
    os << " (" << pattern_name(group.pattern) << ")\n";
  }
  return os.str();
}

}  // namespace tessel::relay
