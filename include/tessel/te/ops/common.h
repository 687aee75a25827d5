// Shared conventions of the operator library (te/ops/): what a default schedule may know about
// the target, and the entry point that picks a default schedule for any compute DAG.
//
// Every operator is a compute function returning a Tensor whose op carries a tag naming what it
// is ("elemwise", "broadcast", "injective", "reduce", "dense", "conv2d_nchw", ...). Operators with
// a hand-tuned default schedule register a schedule function for their tag; everything else gets
// the generic one (inline injective producers, parallelise the outer fused loops, vectorise the
// innermost contiguous loop).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tessel/te/schedule.h"

namespace tessel::te::ops {

// What a default schedule knows about the machine. Kept free of codegen types so te/ does not
// depend on codegen/; relay::default_schedule_target derives it from a codegen::Target.
struct ScheduleTarget {
  std::string kind = "llvm";  // "llvm" (CPU) or "cuda"
  int vector_bits = 512;      // widest native float vector on CPU
  int vector_registers = 32;  // architectural vector registers (32 with AVX-512, 16 with AVX2)
  int num_cores = 2;          // worker threads parallel loops run on
  int max_threads_per_block = 1024;  // GPU
  // Lanes of dtype in one native vector (at least 1).
  int vector_lanes(DataType dtype) const { return std::max(1, vector_bits / std::max(8, dtype.bits())); }
};

// A schedule function for one operator tag: given the schedule (created from the outputs) and the
// output tensor whose op has this tag, applies the primitives.
using ScheduleFunction = std::function<void(Schedule& schedule, const Tensor& output, const ScheduleTarget& target)>;

// Registers the default schedule for ops whose tag equals `tag` (or starts with it followed by
// nothing else: exact match). Registration happens from static initialisers in te/ops/*.cc.
bool register_schedule(const std::string& tag, ScheduleFunction function);

// The default schedule for a DAG: dispatches on the tag of the (first) output's op; without a
// registered schedule, applies the generic injective/reduction schedule.
Schedule default_schedule(const std::vector<Tensor>& outputs, const ScheduleTarget& target = ScheduleTarget());

// Generic building blocks for schedule functions.
// Inlines every injective (non-reduction, non-output, non-placeholder) stage feeding `output`.
void inline_injective_producers(Schedule& schedule, const Tensor& output);
// Fuses the outer data-parallel loops of `output`'s stage into one parallel loop and vectorises
// the innermost loop by the target's lanes when it is long enough.
void schedule_injective_stage(Schedule& schedule, const Tensor& output, const ScheduleTarget& target);

}  // namespace tessel::te::ops
