// Search tasks: the DAG, its argument order, target and hardware parameters, and the helpers the
// search needs to turn step lists into schedules and loop IR.
#include "tessel/autotune/search_task.h"

#include "tessel/autotune/sketch_gpu.h"

#include <nlohmann/json.hpp>

#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/relay_like/compile.h"
#include "tessel/runtime/parallel.h"
#include "tessel/te/workload_key.h"

namespace tessel::autotune {

namespace {

// Arithmetic of one element's value: binary operations and intrinsic calls of the stage's own
// element type (float for float DAGs). Index arithmetic (inside tensor reads), Select conditions
// and comparisons (bool) are addressing and control, not floating-point work, and are skipped:
// `padded[n, c, y*s + kh, x*s + kw] * w[...]` counts one multiply, not the index adds.
struct ArithmeticCounter : IRVisitor {
  explicit ArithmeticCounter(DataType element) : element_(element.element_of()) {}
  double count = 0;
  void visit_Binary(const BinaryNode* op) override {
    if (op->dtype.element_of() == element_) count += 1;
    IRVisitor::visit_Binary(op);
  }
  void visit_Call(const CallNode* op) override {
    if (op->dtype.element_of() == element_) count += 1;
    IRVisitor::visit_Call(op);
  }
  void visit_Load(const LoadNode*) override {}
  void visit_Select(const SelectNode* op) override {
    visit(op->true_value);
    visit(op->false_value);
  }

