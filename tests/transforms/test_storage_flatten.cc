// storage_flatten: multi-dimensional accesses become flat indices on 1-D views (before/after IR),
// vector indices stay ramps, and the flattened function computes the same bytes.
#include <gtest/gtest.h>

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
const DataType i64 = DataType::Int(64);

// Collects the buffers of every Load and Store.
std::vector<const BufferNode*> accessed_buffers(const Stmt& s) {
  struct Finder : IRVisitor {
    std::vector<const BufferNode*> found;
    void visit_Load(const LoadNode* op) override {
      found.push_back(op->buffer.get());
      IRVisitor::visit_Load(op);
    }
    void visit_Store(const StoreNode* op) override {
      found.push_back(op->buffer.get());
      IRVisitor::visit_Store(op);
    }
  } finder;
  finder.visit(s);
  return finder.found;
}

TEST(StorageFlatten, ThreeDimensionalAccessWithVectorInnerIndex) {
  Buffer A = make_buffer("A", f32, {4, 5, 16});
  Buffer B = make_buffer("B", f32, {4, 5, 16});
  Var i("i"), j("j"), k("k");
  Expr lanes = make_ramp(k * 8, 1, 8);
  Stmt body = make_for(i, 0, 4, ForKind::kSerial,
                       make_for(j, 0, 5, ForKind::kSerial,
                                make_for(k, 0, 2, ForKind::kSerial,
                                         make_store(B, A({i, j, lanes}) * make_broadcast(2.0, 8) +
                                                           make_broadcast(1.0, 8),
                                                    {i, j, lanes}))));
  Stmt flat = storage_flatten(body);

  // B[i, j, ramp(k*8, 1, 8)] -> B[ramp(i*80 + j*16 + k*8, 1, 8)]: one contiguous vector access.
  Buffer Af = make_buffer_view(A, "A", {320});
  Buffer Bf = make_buffer_view(B, "B", {320});
  Expr flat_lanes = make_ramp(i * 80 + j * 16 + k * 8, 1, 8);
  Stmt expected = make_for(i, 0, 4, ForKind::kSerial,
                           make_for(j, 0, 5, ForKind::kSerial,
                                    make_for(k, 0, 2, ForKind::kSerial,
                                             make_store(Bf, make_load(Af, {flat_lanes}) * make_broadcast(2.0, 8) +
                                                                make_broadcast(1.0, 8),
                                                        {flat_lanes}))));
  EXPECT_TRUE(structural_equal(flat, expected)) << to_string(flat) << "\nexpected:\n" << to_string(expected);

  PrimFunc before = make_prim_func("scale", {Param::of(A), Param::of(B)}, body);
  auto memory = expect_same_results(before, before.with_body(flat), 11);
  // Independent reference: B = 2 * A + 1 elementwise.
  for (int64_t e = 0; e < 320; ++e) {
    EXPECT_EQ(element<float>(memory[1], e), element<float>(memory[0], e) * 2.0f + 1.0f) << "element " << e;
  }
}

TEST(StorageFlatten, OneViewPerBufferAndFlatBuffersUntouched) {
  Buffer A = make_buffer("A", i32, {6, 7});
  Buffer V = make_buffer("V", i32, {7});
  Var i("i"), j("j");
  Stmt body = make_for(i, 0, 6, ForKind::kSerial,
                       make_for(j, 0, 7, ForKind::kSerial, make_store(A, A({i, j}) + A({i, j}) * V({j}), {i, j})));
  Stmt flat = storage_flatten(body);
  std::vector<const BufferNode*> buffers = accessed_buffers(flat);
  ASSERT_EQ(buffers.size(), 4u);  // store A, load A, load A, load V
  EXPECT_EQ(buffers[0], buffers[1]);
  EXPECT_EQ(buffers[1], buffers[2]);
  EXPECT_EQ(buffers[3], V.get());  // already 1-D and compact: the very same buffer
  EXPECT_EQ(buffers[0]->shape.size(), 1u);
  EXPECT_TRUE(buffers[0]->data.same_as(A->data));

  // A statement with only flat accesses comes back unchanged.
  Stmt only_flat = make_for(j, 0, 7, ForKind::kSerial, make_store(V, V({j}) + 1, {j}));
  EXPECT_TRUE(storage_flatten(only_flat).same_as(only_flat));

  PrimFunc before = make_prim_func("f", {Param::of(A), Param::of(V)}, body);
  expect_same_results(before, before.with_body(flat), 12);
}

