// Default GPU (target kind "cuda") schedules of the operator library: thread-bound loop nests for
// the CUDA code generator. default_schedule(outputs, ScheduleTarget{.kind = "cuda"}) picks them:
// they are registered under "cuda:<tag>", and the generic GPU schedule under "cuda:".
//
//   dense / matmul / batch-free GEMMs: 32x32 block tiles, 16x16 threads with 2x2 outputs each, the
//     K loop split by 8 with A and B tiles cached in shared memory (cooperative fetch by all threads);
//   conv2d NCHW (grouped and depthwise included): one output per thread in a register, pad inlined;
//   softmax, log_softmax, layer_norm, instance_norm: one block per row, the row reductions
//     rfactored and bound to threadIdx.x (block-wide warp-shuffle reductions);
//   elementwise / broadcast / injective and everything else: fused, 256 threads per block, 4-wide
//     vectors (float4) when the innermost extent allows.
// An elementwise epilogue (bias, relu, ...) is fused into the anchor operator's kernel.
#pragma once

#include "tessel/te/ops/common.h"

namespace tessel::te::ops {

// Registers the schedules above (called once by default_schedule()).
void register_gpu_schedules();

// The generic GPU schedule of one injective output: inline producers, fuse, bind, vectorise.
void schedule_gpu_injective(Schedule& schedule, const Tensor& output, const ScheduleTarget& target);

}  // namespace tessel::te::ops
