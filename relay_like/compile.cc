// Graph -> deployable module. The graph's workload partition (partition.cc) gives the distinct
// kernels and the calls in order; each workload is scheduled once (provider steps for its key,
// else te::ops::default_schedule) and lowered to one kernel. The execution plan has one storage
// per graph input, constant and call output; an output copy's storage is the module output.
#include "tessel/relay_like/compile.h"

#include <iostream>
#include <map>
#include <sstream>

#include "tessel/codegen/export_cuda.h"
#include "tessel/ir/error.h"
#include "tessel/relay_like/op.h"
#include "tessel/te/ops/common.h"
#include "tessel/te/workload_key.h"

namespace tessel::relay {

int CompiledModule::num_tuned() const {
  int n = 0;
  for (const CompiledWorkload& w : workloads) n += w.tuned ? 1 : 0;
  return n;
}

std::string CompiledModule::summary() const {
  std::ostringstream os;
  int total = static_cast<int>(workloads.size());
  os << num_tuned() << " of " << total << " workloads tuned, " << total - num_tuned() << " used default schedules";
  return os.str();
}

int CompiledModule::num_tuned_to_default() const {
  int n = 0;
  for (const CompiledWorkload& w : workloads) n += w.tuned_to_default ? 1 : 0;
  return n;
}

void CompiledModule::export_library(const std::string& path) const {
  if (target.is_cuda()) {
    codegen::export_cuda_library(plan, target.cuda, path);
  } else {
    codegen::export_library(plan, target, path);
  }
}

te::ops::ScheduleTarget default_schedule_target(const codegen::Target& target) {
  te::ops::ScheduleTarget t;
  t.kind = target.kind_name();
  t.vector_bits = target.vector_bits;  // for a CUDA target: its host's (unused by GPU schedules)
  t.vector_registers = target.vector_registers;
  t.num_cores = target.num_cores;
  t.max_threads_per_block = target.gpu.max_threads_per_block;
  return t;
}

namespace {

// "conv2d, add, relu" for the calls of a group.
std::string group_ops(const Graph& graph, const FusedGroup& group) {
  std::string ops;
  for (int n : group.nodes) {
    if (!ops.empty()) ops += ", ";
    ops += graph.node(n).op;
  }
  return ops;
}

std::string storage_name(const Graph& graph, Value value) {
  const Node& node = graph.node(value.node);
  if (node.kind != NodeKind::kCall && !node.name.empty()) return node.name;
  return "const_" + std::to_string(value.node);
}

}  // namespace

CompiledModule compile(const Graph& input_graph, const CompileOptions& options) {
  CompiledModule module;
  module.target = options.target;
  const bool gpu = module.target.is_cuda();
  WorkloadPartition partition = partition_workloads(input_graph, module.target, options.optimize);
  module.graph = partition.graph;
  module.fusion = partition.fusion;
  const Graph& graph = module.graph;
  const te::ops::ScheduleTarget schedule_target = default_schedule_target(module.target);

  codegen::ExecutionPlan& plan = module.plan;
  plan.name = options.name;
  std::map<Value, int> storage;
  auto new_storage = [&](const TensorType& type) {
    plan.storage_bytes.push_back(type.byte_size());
    return static_cast<int>(plan.storage_bytes.size()) - 1;
  };
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = graph.nodes()[i];
    Value value{static_cast<int>(i), 0};
    if (node.kind == NodeKind::kInput) {
      storage[value] = new_storage(node.types[0]);
      plan.inputs.push_back({node.name, node.types[0].shape, node.types[0].dtype.to_string(), storage[value]});
    } else if (node.kind == NodeKind::kConstant) {
      storage[value] = new_storage(node.types[0]);
      const auto* bytes = static_cast<const uint8_t*>(node.value.data());
      plan.constants.push_back({storage_name(graph, value), storage[value],
                                std::vector<uint8_t>(bytes, bytes + node.value.byte_size())});
    }
  }

