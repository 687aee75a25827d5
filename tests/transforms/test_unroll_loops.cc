// unroll_loops: constant-extent unrolled loops become copies of their body (before/after IR), other
// loops are untouched, and the unrolled code computes the same results.
#include <gtest/gtest.h>

#include "pass_testing.h"
#include "tessel/ir/structural.h"
#include "tessel/ir/transforms.h"

namespace tessel {
namespace {

using testing::element;
using testing::expect_same_results;

const DataType f32 = DataType::Float(32);
const DataType i32 = DataType::Int(32);

TEST(UnrollLoops, FourIterationLoopBecomesFourCopies) {
  Buffer A = make_buffer("A", f32, {4, 4});
  Buffer B = make_buffer("B", f32, {4});
  Var i("i"), j("j");
  // B[i] = sum over j of A[i, j] * (j + 1), with j unrolled.
  auto update = [&](Expr jj) { return make_store(B, B({i}) + A({i, jj}) * make_cast(f32, jj + 1), {i}); };
  Stmt body = make_for(i, 0, 4, ForKind::kSerial,
                       make_seq({make_store(B, 0.0, {i}), make_for(j, 0, 4, ForKind::kUnrolled, update(j))}));
  Stmt unrolled = unroll_loops(body);
  Stmt expected = make_for(i, 0, 4, ForKind::kSerial,
                           make_seq({make_store(B, 0.0, {i}), update(0), update(1), update(2), update(3)}));
  EXPECT_TRUE(structural_equal(unrolled, expected)) << to_string(unrolled) << "\nexpected:\n" << to_string(expected);

  PrimFunc before = make_prim_func("weighted_rows", {Param::of(A), Param::of(B)}, body);
  auto memory = expect_same_results(before, before.with_body(unrolled), 21);
  for (int r = 0; r < 4; ++r) {
    float sum = 0.0f;
    for (int c = 0; c < 4; ++c) sum = sum + element<float>(memory[0], r * 4 + c) * static_cast<float>(c + 1);
    EXPECT_EQ(element<float>(memory[1], r), sum) << "row " << r;
  }
}

TEST(UnrollLoops, NonZeroMinAndNestedUnrolledLoops) {
  Buffer A = make_buffer("A", i32, {3, 6});
  Var i("i"), j("j");
  // Both loops unrolled; j starts at 2. Inner loops are unrolled first, so 3 * 4 stores result.
  auto store = [&](Expr ii, Expr jj) { return make_store(A, A({ii, jj}) * 2 + ii * jj, {ii, jj}); };
  Stmt body = make_for(i, 0, 3, ForKind::kUnrolled, make_for(j, 2, 4, ForKind::kUnrolled, store(i, j)));
  Stmt unrolled = unroll_loops(body);
  std::vector<Stmt> copies;
  for (int a = 0; a < 3; ++a) {
    for (int b = 2; b < 6; ++b) copies.push_back(store(a, b));
  }
  Stmt expected = make_seq(copies);
  EXPECT_TRUE(structural_equal(unrolled, expected)) << to_string(unrolled);
  PrimFunc before = make_prim_func("f", {Param::of(A)}, body);
  expect_same_results(before, before.with_body(unrolled), 22);
}

TEST(UnrollLoops, SymbolicMinIsAddedToEachCopy) {
  Buffer A = make_buffer("A", i32, {16});
  Var base("base"), j("j");
  Stmt body = make_for(j, base, 3, ForKind::kUnrolled, make_store(A, j, {j}));
  Stmt unrolled = unroll_loops(body);
  Stmt expected = make_seq({make_store(A, base, {base}), make_store(A, base + 1, {base + 1}),
                            make_store(A, base + 2, {base + 2})});
  EXPECT_TRUE(structural_equal(unrolled, expected)) << to_string(unrolled);
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(base)}, body);
  std::vector<std::vector<unsigned char>> memory = testing::random_memory(before, 23);
  auto reference = memory;
  interpret(before, testing::make_args(before, reference, {5}));
  interpret(before.with_body(unrolled), testing::make_args(before, memory, {5}));
  EXPECT_EQ(memory, reference);
  EXPECT_EQ(element<int32_t>(memory[0], 6), 6);
}

TEST(UnrollLoops, OtherLoopsAreLeftAlone) {
  Buffer A = make_buffer("A", i32, {8});
  Var i("i"), n("n");
  Stmt serial = make_for(i, 0, 8, ForKind::kSerial, make_store(A, i, {i}));
  EXPECT_TRUE(unroll_loops(serial).same_as(serial));
  // A symbolic extent cannot be unrolled: it becomes a serial loop.
  Stmt symbolic = make_for(i, 0, n, ForKind::kUnrolled, make_store(A, i, {i}));
  Stmt out = unroll_loops(symbolic);
  EXPECT_TRUE(structural_equal(out, make_for(i, 0, n, ForKind::kSerial, make_store(A, i, {i})))) << to_string(out);
  // An empty unrolled loop disappears.
  Stmt empty = make_for(i, 0, 0, ForKind::kUnrolled, make_store(A, i, {i}));
  EXPECT_TRUE(is_no_op(unroll_loops(empty)));
}

}  // namespace
}  // namespace tessel
