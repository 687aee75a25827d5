// vectorize_loops: vectorized loops become vector code (before/after IR), unvectorizable parts are
// scalarised, no vectorized loop survives, and results match the scalar loops exactly.
#include <gtest/gtest.h>

#include <functional>
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

int count_loops(const Stmt& s, ForKind kind) {
  struct Counter : IRVisitor {
    ForKind kind;
    int count = 0;
    void visit_For(const ForNode* op) override {
      count += op->for_kind == kind;
      IRVisitor::visit_For(op);
    }
  } counter;
  counter.kind = kind;
  counter.visit(s);
  return counter.count;
}

int max_lanes(const Stmt& s) {
  struct Finder : IRVisitor {
    int lanes = 1;
    void visit_Load(const LoadNode* op) override {
      lanes = std::max(lanes, op->dtype.lanes());
      IRVisitor::visit_Load(op);
    }
    void visit_Store(const StoreNode* op) override {
      lanes = std::max(lanes, op->value.dtype().lanes());
      IRVisitor::visit_Store(op);
    }
  } finder;
  finder.visit(s);
  return finder.lanes;
}

TEST(VectorizeLoops, VectorAddOfSixteenLanes) {
  Buffer A = make_buffer("A", f32, {64}), B = make_buffer("B", f32, {64}), C = make_buffer("C", f32, {64});
  Var io("io"), ii("ii");
  Expr index = io * 16 + ii;
  Stmt body = make_for(io, 0, 4, ForKind::kSerial,
                       make_for(ii, 0, 16, ForKind::kVectorized, make_store(C, A({index}) + B({index}), {index})));
  Stmt out = vectorize_loops(body);
  Expr lanes = make_ramp(io * 16, 1, 16);
  Stmt expected = make_for(io, 0, 4, ForKind::kSerial, make_store(C, A({lanes}) + B({lanes}), {lanes}));
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out) << "\nexpected:\n" << to_string(expected);

  PrimFunc before = make_prim_func("vadd", {Param::of(A), Param::of(B), Param::of(C)}, body);
  auto memory = expect_same_results(before, before.with_body(out), 41);
  for (int e = 0; e < 64; ++e) {
    EXPECT_EQ(element<float>(memory[2], e), element<float>(memory[0], e) + element<float>(memory[1], e));
  }
}

TEST(VectorizeLoops, MatmulVectorizedOverJKeepsTheReductionLoop) {
  const int M = 4, N = 8, K = 5;
  Buffer A = make_buffer("A", f32, {M, K}), B = make_buffer("B", f32, {K, N}), C = make_buffer("C", f32, {M, N});
  Var i("i"), j("j"), k("k");
  Stmt body = make_for(
      i, 0, M, ForKind::kSerial,
      make_for(j, 0, N, ForKind::kVectorized,
               make_seq({make_store(C, 0.0, {i, j}),
                         make_for(k, 0, K, ForKind::kSerial,
                                  make_store(C, C({i, j}) + A({i, k}) * B({k, j}), {i, j}))})));
  Stmt out = vectorize_loops(body);
  // C[i, 0:8] is a vector accumulator; A[i, k] is broadcast; the k loop stays a loop.
  Expr jv = make_ramp(0, 1, N);
  Stmt expected = make_for(
      i, 0, M, ForKind::kSerial,
      make_seq({make_store(C, make_broadcast(0.0, N), {i, jv}),
                make_for(k, 0, K, ForKind::kSerial,
                         make_store(C, C({i, jv}) + make_broadcast(A({i, k}), N) * B({k, jv}), {i, jv}))}));
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out) << "\nexpected:\n" << to_string(expected);

  PrimFunc before = make_prim_func("matmul", {Param::of(A), Param::of(B), Param::of(C)}, body);
  auto memory = expect_same_results(before, before.with_body(out), 42);
  for (int r = 0; r < M; ++r) {
    for (int c = 0; c < N; ++c) {
      float sum = 0.0f;
      for (int q = 0; q < K; ++q) {
        volatile float product = element<float>(memory[0], r * K + q) * element<float>(memory[1], q * N + c);
        sum = sum + product;
      }
      EXPECT_EQ(element<float>(memory[2], r * N + c), sum) << r << ", " << c;
    }
  }
}

