// Default schedules of the neural-network operators, registered by tag.
#include "builtin_schedules.h"

namespace tessel::te::ops {

void register_nn_schedules() {}

}  // namespace tessel::te::ops
