// Search tasks: what the auto-scheduler tunes. A task is a TE compute DAG (its outputs and the
// argument order of the kernel), a target and the target's hardware parameters; it is identified
// by the DAG's workload key. A candidate program is a step list replayed onto a fresh schedule of
// the DAG (create_schedule on the same output tensors always starts from scratch).
#pragma once

#include <string>
#include <vector>

#include "tessel/codegen/llvm.h"
#include "tessel/te/ops/common.h"
#include "tessel/te/schedule.h"

namespace tessel::autotune {

// What the search knows about the machine.
struct HardwareParams {
  int num_cores = 2;
  int vector_bits = 512;
  int64_t l1_bytes = 32 * 1024;
  int64_t l2_bytes = 1024 * 1024;
  int64_t l3_bytes = 32 * 1024 * 1024;
  // The machine this process runs on for `target` (cores: the runtime's thread count).
  static HardwareParams for_target(const codegen::Target& target);
  std::string to_json() const;
  // Throws CompileError on malformed input.
  static HardwareParams from_json(const std::string& json);
  bool operator==(const HardwareParams&) const = default;
};

class SearchTask {
 public:
  // `args`: the kernel's parameters in order; empty means the DAG's placeholders (producer-first
  // order) followed by the outputs.
  SearchTask(std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, codegen::Target target,
             std::string name = "", double weight = 1.0);

  const std::vector<te::Tensor>& outputs() const { return outputs_; }
  const std::vector<te::Tensor>& args() const { return args_; }
  const codegen::Target& target() const { return target_; }
  const HardwareParams& hardware() const { return hardware_; }
  void set_hardware(const HardwareParams& hardware) { hardware_ = hardware; }
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