TEST(VectorizeLoops, LaneVaryingIfIsScalarised) {
  Buffer A = make_buffer("A", i32, {8});
  Var i("i");
  Stmt guarded = make_if(i < 5, make_store(A, A({i}) * 3, {i}));
  Stmt body = make_for(i, 0, 8, ForKind::kVectorized, guarded);
  Stmt out = vectorize_loops(body);
  EXPECT_TRUE(structural_equal(out, make_for(i, 0, 8, ForKind::kSerial, guarded))) << to_string(out);
  PrimFunc before = make_prim_func("f", {Param::of(A)}, body);
  expect_same_results(before, before.with_body(out), 43);
}

TEST(VectorizeLoops, LaneInvariantIfStaysAnIf) {
  Buffer A = make_buffer("A", i32, {4, 8});
  Var i("i"), j("j");
  Stmt body = make_for(i, 0, 4, ForKind::kSerial,
                       make_for(j, 0, 8, ForKind::kVectorized,
                                make_if(i < 2, make_store(A, A({i, j}) + j, {i, j}), make_store(A, i, {i, j}))));
  Stmt out = vectorize_loops(body);
  Expr jv = make_ramp(0, 1, 8);
  Stmt expected = make_for(i, 0, 4, ForKind::kSerial,
                           make_if(i < 2, make_store(A, A({i, jv}) + jv, {i, jv}),
                                   make_store(A, make_broadcast(i, 8), {i, jv})));
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out) << "\nexpected:\n" << to_string(expected);
  PrimFunc before = make_prim_func("f", {Param::of(A)}, body);
  expect_same_results(before, before.with_body(out), 44);
}

TEST(VectorizeLoops, SelectCastAndCallAreLaneWise) {
  Buffer A = make_buffer("A", f32, {16}), B = make_buffer("B", f32, {16});
  Var i("i");
  Expr value = make_select(A({i}) > 0.0, make_call(Intrinsic::k_sqrt, {A({i})}), make_cast(f32, i) * A({i}));
  Stmt body = make_for(i, 0, 16, ForKind::kVectorized, make_store(B, value, {i}));
  Stmt out = vectorize_loops(body);
  Expr iv = make_ramp(0, 1, 16);
  Expr av = A({iv});
  Expr expected_value = make_select(av > make_broadcast(0.0, 16), make_call(Intrinsic::k_sqrt, {av}),
                                    make_cast(DataType::Float(32, 16), iv) * av);
  EXPECT_TRUE(structural_equal(out, make_store(B, expected_value, {iv}))) << to_string(out);
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(B)}, body);
  expect_same_results(before, before.with_body(out), 45);
}

TEST(VectorizeLoops, ReductionIntoOneElementIsScalarised) {
  // Every iteration updates S[0]: the lanes would collapse, so the store runs lane by lane.
  Buffer A = make_buffer("A", i32, {8}), S = make_buffer("S", i32, {1});
  Var i("i");
  Stmt update = make_store(S, S({0}) + A({i}) * A({i}), {0});
  Stmt body = make_for(i, 0, 8, ForKind::kVectorized, update);
  Stmt out = vectorize_loops(body);
  EXPECT_TRUE(structural_equal(out, make_for(i, 0, 8, ForKind::kSerial, update))) << to_string(out);
  EXPECT_EQ(count_loops(out, ForKind::kVectorized), 0);
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(S)}, body);
  auto memory = testing::random_memory(before, 46);
  int32_t expected = element<int32_t>(memory[1], 0);
  for (int e = 0; e < 8; ++e) expected += element<int32_t>(memory[0], e) * element<int32_t>(memory[0], e);
  interpret(before.with_body(out), testing::make_args(before, memory));
  EXPECT_EQ(element<int32_t>(memory[1], 0), expected);
}

TEST(VectorizeLoops, PartialScalarisationKeepsTheRestVector) {
  // The first store vectorizes; the guarded second one is scalarised on its own.
  Buffer A = make_buffer("A", i32, {8}), B = make_buffer("B", i32, {8});
  Var i("i");
  Stmt guarded = make_if(A({i}) > 0, make_store(B, 1, {i}));
  Stmt body = make_for(i, 0, 8, ForKind::kVectorized, make_seq({make_store(B, A({i}) - 7, {i}), guarded}));
  Stmt out = vectorize_loops(body);
  const SeqNode* seq = out.as<SeqNode>();
  ASSERT_NE(seq, nullptr) << to_string(out);
  ASSERT_EQ(seq->stmts.size(), 2u);
  Expr iv = make_ramp(0, 1, 8);
  EXPECT_TRUE(structural_equal(seq->stmts[0], make_store(B, A({iv}) - make_broadcast(7, 8), {iv})));
  EXPECT_TRUE(structural_equal(seq->stmts[1], make_for(i, 0, 8, ForKind::kSerial, guarded))) << to_string(out);
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(B)}, body);
  expect_same_results(before, before.with_body(out), 47);
}

