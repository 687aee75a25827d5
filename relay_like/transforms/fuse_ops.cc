// Operator fusion (see transforms.h for the rules). One forward walk: each call either joins the
// group of a producer (the producer being that group's root, with this call as its only
// consumer) or starts a group; then the dominator step (fuse_diamonds) merges diamonds that
// rejoin at the post-dominator of a multi-consumer root. Because a group is only ever entered through its root's single
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

// Immediate post-dominator of every node; nodes.size() is the sink that graph outputs flow into.
// Nodes are topologically ordered, so a post-dominator always has a larger id than the node.
std::vector<int> post_dominators(const Graph& graph, const std::vector<std::set<int>>& consumers) {
  int sink = static_cast<int>(graph.nodes().size());
  std::vector<int> parent(graph.nodes().size() + 1, sink);
  auto meet = [&](int a, int b) {
    while (a != b) {
      if (a < b) a = parent[static_cast<size_t>(a)];
      else b = parent[static_cast<size_t>(b)];
    }
    return a;
  };
  for (int v = sink - 1; v >= 0; --v) {
    int p = -1;
    for (int c : consumers[static_cast<size_t>(v)]) {
      int target = c < 0 ? sink : c;
      p = p < 0 ? target : meet(p, target);
    }
    parent[static_cast<size_t>(v)] = p < 0 ? sink : p;
  }
  return parent;
}

// The dominator step: a group whose root has several consumers takes every node between that root
// and its immediate post-dominator p (p included, with p's group) when all of them may fuse with
// it: elementwise/broadcast of the anchor's shape after an anchor, injective-or-simpler after an
// injective group. Every path from the root reaches p, so the merged group still has one output
// (p's group's) and nothing leaves and re-enters it. Example: y = conv(x); relu(y) * sigmoid(y).
void fuse_diamonds(const Graph& graph, const std::vector<std::set<int>>& consumers, std::vector<FusedGroup>& groups,
                   std::vector<int>& group_of) {
  const auto& nodes = graph.nodes();
  int sink = static_cast<int>(nodes.size());
  std::vector<int> pdom = post_dominators(graph, consumers);
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    FusedGroup& group = groups[gi];
    if (group.nodes.empty()) continue;
    int r = group.root;
    const Node& root = nodes[static_cast<size_t>(r)];
    if (root.types.size() != 1 || consumers[static_cast<size_t>(r)].size() < 2) continue;
    if (group.pattern > OpPattern::kInjective && !is_anchor(group.pattern)) continue;
    int p = pdom[static_cast<size_t>(r)];
    if (p == sink) continue;
    // S: nodes after r, up to p, reachable from r.
    std::set<int> between;
    std::vector<int> stack{r};
    while (!stack.empty()) {
      int v = stack.back();
      stack.pop_back();
      for (int c : consumers[static_cast<size_t>(v)]) {
        if (c >= 0 && c <= p && between.insert(c).second) stack.push_back(c);
      }
    }
    // The groups touching S: each must lie inside S, except p's, which may continue after p.
    int p_group = group_of[static_cast<size_t>(p)];
    std::set<int> touched;
    bool ok = p_group >= 0;
    for (int v : between) {
      int g = group_of[static_cast<size_t>(v)];
      if (g < 0 || g == static_cast<int>(gi)) ok = false;
      else touched.insert(g);
    }
    for (int g : touched) {
      if (!ok) break;
      for (int v : groups[static_cast<size_t>(g)].nodes) {
        const Node& node = nodes[static_cast<size_t>(v)];
        if ((v <= p && !between.count(v)) || node.types.size() != 1) {
          ok = false;
          break;
        }
        OpPattern pattern = get_op(node.op).pattern;
        if (is_anchor(group.pattern)) {
          ok = is_elementwise(pattern) && node.types[0].shape == root.types[0].shape;
        } else {
          ok = pattern <= OpPattern::kInjective;
        }
        if (!ok) break;
      }
    }
    if (!ok) continue;
    FusedGroup& target = groups[static_cast<size_t>(p_group)];
    for (int g : touched) {
      if (g == p_group) continue;
      FusedGroup& other = groups[static_cast<size_t>(g)];
      target.nodes.insert(target.nodes.end(), other.nodes.begin(), other.nodes.end());
      other.nodes.clear();
      other.root = -1;
    }
    target.nodes.insert(target.nodes.end(), group.nodes.begin(), group.nodes.end());
    if (is_anchor(group.pattern) || group.pattern > target.pattern) target.pattern = group.pattern;
    group.nodes.clear();
    group.root = -1;
    std::sort(target.nodes.begin(), target.nodes.end());
    for (int v : target.nodes) group_of[static_cast<size_t>(v)] = p_group;
  }
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

  fuse_diamonds(graph, consumers, groups, group_of);

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
