// Compiling a graph into a deployable module: optimise (pipeline.cc), fuse, lower each fused
// group to one TE compute DAG, schedule it (a schedule provider's steps for its workload key, else
// the operator library's default schedule), lower to loop IR and assemble an ExecutionPlan whose
// constants are the graph's weights. Identical workloads are compiled once.
//
// A CUDA target: the graph pipeline runs without the CPU layout alteration, every group gets a
// schedule provider's steps for its workload and the CUDA target, else
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
#include "tessel/relay_like/partition.h"
#include "tessel/relay_like/transforms.h"
#include "tessel/te/ops/common.h"
#include "tessel/te/schedule.h"

namespace tessel::relay {

// Where tuned schedules come from (the tuning-record store implements it). Given a workload key
// and the target, returns the recorded steps to replay on the DAG, or nothing. Records are keyed
// by target.to_string(), CPU and CUDA alike.
class ScheduleProvider {
 public:
  virtual ~ScheduleProvider() = default;
  virtual std::optional<std::vector<te::Step>> find(const std::string& workload_key,
                                                    const codegen::Target& target) const = 0;
};

// What a default schedule knows of the target: its kind, vector width and registers, cores and
// GPU limits. The one source of these numbers for the compiler's fallback schedules and for the
// auto-scheduler's baseline (SearchTask::schedule_target), so both are the same schedule.
te::ops::ScheduleTarget default_schedule_target(const codegen::Target& target);

struct CompileOptions {
  codegen::Target target = codegen::Target::host();  // an LLVM CPU target or a CUDA one
  std::string name = "tessel_module";  // module name in the metadata
  const ScheduleProvider* schedules = nullptr;  // none: default schedules everywhere
  bool optimize = true;                // run the graph pipeline before fusion
  bool print_summary = true;           // print "N of M workloads tuned, K used default schedules"
};

// One compiled workload (a distinct fused kernel).
struct CompiledWorkload {
  std::string kernel;        // PrimFunc name in the plan
  std::string workload_key;
  std::string name;          // the workload's name (Workload::name)
  bool tuned = false;        // steps came from the schedule provider
  // Tuned, and the provider's best schedule is the default one: the tuner measured the default
  // schedule and nothing it found beat it.
  bool tuned_to_default = false;
  int uses = 0;              // fused groups that call it
};

struct CompiledModule {
  codegen::ExecutionPlan plan;
  codegen::Target target;  // for a CUDA module, its CPU fields are the host the library is built on
  Graph graph;       // the optimised graph that was fused
  FusionPlan fusion;
  std::vector<CompiledWorkload> workloads;
  int num_tuned() const;
  int num_tuned_to_default() const;
  // "3 of 7 workloads tuned, 4 used default schedules"
  std::string summary() const;
  // Writes the shared library (codegen::export_library, or export_cuda_library for CUDA).
  void export_library(const std::string& path) const;
};

CompiledModule compile(const Graph& graph, const CompileOptions& options = {});

}  // namespace tessel::relay
