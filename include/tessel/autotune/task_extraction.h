// Task extraction: the distinct workloads of a graph, exactly as the graph compiler will see
// them (same optimisation pipeline, same fusion, same TE DAGs and argument order), each weighted
// by how many fused groups use it. For a CUDA target the pipeline is the GPU one (no CPU layout
// alteration, relay::optimize_for_gpu) and the tasks are CUDA tasks.
#pragma once

#include <string>
#include <vector>

#include "tessel/autotune/search_task.h"
#include "tessel/relay_like/graph.h"

namespace tessel::autotune {

std::vector<SearchTask> extract_tasks(const relay::Graph& graph, const codegen::Target& target, bool optimize = true);
// `target`: "cuda [-arch=sm_XX]" or an LLVM target string.
std::vector<SearchTask> extract_tasks(const relay::Graph& graph, const std::string& target, bool optimize = true);

}  // namespace tessel::autotune
