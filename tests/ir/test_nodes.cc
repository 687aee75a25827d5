// Tests of the loop-IR node constructors (expr.h, stmt.h, buffer.h, type.h): type checking throws
// InternalError on malformed nodes, the convenience operators broadcast and retype literals,
// make_seq flattens, and the integer helpers agree with brute-force references.
#include <gtest/gtest.h>

#include <random>

#include "tessel/ir/buffer.h"
#include "tessel/ir/error.h"
#include "tessel/ir/printer.h"  // operator<< for DataType in failure messages
#include "tessel/ir/stmt.h"

namespace tessel {
namespace {

const DataType kI8 = DataType::Int(8), kI32 = DataType::Int(32), kI64 = DataType::Int(64);
const DataType kF32 = DataType::Float(32), kF64 = DataType::Float(64), kBool = DataType::Bool();

TEST(Nodes, DataTypeSpellingAndParsing) {
  EXPECT_EQ(DataType::Float(32).to_string(), "float32");
  EXPECT_EQ(DataType::Int(32, 8).to_string(), "int32x8");
  EXPECT_EQ(DataType::Bool().to_string(), "bool");
  EXPECT_EQ(DataType::BFloat16().to_string(), "bfloat16");
  EXPECT_EQ(DataType::Handle().to_string(), "handle");
  for (DataType t : {DataType::Int(8), DataType::UInt(16, 4), DataType::Float(16), DataType::Float(64, 2),
                     DataType::BFloat16(8), DataType::Bool(16), DataType::Int(64)}) {
    EXPECT_EQ(DataType::parse(t.to_string()), t) << t.to_string();
  }
  EXPECT_THROW(DataType::parse("float33"), CompileError);
  EXPECT_THROW(DataType::parse("complex64"), CompileError);
  EXPECT_TRUE(DataType::Bool().is_bool());
  EXPECT_FALSE(DataType::Bool().is_uint());
  EXPECT_TRUE(DataType::Bool().is_integral());
  EXPECT_EQ(DataType::Bool().bytes(), 1);
  EXPECT_EQ(DataType::BFloat16().bytes(), 2);
}

TEST(Nodes, ImmediatesAreTypedAndWrapped) {
  Expr a = make_int(kI8, 300);
  ASSERT_NE(as_const_int(a), nullptr);
  EXPECT_EQ(*as_const_int(a), 44);
  EXPECT_EQ(a.dtype(), kI8);
  EXPECT_EQ(*as_const_int(make_int(DataType::UInt(8), -1)), 255);
  EXPECT_EQ(*as_const_int(make_int(DataType::Int(16), 40000)), 40000 - 65536);
  EXPECT_THROW(make_int(kF32, 1), InternalError);
  EXPECT_THROW(make_int(DataType::Int(32, 4), 1), InternalError);
  EXPECT_THROW(make_float(kI32, 1.0), InternalError);
  Expr literal_int = 7, literal_float = 2.5;
  EXPECT_EQ(literal_int.dtype(), kI32);
  EXPECT_EQ(literal_float.dtype(), kF32);
  EXPECT_EQ(*as_const_float(literal_float), 2.5);
  // make_const of a vector type broadcasts.
  Expr v = make_const(DataType::Float(32, 4), 1.5);
  ASSERT_NE(v.as<BroadcastNode>(), nullptr);
  EXPECT_EQ(v.dtype(), DataType::Float(32, 4));
  EXPECT_TRUE(is_zero(make_const(DataType::Int(32, 8), 0)));
  EXPECT_TRUE(is_one(make_const(kF64, 1)));
  EXPECT_FALSE(is_zero(make_int(kI32, 1)));
  EXPECT_TRUE(is_const_int(make_int(kI64, 5), 5));
  EXPECT_FALSE(is_const_int(make_float(kF32, 5), 5));
  Expr t = make_bool(true, 4);
  EXPECT_EQ(t.dtype(), DataType::Bool(4));
}

TEST(Nodes, BinaryConstructorChecksTypes) {
  Var i("i"), l("l", kI64), f("f", kF32), p("p", kBool);
  EXPECT_THROW(make_binary(BinaryOp::kAdd, i, l), InternalError);
  EXPECT_THROW(make_binary(BinaryOp::kAdd, i, f), InternalError);
  EXPECT_THROW(make_binary(BinaryOp::kAnd, i, i), InternalError);  // logic needs bool operands
  EXPECT_THROW(make_binary(BinaryOp::kAdd, Var("h", DataType::Handle()), Var("g", DataType::Handle())), InternalError);
  Expr sum = make_binary(BinaryOp::kAdd, i, i);
  EXPECT_EQ(sum.dtype(), kI32);
  Expr cmp = make_binary(BinaryOp::kLT, f, f);
  EXPECT_EQ(cmp.dtype(), kBool);
  Expr vector_cmp = make_binary(BinaryOp::kEQ, make_ramp(i, 1, 4), make_broadcast(i, 4));
  EXPECT_EQ(vector_cmp.dtype(), DataType::Bool(4));
  EXPECT_EQ(make_binary(BinaryOp::kOr, p, p).dtype(), kBool);
  // No implicit broadcast in the validating constructor.
  EXPECT_THROW(make_binary(BinaryOp::kAdd, make_ramp(i, 1, 4), i), InternalError);
  EXPECT_THROW(make_not(i), InternalError);
  EXPECT_EQ(make_not(p).dtype(), kBool);
}

TEST(Nodes, OperatorsBroadcastAndRetypeLiterals) {
  Var i("i"), l("l", kI64), f("f", kF32), d("d", kF64), b8("b", kI8);
  // An int literal meeting int64 becomes an int64 immediate.
  Expr e = l + 1;
  const auto* add = e.as<BinaryNode>();
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->op, BinaryOp::kAdd);
  EXPECT_EQ(e.dtype(), kI64);
  ASSERT_NE(as_const_int(add->b), nullptr);
  EXPECT_EQ(add->b.dtype(), kI64);
  EXPECT_EQ(*as_const_int(add->b), 1);
  // ... on the left too, and for int8 (wrapped to the type).
  Expr e2 = 2 * b8;
  EXPECT_EQ(e2.dtype(), kI8);
  EXPECT_EQ(e2.as<BinaryNode>()->a.dtype(), kI8);
  // An int literal meeting a float becomes a float immediate; a float literal meeting float64 too.
  Expr e3 = f * 2;
  EXPECT_EQ(e3.dtype(), kF32);
  ASSERT_NE(as_const_float(e3.as<BinaryNode>()->b), nullptr);
  EXPECT_EQ(*as_const_float(e3.as<BinaryNode>()->b), 2.0);
  Expr e4 = d - 0.5;
  EXPECT_EQ(e4.dtype(), kF64);
  EXPECT_EQ(e4.as<BinaryNode>()->b.dtype(), kF64);
  // A scalar meeting a vector is broadcast.
  Expr ramp = make_ramp(i, 2, 8);
  Expr e5 = ramp + i;
  EXPECT_EQ(e5.dtype(), DataType::Int(32, 8));
  const auto* bc = e5.as<BinaryNode>()->b.as<BroadcastNode>();
  ASSERT_NE(bc, nullptr);
  EXPECT_EQ(bc->lanes, 8);
  EXPECT_TRUE(bc->value.same_as(Expr(i)));
  Expr e6 = 3 * ramp;  // literal on the left of a vector
  EXPECT_EQ(e6.dtype(), DataType::Int(32, 8));
  // Comparisons are bool; logic composes them.
  Expr c = (i < 4) && (l >= 2);
  EXPECT_EQ(c.dtype(), kBool);
  EXPECT_EQ((ramp == 0).dtype(), DataType::Bool(8));
  // Incompatible non-literal operands are a bug.
  EXPECT_THROW(i + l, InternalError);
  EXPECT_THROW(f + i, InternalError);
  EXPECT_THROW(f + d, InternalError);
  // min, max, unary minus, not.
  EXPECT_EQ(min(i, 3).as<BinaryNode>()->op, BinaryOp::kMin);
  EXPECT_EQ(max(f, 0.0).as<BinaryNode>()->op, BinaryOp::kMax);
  Expr neg = -l;
  EXPECT_EQ(neg.dtype(), kI64);
  EXPECT_EQ(neg.as<BinaryNode>()->op, BinaryOp::kSub);
  EXPECT_TRUE(is_zero(neg.as<BinaryNode>()->a));
  EXPECT_EQ((!(i < 3)).kind(), ExprKind::kNot);
  // Two immediates: the int32 literal adapts to the wider int64 one, never the reverse (which
  // would silently wrap 10^10 to int32).
  Expr both = make_int(kI64, 10000000000LL) + 1;
  EXPECT_EQ(both.dtype(), kI64);
  ASSERT_NE(as_const_int(both.as<BinaryNode>()->a), nullptr);
  EXPECT_EQ(*as_const_int(both.as<BinaryNode>()->a), 10000000000LL);
  // match_types directly.
  Expr x = l, y = 5;
  match_types(x, y);
  EXPECT_EQ(y.dtype(), kI64);
}

TEST(Nodes, OtherExpressionConstructorsCheckTypes) {
  Var i("i"), f("f", kF32), p("p", kBool);
  // select
  EXPECT_THROW(make_select(i, f, f), InternalError);
  EXPECT_THROW(make_select(p, i, f), InternalError);
  EXPECT_THROW(make_select(make_bool(true, 4), make_broadcast(f, 8), make_broadcast(f, 8)), InternalError);
  EXPECT_EQ(make_select(p, f, f).dtype(), kF32);
  EXPECT_EQ(make_select(p, make_broadcast(f, 4), make_broadcast(f, 4)).dtype(), DataType::Float(32, 4));
  // cast
  Expr same = make_cast(kI32, i);
  EXPECT_TRUE(same.same_as(Expr(i)));
  Expr widened = make_cast(kI64, i);
  EXPECT_EQ(widened.kind(), ExprKind::kCast);
  EXPECT_EQ(widened.dtype(), kI64);
  EXPECT_THROW(make_cast(DataType::Float(32, 4), f), InternalError);
  // ramp / broadcast
  Expr r = make_ramp(i, 1, 16);
  EXPECT_EQ(r.dtype(), DataType::Int(32, 16));
  EXPECT_EQ(r.as<RampNode>()->lanes, 16);
  EXPECT_THROW(make_ramp(i, make_int(kI64, 1), 4), InternalError);
  EXPECT_THROW(make_ramp(r, 1, 4), InternalError);
  EXPECT_THROW(make_broadcast(r, 2), InternalError);
  EXPECT_EQ(make_broadcast(f, 4).dtype(), DataType::Float(32, 4));
  // let
  Var t("t", kF32);
  EXPECT_THROW(make_let(t, i, t), InternalError);
  Expr let = make_let(t, f * 2, t + t);
  EXPECT_EQ(let.dtype(), kF32);
  EXPECT_TRUE(let.as<LetNode>()->var.same_as(t));
  // calls
  EXPECT_EQ(make_call(Intrinsic::k_exp, {f}).dtype(), kF32);
  EXPECT_THROW(make_call(Intrinsic::k_exp, {i}), InternalError);
  EXPECT_THROW(make_call(Intrinsic::k_pow, {f}), InternalError);
  EXPECT_THROW(make_call(Intrinsic::k_fma, {f, f, make_float(kF64, 1)}), InternalError);
  EXPECT_EQ(make_call(Intrinsic::k_fabs, {i}).dtype(), kI32);
  EXPECT_STREQ(intrinsic_name(Intrinsic::k_sigmoid), "sigmoid");
  EXPECT_EQ(intrinsic_arity(Intrinsic::k_fma), 3);
  EXPECT_EQ(intrinsic_arity(Intrinsic::k_pow), 2);
  EXPECT_STREQ(binary_op_name(BinaryOp::kLE), "<=");
  EXPECT_TRUE(is_comparison(BinaryOp::kGE));
  EXPECT_FALSE(is_comparison(BinaryOp::kAnd));
  EXPECT_TRUE(is_logical(BinaryOp::kOr));
}

TEST(Nodes, LoadsTakeLanesFromIndices) {
  Buffer a = make_buffer("A", kF32, {Expr(4), Expr(16)});
  Var i("i"), j("j");
  Expr scalar = a({i, j});
  EXPECT_EQ(scalar.dtype(), kF32);
  Expr vector = a({i, make_ramp(j, 1, 8)});
  EXPECT_EQ(vector.dtype(), DataType::Float(32, 8));
  EXPECT_EQ(vector.as<LoadNode>()->buffer.get(), a.get());
  EXPECT_THROW(a({i}), InternalError);  // operator() wants one index per dimension
  EXPECT_THROW(make_load(a, {make_ramp(i, 1, 4), make_ramp(j, 1, 8)}), InternalError);
  EXPECT_THROW(make_load(a, {Var("x", kF32), j}), InternalError);
  // After flattening: one index into a 1-D view.
  Buffer flat = make_buffer_view(a, "A_flat", {Expr(64)});
  EXPECT_TRUE(flat->data.same_as(a->data));
  EXPECT_EQ(make_load(flat, {i * 16 + j}).dtype(), kF32);
}

TEST(Nodes, BuffersComputeStridesAndSizes) {
  Var n("n");
  Buffer a = make_buffer("A", kF32, {Expr(3), n, Expr(5)});
  EXPECT_EQ(a->data.dtype(), DataType::Handle());
  EXPECT_EQ(a->data.name(), "A");
  EXPECT_EQ(a->alignment, 64);
  EXPECT_EQ(a->scope, MemoryScope::kGlobal);
  std::vector<Expr> strides = a.effective_strides();
  ASSERT_EQ(strides.size(), 3u);
  EXPECT_TRUE(is_const_int(strides[2], 1));
  EXPECT_TRUE(is_const_int(strides[1], 5));
  EXPECT_EQ(as_const_int(strides[0]), nullptr);  // 5 * n
  Buffer b = make_buffer("B", kI8, {Expr(2), Expr(3), Expr(7)});
  std::vector<Expr> sb = b.effective_strides();
  EXPECT_TRUE(is_const_int(sb[0], 21));
  EXPECT_TRUE(is_const_int(sb[1], 7));
  EXPECT_TRUE(is_const_int(b.num_elements(), 42));
  EXPECT_EQ(b.num_elements().dtype(), kI64);
  Buffer c = make_buffer("C", kF32, {Expr(4), Expr(4)}, {Expr(8), Expr(1)});
  EXPECT_TRUE(is_const_int(c.effective_strides()[0], 8));
  EXPECT_THROW(make_buffer("D", kF32, {Expr(4)}, {Expr(1), Expr(1)}), InternalError);
  EXPECT_THROW(make_buffer("E", DataType::Float(32, 4), {Expr(4)}), InternalError);
  EXPECT_THROW(make_buffer("F", kF32, {Expr(4)}, {}, MemoryScope::kGlobal, 48), InternalError);
  EXPECT_STREQ(memory_scope_name(MemoryScope::kShared), "shared");
}

TEST(Nodes, StatementConstructorsCheckTypes) {
  Buffer a = make_buffer("A", kF32, {Expr(16)});
  Var i("i"), l("l", kI64), f("f", kF32);
  EXPECT_THROW(make_store(a, i, {i}), InternalError);  // int32 value into a float32 buffer
  EXPECT_THROW(make_store(a, make_broadcast(f, 4), {make_ramp(i, 1, 8)}), InternalError);
  Stmt store = make_store(a, f, {i});
  EXPECT_EQ(store.kind(), StmtKind::kStore);
  Stmt vector_store = make_store(a, make_broadcast(f, 4), {make_ramp(i, 1, 4)});
  EXPECT_EQ(vector_store.as<StoreNode>()->value.dtype(), DataType::Float(32, 4));
  // for: min and extent must have the loop variable's type; thread tag exactly for thread loops
  EXPECT_THROW(make_for(i, make_int(kI64, 0), 16, ForKind::kSerial, store), InternalError);
  EXPECT_THROW(make_for(Var("x", kF32), 0.0, 16.0, ForKind::kSerial, store), InternalError);
  EXPECT_THROW(make_for(i, 0, 16, ForKind::kThreadBound, store), InternalError);
  EXPECT_THROW(make_for(i, 0, 16, ForKind::kSerial, store, "threadIdx.x"), InternalError);
  Stmt loop = make_for(l, make_int(kI64, 0), make_int(kI64, 16), ForKind::kParallel, store);
  EXPECT_EQ(loop.as<ForNode>()->for_kind, ForKind::kParallel);
  Stmt bound = make_for(i, 0, 16, ForKind::kThreadBound, store, "threadIdx.x");
  EXPECT_EQ(bound.as<ForNode>()->thread_tag, "threadIdx.x");
  EXPECT_STREQ(for_kind_name(ForKind::kVectorized), "vectorized");
  // if / assert need scalar bools
  EXPECT_THROW(make_if(i, store), InternalError);
  EXPECT_THROW(make_if(make_bool(true, 4), store), InternalError);
  EXPECT_THROW(make_assert(i, "x"), InternalError);
  EXPECT_EQ(make_if(i < 3, store).as<IfThenElseNode>()->else_case.defined(), false);
  EXPECT_EQ(make_assert(i < 3, "too big").as<AssertNode>()->message, "too big");
  // let_stmt types
  EXPECT_THROW(make_let_stmt(f, i, store), InternalError);
  // no-ops
  EXPECT_TRUE(is_no_op(make_no_op()));
  EXPECT_FALSE(is_no_op(store));
}

TEST(Nodes, SeqFlattensNestedSequences) {
  Buffer a = make_buffer("A", kI32, {Expr(8)});
  std::vector<Stmt> s;
  for (int k = 0; k < 5; ++k) s.push_back(make_store(a, Expr(k), {Expr(k)}));
  Stmt inner = make_seq({s[0], s[1]});
  ASSERT_EQ(inner.kind(), StmtKind::kSeq);
  Stmt nested = make_seq({inner, s[2], make_seq({s[3], make_seq({s[4]})})});
  const auto* seq = nested.as<SeqNode>();
  ASSERT_NE(seq, nullptr);
  ASSERT_EQ(seq->stmts.size(), 5u);
  for (int k = 0; k < 5; ++k) EXPECT_TRUE(seq->stmts[k].same_as(s[k])) << k;
  EXPECT_TRUE(make_seq({s[3]}).same_as(s[3]));  // a single statement is returned as is
  EXPECT_TRUE(is_no_op(make_seq({})));
}

TEST(Nodes, FunctionsHoldParameters) {
  Buffer a = make_buffer("A", kF32, {Expr(4)});
  Var n("n");
  Stmt body = make_store(a, make_cast(kF32, n), {Expr(0)});
  PrimFunc f = make_prim_func("fill", {Param::of(a), Param::of(n)}, body);
  EXPECT_EQ(f->name, "fill");
  ASSERT_EQ(f->params.size(), 2u);
  EXPECT_TRUE(f->params[0].is_buffer());
  EXPECT_FALSE(f->params[1].is_buffer());
  PrimFunc g = f.with_body(make_no_op());
  EXPECT_EQ(g->name, "fill");
  EXPECT_EQ(g->params.size(), 2u);
  EXPECT_TRUE(is_no_op(g->body));
  EXPECT_TRUE(f->body.same_as(body));
  EXPECT_THROW(make_prim_func("broken", {Param{a, n}}, body), InternalError);
}

TEST(Nodes, IntegerHelpersMatchBruteForce) {
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t a = static_cast<int64_t>(rng() % 2001) - 1000;
    int64_t b = static_cast<int64_t>(rng() % 41) - 20;
    if (b == 0) b = 7;
    // Brute force: q is the unique integer with q*b <= a < (q+1)*b (b > 0), reversed for b < 0.
    int64_t q = -2000;
    while (!(b > 0 ? (q * b <= a && a < (q + 1) * b) : (q * b >= a && a > (q + 1) * b))) ++q;
    ASSERT_EQ(floor_div(a, b), q) << a << " / " << b;
    ASSERT_EQ(floor_mod(a, b), a - q * b) << a << " % " << b;
  }
  EXPECT_EQ(floor_div(INT64_MIN, -1), INT64_MIN);
  EXPECT_EQ(floor_mod(INT64_MIN, -1), 0);
  EXPECT_EQ(floor_div(INT64_MIN, 2), INT64_MIN / 2);
  EXPECT_EQ(floor_mod(INT64_MIN + 1, 2), 1);
  // wrap_to_type against the C++ (modular) narrowing conversions.
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t v = static_cast<int64_t>(rng());
    ASSERT_EQ(wrap_to_type(kI8, v), static_cast<int8_t>(v));
    ASSERT_EQ(wrap_to_type(DataType::Int(16), v), static_cast<int16_t>(v));
    ASSERT_EQ(wrap_to_type(kI32, v), static_cast<int32_t>(v));
    ASSERT_EQ(wrap_to_type(DataType::UInt(8), v), static_cast<uint8_t>(v));
    ASSERT_EQ(wrap_to_type(DataType::UInt(32), v), static_cast<uint32_t>(v));
    ASSERT_EQ(wrap_to_type(kI64, v), v);
    ASSERT_EQ(wrap_to_type(kBool, v), v & 1);
  }
  EXPECT_THROW(wrap_to_type(kF32, 1), InternalError);
}

TEST(Nodes, InternalErrorsNameTheirLocation) {
  try {
    make_binary(BinaryOp::kAdd, Var("i"), Var("f", kF32));
    FAIL() << "no error";
  } catch (const InternalError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("this is a bug"), std::string::npos) << message;
    EXPECT_NE(message.find(".cc:"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace tessel
