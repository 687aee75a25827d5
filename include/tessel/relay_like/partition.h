// The workload partition of a graph: the one function that decides which kernels a graph becomes
// (optimise for the target, fuse, one TE compute DAG per fused group, deduplicated by workload
// key). The graph compiler builds its kernels from it and task extraction tunes exactly its
// workloads, so tuned records and compiled kernels cannot drift apart.
#pragma once

#include <string>
#include <vector>

#include "tessel/codegen/target.h"
#include "tessel/relay_like/graph.h"
#include "tessel/relay_like/transforms.h"
#include "tessel/te/tensor.h"

namespace tessel::relay {

// One fused group as a DAG ready to schedule: its arguments (placeholders in the DAG's own
// deterministic order, so equal workloads take their arguments in the same order, then the
// outputs) and the graph value each placeholder stands for.
struct GroupDag {
  std::vector<te::Tensor> outputs;
  std::vector<te::Tensor> args;
  std::vector<Value> arg_values;  // for the placeholder args, in order
};
GroupDag build_group_dag(const Graph& graph, const FusedGroup& group, const FusionPlan& fusion);

// One distinct kernel of a graph: a TE compute DAG, identified by its workload key.
struct Workload {
  std::string key;                 // te::workload_key of the outputs
  std::string name;                // the first group's name ("fused_conv2d_add_relu"), or "copy"
  std::vector<te::Tensor> outputs;
  std::vector<te::Tensor> args;    // kernel parameters: placeholders, then outputs
  int uses = 0;                    // kernel calls that run it
};

// One kernel call of the graph, in execution order: a fused group, or the copy of a graph output
// that no kernel writes (an input, a constant, or a value returned twice).
struct WorkloadCall {
  int workload = -1;                 // index into WorkloadPartition::workloads
  int group = -1;                    // index into fusion.groups; -1 for an output copy
  std::vector<Value> inputs;         // graph values bound to the placeholder args, in order
  std::vector<Value> outputs;        // graph values the call writes (empty for an output copy)
  int graph_output = -1;             // for an output copy: the index in graph.outputs()
};

// A graph split into workloads: optimise for the target, fuse, lower each fused group to its
// DAG, dedupe by workload key. The one partition that compile() builds kernels from and that
// task extraction (autotune::extract_tasks) tunes, so a tuned record always finds its kernel.
struct WorkloadPartition {
  Graph graph;                       // the optimised graph that was fused
  FusionPlan fusion;
  std::vector<Workload> workloads;   // distinct, in order of first use
  std::vector<WorkloadCall> calls;   // groups in order, then the output copies
};
// `optimize`: run optimize(graph, target) first (false: partition the graph as given).
WorkloadPartition partition_workloads(const Graph& graph, const codegen::Target& target, bool optimize = true);

}  // namespace tessel::relay
