// The loop-IR lowering pipeline: one list of passes, run in order by a pass manager that times
// passes (TESSEL_TIME_PASSES=1) and dumps the IR after each pass that changed it
// (TESSEL_DUMP_IR=dir writes dir/<function>.<NN>.<pass>.tir).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tessel/ir/stmt.h"

namespace tessel {

struct Pass {
  std::string name;
  std::function<Stmt(const Stmt&)> run;
};

// The standard pipeline, in order: storage_flatten, simplify, loop_partition, simplify, unroll,
// vectorize, simplify, remove_no_op.
const std::vector<Pass>& default_passes();

// Runs passes on f's body through the pass manager.
PrimFunc run_passes(const PrimFunc& f, const std::vector<Pass>& passes);
PrimFunc lower(const PrimFunc& f);  // run_passes(f, default_passes())

}  // namespace tessel
