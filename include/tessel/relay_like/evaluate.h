// Host evaluation of graph calls: a call is lowered to TE, given its default schedule, JIT-compiled
// and run on host arrays. Constant folding uses it; tests use evaluate_graph as a node-by-node
// reference for graph rewrites (each op runs alone, unfused).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tessel/relay_like/graph.h"

namespace tessel::relay {

// Runs one call node on host arrays (one per input, matching the node's input types).
std::vector<NDArray> evaluate_call(const Node& node, const std::vector<NDArray>& inputs);

// Runs the whole graph op by op; inputs by name. Returns the outputs in order.
std::vector<NDArray> evaluate_graph(const Graph& graph, const std::map<std::string, NDArray>& inputs);

}  // namespace tessel::relay
