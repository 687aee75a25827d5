// remove_no_op: statements without effect disappear (before/after IR) and the function still
// computes the same results.
#include <gtest/gtest.h>

#include "pass_testing.h"
#include "tessel/ir/structural.h"
#include "tessel/ir/transforms.h"

namespace tessel {
namespace {

using testing::expect_same_results;

const DataType i32 = DataType::Int(32);

TEST(RemoveNoOp, DropsEmptyLoopsIfsLetsAndConstants) {
  Buffer A = make_buffer("A", i32, {8});
  Var i("i"), j("j"), x("x");
  Stmt real = make_store(A, A({i}) + 3, {i});
  Stmt body = make_for(
      i, 0, 8, ForKind::kSerial,
      make_seq({
          make_evaluate(7),                                                           // constant
          make_for(j, 0, 4, ForKind::kSerial, make_no_op()),                          // empty body
          make_for(j, 0, 0, ForKind::kSerial, make_store(A, 1, {j})),                 // zero extent
          make_if(i < 3, make_no_op(), make_no_op()),                                 // no-op branches
          make_let_stmt(x, i * 2, make_evaluate(0)),                                  // let around nothing
          make_assert(make_bool(true), "always"),                                     // true assert
          real,
          make_if(i > 5, make_no_op(), make_store(A, 0, {i})),                        // only an else
      }));
  Stmt out = remove_no_op(body);
  Stmt expected = make_for(i, 0, 8, ForKind::kSerial,
                           make_seq({real, make_if(make_not(i > 5), make_store(A, 0, {i}))}));
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out) << "\nexpected:\n" << to_string(expected);

  PrimFunc before = make_prim_func("f", {Param::of(A)}, body);
  expect_same_results(before, before.with_body(out), 31);
}

TEST(RemoveNoOp, UnusedLetIsDroppedButUsedLetStays) {
  Buffer A = make_buffer("A", i32, {4});
  Var i("i"), x("x"), y("y");
  Stmt body = make_for(i, 0, 4, ForKind::kSerial,
                       make_let_stmt(x, i * 3, make_let_stmt(y, i + 100, make_store(A, x + 1, {i}))));
  Stmt out = remove_no_op(body);
  Stmt expected = make_for(i, 0, 4, ForKind::kSerial, make_let_stmt(x, i * 3, make_store(A, x + 1, {i})));
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out);
  PrimFunc before = make_prim_func("f", {Param::of(A)}, body);
  expect_same_results(before, before.with_body(out), 32);
}

TEST(RemoveNoOp, AllocationNeverReadIsRemovedWithItsStores) {
  Buffer A = make_buffer("A", i32, {8});
  Buffer T = make_buffer("T", i32, {8}, {}, MemoryScope::kLocal);
  Buffer U = make_buffer("U", i32, {8}, {}, MemoryScope::kLocal);
  Var i("i");
  // T is written and never read (dead); U is written and read (kept).
  Stmt body = make_allocate(
      T, make_allocate(U, make_seq({make_for(i, 0, 8, ForKind::kSerial, make_store(T, A({i}) * 2, {i})),
                                    make_for(i, 0, 8, ForKind::kSerial, make_store(U, A({i}) + 1, {i})),
                                    make_for(i, 0, 8, ForKind::kSerial, make_store(A, U({7 - i}), {i}))})));
  Stmt out = remove_no_op(body);
  Stmt expected = make_allocate(U, make_seq({make_for(i, 0, 8, ForKind::kSerial, make_store(U, A({i}) + 1, {i})),
                                             make_for(i, 0, 8, ForKind::kSerial, make_store(A, U({7 - i}), {i}))}));
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out) << "\nexpected:\n" << to_string(expected);
  PrimFunc before = make_prim_func("f", {Param::of(A)}, body);
  expect_same_results(before, before.with_body(out), 33);
}

TEST(RemoveNoOp, UnchangedInputIsReturnedAsIs) {
  Buffer A = make_buffer("A", i32, {8});
  Var i("i");
  Stmt body = make_for(i, 0, 8, ForKind::kSerial, make_seq({make_store(A, i, {i}), make_store(A, A({i}) * 2, {i})}));
  EXPECT_TRUE(remove_no_op(body).same_as(body));
  // Everything empty collapses to one no-op.
  Stmt nothing = make_for(i, 0, 8, ForKind::kParallel, make_seq({make_evaluate(1), make_no_op()}));
  EXPECT_TRUE(is_no_op(remove_no_op(nothing)));
}

}  // namespace
}  // namespace tessel
