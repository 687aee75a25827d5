// Default schedules of the neural-network operators, registered by tag. An elementwise epilogue
// (bias add, relu, ...) on one of these ops reaches its schedule through default_schedule's
// nearest-reduction dispatch, and the schedule fuses the epilogue.
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

}  // namespace

void register_nn_schedules() {
  for (const auto& [tag, function] : nn_schedules()) register_schedule(tag, function);
}

}  // namespace tessel::te::ops
