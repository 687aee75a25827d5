// Default schedules of the tensor operators (elementwise, reductions, normalisation, injective),
// registered by tag.
#include "builtin_schedules.h"

namespace tessel::te::ops {

void register_tensor_schedules() {}

}  // namespace tessel::te::ops
