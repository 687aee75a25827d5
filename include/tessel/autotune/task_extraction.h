// Task extraction: the distinct workloads of a graph, exactly as the graph compiler will build
// them, because both take them from relay::partition_workloads (same optimisation pipeline for
// the target, same fusion, same TE DAGs and argument order), each weighted by its kernel calls.
// For a CUDA target the tasks are CUDA tasks.
#pragma once

#include <vector>

#include "tessel/autotune/search_task.h"
#include "tessel/relay_like/graph.h"

namespace tessel::autotune {

std::vector<SearchTask> extract_tasks(const relay::Graph& graph, const codegen::Target& target, bool optimize = true);

}  // namespace tessel::autotune
