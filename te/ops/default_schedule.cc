// Default-schedule dispatch by operator tag, and the generic injective schedule.
#include <algorithm>
#include <map>
#include <mutex>

#include "tessel/ir/error.h"
#include "tessel/te/ops/common.h"
#include "tessel/te/ops/gpu.h"
#include "builtin_schedules.h"

namespace tessel::te::ops {

namespace {
std::map<std::string, ScheduleFunction>& schedule_registry() {
  static auto* registry = new std::map<std::string, ScheduleFunction>();
  return *registry;
}
std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}
void register_builtin_schedules_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_nn_schedules();
    register_tensor_schedules();
    register_gpu_schedules();
  });
}
}  // namespace

bool register_schedule(const std::string& tag, ScheduleFunction function) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  schedule_registry()[tag] = std::move(function);
  return true;
}

void inline_injective_producers(Schedule& schedule, const Tensor& output) {
  int out = schedule.stage_index_of(output);
  internal_check(out >= 0) << "output " << output.name() << " not in the schedule";
  for (int s = 0; s < schedule.num_stages(); ++s) {
    const StageNode& stage = schedule.stage_node(s);
    if (s == out || stage.is_placeholder || stage.is_output || stage.op->has_reduction) continue;
    if (stage.attach != AttachKind::kRoot || !stage.relations.empty()) continue;
    schedule.stage(s).compute_inline();
  }
}

void schedule_injective_stage(Schedule& schedule, const Tensor& output, const ScheduleTarget& target) {
  Stage stage = schedule[output];
  std::vector<IterVar> axes = stage.axis();
  if (axes.empty()) return;
  // Vectorise the innermost axis when it is a whole number of vectors (or at least one vector).
  int lanes = target.vector_lanes(output.dtype());
  IterVar inner = axes.back();
  const int64_t* inner_extent = as_const_int(inner->dom.extent);
  if (lanes > 1 && inner_extent && *inner_extent >= lanes) {
    auto [outer_part, vector_part] = stage.split(inner, lanes);
    stage.vectorize(vector_part);
    axes.back() = outer_part;
  }
  // Fuse the outer loops into one parallel loop with enough work per thread.
  IterVar fused = axes[0];
  int64_t work = as_const_int(fused->dom.extent) ? *as_const_int(fused->dom.extent) : 1 << 20;
  for (size_t i = 1; i + 1 < axes.size() && work < 16 * target.num_cores; ++i) {
    fused = stage.fuse(fused, axes[i]);
    work *= as_const_int(axes[i]->dom.extent) ? *as_const_int(axes[i]->dom.extent) : 1 << 20;
  }
  if (work > 1 && target.kind == "llvm") stage.parallel(fused);
}

Schedule default_schedule(const std::vector<Tensor>& outputs, const ScheduleTarget& target) {
  register_builtin_schedules_once();
  Schedule schedule = create_schedule(outputs);
  const Tensor& output = outputs.front();
  auto lookup = [](const std::string& tag) {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = schedule_registry().find(tag);
    return it == schedule_registry().end() ? ScheduleFunction() : it->second;
  };
  // Targets other than the CPU register their schedules under "<kind>:<tag>" and their generic
  // schedule under "<kind>:"; they never fall back to the CPU schedules.
  const std::string prefix = target.kind == "llvm" ? "" : target.kind + ":";
  ScheduleFunction function = lookup(prefix + output.op()->tag);
  if (!function && !output.op()->has_reduction) {
    // An elementwise epilogue (bias, relu, scaling, ...) on top of an operator with its own
    // schedule: that schedule handles the whole fused DAG and fuses the epilogue. Producers are
    // searched nearest first; the first one with a registered schedule decides, and the search
    // stops at the first reduction (an unregistered reduction gets the generic schedule).
    for (int i = schedule.stage_index_of(output) - 1; i >= 0 && !function; --i) {
      const StageNode& stage = schedule.stage_node(i);
      if (stage.is_placeholder) continue;
      function = lookup(prefix + stage.op->tag);
      if (stage.op->has_reduction) break;
    }
  }
  if (!function && !prefix.empty()) {
    function = lookup(prefix);
    user_check(function) << "no default schedules are registered for target kind '" << target.kind << "'";
  }
  if (function) {
    function(schedule, output, target);
    return schedule;
  }
  inline_injective_producers(schedule, output);
  for (const Tensor& out : outputs) {
    if (!out.op()->has_reduction) schedule_injective_stage(schedule, out, target);
  }
  return schedule;
}

}  // namespace tessel::te::ops
