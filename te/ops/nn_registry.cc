// Default schedules of the neural-network operators, registered by tag. Outputs tagged "" (built
// with te::compute), "elemwise", "broadcast" or "injective" are also routed here: when such an
// epilogue (bias add, relu, ...) is fed by an anchor op of this library, the anchor's schedule is
// applied with the epilogue fused into it; otherwise the generic injective schedule applies, as
// default_schedule would do itself.
#include <map>
#include <string>

#include "builtin_schedules.h"
#include "nn_schedule_util.h"

namespace tessel::te::ops {

namespace {

const std::map<std::string, ScheduleFunction>& nn_schedules() {
  static const auto* table = [] {
    auto* t = new std::map<std::string, ScheduleFunction>();
    for (const char* tag : {kTagDense, kTagMatmul, kTagBatchMatmul}) {
      std::string name = tag;
      (*t)[name] = [name](Schedule& s, const Tensor& out, const ScheduleTarget& target) {
        schedule_gemm(s, out, target, name);
      };
    }
    for (const char* tag : {kTagConv2dNchw, kTagConv2dTransposeNchw}) {
      std::string name = tag;
      (*t)[name] = [name](Schedule& s, const Tensor& out, const ScheduleTarget& target) {
        schedule_conv2d_nchw(s, out, target, name);
      };
    }
    (*t)[kTagConv2dNhwc] = schedule_conv2d_nhwc;
    (*t)[kTagConv2dNchwc] = schedule_conv2d_nchwc;
    for (const char* tag : {kTagPool2d, kTagGlobalPool2d, kTagAdaptivePool2d}) {
      std::string name = tag;
      (*t)[name] = [name](Schedule& s, const Tensor& out, const ScheduleTarget& target) {
        schedule_pool2d(s, out, target, name);
      };
    }
    return t;
  }();
  return *table;
}

// An epilogue output: fuse it into the nearest anchor op of this library that it reads
// (transitively through injective stages), else schedule it generically.
void schedule_untagged_output(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  const auto& table = nn_schedules();
  for (int i = schedule.stage_index_of(output) - 1; i >= 0; --i) {
    const StageNode& stage = schedule.stage_node(i);
    if (stage.is_placeholder || !stage.op->has_reduction) continue;
    auto it = table.find(stage.op->tag);
    if (it != table.end()) {
      it->second(schedule, output, target);
      return;
    }
    break;  // the nearest reduction is not one of ours
  }
  inline_injective_producers(schedule, output);
  for (const Tensor& out : schedule.outputs()) {
    if (!out.op()->has_reduction) schedule_injective_stage(schedule, out, target);
  }
}

}  // namespace

void register_nn_schedules() {
  for (const auto& [tag, function] : nn_schedules()) register_schedule(tag, function);
  for (const char* tag : {"", "elemwise", "broadcast", "injective"}) register_schedule(tag, schedule_untagged_output);
}

}  // namespace tessel::te::ops
