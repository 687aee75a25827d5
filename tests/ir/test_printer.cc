// Tests of the loop-IR printer: golden text for each node kind, parenthesisation that preserves
// the tree, typed immediates, and deterministic disambiguation of variables sharing a name.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "tessel/ir/buffer.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/stmt.h"

namespace tessel {
namespace {

const DataType kI32 = DataType::Int(32), kI64 = DataType::Int(64), kF32 = DataType::Float(32);

TEST(Printer, MatmulFunction) {
  Buffer a = make_buffer("A", kF32, {Expr(64), Expr(64)});
  Buffer b = make_buffer("B", kF32, {Expr(64), Expr(64)});
  Buffer c = make_buffer("C", kF32, {Expr(64), Expr(64)});
  Var i("i"), j("j"), k("k");
  Stmt body = make_for(
      i, 0, 64, ForKind::kParallel,
      make_for(j, 0, 64, ForKind::kSerial,
               make_seq({make_store(c, Expr(0.0), {i, j}),
                         make_for(k, 0, 64, ForKind::kSerial,
                                  make_store(c, c({i, j}) + a({i, k}) * b({k, j}), {i, j}))})));
  PrimFunc f = make_prim_func("matmul", {Param::of(a), Param::of(b), Param::of(c)}, body);
  EXPECT_EQ(to_string(f),
            "func matmul(A: float32[64, 64], B: float32[64, 64], C: float32[64, 64]) {\n"
            "  parallel (i, 0, 64) {\n"
            "    for (j, 0, 64) {\n"
            "      C[i, j] = 0f\n"
            "      for (k, 0, 64) {\n"
            "        C[i, j] = C[i, j] + A[i, k] * B[k, j]\n"
            "      }\n"
            "    }\n"
            "  }\n"
            "}\n");
  std::ostringstream os;
  os << f;
  EXPECT_EQ(os.str(), to_string(f));
}

TEST(Printer, PrecedenceKeepsTheTreeShape) {
  Var a("a"), b("b"), c("c"), d("d");
  EXPECT_EQ(to_string(a - (b - c)), "a - (b - c)");
  EXPECT_EQ(to_string((a - b) - c), "a - b - c");
  EXPECT_EQ(to_string(a + b * c), "a + b * c");
  EXPECT_EQ(to_string((a + b) * c), "(a + b) * c");
  EXPECT_EQ(to_string(a / (b * c)), "a / (b * c)");
  EXPECT_EQ(to_string(a * b / c), "a * b / c");
  EXPECT_EQ(to_string(a % (b + 1)), "a % (b + 1)");
  EXPECT_EQ(to_string((a < b) == (c < d)), "(a < b) == (c < d)");
  EXPECT_EQ(to_string(((a < b) && (c < d)) || (a == d)), "a < b && c < d || a == d");
  EXPECT_EQ(to_string((a < b) && ((c < d) || (a == d))), "a < b && (c < d || a == d)");
  EXPECT_EQ(to_string(!(a < b)), "!(a < b)");
  EXPECT_EQ(to_string(a * make_int(kI32, -5)), "a * -5");
  EXPECT_EQ(to_string(-a), "0 - a");
  EXPECT_EQ(to_string(min(a + b, max(c, 3))), "min(a + b, max(c, 3))");
  EXPECT_EQ(to_string(min(a, b) * c), "min(a, b) * c");
}

TEST(Printer, ImmediatesShowTheirType) {
  EXPECT_EQ(to_string(make_int(kI32, 5)), "5");
  EXPECT_EQ(to_string(make_int(kI32, -5)), "-5");
  EXPECT_EQ(to_string(make_int(kI64, 5)), "5i64");
  EXPECT_EQ(to_string(make_int(DataType::Int(8), -3)), "-3i8");
  EXPECT_EQ(to_string(make_int(DataType::UInt(8), 200)), "200u8");
  EXPECT_EQ(to_string(make_int(DataType::UInt(64), -1)), "18446744073709551615u64");
  EXPECT_EQ(to_string(make_bool(true)), "true");
  EXPECT_EQ(to_string(make_bool(false)), "false");
  EXPECT_EQ(to_string(make_float(kF32, 0.0)), "0f");
  EXPECT_EQ(to_string(make_float(kF32, 1.5)), "1.5f");
  EXPECT_EQ(to_string(make_float(kF32, 0.1f)), "0.1f");
  EXPECT_EQ(to_string(make_float(kF32, -2.0)), "-2f");
  EXPECT_EQ(to_string(make_float(DataType::Float(64), 0.1)), "0.1f64");
  EXPECT_EQ(to_string(make_float(DataType::Float(16), 1.5)), "1.5f16");
  EXPECT_EQ(to_string(make_float(DataType::BFloat16(), 2.0)), "2bf16");
  EXPECT_EQ(to_string(make_float(kF32, 1e-5f)), "1e-05f");
  EXPECT_EQ(to_string(make_float(kF32, INFINITY)), "inff");
  EXPECT_EQ(to_string(make_float(kF32, -INFINITY)), "-inff");
  std::ostringstream os;
  os << DataType::Float(32, 8);
  EXPECT_EQ(os.str(), "float32x8");
}

TEST(Printer, ExpressionForms) {
  Var i("i"), x("x", kF32), t("t", kF32), p("p", DataType::Bool());
  Buffer a = make_buffer("A", kF32, {Expr(128)});
  EXPECT_EQ(to_string(make_cast(kF32, i)), "float32(i)");
  EXPECT_EQ(to_string(make_cast(kI64, i) * 2), "int64(i) * 2i64");
  EXPECT_EQ(to_string(make_ramp(i * 8, 1, 8)), "ramp(i * 8, 1, 8)");
  EXPECT_EQ(to_string(make_broadcast(x, 8)), "x8(x)");
  EXPECT_EQ(to_string(a({make_ramp(i, 2, 4)}) + make_broadcast(x, 4)), "A[ramp(i, 2, 4)] + x4(x)");
  EXPECT_EQ(to_string(make_cast(DataType::Int(32, 4), a({make_ramp(i, 1, 4)}))), "int32x4(A[ramp(i, 1, 4)])");
  EXPECT_EQ(to_string(make_select(p, x, 0.0)), "select(p, x, 0f)");
  EXPECT_EQ(to_string(make_call(Intrinsic::k_exp, {x - 1.0})), "exp(x - 1f)");
  EXPECT_EQ(to_string(make_call(Intrinsic::k_fma, {x, x, t})), "fma(x, x, t)");
  EXPECT_EQ(to_string(make_let(t, x * 2.0, t + t)), "let t = x * 2f in t + t");
  // A let inside an operator is parenthesised; so is a let bound by a let.
  EXPECT_EQ(to_string(make_let(t, x, t) * x), "(let t = x in t) * x");
  Var u("u", kF32);
  EXPECT_EQ(to_string(make_let(u, make_let(t, x, t), u)), "let u = (let t = x in t) in u");
  EXPECT_EQ(to_string(!p && p), "!p && p");
}

TEST(Printer, Statements) {
  Buffer out = make_buffer("out", kF32, {Expr(16)});
  Buffer tmp = make_buffer("T", kF32, {Expr(16)}, {}, MemoryScope::kLocal);
  Var i("i"), tx("tx"), n("n"), v("v", kF32);
  Stmt body = make_seq({
      make_assert(n <= 16, "n is \"too\" big"),
      make_allocate(tmp, make_seq({
                             make_for(tx, 0, 16, ForKind::kThreadBound, make_store(tmp, make_cast(kF32, tx), {tx}),
                                      "threadIdx.x"),
                             make_for(i, 0, n, ForKind::kVectorized,
                                      make_if(i < 8, make_store(out, tmp({i}), {i}),
                                              make_if(i < 12, make_store(out, 1.0, {i}), make_store(out, 2.0, {i})))),
                         })),
      make_let_stmt(v, out({Expr(0)}), make_store(out, v * v, {Expr(1)})),
  });
  PrimFunc f = make_prim_func("kernel", {Param::of(out), Param::of(n)}, body);
  EXPECT_EQ(to_string(f),
            "func kernel(out: float32[16], n: int32) {\n"
            "  assert(n <= 16, \"n is \\\"too\\\" big\")\n"
            "  allocate T: float32[16] local {\n"
            "    thread_bound (tx, 0, 16, \"threadIdx.x\") {\n"
            "      T[tx] = float32(tx)\n"
            "    }\n"
            "    vectorized (i, 0, n) {\n"
            "      if (i < 8) {\n"
            "        out[i] = T[i]\n"
            "      } else if (i < 12) {\n"
            "        out[i] = 1f\n"
            "      } else {\n"
            "        out[i] = 2f\n"
            "      }\n"
            "    }\n"
            "  }\n"
            "  let v = out[0]\n"
            "  out[1] = v * v\n"
            "}\n");
  // A LetStmt followed by more statements keeps its scope in braces; unrolled loops, evaluate.
  Stmt s = make_seq({make_let_stmt(v, 1.0, make_store(out, v, {Expr(0)})),
                     make_for(i, 0, 2, ForKind::kUnrolled, make_evaluate(make_call(Intrinsic::k_sqrt, {v})))});
  EXPECT_EQ(to_string(s),
            "let v = 1f {\n"
            "  out[0] = v\n"
            "}\n"
            "unrolled (i, 0, 2) {\n"
            "  evaluate(sqrt(v))\n"
            "}\n");
  EXPECT_EQ(to_string(make_no_op()), "evaluate(0)\n");
}

TEST(Printer, DistinctVariablesSharingANameAreNumbered) {
  Var i1("i"), i2("i"), i3("i"), named_i_1("i_1");
  Buffer a = make_buffer("A", kI32, {Expr(4), Expr(4)});
  Buffer other_a = make_buffer("A", kI32, {Expr(4)});
  Stmt inner = make_for(i2, 0, 4, ForKind::kSerial, make_store(a, i1 + i2 + named_i_1, {i1, i2}));
  Stmt s = make_seq({make_for(i1, 0, 4, ForKind::kSerial, inner),
                     make_for(i3, 0, 4, ForKind::kSerial, make_store(other_a, a({i3, i3}), {i3}))});
  const std::string expected =
      "for (i, 0, 4) {\n"
      "  for (i_1, 0, 4) {\n"
      "    A[i, i_1] = i + i_1 + i_1_1\n"
      "  }\n"
      "}\n"
      "for (i_2, 0, 4) {\n"
      "  A_1[i_2] = A[i_2, i_2]\n"
      "}\n";
  // The variable literally named "i_1" meets its name taken by the second "i" and is renamed too.
  EXPECT_EQ(to_string(s), expected);
  EXPECT_EQ(to_string(s), expected);  // deterministic across calls
  // A view with the same name and the same storage prints as the same buffer.
  Buffer same_view = make_buffer_view(a, "A", {Expr(4), Expr(4)});
  EXPECT_EQ(to_string(a({i1, i1}) + same_view({i1, i1})), "A[i, i] + A[i, i]");
  // Variables with the same name in one expression.
  EXPECT_EQ(to_string(i1 * i2 - i1), "i * i_1 - i");
  EXPECT_EQ(to_string(i2 * i1 - i1), "i * i_1 - i_1");
}

}  // namespace
}  // namespace tessel
