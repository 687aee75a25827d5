// Search tasks: what the auto-scheduler tunes. A task is a TE compute DAG (its outputs and the
// argument order of the kernel), a target and the target's hardware parameters; it is identified
// by the DAG's workload key. A candidate program is a step list replayed onto a fresh schedule of
// the DAG (create_schedule on the same output tensors always starts from scratch). A task targets
// the CPU (an LLVM target) or an NVIDIA GPU (a CUDA target); records of the two never mix because
// they are keyed by target_string().
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tessel/codegen/cuda.h"
#include "tessel/codegen/llvm.h"
#include "tessel/te/ops/common.h"
#include "tessel/te/schedule.h"

namespace tessel::autotune {

// What the search knows about the machine: the hardware parameters of the task's Target, as a
// record stores them (the record's "hardware" object).
struct HardwareParams {
  int num_cores = 2;
  int vector_bits = 512;
  int vector_registers = 32;
  int64_t l1_bytes = 32 * 1024;
  int64_t l2_bytes = 1024 * 1024;
  int64_t l3_bytes = 32 * 1024 * 1024;
  // GPU limits (CUDA tasks only; codegen::GpuLimits). Absent from the JSON of CPU parameters.
  bool gpu = false;
  int max_threads_per_block = 1024;
  int64_t max_shared_memory_per_block = 48 * 1024;
  int warp_size = 32;
  int max_vthread_extent = 8;
  int64_t max_local_memory_per_thread = 1024;
  // The parameters of `target` (for a CUDA target: its GPU limits and its host's CPU).
  static HardwareParams for_target(const codegen::Target& target);
  // Writes these parameters into `target` (its kind, CPU and record key stay as they are).
  void apply_to(codegen::Target* target) const;
  codegen::GpuLimits gpu_limits() const;
  std::string to_json() const;
  // Throws CompileError on malformed input. A record written before vector_registers was stored
  // gets the count its vector width implies (32 for 512-bit vectors, else 16).
  static HardwareParams from_json(const std::string& json);
  bool operator==(const HardwareParams&) const = default;
};

class SearchTask {
 public:
  // `args`: the kernel's parameters in order; empty means the DAG's placeholders (producer-first
  // order) followed by the outputs. A CUDA target makes a GPU task: its schedules are GPU
  // schedules and its candidates become CUDA.
  SearchTask(std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, codegen::Target target,
             std::string name = "", double weight = 1.0);
  // The same with the target parsed from text (codegen::Target::parse), for callers that hold one.
  SearchTask(std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, const std::string& target,
             std::string name = "", double weight = 1.0);

  const std::vector<te::Tensor>& outputs() const { return outputs_; }
  const std::vector<te::Tensor>& args() const { return args_; }
  // The target; for a CUDA task its CPU fields describe the host that compiles and launches the
  // kernels.
  const codegen::Target& target() const { return target_; }
  bool is_cuda() const { return target_.is_cuda(); }
  // The CUDA part of the target (InternalError for a CPU task).
  const codegen::CudaTarget& cuda_target() const;
  // What records and cost-model snapshots are keyed by: target().to_string().
  std::string target_string() const { return target_.to_string(); }
  const HardwareParams& hardware() const { return hardware_; }
  // Replaces the hardware parameters, in the target too (what default_schedule() reads).
  void set_hardware(const HardwareParams& hardware);
  const std::string& workload_key() const { return workload_key_; }
  const std::string& name() const { return name_; }
  double weight() const { return weight_; }
  void set_weight(double weight) { weight_ = weight; }
  // Floating-point operations of one run (multiply-add = 2), for throughput figures.
  double flop_count() const { return flops_; }

  te::Schedule fresh_schedule() const { return te::create_schedule(outputs_); }
  // A fresh schedule with `steps` replayed (CompileError when they do not apply).
  te::Schedule replay(const std::vector<te::Step>& steps) const;
  te::Schedule default_schedule() const;
  // relay::default_schedule_target of the task's target: what the graph compiler's fallback uses.
  te::ops::ScheduleTarget schedule_target() const;
  // Lowers a schedule of this task's DAG to a loop-IR function over args().
  PrimFunc lower(te::Schedule& schedule, const std::string& function_name) const;

 private:
  std::vector<te::Tensor> outputs_;
  std::vector<te::Tensor> args_;
  codegen::Target target_;
  HardwareParams hardware_;
  std::string workload_key_;
  std::string name_;
  double weight_;
  double flops_ = 0;
};

}  // namespace tessel::autotune
