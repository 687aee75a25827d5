// loop_partition: guarded loops split into prologue / guard-free middle / epilogue (before/after
// IR), the guards of non-dividing splits disappear from the common case, and a randomized sweep of
// affine guards checks that partitioning never changes results.
#include <gtest/gtest.h>

#include <random>

#include "pass_testing.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/structural.h"
#include "tessel/ir/transforms.h"

namespace tessel {
namespace {

using testing::element;
using testing::expect_same_results;

const DataType f32 = DataType::Float(32);
const DataType i32 = DataType::Int(32);

// Number of If statements and Select expressions (guards) in s.
int count_guards(const Stmt& s) {
  struct Counter : IRVisitor {
    int count = 0;
    void visit_IfThenElse(const IfThenElseNode* op) override {
      ++count;
      IRVisitor::visit_IfThenElse(op);
    }
    void visit_Select(const SelectNode* op) override {
      ++count;
      IRVisitor::visit_Select(op);
    }
  } counter;
  counter.visit(s);
  return counter.count;
}

int max_store_lanes(const Stmt& s) {
  struct Finder : IRVisitor {
    int lanes = 1;
    void visit_Store(const StoreNode* op) override {
      lanes = std::max(lanes, op->value.dtype().lanes());
      IRVisitor::visit_Store(op);
    }
  } finder;
  finder.visit(s);
  return finder.lanes;
}

TEST(LoopPartition, PrefixConditionOnInnermostLoop) {
  Buffer A = make_buffer("A", i32, {10});
  Var i("i");
  Stmt guarded = make_if(i < 7, make_store(A, A({i}) * 2, {i}), make_store(A, 0, {i}));
  Stmt body = make_for(i, 0, 10, ForKind::kSerial, guarded);
  Stmt out = loop_partition(body);
  Var tail("i");
  Stmt expected = make_seq({make_for(i, 0, 7, ForKind::kSerial, make_store(A, A({i}) * 2, {i})),
                            make_for(tail, 7, 3, ForKind::kSerial, substitute(guarded, {{i, tail}}))});
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out) << "\nexpected:\n" << to_string(expected);
  PrimFunc before = make_prim_func("f", {Param::of(A)}, body);
  auto memory = expect_same_results(before, before.with_body(out), 61);
}

TEST(LoopPartition, SuffixConditionInASelect) {
  Buffer A = make_buffer("A", f32, {10}), B = make_buffer("B", f32, {10});
  Var i("i");
  auto store = [&](Var v) { return make_store(B, make_select(v >= 3, A({v}) * 2.0, Expr(0.0)), {v}); };
  Stmt body = make_for(i, 0, 10, ForKind::kSerial, store(i));
  Stmt out = loop_partition(body);
  Var head("i");
  Stmt expected = make_seq({make_for(head, 0, 3, ForKind::kSerial, store(head)),
                            make_for(i, 3, 7, ForKind::kSerial, make_store(B, A({i}) * 2.0, {i}))});
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out) << "\nexpected:\n" << to_string(expected);
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(B)}, body);
  auto memory = expect_same_results(before, before.with_body(out), 62);
  for (int e = 0; e < 10; ++e) EXPECT_EQ(element<float>(memory[1], e), e >= 3 ? element<float>(memory[0], e) * 2.0f : 0.0f);
}

TEST(LoopPartition, ConjunctionGivesPrologueMiddleAndEpilogue) {
  Buffer A = make_buffer("A", i32, {10});
  Var i("i");
  Stmt guarded = make_if(i >= 2 && i < 8, make_store(A, A({i}) + 5, {i}));
  Stmt body = make_for(i, 0, 10, ForKind::kSerial, guarded);
  Stmt out = loop_partition(body);
  Var head("i"), tail("i");
  Stmt expected = make_seq({make_for(head, 0, 2, ForKind::kSerial, substitute(guarded, {{i, head}})),
                            make_for(i, 2, 6, ForKind::kSerial, make_store(A, A({i}) + 5, {i})),
                            make_for(tail, 8, 2, ForKind::kSerial, substitute(guarded, {{i, tail}}))});
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out) << "\nexpected:\n" << to_string(expected);
  PrimFunc before = make_prim_func("f", {Param::of(A)}, body);
  expect_same_results(before, before.with_body(out), 63);
}