  // One kernel per workload: the provider's steps for its key, else the default schedule.
  for (size_t w = 0; w < partition.workloads.size(); ++w) {
    const Workload& workload = partition.workloads[w];
    CompiledWorkload compiled;
    compiled.kernel = workload.name + "_" + std::to_string(w);
    compiled.workload_key = workload.key;
    compiled.name = workload.name;
    compiled.uses = workload.uses;
    std::optional<std::vector<te::Step>> steps;
    if (options.schedules != nullptr) steps = options.schedules->find(workload.key, module.target);
    compiled.tuned = steps.has_value();
    auto lower_workload = [&] {
      te::Schedule fallback = te::ops::default_schedule(workload.outputs, schedule_target);
      if (!steps) {
        plan.kernels.push_back(te::lower_schedule(fallback, workload.args, compiled.kernel));
        return;
      }
      te::Schedule tuned = te::create_schedule(workload.outputs);
      tuned.replay(*steps);
      compiled.tuned_to_default = fallback.steps() == *steps;
      plan.kernels.push_back(te::lower_schedule(tuned, workload.args, compiled.kernel));
    };
    if (gpu) {
      // Schedule, lower and generate CUDA now, so that an op the GPU path cannot run is reported
      // by name here rather than at export.
      try {
        lower_workload();
        codegen::generate_cuda({plan.kernels.back()}, module.target.cuda);
      } catch (const CompileError& error) {
        std::string ops = "copy";
        for (const WorkloadCall& call : partition.calls) {
          if (call.workload == static_cast<int>(w) && call.group >= 0) {
            ops = group_ops(graph, partition.fusion.groups[static_cast<size_t>(call.group)]);
            break;
          }
        }
        user_error() << "cannot compile " << compiled.kernel << " (ops: " << ops << ") for "
                     << module.target.to_string() << ": " << error.what();
      }
    } else {
      lower_workload();
    }
    module.workloads.push_back(std::move(compiled));
  }

  // The calls in order; a group's outputs get new storages, an output copy writes a new storage
  // that becomes the module output.
  std::map<int, int> output_storage;  // graph output index -> storage, for the copies
  for (size_t c = 0; c < partition.calls.size(); ++c) {
    const WorkloadCall& call = partition.calls[c];
    codegen::PlanNode node;
    node.kernel = module.workloads[static_cast<size_t>(call.workload)].kernel;
    node.name = node.kernel + "_call" + std::to_string(c);
    for (const Value& v : call.inputs) node.inputs.push_back(storage.at(v));
    if (call.group >= 0) {
      for (const Value& out : call.outputs) {
        storage[out] = new_storage(graph.type_of(out));
        node.outputs.push_back(storage[out]);
      }
    } else {
      int out = new_storage(graph.type_of(call.inputs[0]));
      output_storage[call.graph_output] = out;
      node.outputs.push_back(out);
    }
    plan.nodes.push_back(std::move(node));
  }
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    Value value = graph.outputs()[i];
    const TensorType& type = graph.type_of(value);
    auto copy = output_storage.find(static_cast<int>(i));
    int out_storage = copy != output_storage.end() ? copy->second : storage.at(value);
    std::string name = graph.outputs().size() == 1 ? "output" : "output" + std::to_string(i);
    plan.outputs.push_back({name, type.shape, type.dtype.to_string(), out_storage});
  }
  if (options.print_summary) {
    std::cout << "[tessel] compiled " << plan.nodes.size() << " kernel calls (" << module.workloads.size()
              << " distinct kernels): " << module.summary() << std::endl;
    if (int n = module.num_tuned_to_default()) {
      std::cout << "[tessel] " << n << " of the tuned workloads keep their default schedule: tuning measured it, "
                << "and nothing the search found was faster" << std::endl;
    }
  }
  codegen::validate_plan(plan);
  return module;
}

}  // namespace tessel::relay
