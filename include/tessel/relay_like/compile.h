// Compiling a graph into a deployable module: optimise (pipeline.cc), fuse, lower each fused
// group to one TE compute DAG, schedule it (a schedule provider's steps for its workload key, else
// the operator library's default schedule), lower to loop IR and assemble an ExecutionPlan whose
// constants are the graph's weights. Identical workloads are compiled once.
//
// Target "cuda [-arch=sm_XX]": the graph pipeline runs without the CPU layout alteration, every
// group gets a schedule provider's steps for its workload and the CUDA target (find_cuda), else
// the operator library's default GPU schedule (te/ops/gpu_schedules.cc); each kernel is checked by
// the CUDA code generator
// at compile time (an op it cannot run is a CompileError naming the group and its ops), and
// export_library writes a CUDA module library (codegen/export_cuda.h).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessel/codegen/cuda.h"
#include "tessel/codegen/export.h"
#include "tessel/relay_like/graph.h"
#include "tessel/relay_like/transforms.h"
#include "tessel/te/schedule.h"

namespace tessel::relay {

// Where tuned schedules come from (the tuning database implements it). Given a workload key and
// the target, returns the recorded steps to replay on the DAG, or nothing.
class ScheduleProvider {
 public:
  virtual ~ScheduleProvider() = default;
  virtual std::optional<std::vector<te::Step>> find(const std::string& workload_key,
                                                    const codegen::Target& target) const = 0;
  // The same for a CUDA target (records keyed by target.to_string(), "cuda -arch=sm_90"). The
  // default provides nothing: a provider of CPU schedules only.
  virtual std::optional<std::vector<te::Step>> find_cuda(const std::string& workload_key,
                                                         const codegen::CudaTarget& target) const {
    (void)workload_key;
    (void)target;
    return std::nullopt;
  }
};

// Whether a target string names a GPU target ("cuda ..."), as compile() decides.
bool is_cuda_target(const std::string& text);
// The graph pipeline compile() runs for a CUDA target: the default pipeline without the CPU
// layout alteration (NCHW{c}c blocking and weight packing serve CPU vector registers, not GPU
// threads).
Graph optimize_for_gpu(const Graph& graph);

struct CompileOptions {
  std::string target = "llvm";         // codegen::Target::parse syntax, or "cuda [-arch=sm_XX]"
  std::string name = "tessel_module";  // module name in the metadata
  const ScheduleProvider* schedules = nullptr;  // none: default schedules everywhere
  bool optimize = true;                // run the graph pipeline before fusion
  bool print_summary = true;           // print "N of M workloads tuned, K used default schedules"
};

// One compiled workload (a distinct fused kernel).
struct CompiledWorkload {
  std::string kernel;        // PrimFunc name in the plan
  std::string workload_key;
  bool tuned = false;        // steps came from the schedule provider
  int uses = 0;              // fused groups that call it
};

struct CompiledModule {
  codegen::ExecutionPlan plan;
  codegen::Target target;  // the CPU target; for a CUDA module the host the library is built on
  std::optional<codegen::CudaTarget> cuda;  // set for target "cuda ..."
  Graph graph;       // the optimised graph that was fused
  FusionPlan fusion;
  std::vector<CompiledWorkload> workloads;
  int num_tuned() const;
  // "3 of 7 workloads tuned, 4 used default schedules"
  std::string summary() const;
  // Writes the shared library (codegen::export_library, or export_cuda_library for CUDA).
  void export_library(const std::string& path) const;
};

CompiledModule compile(const Graph& graph, const CompileOptions& options = {});

// One fused group as a DAG ready to schedule: its arguments (placeholders in the DAG's own
// deterministic order, so equal workloads take their arguments in the same order, then the
// outputs) and the graph value each placeholder stands for.
struct GroupDag {
  std::vector<te::Tensor> outputs;
  std::vector<te::Tensor> args;
  std::vector<Value> arg_values;  // for the placeholder args, in order
};
GroupDag build_group_dag(const Graph& graph, const FusedGroup& group, const FusionPlan& fusion);

}  // namespace tessel::relay
