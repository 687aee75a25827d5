// Schedules lowered to loop IR and run under the reference interpreter, against plain C++
// references: every primitive, alone and combined, on several compute DAGs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tessel/ir/error.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/structural.h"
#include "tessel/te/schedule.h"

namespace tessel::te {
namespace {

std::vector<float> random_vector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// C = A (M x K) * B (K x N)
struct Matmul {
  int M, N, K;
  Tensor A, B, C;
  IterVar k;
  Matmul(int m, int n, int kk) : M(m), N(n), K(kk) {
    A = placeholder({M, K}, DataType::Float(32), "A");
    B = placeholder({K, N}, DataType::Float(32), "B");
    k = reduce_axis(0, K, "k");
    IterVar kv = k;
    Tensor a = A, b = B;
    C = compute_reduce({M, N}, [&](const std::vector<Var>& i) { return sum(a({i[0], kv}) * b({kv, i[1]}), {kv}); }, "C");
  }
  std::vector<float> reference(const std::vector<float>& a, const std::vector<float>& b) const {
    std::vector<float> c(M * N, 0.0f);
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        float acc = 0.0f;
        for (int x = 0; x < K; ++x) acc += a[i * K + x] * b[x * N + j];
        c[i * N + j] = acc;
      }
    return c;
  }
  // Lowers, runs under the interpreter and compares with the reference.
  void check(Schedule& s, bool pipeline = true) const {
    PrimFunc f = lower_schedule(s, {A, B, C}, "matmul", pipeline);
    auto a = random_vector(M * K, 1), b = random_vector(K * N, 2);
    std::vector<float> c(M * N, 123.0f);
    interpret(f, {a.data(), b.data(), c.data()});
    auto expected = reference(a, b);
    for (int i = 0; i < M * N; ++i) {
      ASSERT_NEAR(c[i], expected[i], 1e-4f) << "element " << i << "\n" << to_string(f);
    }
  }
};

TEST(Schedule, DefaultMatmul) {
  Matmul m(7, 5, 3);
  Schedule s = create_schedule({m.C});
  m.check(s, false);
  m.check(s, true);
}

TEST(Schedule, SplitDivisibleAndNot) {
  for (int factor : {1, 2, 3, 4, 8}) {
    Matmul m(12, 10, 9);
    Schedule s = create_schedule({m.C});
    auto [io, ii] = s[m.C].split(s[m.C].axis()[0], factor);
    auto [ko, ki] = s[m.C].split(s[m.C].reduce_axis()[0], 4);
    (void)io; (void)ii; (void)ko; (void)ki;
    m.check(s);
  }
}

TEST(Schedule, TileReorderVectorizeParallelUnroll) {
  Matmul m(16, 37, 11);
  Schedule s = create_schedule({m.C});
  Stage st = s[m.C];
  auto t = st.tile(st.axis()[0], st.axis()[1], 4, 8);
  auto [ko, ki] = st.split(st.reduce_axis()[0], 2);
  st.reorder({t[0], t[1], ko, t[2], ki, t[3]});
  st.vectorize(t[3]);
  st.unroll(ki);
  st.parallel(t[0]);
  m.check(s);
}

TEST(Schedule, FuseAndSplitNparts) {
  Matmul m(6, 10, 5);
  Schedule s = create_schedule({m.C});
  Stage st = s[m.C];
  IterVar fused = st.fuse(st.axis()[0], st.axis()[1]);
  auto [o, i] = st.split_nparts(fused, 7);
  st.parallel(o);
  (void)i;
  m.check(s);
}

TEST(Schedule, CacheWriteComputeAtRegisterTile) {
  Matmul m(32, 48, 17);
  Schedule s = create_schedule({m.C});
  Tensor CC = s.cache_write(m.C, "local");
  Stage c = s[m.C];
  auto t = c.tile(c.axis()[0], c.axis()[1], 8, 16);
  c.parallel(t[0]);
  Stage cc = s[CC];
  cc.compute_at(c, t[1]);
  auto [ko, ki] = cc.split(cc.reduce_axis()[0], 4);
  cc.reorder({ko, cc.axis()[0], ki, cc.axis()[1]});
  cc.vectorize(cc.axis()[1]);
  cc.unroll(ki);
  m.check(s);
}

TEST(Schedule, CacheReadSharedAndComputeAt) {
  Matmul m(16, 16, 8);
  Schedule s = create_schedule({m.C});
  Tensor AS = s.cache_read(m.A, "shared", {m.C});
  Stage c = s[m.C];
  auto [io, ii] = c.split(c.axis()[0], 4);
  s[AS].compute_at(c, io);
  (void)ii;
  m.check(s);
}

TEST(Schedule, InlineAndComputeRootElementwiseChain) {
  int n = 29;
  Tensor X = placeholder({n}, DataType::Float(32), "X");
  Tensor Y = compute({n}, [&](const std::vector<Var>& i) { return X({i[0]}) * 2.0; }, "Y");
  Tensor Z = compute({n}, [&](const std::vector<Var>& i) { return Y({i[0]}) + 1.0; }, "Z");
  Tensor W = compute({n}, [&](const std::vector<Var>& i) { return Z({i[0]}) * Y({i[0]}); }, "W");
  for (int variant = 0; variant < 3; ++variant) {
    Schedule s = create_schedule({W});
    if (variant == 1) s[Y].compute_inline();
    if (variant == 2) {
      s[Y].compute_inline();
      s[Z].compute_inline();
      auto [o, i] = s[W].split(s[W].axis()[0], 8);
      s[W].vectorize(i);
      (void)o;
    }
    PrimFunc f = lower_schedule(s, {X, W}, "chain");
    auto x = random_vector(n, 3);
    std::vector<float> w(n);
    interpret(f, {x.data(), w.data()});
    for (int i = 0; i < n; ++i) {
      float y = x[i] * 2.0f;
      ASSERT_FLOAT_EQ(w[i], (y + 1.0f) * y) << "variant " << variant;
    }
  }
}

TEST(Schedule, ComputeAtProducerRegionIsOffset) {
  // B[i] = A[i] + A[i + 1]; C[i] = B[i] * B[i + 2]. B computed at C's outer loop covers a window.
  int n = 40;
  Tensor A = placeholder({n + 3}, DataType::Float(32), "A");
  Tensor B = compute({n + 2}, [&](const std::vector<Var>& i) { return A({i[0]}) + A({i[0] + 1}); }, "B");
  Tensor C = compute({n}, [&](const std::vector<Var>& i) { return B({i[0]}) * B({i[0] + 2}); }, "C");
  Schedule s = create_schedule({C});
  auto [o, i] = s[C].split(s[C].axis()[0], 8);
  s[B].compute_at(s[C], o);
  (void)i;
  PrimFunc f = lower_schedule(s, {A, C}, "window");
  std::string text = to_string(f);
  EXPECT_NE(text.find("allocate"), std::string::npos) << text;
  auto a = random_vector(n + 3, 4);
  std::vector<float> c(n);
  interpret(f, {a.data(), c.data()});
  for (int x = 0; x < n; ++x) {
    float b0 = a[x] + a[x + 1], b2 = a[x + 2] + a[x + 3];
    ASSERT_FLOAT_EQ(c[x], b0 * b2) << x;
  }
}

TEST(Schedule, RfactorSum) {
  int n = 37;
  Tensor A = placeholder({3, n}, DataType::Float(32), "A");
  IterVar k = reduce_axis(0, n, "k");
  Tensor S = compute_reduce({3}, [&](const std::vector<Var>& i) { return sum(A({i[0], k}), {k}); }, "S");
  Schedule s = create_schedule({S});
  auto [ko, ki] = s[S].split(s[S].reduce_axis()[0], 8);
  (void)ko;
  Tensor SF = s.rfactor(S, ki);
  s[SF].vectorize(s[SF].axis()[0]);
  PrimFunc f = lower_schedule(s, {A, S}, "rsum");
  auto a = random_vector(3 * n, 5);
  std::vector<float> out(3);
  interpret(f, {a.data(), out.data()});
  for (int r = 0; r < 3; ++r) {
    double ref = 0;
    for (int x = 0; x < n; ++x) ref += a[r * n + x];
    EXPECT_NEAR(out[r], ref, 1e-4) << r;
  }
}

TEST(Schedule, MaxReductionAndPragmaUnroll) {
  int rows = 5, cols = 13;
  Tensor A = placeholder({rows, cols}, DataType::Float(32), "A");
  IterVar k = reduce_axis(0, cols, "k");
  Tensor M = compute_reduce({rows}, [&](const std::vector<Var>& i) { return te::max(A({i[0], k}), std::vector<IterVar>{k}); }, "M");
  Schedule s = create_schedule({M});
  s[M].pragma(s[M].axis()[0], "auto_unroll_max_step", 16);
  PrimFunc f = lower_schedule(s, {A, M}, "rowmax");
  auto a = random_vector(rows * cols, 6);
  std::vector<float> out(rows);
  interpret(f, {a.data(), out.data()});
  for (int r = 0; r < rows; ++r) {
    float ref = a[r * cols];
    for (int x = 1; x < cols; ++x) ref = std::max(ref, a[r * cols + x]);
    EXPECT_EQ(out[r], ref);
  }
}

TEST(Schedule, ReplayGivesIdenticalLoopIr) {
  auto build = [](std::vector<Step>* steps, const std::vector<Step>* replay) {
    Matmul m(32, 48, 17);
    Schedule s = create_schedule({m.C});
    if (replay) {
      s.replay(*replay);
    } else {
      Tensor CC = s.cache_write(m.C, "local");
      Stage c = s[m.C];
      auto t = c.tile(c.axis()[0], c.axis()[1], 8, 16);
      c.parallel(t[0]);
      s[CC].compute_at(c, t[1]);
      s[CC].vectorize(s[CC].axis()[1]);
    }
    if (steps) *steps = s.steps();
    return lower_schedule(s, {m.A, m.B, m.C}, "matmul");
  };
  std::vector<Step> steps;
  PrimFunc original = build(&steps, nullptr);
  std::vector<Step> parsed = steps_from_json(steps_to_json(steps));
  EXPECT_EQ(parsed, steps);
  PrimFunc replayed = build(nullptr, &parsed);
  EXPECT_TRUE(structural_equal(original, replayed)) << to_string(original) << "\nvs\n" << to_string(replayed);
}

TEST(ScheduleErrors, MessagesNameStageAndAxis) {
  Matmul m(8, 8, 8);
  Schedule s = create_schedule({m.C});
  Tensor other = compute({8}, [&](const std::vector<Var>& i) { return m.A({i[0], i[0]}); }, "D");
  Schedule s2 = create_schedule({other});
  // Splitting an axis of another stage.
  try {
    s[m.C].split(s2[other].axis()[0], 2);
    FAIL() << "expected CompileError";
  } catch (const CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("stage C"), std::string::npos) << e.what();
  }
  // Vectorising a reduction axis.
  try {
    s[m.C].vectorize(s[m.C].reduce_axis()[0]);
    FAIL() << "expected CompileError";
  } catch (const CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("reduction axis"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("k"), std::string::npos) << e.what();
  }
  // compute_at into a stage that does not consume the tensor.
  Tensor X = placeholder({8}, DataType::Float(32), "X");
  Tensor P = compute({8}, [&](const std::vector<Var>& i) { return X({i[0]}) + 1.0; }, "P");
  Tensor Q = compute({8}, [&](const std::vector<Var>& i) { return P({i[0]}) * 2.0; }, "Q");
  Tensor R = compute({8}, [&](const std::vector<Var>& i) { return Q({i[0]}) + X({i[0]}); }, "R");
  Schedule s3 = create_schedule({R});
  EXPECT_THROW(s3[P].compute_at(s3[R], s3[R].axis()[0]), CompileError);
  // Transformed axes are not leaves any more.
  auto [o, i] = s[m.C].split(s[m.C].axis()[0], 2);
  (void)o; (void)i;
  EXPECT_THROW(s[m.C].split(s[m.C].axis()[0], 2), CompileError);
  EXPECT_THROW(steps_from_json("{\"version\": 1, \"steps\": [{\"kind\": \"explode\", \"stage\": 0}]}"), CompileError);
  EXPECT_THROW(steps_from_json("not json"), CompileError);
}

}  // namespace
}  // namespace tessel::te
