// Search tasks: the DAG, its argument order, target and hardware parameters, and the helpers the
// search needs to turn step lists into schedules and loop IR.
#include "tessel/autotune/search_task.h"

#include <nlohmann/json.hpp>

#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/relay_like/compile.h"
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

namespace {

// The register count a record without one means: 32 with 512-bit vectors (AVX-512), else 16.
int implied_vector_registers(int vector_bits) { return vector_bits >= 512 ? 32 : 16; }

}  // namespace

HardwareParams HardwareParams::for_target(const codegen::Target& target) {
  HardwareParams hw;
  hw.num_cores = target.num_cores;
  hw.vector_bits = target.vector_bits;
  hw.vector_registers = target.vector_registers;
  hw.l1_bytes = target.l1_bytes;
  hw.l2_bytes = target.l2_bytes;
  hw.l3_bytes = target.l3_bytes;
  if (target.is_cuda()) {
    hw.gpu = true;
    hw.max_threads_per_block = target.gpu.max_threads_per_block;
    hw.max_shared_memory_per_block = target.gpu.max_shared_memory_per_block;
    hw.warp_size = target.gpu.warp_size;
    hw.max_vthread_extent = target.gpu.max_vthread_extent;
    hw.max_local_memory_per_thread = target.gpu.max_local_memory_per_thread;
  }
  return hw;
}

codegen::GpuLimits HardwareParams::gpu_limits() const {
  codegen::GpuLimits limits;
  limits.max_threads_per_block = max_threads_per_block;
  limits.max_shared_memory_per_block = max_shared_memory_per_block;
  limits.warp_size = warp_size;
  limits.max_vthread_extent = max_vthread_extent;
  limits.max_local_memory_per_thread = max_local_memory_per_thread;
  return limits;
}

void HardwareParams::apply_to(codegen::Target* target) const {
  target->num_cores = num_cores;
  target->vector_bits = vector_bits;
  target->vector_registers = vector_registers;
  target->l1_bytes = l1_bytes;
  target->l2_bytes = l2_bytes;
  target->l3_bytes = l3_bytes;
  if (target->is_cuda()) target->gpu = gpu_limits();
}

std::string HardwareParams::to_json() const {
  nlohmann::json j{{"num_cores", num_cores}, {"vector_bits", vector_bits}, {"l1_bytes", l1_bytes},
                   {"l2_bytes", l2_bytes}, {"l3_bytes", l3_bytes}};
  // Stored only where it differs from what the vector width implies (from_json), so that records
  // of x86 machines read the same as those written before the count was kept.
  if (vector_registers != implied_vector_registers(vector_bits)) j["vector_registers"] = vector_registers;
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
    hw.vector_registers = j.value("vector_registers", implied_vector_registers(hw.vector_bits));
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

SearchTask::SearchTask(std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, const std::string& target,
                       std::string name, double weight)
    : SearchTask(std::move(outputs), std::move(args), codegen::Target::parse(target), std::move(name), weight) {}

void SearchTask::set_hardware(const HardwareParams& hardware) {
  hardware_ = hardware;
  hardware_.apply_to(&target_);
}

const codegen::CudaTarget& SearchTask::cuda_target() const {
  internal_check(target_.is_cuda()) << "cuda_target() of the CPU task " << name_;
  return target_.cuda;
}

te::Schedule SearchTask::replay(const std::vector<te::Step>& steps) const {
  te::Schedule s = fresh_schedule();
  s.replay(steps);
  return s;
}

te::ops::ScheduleTarget SearchTask::schedule_target() const { return relay::default_schedule_target(target_); }

te::Schedule SearchTask::default_schedule() const { return te::ops::default_schedule(outputs_, schedule_target()); }

PrimFunc SearchTask::lower(te::Schedule& schedule, const std::string& function_name) const {
  return te::lower_schedule(schedule, args_, function_name);
}

}  // namespace tessel::autotune
