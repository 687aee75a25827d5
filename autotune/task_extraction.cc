// Task extraction from a graph: optimise and fuse like relay::compile, lower each fused group to
// its TE DAG (inputs from outside the group become placeholders in the DAG's own order) and merge
// equal workload keys, counting their uses as weights. CUDA targets take compile()'s GPU pipeline.
#include "tessel/autotune/task_extraction.h"

#include <map>

#include "tessel/ir/error.h"
#include "tessel/relay_like/compile.h"
#include "tessel/relay_like/op.h"
#include "tessel/relay_like/transforms.h"
#include "tessel/te/workload_key.h"

namespace tessel::autotune {

namespace {

// `make_task(outputs, args, name)` builds the task of one distinct workload.
template <class MakeTask>
std::vector<SearchTask> tasks_of_groups(const relay::Graph& graph, MakeTask make_task) {
  relay::FusionPlan fusion = relay::fuse_ops(graph);
  std::vector<SearchTask> tasks;
  std::map<std::string, size_t> index_of_key;
  for (const relay::FusedGroup& group : fusion.groups) {
    relay::GroupDag dag = relay::build_group_dag(graph, group, fusion);
    std::string key = te::workload_key(dag.outputs);
    auto found = index_of_key.find(key);
    if (found != index_of_key.end()) {
      tasks[found->second].set_weight(tasks[found->second].weight() + 1);
      continue;
    }
    index_of_key[key] = tasks.size();
    tasks.push_back(make_task(dag.outputs, dag.args, relay::group_name(graph, group)));
  }
  return tasks;
}

}  // namespace

std::vector<SearchTask> extract_tasks(const relay::Graph& input_graph, const codegen::Target& target, bool optimize) {
  relay::Graph graph = optimize ? relay::optimize(input_graph) : input_graph;
  return tasks_of_groups(graph, [&](const std::vector<te::Tensor>& outputs, const std::vector<te::Tensor>& args,
                                    const std::string& name) { return SearchTask(outputs, args, target, name, 1.0); });
}

std::vector<SearchTask> extract_tasks(const relay::Graph& input_graph, const std::string& target, bool optimize) {
  if (!relay::is_cuda_target(target)) return extract_tasks(input_graph, codegen::Target::parse(target), optimize);
  codegen::CudaTarget cuda = codegen::CudaTarget::parse(target);
  relay::Graph graph = optimize ? relay::optimize_for_gpu(input_graph) : input_graph;
  return tasks_of_groups(graph, [&](const std::vector<te::Tensor>& outputs, const std::vector<te::Tensor>& args,
                                    const std::string& name) { return SearchTask(outputs, args, cuda, name, 1.0); });
}

}  // namespace tessel::autotune
