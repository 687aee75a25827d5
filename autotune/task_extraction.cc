// Task extraction from a graph: one search task per workload of the graph's partition
// (relay::partition_workloads), weighted by how many kernel calls run it.
#include "tessel/autotune/task_extraction.h"

#include "tessel/relay_like/partition.h"

namespace tessel::autotune {

std::vector<SearchTask> extract_tasks(const relay::Graph& graph, const codegen::Target& target, bool optimize) {
  relay::WorkloadPartition partition = relay::partition_workloads(graph, target, optimize);
  std::vector<SearchTask> tasks;
  for (const relay::Workload& workload : partition.workloads) {
    tasks.emplace_back(workload.outputs, workload.args, target, workload.name, static_cast<double>(workload.uses));
  }
  return tasks;
}

}  // namespace tessel::autotune
