// simplify_stmt: statements before and expected after, compared by structural equality, plus a
// check against the interpreter that a simplified loop nest computes the same buffer contents.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "tessel/ir/interpreter.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/structural.h"
#include "tessel/ir/transforms.h"

namespace tessel {
namespace {

class SimplifyStmtTest : public ::testing::Test {
 protected:
  void check(const Stmt& input, const Stmt& expected) {
    Stmt result = simplify_stmt(input);
    EXPECT_TRUE(structural_equal(result, expected)) << "input:\n" << input << "result:\n" << result << "expected:\n"
                                                    << expected;
  }

  static Stmt loop(const Var& v, Expr min, Expr extent, Stmt body, ForKind kind = ForKind::kSerial) {
    return make_for(v, std::move(min), std::move(extent), kind, std::move(body));
  }
  static Expr div(Expr a, Expr b) { return std::move(a) / std::move(b); }
  static Expr mod(Expr a, Expr b) { return std::move(a) % std::move(b); }

  Var i{"i"}, j{"j"}, k{"k"}, x{"x"}, n{"n"};
  Buffer A = make_buffer("A", DataType::Int(32), {64});
  Buffer B = make_buffer("B", DataType::Int(32), {64});
};

TEST_F(SimplifyStmtTest, LoopsOfExtentZeroAndOne) {
  check(loop(i, 0, 0, make_store(A, i, {i})), make_no_op());
  check(loop(i, 5, x - x, make_store(A, i, {i})), make_no_op());
  check(loop(i, 3, 1, make_store(A, i * 2, {i})), make_store(A, 6, {3}));
  // The minimum may be any expression; it replaces the variable everywhere in the body.
  check(loop(j, 0, 8, loop(i, j * 2, 1, make_store(A, i + 1, {i}))),
        loop(j, 0, 8, make_store(A, j * 2 + 1, {j * 2})));
  // A thread-bound loop names a launch dimension and stays even with extent 1 (its variable is 0).
  check(make_for(i, 0, 1, ForKind::kThreadBound, make_store(A, i, {i}), "threadIdx.x"),
        make_for(i, 0, 1, ForKind::kThreadBound, make_store(A, 0, {0}), "threadIdx.x"));
}

TEST_F(SimplifyStmtTest, LoopRangesSimplifyIndices) {
  check(loop(i, 0, 8, loop(j, 0, 8, make_store(A, div(i * 8 + j, 8), {mod(i * 8 + j, 8)}))),
        loop(i, 0, 8, loop(j, 0, 8, make_store(A, i, {j}))));
  check(loop(i, 0, 64, make_store(A, make_select(i < 100, x, n), {i})), loop(i, 0, 64, make_store(A, x, {i})));
  check(loop(i, 0, 4 * 2, make_store(A, min(i, 7), {i + 0})), loop(i, 0, 8, make_store(A, i, {i})));
}

TEST_F(SimplifyStmtTest, ConstantConditions) {
  check(loop(i, 0, 64, make_if(i < 64, make_store(A, 1, {i}))), loop(i, 0, 64, make_store(A, 1, {i})));
  check(loop(i, 0, 64, make_if(i >= 64, make_store(A, 1, {i}), make_store(B, 2, {i}))),
        loop(i, 0, 64, make_store(B, 2, {i})));
  check(make_if(Expr(1) > Expr(2), make_store(A, 1, {0})), make_no_op());
  check(loop(i, 0, 64, make_assert(i < 64, "in range")), loop(i, 0, 64, make_no_op()));
}

TEST_F(SimplifyStmtTest, BranchConditionsTightenRanges) {
  // Inside `if (i < 10)`, i is in [0, 9]; in the else branch, in [10, 99].
  Stmt input = loop(i, 0, 64, make_if(i < 10, make_store(A, div(i, 16), {i}),
                                      make_store(B, make_select(i >= 10, 1, 2), {i})));
  Stmt expected = loop(i, 0, 64, make_if(i < 10, make_store(A, 0, {i}), make_store(B, 1, {i})));
  check(input, expected);
  // A contradiction inside a branch folds away; conjunctions and constants on the left work too.
  check(loop(i, 0, 64, make_if(i < 10, make_if(i > 20, make_store(A, 1, {i})))),
        loop(i, 0, 64, make_if(i < 10, make_no_op())));
  check(loop(i, 0, 64, make_if(Expr(8) <= i && i < 16, make_store(A, div(i, 8), {i}))),
        loop(i, 0, 64, make_if(i >= 8 && i < 16, make_store(A, 1, {i}))));
  // Facts about a free variable compared with a bounded expression.
  check(loop(i, 0, 8, make_if(x < i, make_store(A, make_select(x < 8, 1, 2), {i}))),
        loop(i, 0, 8, make_if(i > x, make_store(A, 1, {i}))));  // canonical: first term (i) on the left
}

TEST_F(SimplifyStmtTest, FactsEndWithTheirScope) {
  // The same variable in two sibling loops with different ranges, and a fact used after its if.
  Stmt input = make_seq({loop(i, 0, 8, make_store(A, div(i, 8), {i})), loop(i, 0, 16, make_store(B, div(i, 8), {i})),
                         make_if(x < 10, make_store(A, make_select(x < 10, 1, 2), {0})),
                         make_store(A, make_select(x < 10, 1, 2), {1})});
  Stmt expected = make_seq({loop(i, 0, 8, make_store(A, 0, {i})), loop(i, 0, 16, make_store(B, div(i, 8), {i})),
                            make_if(x < 10, make_store(A, 1, {0})), make_store(A, make_select(x < 10, 1, 2), {1})});
  check(input, expected);
}

TEST_F(SimplifyStmtTest, LetStatements) {
  Var v("v");
  check(make_let_stmt(v, 5, make_store(A, v, {v})), make_store(A, 5, {5}));
  check(loop(i, 0, 64, make_let_stmt(v, i * 2, make_store(A, div(v, 128), {i}))),
        loop(i, 0, 64, make_store(A, 0, {i})));  // the let's value bounds v; v becomes unused
  Stmt kept = loop(i, 0, 64, make_let_stmt(v, i * 2, make_store(A, v, {i})));
  EXPECT_TRUE(simplify_stmt(kept).same_as(kept));
}

TEST_F(SimplifyStmtTest, UnchangedStatementKeepsIdentity) {
  // Already canonical: terms ordered variables first, then other terms (loads here).
  Stmt s = loop(i, 0, n, loop(j, 0, 8, make_store(A, x + A({i * 8 + j}), {i * 8 + j})));
  EXPECT_TRUE(simplify_stmt(s).same_as(s)) << simplify_stmt(s);
  Stmt reordered = loop(i, 0, n, loop(j, 0, 8, make_store(A, A({i * 8 + j}) + x, {j + i * 8})));
  check(reordered, s);
}

TEST_F(SimplifyStmtTest, SameResultsAsBeforeInTheInterpreter) {
  // for i in [0, 8): for j in [0, 8): if (i * 8 + j < 64 && j < 8)
  //   C[(i * 8 + j) / 8 * 8 + (i * 8 + j) % 8] = A[i * 8 + j] * (1 + 0) + select(j < 4, i, j)
  Buffer in = make_buffer("in", DataType::Int(32), {64});
  Buffer out = make_buffer("out", DataType::Int(32), {64});
  Expr flat = i * 8 + j;
  Stmt body = loop(i, 0, 8, loop(j, 0, 8, make_if((flat < 64) && (j < 8),
      make_store(out, in({flat}) * (Expr(1) + 0) + make_select(j < 4, i, j), {div(flat, 8) * 8 + mod(flat, 8)}))));
  PrimFunc before = make_prim_func("f", {Param::of(in), Param::of(out)}, body);
  Stmt simplified = simplify_stmt(body);
  EXPECT_FALSE(simplified.same_as(body));
  PrimFunc after = before.with_body(simplified);
  std::mt19937 rng(5);
  std::vector<int32_t> input(64), out_before(64, -1), out_after(64, -2);
  for (int32_t& v : input) v = static_cast<int32_t>(rng() % 1000) - 500;
  interpret(before, {input.data(), out_before.data()});
  interpret(after, {input.data(), out_after.data()});
  EXPECT_EQ(out_before, out_after);
  for (int t = 0; t < 64; ++t) EXPECT_EQ(out_before[t], input[t] + (t % 8 < 4 ? t / 8 : t % 8));
}

}  // namespace
}  // namespace tessel
