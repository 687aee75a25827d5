// Registration of the operator library's default schedules. Called once, before the first
// default_schedule() dispatch (explicit calls rather than static initialisers, which a static
// library would drop).
#pragma once

namespace tessel::te::ops {

void register_nn_schedules();      // dense, matmul, conv2d, pooling (te/ops/nn_registry.cc)
void register_tensor_schedules();  // elementwise, reductions, normalisation, injective (te/ops/tensor_registry.cc)

}  // namespace tessel::te::ops
