// IRVisitor / IRMutator: default traversal order, identity preservation, substitute and uses_var.
#include <gtest/gtest.h>

#include <vector>

#include "tessel/ir/functor.h"

namespace tessel {
namespace {

// A small loop nest: for i in [0, n): for j in [0, 8): C[i, j] = A[i, j] * 2 + select(i < j, 1, 0)
struct Nest {
  Var n{"n"}, i{"i"}, j{"j"};
  Buffer A = make_buffer("A", DataType::Float(32), {n, 8});
  Buffer C = make_buffer("C", DataType::Float(32), {n, 8});
  Stmt body = make_for(i, 0, n, ForKind::kParallel,
                       make_for(j, 0, 8, ForKind::kSerial,
                                make_store(C, A({i, j}) * 2.0 + make_select(i < j, Expr(1.0), Expr(0.0)), {i, j})));
};

TEST(Functor, IdentityMutatorReturnsSameNodes) {
  Nest nest;
  IRMutator identity;
  EXPECT_TRUE(identity.mutate(nest.body).same_as(nest.body));
}

TEST(Functor, VisitorSeesEveryVariableOccurrence) {
  Nest nest;
  struct Counter : IRVisitor {
    std::vector<std::string> names;
    void visit_Var(const VarNode* op) override { names.push_back(op->name); }
  } counter;
  counter.visit(nest.body);
  // n (extent), i, j (store indices), i, j (load indices), i, j (select) -- order is pre-order,
  // value before indices for stores.
  std::vector<std::string> expected = {"n", "i", "j", "i", "j", "i", "j"};
  EXPECT_EQ(counter.names, expected);
}

TEST(Functor, MutatorRebuildsOnlyChangedPath) {
  Nest nest;
  // Replace the constant 2.0 by 3.0; the loop headers' extents must stay the same objects.
  struct Retype : IRMutator {
    Expr mutate_FloatImm(const FloatImmNode* op, const Expr& self) override {
      return op->value == 2.0 ? make_float(op->dtype, 3.0) : self;
    }
  } retype;
  Stmt out = retype.mutate(nest.body);
  ASSERT_FALSE(out.same_as(nest.body));
  const ForNode* outer_in = nest.body.as<ForNode>();
  const ForNode* outer_out = out.as<ForNode>();
  ASSERT_NE(outer_out, nullptr);
  EXPECT_TRUE(outer_out->extent.same_as(outer_in->extent));
  EXPECT_TRUE(outer_out->loop_var.same_as(outer_in->loop_var));
  const StoreNode* store = outer_out->body.as<ForNode>()->body.as<StoreNode>();
  ASSERT_NE(store, nullptr);
  const StoreNode* store_in = outer_in->body.as<ForNode>()->body.as<StoreNode>();
  EXPECT_TRUE(store->indices[0].same_as(store_in->indices[0]));
  const BinaryNode* add = store->value.as<BinaryNode>();
  ASSERT_NE(add, nullptr);
  const BinaryNode* mul = add->a.as<BinaryNode>();
  ASSERT_NE(mul, nullptr);
  EXPECT_EQ(*as_const_float(mul->b), 3.0);
  EXPECT_TRUE(add->b.same_as(store_in->value.as<BinaryNode>()->b));  // select untouched
}

TEST(Functor, SubstituteAndUsesVar) {
  Nest nest;
  Var k("k");
  Stmt out = substitute(nest.body, {{nest.n, k * 4}});
  EXPECT_FALSE(uses_var(out, nest.n));
  EXPECT_TRUE(uses_var(out, k));
  EXPECT_TRUE(uses_var(nest.body, nest.n));
  // Buffers are referenced through their data variables.
  EXPECT_TRUE(uses_var(nest.body, nest.A->data));
  EXPECT_FALSE(uses_var(make_no_op(), nest.A->data));
  // Substituting an unrelated variable changes nothing and returns the same handle.
  EXPECT_TRUE(substitute(nest.body, {{k, Expr(1)}}).same_as(nest.body));
}

TEST(Functor, PreOrderVisitCountsNodes) {
  Nest nest;
  int stmts = 0, loads = 0;
  pre_order_visit(nest.body, [&](const Expr* e, const Stmt* s) {
    if (s) ++stmts;
    if (e && e->as<LoadNode>()) ++loads;
  });
  EXPECT_EQ(stmts, 3);  // two loops and a store
  EXPECT_EQ(loads, 1);
}

}  // namespace
}  // namespace tessel
