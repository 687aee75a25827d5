// Task extraction: the distinct workloads of a graph, exactly as the graph compiler will see
// them (same optimisation pipeline, same fusion, same TE DAGs and argument order), each weighted
// by how many fused groups use it.
#pragma once

#include <vector>

#include "tessel/autotune/search_task.h"
#include "tessel/relay_like/graph.h"

namespace tessel::autotune {

std::vector<SearchTask> extract_tasks(const relay::Graph& graph, const codegen::Target& target, bool optimize = true);

}  // namespace tessel::autotune
