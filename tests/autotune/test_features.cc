// Per-store feature extraction on lowered loop IR: exact counts on small loop nests where they can
// be worked out by hand (naive, vectorised and parallel matmuls; a hand-built strided nest), a
// fixed vector length and determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "tessel/autotune/cost_model.h"
#include "tessel/ir/error.h"
#include "tessel/ir/printer.h"
#include "tessel/te/schedule.h"

namespace tessel::autotune {
namespace {

using te::Tensor;

float feature(const std::vector<float>& row, const std::string& name) {
  const auto& names = feature_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return row.at(i);
  ADD_FAILURE() << "no feature named " << name;
  return NAN;
}

float log_count(double x) { return static_cast<float>(std::log2(1.0 + x)); }

// C = A (M x K) * B (K x N)
struct Matmul {
  Tensor A, B, C;
  Matmul(int m, int n, int k) {
    A = te::placeholder({m, k}, DataType::Float(32), "A");
    B = te::placeholder({k, n}, DataType::Float(32), "B");
    te::IterVar r = te::reduce_axis(0, k, "k");
    Tensor a = A, b = B;
    C = te::compute_reduce({m, n}, [&](const std::vector<Var>& i) { return te::sum(a({i[0], r}) * b({r, i[1]}), {r}); }, "C");
  }
  PrimFunc lower(te::Schedule& s) const { return te::lower_schedule(s, {A, B, C}, "matmul"); }
};

// The update store C[...] = C[...] + A[...] * B[...]: the row with a float multiply.
const std::vector<float>& update_row(const std::vector<std::vector<float>>& rows) {
  for (const auto& r : rows)
    if (feature(r, "arith.float_mul") > 0) return r;
  ADD_FAILURE() << "no store multiplies";
  return rows.front();
}

TEST(Features, NamesAreUniqueAndRowsHaveTheirLength) {
  const auto& names = feature_names();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  EXPECT_GT(names.size(), 100u);
  for (int n : {1, 7, 16}) {
    Matmul m(n, n + 2, 3);
    te::Schedule s = te::create_schedule({m.C});
    for (const auto& row : extract_features(m.lower(s))) EXPECT_EQ(row.size(), names.size());
  }
}

TEST(Features, NaiveMatmulCountsAreExact) {
  Matmul m(8, 8, 8);
  te::Schedule s = te::create_schedule({m.C});
  PrimFunc f = m.lower(s);
  auto rows = extract_features(f);
  ASSERT_EQ(rows.size(), 2u) << to_string(f);  // the init store and the update store
  const auto& row = update_row(rows);
  EXPECT_FLOAT_EQ(feature(row, "arith.float_mul"), log_count(512));
  EXPECT_FLOAT_EQ(feature(row, "arith.float_add_sub"), log_count(512));
  EXPECT_FLOAT_EQ(feature(row, "arith.float_fma_able"), log_count(512));
  EXPECT_FLOAT_EQ(feature(row, "arith.float_ops_total"), log_count(1024));
  EXPECT_FLOAT_EQ(feature(row, "arith.float_div_mod"), 0);
  EXPECT_FLOAT_EQ(feature(row, "arith.float_math_call"), 0);
  EXPECT_FLOAT_EQ(feature(row, "loop.vector_lanes"), 1);
  EXPECT_FLOAT_EQ(feature(row, "loop.in_parallel"), 0);
  EXPECT_FLOAT_EQ(feature(row, "outer.num_loops"), 3);
  EXPECT_FLOAT_EQ(feature(row, "outer.executions"), log_count(512));
  EXPECT_FLOAT_EQ(feature(row, "outer.stores_in_function"), log_count(2));
  // Buffers by traffic: C is read and written (2 x 4 bytes x 512), then A and B (by name).
  EXPECT_FLOAT_EQ(feature(row, "buffer0.is_read"), 1);
  EXPECT_FLOAT_EQ(feature(row, "buffer0.is_write"), 1);
  EXPECT_FLOAT_EQ(feature(row, "buffer0.bytes"), log_count(4096));
  EXPECT_FLOAT_EQ(feature(row, "buffer0.unique_bytes"), log_count(256));
  EXPECT_FLOAT_EQ(feature(row, "buffer0.unique_lines"), log_count(4));
  // C[i, j] does not move with the innermost k loop: reused every iteration, 8 times.
  EXPECT_FLOAT_EQ(feature(row, "buffer0.reuse_loop"), 1);
  EXPECT_FLOAT_EQ(feature(row, "buffer0.reuse_count"), log_count(8));
  EXPECT_FLOAT_EQ(feature(row, "buffer0.stride_zero"), 1);
  EXPECT_FLOAT_EQ(feature(row, "buffer1.is_read"), 1);   // A[i, k]: stride 1 along k
  EXPECT_FLOAT_EQ(feature(row, "buffer1.is_write"), 0);
  EXPECT_FLOAT_EQ(feature(row, "buffer1.bytes"), log_count(2048));
  EXPECT_FLOAT_EQ(feature(row, "buffer1.stride_unit"), 1);
  EXPECT_FLOAT_EQ(feature(row, "buffer1.reuse_loop"), 1);  // invariant in j, one k loop apart
  EXPECT_FLOAT_EQ(feature(row, "buffer1.reuse_distance_iters"), log_count(8));
  EXPECT_FLOAT_EQ(feature(row, "buffer2.stride_large"), 1);  // B[k, j]: stride 8 along k
  EXPECT_FLOAT_EQ(feature(row, "buffer2.stride"), log_count(8));
  EXPECT_FLOAT_EQ(feature(row, "buffer3.present"), 0);
  // Intensity over the whole nest: 1024 flops over 3 x 256 unique bytes.
  EXPECT_FLOAT_EQ(feature(row, "intensity.9"), log_count(1024.0 / 768.0));

  // The init store C[i, j] = 0 runs 64 times and computes nothing.
  const auto& init = rows[0] == row ? rows[1] : rows[0];
  EXPECT_FLOAT_EQ(feature(init, "arith.float_ops_total"), 0);
  EXPECT_FLOAT_EQ(feature(init, "outer.executions"), log_count(64));
  EXPECT_FLOAT_EQ(feature(init, "buffer0.is_read"), 0);
  EXPECT_FLOAT_EQ(feature(init, "buffer0.is_write"), 1);
  EXPECT_FLOAT_EQ(feature(init, "buffer1.present"), 0);
}

TEST(Features, VectorizedMatmulHasLanesAndUnitStride) {
  Matmul m(8, 16, 8);
  te::Schedule s = te::create_schedule({m.C});
  te::Stage st = s[m.C];
  st.reorder({st.axis()[0], st.reduce_axis()[0], st.axis()[1]});
  st.vectorize(st.axis()[1]);
  PrimFunc f = m.lower(s);
  auto rows = extract_features(f);
  const auto& row = update_row(rows);
  EXPECT_FLOAT_EQ(feature(row, "loop.vector_lanes"), 16) << to_string(f);
  EXPECT_FLOAT_EQ(feature(row, "loop.is_vectorized"), 1);
  // Element counts do not change with vectorisation: 8 * 16 * 8 multiplies and adds.
  EXPECT_FLOAT_EQ(feature(row, "arith.float_mul"), log_count(1024));
  EXPECT_FLOAT_EQ(feature(row, "arith.float_add_sub"), log_count(1024));
  EXPECT_FLOAT_EQ(feature(row, "outer.num_loops"), 2);
  EXPECT_FLOAT_EQ(feature(row, "outer.executions"), log_count(64));
  // C and B are accessed by stride-1 ramps, A is broadcast (stride 0).
  int unit = 0, zero = 0;
  for (int b = 0; b < 3; ++b) {
    const std::string p = "buffer" + std::to_string(b) + ".";
    unit += feature(row, p + "stride_unit") == 1;
    zero += feature(row, p + "stride_zero") == 1;
  }
  EXPECT_EQ(unit, 2);
  EXPECT_EQ(zero, 1);
}

TEST(Features, ParallelLoopSetsTheParallelFlags) {
  Matmul m(12, 8, 5);
  te::Schedule s = te::create_schedule({m.C});
  s[m.C].parallel(s[m.C].axis()[0]);
  for (const auto& row : extract_features(m.lower(s))) {
    EXPECT_FLOAT_EQ(feature(row, "loop.in_parallel"), 1);
    EXPECT_FLOAT_EQ(feature(row, "loop.parallel_extent"), log_count(12));
    EXPECT_FLOAT_EQ(feature(row, "loop.num_parallel_loops"), 1);
    EXPECT_FLOAT_EQ(feature(row, "outer.outermost_is_parallel"), 1);
    EXPECT_FLOAT_EQ(feature(row, "outer.outermost_extent"), log_count(12));
  }
  te::Schedule serial = te::create_schedule({m.C});
  for (const auto& row : extract_features(m.lower(serial))) EXPECT_FLOAT_EQ(feature(row, "loop.in_parallel"), 0);
}

TEST(Features, HandBuiltStridedNestWithMathAndAllocation) {
  // for i < 10: for j < 7: allocate T[7] local { T[j] = exp(A[j * 10 + i]) / 2; B[i * 7 + j] = T[j] }
  Buffer a = make_buffer("A", DataType::Float(32), {70});
  Buffer b = make_buffer("B", DataType::Float(32), {70});
  Buffer t = make_buffer("T", DataType::Float(32), {7}, {}, MemoryScope::kLocal);
  Var i("i"), j("j");
  Stmt body = make_seq({make_store(t, make_call(Intrinsic::k_exp, {a({Expr(j) * 10 + i})}) / Expr(2.0f), {j}),
                        make_store(b, t({j}), {Expr(i) * 7 + j})});
  Stmt nest = make_for(i, 0, 10, ForKind::kSerial,
                       make_allocate(t, make_for(j, 0, 7, ForKind::kSerial, body)));
  PrimFunc f = make_prim_func("strided", {Param::of(a), Param::of(b)}, nest);
  auto rows = extract_features(f);
  ASSERT_EQ(rows.size(), 2u);
  const auto& compute = rows[0];
  EXPECT_FLOAT_EQ(feature(compute, "arith.float_math_call"), log_count(70));
  EXPECT_FLOAT_EQ(feature(compute, "arith.float_div_mod"), log_count(70));
  EXPECT_FLOAT_EQ(feature(compute, "arith.int_mul"), log_count(70));      // j * 10
  EXPECT_FLOAT_EQ(feature(compute, "arith.int_add_sub"), log_count(70));  // + i
  EXPECT_FLOAT_EQ(feature(compute, "alloc.num_enclosing_allocs"), 1);
  EXPECT_FLOAT_EQ(feature(compute, "alloc.enclosing_alloc_bytes"), log_count(28));
  EXPECT_FLOAT_EQ(feature(compute, "alloc.target_alloc_bytes"), log_count(28));
  EXPECT_FLOAT_EQ(feature(compute, "alloc.target_is_local"), 1);
  EXPECT_FLOAT_EQ(feature(compute, "loop.stores_in_innermost_loop"), log_count(2));
  // Both buffers move 280 bytes; A sorts first by name. A is read with stride 10 (40 bytes): 70
  // distinct elements; one j loop spans 7 * 40 bytes = ceil(4.4) = 5 lines, fetched anew for each
  // of the 10 values of i; T is local and written with stride 1.
  EXPECT_FLOAT_EQ(feature(compute, "buffer0.stride_large"), 1);
  EXPECT_FLOAT_EQ(feature(compute, "buffer0.stride"), log_count(10));
  EXPECT_FLOAT_EQ(feature(compute, "buffer0.unique_bytes"), log_count(280));
  EXPECT_FLOAT_EQ(feature(compute, "buffer0.lines"), log_count(50));
  EXPECT_FLOAT_EQ(feature(compute, "buffer1.is_local_scope"), 1);
  EXPECT_FLOAT_EQ(feature(compute, "buffer1.stride_unit"), 1);
  EXPECT_FLOAT_EQ(feature(compute, "buffer1.unique_bytes"), log_count(28));
  const auto& copy = rows[1];
  EXPECT_FLOAT_EQ(feature(copy, "arith.float_ops_total"), 0);
  EXPECT_FLOAT_EQ(feature(copy, "alloc.target_alloc_bytes"), 0);
  EXPECT_FLOAT_EQ(feature(copy, "alloc.target_is_local"), 0);
  // B[i * 7 + j] over both loops is 70 contiguous floats: 280 bytes on 5 lines.
  EXPECT_FLOAT_EQ(feature(copy, "buffer0.is_write"), 1);
  EXPECT_FLOAT_EQ(feature(copy, "buffer0.unique_bytes"), log_count(280));
  EXPECT_FLOAT_EQ(feature(copy, "buffer0.unique_lines"), log_count(5));
}

TEST(Features, RegisterTiledScheduleIsDeterministic) {
  auto extract = [] {
    Matmul m(32, 48, 17);
    te::Schedule s = te::create_schedule({m.C});
    Tensor cc = s.cache_write(m.C, "local");
    te::Stage c = s[m.C];
    auto t = c.tile(c.axis()[0], c.axis()[1], 8, 16);
    c.parallel(t[0]);
    te::Stage l = s[cc];
    l.compute_at(c, t[1]);
    auto [ko, ki] = l.split(l.reduce_axis()[0], 4);
    l.reorder({ko, l.axis()[0], ki, l.axis()[1]});
    l.vectorize(l.axis()[1]);
    l.unroll(ki);
    return extract_features(m.lower(s));
  };
  auto first = extract(), second = extract();
  EXPECT_EQ(first, second);
  ASSERT_GE(first.size(), 4u);  // init, unrolled updates (17 = 4 * 4 + 1 with a guard), copy-out
  bool saw_unrolled = false;
  for (const auto& row : first) {
    EXPECT_EQ(row.size(), feature_names().size());
    for (float v : row) EXPECT_TRUE(std::isfinite(v));
    if (feature(row, "loop.same_buffer_stores_in_innermost_loop") >= log_count(4)) saw_unrolled = true;
  }
  EXPECT_TRUE(saw_unrolled);
}

TEST(Features, UndefinedFunctionIsAUserError) {
  EXPECT_THROW(extract_features(PrimFunc()), CompileError);
}

}  // namespace
}  // namespace tessel::autotune