TEST(VectorizeLoops, VectorLetsAndLetExpressions) {
  Buffer A = make_buffer("A", f32, {8}), B = make_buffer("B", f32, {8});
  Var i("i"), x("x", f32), y("y", f32);
  Stmt body = make_for(i, 0, 8, ForKind::kVectorized,
                       make_let_stmt(x, A({i}) * 2.0, make_store(B, x + make_let(y, x * x, y - 1.0), {i})));
  Stmt out = vectorize_loops(body);
  const LetStmtNode* let = out.as<LetStmtNode>();
  ASSERT_NE(let, nullptr) << to_string(out);
  EXPECT_EQ(let->var.dtype(), DataType::Float(32, 8));
  EXPECT_EQ(max_lanes(out), 8);
  EXPECT_EQ(count_loops(out, ForKind::kVectorized) + count_loops(out, ForKind::kSerial), 0) << to_string(out);
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(B)}, body);
  expect_same_results(before, before.with_body(out), 48);
}

TEST(VectorizeLoops, FailureUnderAVectorLetScalarisesTheLet) {
  // The If's condition varies by lane and sits under a vector let: the whole let runs per lane.
  Buffer A = make_buffer("A", i32, {8}), B = make_buffer("B", i32, {8});
  Var i("i"), x("x");
  Stmt let = make_let_stmt(x, A({i}) + i, make_if(x > 3, make_store(B, x, {i})));
  Stmt body = make_for(i, 0, 8, ForKind::kVectorized, let);
  Stmt out = vectorize_loops(body);
  EXPECT_TRUE(structural_equal(out, make_for(i, 0, 8, ForKind::kSerial, let))) << to_string(out);
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(B)}, body);
  expect_same_results(before, before.with_body(out), 49);
}

TEST(VectorizeLoops, LaneDependentInnerLoopAndSymbolicExtentBecomeSerial) {
  Buffer A = make_buffer("A", i32, {8}), B = make_buffer("B", i32, {8});
  Var i("i"), k("k"), n("n");
  // Inner loop bound depends on the lane: triangular sums, scalarised.
  Stmt inner = make_for(k, 0, i, ForKind::kSerial, make_store(B, B({i}) + A({k}), {i}));
  Stmt body = make_for(i, 0, 8, ForKind::kVectorized, inner);
  Stmt out = vectorize_loops(body);
  EXPECT_TRUE(structural_equal(out, make_for(i, 0, 8, ForKind::kSerial, inner))) << to_string(out);
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(B)}, body);
  expect_same_results(before, before.with_body(out), 50);

  Stmt symbolic = make_for(i, 0, n, ForKind::kVectorized, make_store(B, i, {i}));
  Stmt serial = vectorize_loops(symbolic);
  EXPECT_TRUE(structural_equal(serial, make_for(i, 0, n, ForKind::kSerial, make_store(B, i, {i}))));
}

TEST(VectorizeLoops, NestedVectorizedLoopsLeaveNoVectorizedLoop) {
  Buffer A = make_buffer("A", i32, {4, 8});
  Var i("i"), j("j");
  Stmt body = make_for(i, 0, 4, ForKind::kVectorized,
                       make_for(j, 0, 8, ForKind::kVectorized, make_store(A, A({i, j}) * 2 + i - j, {i, j})));
  Stmt out = vectorize_loops(body);
  EXPECT_EQ(count_loops(out, ForKind::kVectorized), 0) << to_string(out);
  EXPECT_EQ(max_lanes(out), 8) << to_string(out);  // the inner loop is vector code
  PrimFunc before = make_prim_func("f", {Param::of(A)}, body);
  expect_same_results(before, before.with_body(out), 51);
}

