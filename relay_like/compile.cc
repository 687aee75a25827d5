// Graph -> deployable module. Each fused group becomes one TE compute DAG (its calls lowered in
// order, values from outside the group as placeholders), keyed by te::workload_key; each distinct
// key is scheduled once (provider steps, else te::ops::default_schedule) and lowered to one
// kernel. The execution plan has one storage per graph input, constant and group output; graph
// outputs that no kernel writes (an input, a constant, or a value returned twice) get a copy.
#include "tessel/relay_like/compile.h"

#include <iostream>
#include <map>
#include <sstream>

#include "tessel/codegen/export_cuda.h"
#include "tessel/ir/error.h"
#include "tessel/relay_like/op.h"
#include "tessel/runtime/parallel.h"
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

void CompiledModule::export_library(const std::string& path) const {
  if (cuda) {
    codegen::export_cuda_library(plan, *cuda, path);
  } else {
    codegen::export_library(plan, target, path);
  }
}

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

bool is_cuda_target(const std::string& text) {
  std::istringstream in(text);
  std::string kind;
  in >> kind;
  return kind == "cuda";
}

Graph optimize_for_gpu(const Graph& graph) {
  Graph current = graph;
  for (const GraphPass& pass : default_pipeline()) {
    if (pass.name != "alter_layout") current = pass.run(current);
  }
  return current;
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
  const bool gpu = is_cuda_target(options.target);
  if (gpu) {
    module.cuda = codegen::CudaTarget::parse(options.target);
    module.target = codegen::Target::host();
  } else {
    module.target = codegen::Target::parse(options.target);
  }
  if (options.optimize) module.graph = gpu ? optimize_for_gpu(input_graph) : optimize(input_graph);
  else module.graph = input_graph;
  const Graph& graph = module.graph;
  module.fusion = fuse_ops(graph);

  te::ops::ScheduleTarget schedule_target;
  schedule_target.kind = gpu ? "cuda" : "llvm";
  schedule_target.vector_bits = module.target.vector_bits;
  schedule_target.num_cores = std::max(1, static_cast<int>(tessel_num_threads()));
  // What the kernel being compiled computes, for GPU error messages.
  std::string current_ops;

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

  // Which group root outputs are graph outputs: those storages are the module's outputs.
  std::map<std::string, int> kernel_of_key;
  auto add_kernel = [&](const std::vector<te::Tensor>& outputs, const std::vector<te::Tensor>& args,
                        const std::string& base_name) -> std::string {
    std::string key = te::workload_key(outputs);
    auto found = kernel_of_key.find(key);
    if (found != kernel_of_key.end()) {
      module.workloads[static_cast<size_t>(found->second)].uses++;
      return module.workloads[static_cast<size_t>(found->second)].kernel;
    }
    CompiledWorkload workload;
    workload.kernel = base_name + "_" + std::to_string(module.workloads.size());
    workload.workload_key = key;
    workload.uses = 1;
    std::optional<te::Schedule> schedule;
    if (options.schedules != nullptr) {
      auto steps = gpu ? options.schedules->find_cuda(key, *module.cuda) : options.schedules->find(key, module.target);
      if (steps) {
        schedule.emplace(te::create_schedule(outputs));
        schedule->replay(*steps);
        workload.tuned = true;
      }
    }
    if (gpu) {
      // Schedule, lower and generate CUDA now, so that an op the GPU path cannot run is reported
      // by name here rather than at export.
      try {
        if (!schedule) schedule.emplace(te::ops::default_schedule(outputs, schedule_target));
        plan.kernels.push_back(te::lower_schedule(*schedule, args, workload.kernel));
        codegen::generate_cuda({plan.kernels.back()}, *module.cuda);
      } catch (const CompileError& error) {
        user_error() << "cannot compile " << workload.kernel << " (ops: " << current_ops << ") for "
                     << module.cuda->to_string() << ": " << error.what();
      }
    } else {
      if (!schedule) schedule.emplace(te::ops::default_schedule(outputs, schedule_target));
      plan.kernels.push_back(te::lower_schedule(*schedule, args, workload.kernel));
    }
    kernel_of_key.emplace(key, static_cast<int>(module.workloads.size()));
    module.workloads.push_back(workload);
    return workload.kernel;
  };

  int call_index = 0;
  for (const FusedGroup& group : module.fusion.groups) {
    GroupDag dag = build_group_dag(graph, group, module.fusion);
    current_ops = group_ops(graph, group);
    std::string kernel = add_kernel(dag.outputs, dag.args, group_name(graph, group));
    codegen::PlanNode call;
    call.name = kernel + "_call" + std::to_string(call_index++);
    call.kernel = kernel;
    for (const Value& v : dag.arg_values) call.inputs.push_back(storage.at(v));
    const Node& root = graph.node(group.root);
    for (size_t k = 0; k < root.types.size(); ++k) {
      Value out{group.root, static_cast<int>(k)};
      storage[out] = new_storage(root.types[k]);
      call.outputs.push_back(storage[out]);
    }
    plan.nodes.push_back(std::move(call));
  }

  // Outputs: a kernel-written storage the first time; otherwise a copy kernel writes a new one.
  std::map<int, bool> returned;
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    Value value = graph.outputs()[i];
    const TensorType& type = graph.type_of(value);
    int source = storage.at(value);
    bool written_by_kernel = graph.node(value.node).kind == NodeKind::kCall;
    int out_storage = source;
    if (!written_by_kernel || returned[source]) {
      te::Tensor in = placeholder_of(type, "p0");
      te::Tensor copy = te::compute(
          in.shape(), [&](const std::vector<Var>& idx) { return in(std::vector<Expr>(idx.begin(), idx.end())); }, "copy",
          "elemwise");
      current_ops = "copy";
      std::string kernel = add_kernel({copy}, {in, copy}, "copy");
      out_storage = new_storage(type);
      plan.nodes.push_back({kernel + "_call" + std::to_string(call_index++), kernel, {source}, {out_storage}});
    }
    returned[source] = true;
    std::string name = graph.outputs().size() == 1 ? "output" : "output" + std::to_string(i);
    plan.outputs.push_back({name, type.shape, type.dtype.to_string(), out_storage});
  }
  if (options.print_summary) {
    std::cout << "[tessel] compiled " << plan.nodes.size() << " kernel calls (" << module.workloads.size()
              << " distinct kernels): " << module.summary() << std::endl;
  }
  codegen::validate_plan(plan);
  return module;
}

}  // namespace tessel::relay
