// Task extraction from a graph: optimise and fuse like relay::compile, lower each fused group to
// its TE DAG (inputs from outside the group become placeholders in the DAG's own order) and merge
// equal workload keys, counting their uses as weights.
#include "tessel/autotune/task_extraction.h"

#include <map>

#include "tessel/ir/error.h"
#include "tessel/relay_like/compile.h"
#include "tessel/relay_like/op.h"
#include "tessel/relay_like/transforms.h"
#include "tessel/te/workload_key.h"

namespace tessel::autotune {

std::vector<SearchTask> extract_tasks(const relay::Graph& input_graph, const codegen::Target& target, bool optimize) {
  relay::Graph graph = optimize ? relay::optimize(input_graph) : input_graph;
  relay::FusionPlan fusion = relay::fuse_ops(graph);
  std::vector<SearchTask> tasks;
  std::map<std::string, size_t> index_of_key;
  for (const relay::FusedGroup& group : fusion.groups) {
    relay::GroupDag dag = relay::build_group_dag(graph, group, fusion);
    const std::vector<te::Tensor>& outputs = dag.outputs;
    const std::vector<te::Tensor>& args = dag.args;
    std::string key = te::workload_key(outputs);
    auto found = index_of_key.find(key);
    if (found != index_of_key.end()) {
      tasks[found->second].set_weight(tasks[found->second].weight() + 1);
      continue;
    }
    index_of_key[key] = tasks.size();
    tasks.emplace_back(outputs, args, target, relay::group_name(graph, group), 1.0);
  }
  return tasks;
}

}  // namespace tessel::autotune
