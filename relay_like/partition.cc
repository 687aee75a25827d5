// The workload partition (include/tessel/relay_like/partition.h): optimise for the target, fuse,
// lower each fused group to one TE DAG (values from outside the group become placeholders, in the
// DAG's own deterministic order) and merge equal workload keys. Graph outputs that no kernel
// writes become copy workloads, so that every output has a storage of its own.
#include "tessel/relay_like/partition.h"

#include <map>

#include "tessel/ir/error.h"
#include "tessel/relay_like/op.h"
#include "tessel/te/workload_key.h"

namespace tessel::relay {

GroupDag build_group_dag(const Graph& graph, const FusedGroup& group, const FusionPlan& fusion) {
  std::map<Value, te::Tensor> tensors;
  std::map<const te::TensorNode*, Value> placeholder_value;
  int group_index = fusion.group_of[static_cast<size_t>(group.root)];
  for (int n : group.nodes) {
    const Node& node = graph.node(n);
    std::vector<te::Tensor> inputs;
    for (const Value& input : node.inputs) {
      auto it = tensors.find(input);
      if (it == tensors.end()) {
        internal_check(fusion.group_of[static_cast<size_t>(input.node)] != group_index)
            << "node %" << input.node << " used before it was lowered";
        std::string name = "p";  // appended, not "p" + ..., which trips GCC 12's -Wrestrict
        name += std::to_string(placeholder_value.size());
        te::Tensor p = placeholder_of(graph.type_of(input), name);
        placeholder_value[p.get()] = input;
        it = tensors.emplace(input, p).first;
      }
      inputs.push_back(it->second);
    }
    std::vector<te::Tensor> outputs = lower_call(node, inputs);
    internal_check(outputs.size() == node.types.size()) << node.op << " lowered to the wrong number of outputs";
    for (size_t k = 0; k < outputs.size(); ++k) tensors[Value{n, static_cast<int>(k)}] = outputs[k];
  }
  GroupDag dag;
  const Node& root = graph.node(group.root);
  for (size_t k = 0; k < root.types.size(); ++k) dag.outputs.push_back(tensors.at(Value{group.root, static_cast<int>(k)}));
  // Placeholders in the DAG's own deterministic order, so that equal workloads take their
  // arguments in the same order.
  for (const te::Tensor& t : te::post_dfs_tensors(dag.outputs)) {
    auto it = placeholder_value.find(t.get());
    if (it == placeholder_value.end()) continue;
    dag.args.push_back(t);
    dag.arg_values.push_back(it->second);
  }
  dag.args.insert(dag.args.end(), dag.outputs.begin(), dag.outputs.end());
  return dag;
}

namespace {

// Adds the call of a DAG to the partition, as a new workload or one more use of an equal one.
void add_call(WorkloadPartition& partition, std::map<std::string, int>& workload_of_key,
              std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, const std::string& name,
              WorkloadCall call) {
  std::string key = te::workload_key(outputs);
  auto found = workload_of_key.find(key);
  if (found == workload_of_key.end()) {
    found = workload_of_key.emplace(key, static_cast<int>(partition.workloads.size())).first;
    partition.workloads.push_back(Workload{key, name, std::move(outputs), std::move(args), 0});
  }
  partition.workloads[static_cast<size_t>(found->second)].uses++;
  call.workload = found->second;
  partition.calls.push_back(std::move(call));
}

}  // namespace

WorkloadPartition partition_workloads(const Graph& input_graph, const codegen::Target& target, bool optimize) {
  WorkloadPartition partition;
  partition.graph = optimize ? relay::optimize(input_graph, target) : input_graph;
  const Graph& graph = partition.graph;
  partition.fusion = fuse_ops(graph);
  std::map<std::string, int> workload_of_key;
  for (size_t g = 0; g < partition.fusion.groups.size(); ++g) {
    const FusedGroup& group = partition.fusion.groups[g];
    GroupDag dag = build_group_dag(graph, group, partition.fusion);
    WorkloadCall call;
    call.group = static_cast<int>(g);
    call.inputs = dag.arg_values;
    const Node& root = graph.node(group.root);
    for (size_t k = 0; k < root.types.size(); ++k) call.outputs.push_back(Value{group.root, static_cast<int>(k)});
    add_call(partition, workload_of_key, std::move(dag.outputs), std::move(dag.args), group_name(graph, group),
             std::move(call));
  }
  // A graph output needs a copy when no kernel writes it (an input or a constant) or when an
  // earlier output already returns the same value.
  std::map<Value, bool> returned;
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    Value value = graph.outputs()[i];
    bool written_by_kernel = graph.node(value.node).kind == NodeKind::kCall;
    if (!written_by_kernel || returned[value]) {
      te::Tensor in = placeholder_of(graph.type_of(value), "p0");
      te::Tensor copy = te::compute(
          in.shape(), [&](const std::vector<Var>& idx) { return in(std::vector<Expr>(idx.begin(), idx.end())); }, "copy",
          "elemwise");
      WorkloadCall call;
      call.inputs = {value};
      call.graph_output = static_cast<int>(i);
      add_call(partition, workload_of_key, {copy}, {in, copy}, "copy", std::move(call));
    }
    returned[value] = true;
  }
  return partition;
}

}  // namespace tessel::relay
