// Row softmax with vectorised max, exp and sum (kVectorized loops over 2-D buffers, lowered by
// lower()), parallel over rows, against the interpreter and against a double-precision reference.
// Tolerance: relative 1e-6 per element against the interpreter, which computes exp exactly and
// rounds to float (the generated code's polynomial exp has a relative error of 8e-8), plus
// |x - max| * 6e-8 against the double reference, for rounding x - max to float.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"

namespace tessel::codegen {
namespace {

using testing::AlignedArray;
using testing::fill_random;

// Y[r, :] = softmax(X[r, :]); cols a multiple of 16. Per row: 16-lane partial maxima and sums in
// a local buffer, reduced by a scalar loop.
PrimFunc make_softmax(int rows, int cols) {
  const DataType f32 = DataType::Float(32);
  Buffer x = make_buffer("X", f32, {rows, cols}), y = make_buffer("Y", f32, {rows, cols});
  Buffer partial = make_buffer("Partial", f32, {16}, {}, MemoryScope::kLocal);
  Buffer scalar = make_buffer("Scalar", f32, {2}, {}, MemoryScope::kLocal);  // [max, sum]
  Var r("r");
  auto vector_loop = [&](const std::string& name, const std::function<Stmt(Expr col, Expr lane)>& body) {
    Var c(name + "_c"), l(name + "_l");
    return make_for(c, 0, cols / 16, ForKind::kSerial, make_for(l, 0, 16, ForKind::kVectorized, body(c * 16 + l, l)));
  };
  auto lane_loop = [&](const std::string& name, const std::function<Stmt(Expr lane)>& body) {
    Var l(name);
    return make_for(l, 0, 16, ForKind::kVectorized, body(l));
  };
  auto reduce = [&](const std::string& name, int slot, bool is_max) {
    Var l(name);
    Expr combined = is_max ? max(scalar({slot}), partial({l})) : scalar({slot}) + partial({l});
    return make_for(l, 0, 16, ForKind::kSerial, make_store(scalar, combined, {slot}));
  };
  const double lowest = -std::numeric_limits<float>::infinity();
  Stmt row = make_seq({
      lane_loop("init_max", [&](Expr l) { return make_store(partial, make_float(f32, lowest), {l}); }),
      vector_loop("max", [&](Expr c, Expr l) { return make_store(partial, max(partial({l}), x({r, c})), {l}); }),
      make_store(scalar, make_float(f32, lowest), {0}),
      reduce("reduce_max", 0, true),
      lane_loop("init_sum", [&](Expr l) { return make_store(partial, make_float(f32, 0.0), {l}); }),
      vector_loop("exp", [&](Expr c, Expr l) {
        Expr e = make_call(Intrinsic::k_exp, {x({r, c}) - scalar({0})});
        return make_seq({make_store(y, e, {r, c}), make_store(partial, partial({l}) + y({r, c}), {l})});
      }),
      make_store(scalar, make_float(f32, 0.0), {1}),
      reduce("reduce_sum", 1, false),
      vector_loop("scale", [&](Expr c, Expr) { return make_store(y, y({r, c}) / scalar({1}), {r, c}); }),
  });
  Stmt body = make_for(r, 0, rows, ForKind::kParallel, make_allocate(partial, make_allocate(scalar, row)));
  return make_prim_func("softmax", {Param::of(x), Param::of(y)}, body);
}

TEST(CodegenSoftmax, MatchesInterpreterAndReference) {
  for (int cols : {16, 64, 256}) {
    const int rows = 33;
    PrimFunc f = make_softmax(rows, cols);
    AlignedArray<float> x(rows * cols), jit_y(rows * cols), ref_y(rows * cols);
    fill_random(x, 77 + cols, -20, 20);
    JitModule module = JitModule::compile({f});
    module.get_function("softmax").call({x.data(), jit_y.data()});
    interpret(f, {x.data(), ref_y.data()});
    EXPECT_LE(testing::max_relative_error(jit_y, ref_y, 1e-30), 1e-6) << cols << " columns";
    for (int r = 0; r < rows; ++r) {
      double max_x = -INFINITY, sum = 0;
      for (int c = 0; c < cols; ++c) max_x = std::max<double>(max_x, x[r * cols + c]);
      for (int c = 0; c < cols; ++c) sum += std::exp(double{x[r * cols + c]} - max_x);
      for (int c = 0; c < cols; ++c) {
        const double shifted = double{x[r * cols + c]} - max_x;
        const double expected = std::exp(shifted) / sum;
        // Against exact arithmetic, rounding x - max to float adds |x - max| * 2^-24 of relative error.
        const double tolerance = (1e-6 + std::fabs(shifted) * 6e-8) * expected + 1e-38;
        ASSERT_NEAR(jit_y[r * cols + c], expected, tolerance) << "row " << r << " column " << c;
      }
    }
    // The lowered code is vectorised: exp of 16 lanes, no libm calls.
    EXPECT_NE(module.llvm_ir().find("<16 x float>"), std::string::npos);
    EXPECT_EQ(module.llvm_ir().find("@expf"), std::string::npos);
  }
}

}  // namespace
}  // namespace tessel::codegen