TEST(StorageFlatten, ExplicitStridesAreHonoured) {
  // A column-major 3x4 view: element (i, j) lives at i + 3 * j.
  Buffer C = make_buffer("C", f32, {3, 4}, {1, 3});
  Buffer R = make_buffer("R", f32, {3, 4});
  Var i("i"), j("j");
  Stmt body = make_for(i, 0, 3, ForKind::kSerial,
                       make_for(j, 0, 4, ForKind::kSerial, make_store(R, C({i, j}), {i, j})));
  Stmt flat = storage_flatten(body);
  Buffer Cf = make_buffer_view(C, "C", {make_int(i64, 12)});
  Buffer Rf = make_buffer_view(R, "R", {12});
  Stmt expected = make_for(i, 0, 3, ForKind::kSerial,
                           make_for(j, 0, 4, ForKind::kSerial,
                                    make_store(Rf, make_load(Cf, {i + j * 3}), {i * 4 + j})));
  EXPECT_TRUE(structural_equal(flat, expected)) << to_string(flat) << "\nexpected:\n" << to_string(expected);

  PrimFunc before = make_prim_func("transpose_view", {Param::of(C), Param::of(R)}, body);
  auto memory = expect_same_results(before, before.with_body(flat), 13);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) EXPECT_EQ(element<float>(memory[1], r * 4 + c), element<float>(memory[0], r + 3 * c));
  }
}

TEST(StorageFlatten, MultiDimensionalAllocationBecomesOneDimensional) {
  Buffer In = make_buffer("In", i32, {4, 8});
  Buffer Out = make_buffer("Out", i32, {4, 8});
  Buffer T = make_buffer("T", i32, {4, 8}, {}, MemoryScope::kLocal);
  Var i("i"), j("j");
  // T = In * 3 then Out = T transposed within rows (j -> 7 - j).
  Stmt body = make_allocate(
      T, make_seq({make_for(i, 0, 4, ForKind::kSerial,
                            make_for(j, 0, 8, ForKind::kSerial, make_store(T, In({i, j}) * 3, {i, j}))),
                   make_for(i, 0, 4, ForKind::kSerial,
                            make_for(j, 0, 8, ForKind::kSerial, make_store(Out, T({i, 7 - j}), {i, j})))}));
  Stmt flat = storage_flatten(body);
  const AllocateNode* alloc = flat.as<AllocateNode>();
  ASSERT_NE(alloc, nullptr);
  EXPECT_EQ(alloc->buffer->shape.size(), 1u);
  EXPECT_TRUE(structural_equal(alloc->buffer->shape[0], Expr(32)));
  EXPECT_TRUE(alloc->buffer->data.same_as(T->data));
  EXPECT_EQ(alloc->buffer->scope, MemoryScope::kLocal);
  for (const BufferNode* b : accessed_buffers(flat)) EXPECT_EQ(b->shape.size(), 1u) << b->name;

  PrimFunc before = make_prim_func("f", {Param::of(In), Param::of(Out)}, body);
  auto memory = expect_same_results(before, before.with_body(flat), 14);
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 8; ++c) {
      EXPECT_EQ(element<int32_t>(memory[1], r * 8 + c), element<int32_t>(memory[0], r * 8 + 7 - c) * 3);
    }
  }
}

TEST(StorageFlatten, SymbolicShapeGivesSymbolicStride) {
  Var m("m");
  Buffer A = make_buffer("A", f32, {4, m});
  Var i("i"), j("j");
  Stmt body = make_for(i, 0, 4, ForKind::kSerial,
                       make_for(j, 0, m, ForKind::kSerial, make_store(A, A({i, j}) + 1.0, {i, j})));
  Stmt flat = storage_flatten(body);
  Buffer Af = make_buffer_view(A, "A", {make_binary(BinaryOp::kMul, make_int(i64, 4), make_cast(i64, m))});
  Expr index = i * m + j;
  Stmt expected = make_for(i, 0, 4, ForKind::kSerial,
                           make_for(j, 0, m, ForKind::kSerial, make_store(Af, make_load(Af, {index}) + 1.0, {index})));
  EXPECT_TRUE(structural_equal(flat, expected)) << to_string(flat) << "\nexpected:\n" << to_string(expected);

  // Numerically with m = 5 (the buffer is given 4 * 5 elements).
  PrimFunc before = make_prim_func("inc", {Param::of(A), Param::of(m)}, body);
  PrimFunc after = before.with_body(flat);
  std::vector<float> data(20), reference(20);
  for (int e = 0; e < 20; ++e) data[e] = reference[e] = 0.25f * static_cast<float>(e * 7 % 11) - 1.0f;
  interpret(after, {static_cast<void*>(data.data()), int64_t{5}});
  for (int e = 0; e < 20; ++e) EXPECT_EQ(data[e], reference[e] + 1.0f) << e;
}

TEST(StorageFlatten, MixedIndexTypesWidenToInt64) {
  // An int64 symbolic extent makes the flat index int64; int32 indices are cast.
  Var n("n", i64);
  Buffer A = make_buffer("A", f32, {make_int(i64, 3), n});
  Var i("i"), j("j");
  Stmt body = make_store(A, 2.0, {i, j});
  Stmt flat = storage_flatten(body);
  const StoreNode* store = flat.as<StoreNode>();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->indices.size(), 1u);
  EXPECT_EQ(store->indices[0].dtype(), i64);
  Expr expected = make_cast(i64, i) * n + make_cast(i64, j);
  EXPECT_TRUE(structural_equal(store->indices[0], expected)) << to_string(store->indices[0]);
}

}  // namespace
}  // namespace tessel