// for io in [0, 3): for ii in [0, 4): if (io * 4 + ii < 10) B[io * 4 + ii] = A[io * 4 + ii] + 1
struct SplitWithTail {
  Buffer A = make_buffer("A", f32, {10}), B = make_buffer("B", f32, {10});
  Var io{"io"}, ii{"ii"};
  Stmt guarded(Expr outer, Expr inner) const {
    Expr index = outer * 4 + inner;
    return make_if(index < 10, make_store(B, A({index}) + 1.0, {index}));
  }
  Stmt unguarded(Expr outer, Expr inner) const {
    Expr index = outer * 4 + inner;
    return make_store(B, A({index}) + 1.0, {index});
  }
  Stmt nest(ForKind inner_kind) const {
    return make_for(io, 0, 3, ForKind::kSerial, make_for(ii, 0, 4, inner_kind, guarded(io, ii)));
  }
  PrimFunc func(const Stmt& body) const { return make_prim_func("split", {Param::of(A), Param::of(B)}, body); }
};

TEST(LoopPartition, NonDividingSplitLosesItsGuardOnTheOuterLoop) {
  SplitWithTail split;
  Stmt body = split.nest(ForKind::kSerial);
  Stmt out = loop_partition(body);
  // io in [0, 2) needs no guard; the io = 2 tail is partitioned again on ii: [0, 2) guard-free,
  // [2, 4) keeps the guard.
  Var ii_tail("ii");
  Stmt expected = make_seq({
      make_for(split.io, 0, 2, ForKind::kSerial,
               make_for(split.ii, 0, 4, ForKind::kSerial, split.unguarded(split.io, split.ii))),
      make_for(split.ii, 0, 2, ForKind::kSerial, split.unguarded(2, split.ii)),
      make_for(ii_tail, 2, 2, ForKind::kSerial, split.guarded(2, ii_tail)),
  });
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out) << "\nexpected:\n" << to_string(expected);
  auto memory = expect_same_results(split.func(body), split.func(body).with_body(out), 64);
  for (int e = 0; e < 10; ++e) EXPECT_EQ(element<float>(memory[1], e), element<float>(memory[0], e) + 1.0f);
}

TEST(LoopPartition, SmallParallelLoopStaysOneParallelLoop) {
  // Splitting this parallel io (3 iterations, one guarded) would peel io = 2 into serial code
  // after a 2-iteration parallel loop; the guard goes from the ii loop instead.
  SplitWithTail split;
  Stmt body = make_for(split.io, 0, 3, ForKind::kParallel,
                       make_for(split.ii, 0, 4, ForKind::kSerial, split.guarded(split.io, split.ii)));
  Stmt out = loop_partition(body);
  const ForNode* top = out.as<ForNode>();
  ASSERT_NE(top, nullptr) << to_string(out);
  EXPECT_EQ(top->for_kind, ForKind::kParallel);
  EXPECT_TRUE(structural_equal(top->extent, make_int(DataType::Int(32), 3))) << to_string(out);
  EXPECT_FALSE(structural_equal(out, body)) << "the inner loop should have been partitioned";
  auto memory = expect_same_results(split.func(body), split.func(body).with_body(out), 65);
  for (int e = 0; e < 10; ++e) EXPECT_EQ(element<float>(memory[1], e), element<float>(memory[0], e) + 1.0f);
}

TEST(LoopPartition, VectorizedInnerLoopGetsAGuardFreeBody) {
  SplitWithTail split;
  Stmt body = split.nest(ForKind::kVectorized);
  Stmt partitioned = loop_partition(body);
  // The middle keeps the vectorized kind, so vectorization then produces guard-free vector code.
  const SeqNode* seq = partitioned.as<SeqNode>();
  ASSERT_NE(seq, nullptr) << to_string(partitioned);
  const ForNode* middle = seq->stmts[0].as<ForNode>();
  ASSERT_NE(middle, nullptr);
  const ForNode* inner = middle->body.as<ForNode>();
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(inner->for_kind, ForKind::kVectorized);
  EXPECT_EQ(count_guards(middle->body), 0);

  Stmt vectorized = vectorize_loops(partitioned);
  const ForNode* vector_middle = vectorized.as<SeqNode>()->stmts[0].as<ForNode>();
  ASSERT_NE(vector_middle, nullptr) << to_string(vectorized);
  EXPECT_EQ(max_store_lanes(vector_middle->body), 4) << to_string(vectorized);
  EXPECT_EQ(count_guards(vector_middle->body), 0);
  PrimFunc before = split.func(body);
  expect_same_results(before, before.with_body(partitioned), 65);
  expect_same_results(before, before.with_body(vectorized), 66);
}

