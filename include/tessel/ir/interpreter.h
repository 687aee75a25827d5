// The reference interpreter: runs loop IR on host memory, slowly and exactly. It is the oracle
// for testing passes and code generators. Integers wrap at their type's width; float32 results are
// rounded to float after every operation (float16/bfloat16 likewise to their precision), so the
// interpreter reproduces IEEE single-precision arithmetic without FMA contraction.
// Errors (out-of-bounds access on a buffer with known shape, division by zero, failed Assert,
// unbound variable) throw CompileError with a description.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <variant>
#include <vector>

#include "tessel/ir/stmt.h"

namespace tessel {

// A runtime value: `lanes` integers (int/uint/bool, wrapped to width) or floats.
struct Value {
  DataType dtype;
  std::vector<int64_t> ints;   // used when dtype is integral or handle
  std::vector<double> floats;  // used when dtype is float
  static Value from_int(DataType t, int64_t v);  // broadcast to t's lanes
  static Value from_float(DataType t, double v);
  int64_t as_int(int lane = 0) const;
  double as_float(int lane = 0) const;  // converts ints too
};

// Variable bindings for evaluating an expression on its own (no buffers).
using VarBindings = std::unordered_map<const VarNode*, Value>;

// Evaluates a pure expression (no Load) with the given variable values.
Value evaluate(const Expr& e, const VarBindings& bindings);

// An argument of a PrimFunc call: a pointer to host memory for a buffer parameter (laid out by
// the buffer's strides, element type = the buffer's dtype), or a scalar for a scalar parameter.
using InterpArg = std::variant<void*, int64_t, double>;

// Runs f on the given arguments (one per parameter, in order). Buffer memory is read and written
// in place.
void interpret(const PrimFunc& f, const std::vector<InterpArg>& args);

}  // namespace tessel