TEST(VectorizeLoops, StridedAccessStaysARamp) {
  Buffer A = make_buffer("A", f32, {32}), B = make_buffer("B", f32, {8});
  Var i("i");
  Stmt body = make_for(i, 0, 8, ForKind::kVectorized, make_store(B, A({i * 4 + 1}), {i}));
  Stmt out = vectorize_loops(body);
  Stmt expected = make_store(B, A({make_ramp(1, 4, 8)}), {make_ramp(0, 1, 8)});
  EXPECT_TRUE(structural_equal(out, expected)) << to_string(out);
  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(B)}, body);
  expect_same_results(before, before.with_body(out), 52);
}

// Random vectorized loop bodies: each statement writes its own output buffer (so iterations are
// independent, as a vectorized loop promises) through contiguous, strided, reversed, constant or
// halved (non-injective) indices, under lane-varying or lane-invariant ifs, lets and inner loops.
// The vectorized program must write exactly what the scalar loops write.
TEST(VectorizeLoops, RandomBodiesMatchScalarExecution) {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int trials = 200;
  int vector_results = 0;
  for (int trial = 0; trial < trials; ++trial) {
    Buffer A = make_buffer("A", i32, {64});
    std::vector<Buffer> outputs;
    Var o("o"), i("i"), k("k");
    const int lanes = 1 << pick(1, 3), first = pick(0, 3);
    auto index = [&](bool injective_only) -> Expr {
      switch (pick(0, injective_only ? 3 : 5)) {
        case 0: return i + pick(0, 20);
        case 1: return i * 2 + pick(0, 20);
        case 2: return o * 8 + i;
        case 3: return Expr(40) - i;
        case 4: return i / 2 + pick(0, 5);
        default: return Expr(pick(0, 30));
      }
    };
    std::function<Expr(int)> value = [&](int depth) -> Expr {
      if (depth == 0) {
        switch (pick(0, 3)) {
          case 0: return A({index(false)});
          case 1: return i;
          case 2: return o + 1;
          default: return Expr(pick(-9, 9));
        }
      }
      Expr a = value(depth - 1), b = value(depth - 1);
      switch (pick(0, 6)) {
        case 0: return a + b;
        case 1: return a - b;
        case 2: return a * b;
        case 3: return min(a, b);
        case 4: return max(a, b);
        case 5: return make_select(a < b, a, b * 2);
        default: return make_cast(i32, make_cast(f32, a) * 0.5);
      }
    };
    std::vector<Stmt> stmts;
    for (int s = pick(1, 3); s > 0; --s) {
      Buffer B = make_buffer("B" + std::to_string(outputs.size()), i32, {64});
      outputs.push_back(B);
      Expr at = index(false);
      Stmt st;
      switch (pick(0, 4)) {
        case 0: st = make_store(B, value(pick(0, 3)), {at}); break;
        case 1: st = make_if(i < first + pick(0, lanes), make_store(B, value(2), {at})); break;  // lane-varying
        case 2: st = make_if(o < 1, make_store(B, value(2), {at}), make_store(B, value(1), {at})); break;
        case 3: {
          Var x("x");
          st = make_let_stmt(x, value(2), make_store(B, x * x - x, {at}));
          break;
        }
        default:  // an inner accumulation loop around a read-modify-write of the same element
          st = make_for(k, 0, 3, ForKind::kSerial, make_store(B, B({at}) + A({at + k}) * (k + 1), {at}));
          break;
      }
      stmts.push_back(st);
    }
    Stmt body = make_for(o, 0, 2, ForKind::kSerial, make_for(i, first, lanes, ForKind::kVectorized, make_seq(stmts)));
    std::vector<Param> params = {Param::of(A)};
    for (const Buffer& b : outputs) params.push_back(Param::of(b));
    PrimFunc before = make_prim_func("random_vector", params, body);
    Stmt out = vectorize_loops(body);
    ASSERT_EQ(count_loops(out, ForKind::kVectorized), 0) << to_string(out);
    vector_results += max_lanes(out) > 1;
    auto input = testing::random_memory(before, trial);
    auto expected = input, actual = input;
    interpret(before, testing::make_args(before, expected));
    interpret(before.with_body(out), testing::make_args(before, actual));
    ASSERT_EQ(actual, expected) << "trial " << trial << "\nbefore:\n" << to_string(body) << "\nafter:\n" << to_string(out);
  }
  EXPECT_GT(vector_results, trials / 2);  // most random bodies do get vector code
}

}  // namespace
}  // namespace tessel