 private:
  DataType element_;
};

double extent_product(const std::vector<Expr>& extents) {
  double n = 1;
  for (const Expr& e : extents) {
    const int64_t* v = as_const_int(e);
    n *= v ? static_cast<double>(*v) : 1.0;
  }
  return n;
}

double count_flops(const std::vector<te::Tensor>& outputs) {
  double flops = 0;
  for (const te::Tensor& t : te::post_dfs_tensors(outputs)) {
    const te::Operation& op = t.op();
    if (op->kind != te::OpKind::kCompute) continue;
    double points = extent_product(op->shape);
    ArithmeticCounter counter(t.dtype());
    if (op->has_reduction) {
      counter.visit(op->reduction.source);
      std::vector<Expr> extents;
      for (const te::IterVar& iv : op->reduction.axes) extents.push_back(iv->dom.extent);
      flops += points * extent_product(extents) * (counter.count + 1);  // + the combiner
    } else {
      counter.visit(op->body);
      flops += points * counter.count;
    }
  }
  return flops;
}

}  // namespace

HardwareParams HardwareParams::for_target(const codegen::Target& target) {
  HardwareParams hw;
  hw.num_cores = std::max(1, static_cast<int>(tessel_num_threads()));
  hw.vector_bits = target.vector_bits;
  return hw;
}

HardwareParams HardwareParams::for_cuda_target(const codegen::CudaTarget& target) {
  GpuLimits limits = gpu_limits_for(target);
  HardwareParams hw;
  hw.num_cores = std::max(1, static_cast<int>(tessel_num_threads()));  // host threads (building)
  hw.gpu = true;
  hw.max_threads_per_block = limits.max_threads_per_block;
  hw.max_shared_memory_per_block = limits.max_shared_memory_per_block;
  hw.warp_size = limits.warp_size;
  hw.max_vthread_extent = limits.max_vthread_extent;
  hw.max_local_memory_per_thread = limits.max_local_memory_per_thread;
  return hw;
}

std::string HardwareParams::to_json() const {
  nlohmann::json j{{"num_cores", num_cores}, {"vector_bits", vector_bits}, {"l1_bytes", l1_bytes},
                   {"l2_bytes", l2_bytes}, {"l3_bytes", l3_bytes}};
  if (gpu) {
    j["gpu"] = true;
    j["max_threads_per_block"] = max_threads_per_block;
    j["max_shared_memory_per_block"] = max_shared_memory_per_block;
    j["warp_size"] = warp_size;
    j["max_vthread_extent"] = max_vthread_extent;
    j["max_local_memory_per_thread"] = max_local_memory_per_thread;
  }
  return j.dump();
}

HardwareParams HardwareParams::from_json(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  user_check(!j.is_discarded() && j.is_object()) << "hardware parameters: not a JSON object";
  HardwareParams hw;
  try {
    hw.num_cores = j.at("num_cores").get<int>();
    hw.vector_bits = j.at("vector_bits").get<int>();
    hw.l1_bytes = j.value("l1_bytes", hw.l1_bytes);
    hw.l2_bytes = j.value("l2_bytes", hw.l2_bytes);
    hw.l3_bytes = j.value("l3_bytes", hw.l3_bytes);
    hw.gpu = j.value("gpu", false);
    hw.max_threads_per_block = j.value("max_threads_per_block", hw.max_threads_per_block);
    hw.max_shared_memory_per_block = j.value("max_shared_memory_per_block", hw.max_shared_memory_per_block);
    hw.warp_size = j.value("warp_size", hw.warp_size);
    hw.max_vthread_extent = j.value("max_vthread_extent", hw.max_vthread_extent);
    hw.max_local_memory_per_thread = j.value("max_local_memory_per_thread", hw.max_local_memory_per_thread);
  } catch (const nlohmann::json::exception& e) {
    user_error() << "hardware parameters: " << e.what();
  }
  return hw;
}

SearchTask::SearchTask(std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, codegen::Target target,
                       std::string name, double weight)
    : outputs_(std::move(outputs)), args_(std::move(args)), target_(std::move(target)), name_(std::move(name)),
      weight_(weight) {
  user_check(!outputs_.empty()) << "a search task needs at least one output tensor";
  if (args_.empty()) {
    for (const te::Tensor& t : te::post_dfs_tensors(outputs_)) {
      if (t.op()->kind == te::OpKind::kPlaceholder) args_.push_back(t);
    }
    args_.insert(args_.end(), outputs_.begin(), outputs_.end());
  }
  hardware_ = HardwareParams::for_target(target_);
  workload_key_ = te::workload_key(outputs_);
  if (name_.empty()) name_ = outputs_[0].name();
  flops_ = count_flops(outputs_);
}

SearchTask::SearchTask(std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, codegen::CudaTarget target,
                       std::string name, double weight)
    : SearchTask(std::move(outputs), std::move(args), codegen::Target::host(), std::move(name), weight) {
  hardware_ = HardwareParams::for_cuda_target(target);
  cuda_target_ = std::move(target);
}

namespace {

// The task's target, parsed once for the delegating constructor below.
struct ParsedTarget {
  std::optional<codegen::CudaTarget> cuda;
  std::optional<codegen::Target> llvm;
  explicit ParsedTarget(const std::string& text) {
    if (relay::is_cuda_target(text)) {
      cuda = codegen::CudaTarget::parse(text);
    } else {
      llvm = codegen::Target::parse(text);
    }
  }
};

SearchTask make_task(std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, const ParsedTarget& target,
                     std::string name, double weight) {
  if (target.cuda) return SearchTask(std::move(outputs), std::move(args), *target.cuda, std::move(name), weight);
  return SearchTask(std::move(outputs), std::move(args), *target.llvm, std::move(name), weight);
}

}  // namespace

SearchTask::SearchTask(std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, const std::string& target,
                       std::string name, double weight)
    : SearchTask(make_task(std::move(outputs), std::move(args), ParsedTarget(target), std::move(name), weight)) {}

const codegen::CudaTarget& SearchTask::cuda_target() const {
  internal_check(cuda_target_.has_value()) << "cuda_target() of the CPU task " << name_;
  return *cuda_target_;
}

std::string SearchTask::target_string() const {
  return cuda_target_ ? cuda_target_->to_string() : target_.to_string();
}

te::Schedule SearchTask::replay(const std::vector<te::Step>& steps) const {
  te::Schedule s = fresh_schedule();
  s.replay(steps);
  return s;
}

te::ops::ScheduleTarget SearchTask::schedule_target() const {
  te::ops::ScheduleTarget t;
  if (cuda_target_) {
    t.kind = "cuda";
    t.max_threads_per_block = hardware_.max_threads_per_block;
    return t;
  }
  t.kind = "llvm";
  t.vector_bits = hardware_.vector_bits;
  t.num_cores = hardware_.num_cores;
  return t;
}

te::Schedule SearchTask::default_schedule() const { return te::ops::default_schedule(outputs_, schedule_target()); }

PrimFunc SearchTask::lower(te::Schedule& schedule, const std::string& function_name) const {
  return te::lower_schedule(schedule, args_, function_name);
}

}  // namespace tessel::autotune
