// Tests of structural equality and hashing: alpha-equivalent terms are equal with equal hashes,
// any difference in constants, operators, types, loop kinds, buffers or free variables makes
// them unequal, and hashes of a few hundred random distinct expressions do not collide.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <unordered_set>

#include "tessel/ir/buffer.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/stmt.h"
#include "tessel/ir/structural.h"

namespace tessel {
namespace {

const DataType kI32 = DataType::Int(32), kI64 = DataType::Int(64), kF32 = DataType::Float(32);

template <typename T>
void expect_equal(const T& a, const T& b) {
  EXPECT_TRUE(structural_equal(a, b)) << to_string(a) << "\nvs\n" << to_string(b);
  EXPECT_TRUE(structural_equal(b, a));
  EXPECT_EQ(structural_hash(a), structural_hash(b)) << to_string(a);
}

template <typename T>
void expect_unequal(const T& a, const T& b) {
  EXPECT_FALSE(structural_equal(a, b)) << to_string(a) << "\nvs\n" << to_string(b);
  EXPECT_FALSE(structural_equal(b, a));
  EXPECT_NE(structural_hash(a), structural_hash(b)) << to_string(a) << "\nvs\n" << to_string(b);
}

// for (i, 0, n) for (j, 0, 8) C[i, j] = A[i, j] * 2 + B[j], with fresh loop variables.
Stmt scaled_add(const Buffer& c, const Buffer& a, const Buffer& b, const Var& n, ForKind outer = ForKind::kSerial) {
  Var i("i"), j("j");
  return make_for(i, 0, n, outer, make_for(j, 0, 8, ForKind::kSerial, make_store(c, a({i, j}) * 2.0f + b({j}), {i, j})));
}

TEST(Structural, AlphaEquivalentLoopsAreEqual) {
  Var n("n");
  Buffer a = make_buffer("A", kF32, {n, Expr(8)}), b = make_buffer("B", kF32, {Expr(8)});
  Buffer c = make_buffer("C", kF32, {n, Expr(8)});
  Stmt s1 = scaled_add(c, a, b, n), s2 = scaled_add(c, a, b, n);
  EXPECT_FALSE(s1.same_as(s2));
  expect_equal(s1, s2);
  // Loop variables named differently are still equal.
  Var p("p"), q("q");
  Stmt s3 = make_for(p, 0, n, ForKind::kSerial,
                     make_for(q, 0, 8, ForKind::kSerial, make_store(c, a({p, q}) * 2.0f + b({q}), {p, q})));
  expect_equal(s1, s3);
  // Swapping which loop variable indexes which dimension is a different program.
  Stmt swapped = make_for(p, 0, n, ForKind::kSerial,
                          make_for(q, 0, 8, ForKind::kSerial, make_store(c, a({q, p}) * 2.0f + b({q}), {p, q})));
  expect_unequal(s1, swapped);
}

TEST(Structural, DifferencesAreNoticed) {
  Var n("n");
  Buffer a = make_buffer("A", kF32, {n, Expr(8)}), b = make_buffer("B", kF32, {Expr(8)});
  Buffer c = make_buffer("C", kF32, {n, Expr(8)});
  Stmt base = scaled_add(c, a, b, n);
  // Loop kind.
  expect_unequal(base, scaled_add(c, a, b, n, ForKind::kParallel));
  // Thread tag.
  Var i("i"), j("j");
  Stmt body = make_store(b, Expr(1.0), {i});
  expect_unequal(make_for(i, 0, 8, ForKind::kThreadBound, body, "threadIdx.x"),
                 make_for(i, 0, 8, ForKind::kThreadBound, body, "threadIdx.y"));
  // Constants, extents, operators.
  Stmt loop4 = make_for(j, 0, 4, ForKind::kSerial, make_store(b, Expr(1.0), {j}));
  expect_unequal(loop4, make_for(j, 0, 5, ForKind::kSerial, make_store(b, Expr(1.0), {j})));
  expect_unequal(loop4, make_for(j, 1, 4, ForKind::kSerial, make_store(b, Expr(1.0), {j})));
  expect_unequal(loop4, make_for(j, 0, 4, ForKind::kSerial, make_store(b, Expr(2.0), {j})));
  Var x("x"), y("y");
  expect_unequal(x + y, x - y);
  expect_unequal(min(x, y), max(x, y));
  expect_unequal(x < y, x <= y);
  expect_unequal(x + y, y + x);  // structure, not algebra
  // Types of otherwise equal immediates and casts.
  expect_unequal(make_int(kI32, 5), make_int(kI64, 5));
  expect_unequal(make_int(kI32, 5), make_int(kI32, 6));
  expect_unequal(make_float(kF32, 1.0), make_float(DataType::Float(64), 1.0));
  expect_unequal(make_cast(kI64, x), make_cast(DataType::UInt(64), x));
  expect_unequal(make_call(Intrinsic::k_exp, {Expr(1.0)}), make_call(Intrinsic::k_log, {Expr(1.0)}));
  expect_unequal(make_ramp(x, 1, 4), make_ramp(x, 1, 8));
  expect_unequal(make_broadcast(x, 4), make_broadcast(x, 8));
  // Floats compare by bit pattern: -0 differs from 0, NaN equals NaN.
  expect_unequal(make_float(kF32, 0.0), make_float(kF32, -0.0));
  expect_equal(make_float(kF32, NAN), make_float(kF32, NAN));
  // Assert messages and if branches.
  expect_unequal(make_assert(x < 3, "a"), make_assert(x < 3, "b"));
  expect_unequal(make_if(x < 3, body), make_if(x < 3, body, body));
  expect_unequal(make_seq({body, loop4}), make_seq({loop4, body}));
}

TEST(Structural, FreeVariablesCompareByIdentity) {
  Var x("x"), also_x("x"), y("y");
  expect_equal(x + 1, x + 1);
  expect_unequal(x + 1, also_x + 1);
  expect_unequal(x * y, x * x);
  // A free variable never equals a bound one.
  Var t("t");
  expect_unequal(make_let(t, Expr(1), t + x), make_let(t, Expr(1), t + t));
  expect_unequal(make_let(t, Expr(1), x), make_let(y, Expr(1), x + 0));
  expect_equal(make_let(t, Expr(1), x), make_let(y, Expr(1), x));
  // Buffers: a load from a free buffer compares the buffer's data variable by identity.
  Buffer a = make_buffer("A", kF32, {Expr(4)}), a2 = make_buffer("A", kF32, {Expr(4)});
  expect_unequal(a({x}), a2({x}));
  expect_equal(a({x}), a({x}));
  // ... and a view of the same storage with the same shape is the same access.
  expect_equal(a({x}), make_buffer_view(a, "A_view", {Expr(4)})({x}));
  expect_unequal(a({x}), make_buffer_view(a, "A_view", {Expr(5)})({x}));
}

TEST(Structural, LetBindingsAndShadowing) {
  Var x("x"), t("t"), u("u"), w("w");
  expect_equal(make_let(t, x, t * t), make_let(u, x, u * u));
  // let t = 1 in let u = 2 in t - u   vs   let u = 1 in let t = 2 in u - t : equal (renaming)
  expect_equal(make_let(t, Expr(1), make_let(u, Expr(2), t - u)), make_let(u, Expr(1), make_let(t, Expr(2), u - t)));
  // ... but not with the inner variable used first.
  expect_unequal(make_let(t, Expr(1), make_let(u, Expr(2), t - u)), make_let(t, Expr(1), make_let(u, Expr(2), u - t)));
  // The same variable bound twice in sequence matches two different variables.
  Buffer out = make_buffer("out", kI32, {Expr(8)});
  Var i("i"), j("j");
  Stmt reuse = make_seq({make_for(i, 0, 4, ForKind::kSerial, make_store(out, i, {i})),
                         make_for(i, 0, 4, ForKind::kSerial, make_store(out, i * 2, {i + 4}))});
  Stmt distinct = make_seq({make_for(i, 0, 4, ForKind::kSerial, make_store(out, i, {i})),
                            make_for(j, 0, 4, ForKind::kSerial, make_store(out, j * 2, {j + 4}))});
  expect_equal(reuse, distinct);
  // A shadowing binder: let t = 1 in (let t = t + 1 in t) against let t = 1 in (let w = t + 1 in t).
  expect_unequal(make_let(t, Expr(1), make_let(t, t + 1, t)), make_let(t, Expr(1), make_let(w, t + 1, t)));
  expect_equal(make_let(t, Expr(1), make_let(t, t + 1, t)), make_let(u, Expr(1), make_let(w, u + 1, w)));
  // Binder types must agree.
  Var l("l", kI64);
  expect_unequal(make_let_stmt(t, Expr(0), make_evaluate(t)), make_let_stmt(l, make_int(kI64, 0), make_evaluate(l)));
}

TEST(Structural, AllocationsAndFunctionsAreAlphaEquivalent) {
  auto build = [](const std::string& tmp_name, int local_size, MemoryScope scope) {
    Var n("n");
    Buffer a = make_buffer("A", kF32, {n});
    Buffer tmp = make_buffer(tmp_name, kF32, {Expr(local_size)}, {}, scope);
    Var i("i");
    Stmt body = make_for(i, 0, n, ForKind::kSerial,
                         make_allocate(tmp, make_seq({make_store(tmp, a({i}) * 3.0f, {Expr(0)}),
                                                      make_store(a, tmp({Expr(0)}) + 1.0f, {i})})));
    return make_prim_func("f", {Param::of(a), Param::of(n)}, body);
  };
  PrimFunc f1 = build("tmp", 1, MemoryScope::kLocal), f2 = build("scratch", 1, MemoryScope::kLocal);
  expect_equal(f1, f2);  // fresh parameters, buffers and loop variables; names differ
  expect_unequal(f1, build("tmp", 2, MemoryScope::kLocal));
  expect_unequal(f1, build("tmp", 1, MemoryScope::kShared));
  // The bodies alone mention free parameters, which differ between the two builds.
  EXPECT_FALSE(structural_equal(f1->body, f2->body));
  // Parameter order and kinds matter.
  Var m("m"), k("k");
  Buffer b = make_buffer("B", kF32, {m});
  Stmt use = make_store(b, make_cast(kF32, k), {Expr(0)});
  expect_unequal(make_prim_func("g", {Param::of(b), Param::of(m), Param::of(k)}, use),
                 make_prim_func("g", {Param::of(b), Param::of(k), Param::of(m)}, use));
  // Buffer properties: dtype, strides, alignment.
  auto one_buffer = [&](Buffer buf) {
    return make_prim_func("h", {Param::of(buf)}, make_store(buf, make_const(buf->dtype, 1), {Expr(0)}));
  };
  PrimFunc h = one_buffer(make_buffer("A", kF32, {Expr(4), Expr(4)}));
  expect_equal(h, one_buffer(make_buffer("Z", kF32, {Expr(4), Expr(4)})));
  expect_unequal(h, one_buffer(make_buffer("A", DataType::Float(64), {Expr(4), Expr(4)})));
  expect_unequal(h, one_buffer(make_buffer("A", kF32, {Expr(4), Expr(4)}, {Expr(8), Expr(1)})));
  expect_unequal(h, one_buffer(make_buffer("A", kF32, {Expr(4), Expr(4)}, {}, MemoryScope::kGlobal, 128)));
  expect_unequal(h, one_buffer(make_buffer("A", kF32, {Expr(4), Expr(5)})));
}

// A random expression over a few free variables, from a seeded generator.
Expr random_expr(std::mt19937& rng, const std::vector<Var>& vars, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  if (depth == 0 || pick(4) == 0) {
    switch (pick(3)) {
      case 0: return vars[pick(static_cast<int>(vars.size()))];
      case 1: return make_int(kI32, pick(21) - 10);
      default: return make_int(kI32, pick(1000));
    }
  }
  switch (pick(6)) {
    case 0: {
      static const BinaryOp ops[] = {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv,
                                     BinaryOp::kMod, BinaryOp::kMin, BinaryOp::kMax};
      return make_binary(ops[pick(7)], random_expr(rng, vars, depth - 1), random_expr(rng, vars, depth - 1));
    }
    case 1: return random_expr(rng, vars, depth - 1) + random_expr(rng, vars, depth - 1);
    case 2:
      return make_select(random_expr(rng, vars, depth - 1) < random_expr(rng, vars, depth - 1),
                         random_expr(rng, vars, depth - 1), random_expr(rng, vars, depth - 1));
    case 3: {
      Var t("t");
      std::vector<Var> inner = vars;
      inner.push_back(t);
      return make_let(t, random_expr(rng, vars, depth - 1), random_expr(rng, inner, depth - 1));
    }
    case 4: return make_cast(kI32, make_cast(kI64, random_expr(rng, vars, depth - 1)));
    default: return random_expr(rng, vars, depth - 1) * random_expr(rng, vars, depth - 1);
  }
}

TEST(Structural, RandomExpressionsHashWithoutCollisions) {
  std::vector<Var> vars = {Var("x"), Var("y"), Var("z")};
  std::mt19937 rng(2024), replay(2024);
  std::vector<Expr> distinct;
  std::vector<size_t> hashes;
  for (int trial = 0; trial < 600 && distinct.size() < 400; ++trial) {
    Expr e = random_expr(rng, vars, 4);
    // Rebuilding from the same random stream gives a structurally equal copy with fresh binders.
    Expr copy = random_expr(replay, vars, 4);
    ASSERT_TRUE(structural_equal(e, copy)) << to_string(e);
    ASSERT_EQ(structural_hash(e), structural_hash(copy));
    bool seen = false;
    for (const Expr& d : distinct) {
      if (structural_equal(d, e)) {
        seen = true;
        EXPECT_EQ(structural_hash(d), structural_hash(e));
        break;
      }
    }
    if (!seen) {
      distinct.push_back(e);
      hashes.push_back(structural_hash(e));
    }
  }
  ASSERT_GE(distinct.size(), 300u);
  std::unordered_set<size_t> unique(hashes.begin(), hashes.end());
  EXPECT_EQ(unique.size(), hashes.size()) << "hash collision among distinct expressions";
}

}  // namespace
}  // namespace tessel