TEST(LoopPartition, SymbolicBoundsStayCorrectForEveryValue) {
  Buffer A = make_buffer("A", i32, {16});
  Var i("i"), n("n"), m("m");
  Stmt body = make_for(i, 0, n, ForKind::kSerial, make_if(i < m, make_store(A, A({i}) * 3, {i}), make_store(A, -1, {i})));
  Stmt out = loop_partition(body);
  EXPECT_FALSE(out.same_as(body));
  const SeqNode* seq = out.as<SeqNode>();
  ASSERT_NE(seq, nullptr) << to_string(out);
  EXPECT_EQ(count_guards(seq->stmts[0]), 0) << to_string(out);  // the middle: no guard
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(n), Param::of(m)}, body);
  PrimFunc after = before.with_body(out);
  for (auto [nv, mv] : std::vector<std::pair<int64_t, int64_t>>{{10, 4}, {10, 12}, {10, -3}, {0, 5}, {7, 7}, {16, 0}, {3, 16}}) {
    auto memory = testing::random_memory(before, 67);
    auto reference = memory;
    interpret(before, testing::make_args(before, reference, {nv, mv}));
    interpret(after, testing::make_args(after, memory, {nv, mv}));
    EXPECT_EQ(memory, reference) << "n = " << nv << ", m = " << mv;
  }
}

TEST(LoopPartition, NothingToDoLeavesTheLoopAlone) {
  Buffer A = make_buffer("A", i32, {10});
  Var i("i"), x("x"), n("n");
  // Equality guards, guards on a let variable, guards not involving the loop: not partitioned.
  Stmt equality = make_for(i, 0, 10, ForKind::kSerial, make_if(i == 3, make_store(A, 1, {i})));
  EXPECT_TRUE(loop_partition(equality).same_as(equality));
  Stmt through_let =
      make_for(i, 0, 10, ForKind::kSerial, make_let_stmt(x, i * 2, make_if(x < 5, make_store(A, 1, {i}))));
  EXPECT_TRUE(loop_partition(through_let).same_as(through_let));
  Stmt invariant = make_for(i, 0, 10, ForKind::kSerial, make_if(n < 5, make_store(A, 1, {i})));
  EXPECT_TRUE(loop_partition(invariant).same_as(invariant));
  // A guard that holds nowhere in the loop gives no middle.
  Stmt never = make_for(i, 0, 10, ForKind::kSerial, make_if(i > 20, make_store(A, 1, {i})));
  EXPECT_TRUE(loop_partition(never).same_as(never));
}

// Random affine guards over two nested loops, random comparison operators, loop kinds, Selects
// and else branches; every partitioned program must write exactly what the original writes.
TEST(LoopPartition, RandomAffineGuardsPreserveResults) {
  std::mt19937 rng(2024);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const BinaryOp ops[] = {BinaryOp::kLT, BinaryOp::kLE, BinaryOp::kGT, BinaryOp::kGE};
  const ForKind kinds[] = {ForKind::kSerial, ForKind::kParallel, ForKind::kUnrolled, ForKind::kVectorized};
  int partitioned = 0;
  const int trials = 300;
  for (int trial = 0; trial < trials; ++trial) {
    int outer_extent = pick(1, 6), inner_extent = pick(1, 6), outer_min = pick(-2, 2);
    Buffer A = make_buffer("A", i32, {64});
    Var o("o"), i("i");
    Expr index = (o - outer_min) * 8 + i;
    auto atom = [&]() {
      Expr lhs = Expr(pick(-3, 3)) * o + Expr(pick(-3, 3)) * i;
      return make_binary(ops[pick(0, 3)], lhs, Expr(pick(-12, 12)));
    };
    Expr condition = atom();
    if (pick(0, 2) == 0) condition = condition && atom();
    Stmt update;
    switch (pick(0, 2)) {
      case 0: update = make_if(condition, make_store(A, A({index}) + o * 10 + i, {index})); break;
      case 1: update = make_if(condition, make_store(A, A({index}) * 2, {index}), make_store(A, -o, {index})); break;
      default: update = make_store(A, make_select(condition, A({index}) - 7, Expr(100) + i), {index}); break;
    }
    Stmt body = make_for(o, outer_min, outer_extent, kinds[pick(0, 3)],
                         make_for(i, 0, inner_extent, kinds[pick(0, 3)], update));
    Stmt out = loop_partition(body);
    if (!out.same_as(body)) ++partitioned;
    PrimFunc before = make_prim_func("random_guard", {Param::of(A)}, body);
    auto input = testing::random_memory(before, trial);
    auto expected = input, actual = input;
    interpret(before, testing::make_args(before, expected));
    interpret(before.with_body(out), testing::make_args(before, actual));
    ASSERT_EQ(actual, expected) << "trial " << trial << "\nbefore:\n" << to_string(body) << "\nafter:\n" << to_string(out);
  }
  // Most random guards are affine and partitionable; the sweep must actually exercise the pass.
  EXPECT_GT(partitioned, trials / 2);
}

}  // namespace
}  // namespace tessel
