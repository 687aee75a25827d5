// Loop-IR passes. Each is one free function implemented in its own file under src/transforms/;
// the comment says what it requires and what it guarantees. lower.h runs them as one pipeline.
#pragma once

#include "tessel/ir/stmt.h"

namespace tessel {

// simplify.cc: simplifies every expression with loop ranges known (For binds its variable's range,
// If conditions are known true/false in their branches where provable), folds constant
// conditions, drops loops of extent 0 and substitutes loops of extent 1.
Stmt simplify_stmt(const Stmt& s);

// remove_no_op.cc: removes statements with no effect (Evaluate of a constant, empty loops, ifs
// with no-op branches, allocations never read or written), and flattens Seqs.
Stmt remove_no_op(const Stmt& s);

// unroll_loops.cc: replaces kUnrolled loops with constant extent by copies of the body, one per
// iteration, with the loop variable substituted. Non-constant extents stay serial loops.
Stmt unroll_loops(const Stmt& s);

// vectorize_loops.cc: turns each kVectorized loop with constant extent into vector operations:
// the loop variable becomes Ramp(min, 1, extent), loads/stores become vector loads/stores, scalar
// operands are broadcast. What has no vector form (inner loops, ifs on lane-varying conditions,
// lets of vector values in some positions) is scalarised: the body runs as a serial loop.
// Requires: storage flattened or not, either works. Guarantees: no kVectorized loop remains.
Stmt vectorize_loops(const Stmt& s);

// storage_flatten.cc: rewrites multi-dimensional Load/Store on every buffer into one flat index
// using the buffer's strides (compact row-major when none), and Allocate of multi-dimensional
// buffers into 1-D allocations. Guarantees: every access has exactly one index.
Stmt storage_flatten(const Stmt& s);

// loop_partition.cc: splits a loop whose body has conditions (If or Select guards, e.g. from
// non-dividing splits) that hold on a provable middle range of the loop variable into a prologue,
// a guard-free middle loop and an epilogue, so the middle loop can be vectorized and unrolled.
Stmt loop_partition(const Stmt& s);

}  // namespace tessel
