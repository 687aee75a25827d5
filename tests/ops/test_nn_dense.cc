// dense, matmul and batch_matmul through their default schedules, JIT-compiled (and a few small
// cases under the loop-IR interpreter), against plain loops accumulating in double; also the
// dense + bias + relu epilogue fused into one schedule, and the shape of the scheduled loop IR.
#include <gtest/gtest.h>

#include "ops/nn_test_util.h"
#include "tessel/ir/error.h"
#include "tessel/te/ops/nn.h"
#include "tessel/te/ops/tensor.h"

namespace tessel::te::ops {
namespace {

using testing::AlignedArray;
using testing::Engine;
using testing::expect_close;
using testing::fill_random;
using testing::run_default_schedule;

const DataType f32 = DataType::Float(32);

struct DenseCase {
  int m, k, n;
};

std::vector<double> dense_reference(const AlignedArray<float>& x, const AlignedArray<float>& w,
                                    const AlignedArray<float>* bias, int m, int k, int n, bool relu) {
  std::vector<double> out(m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = bias ? (*bias)[j] : 0.0;
      for (int r = 0; r < k; ++r) acc += static_cast<double>(x[i * k + r]) * w[j * k + r];
      out[i * n + j] = relu ? std::max(acc, 0.0) : acc;
    }
  return out;
}

void check_dense(DenseCase c, bool with_bias, bool relu, Engine engine) {
  Tensor x = placeholder({c.m, c.k}, f32, "x"), w = placeholder({c.n, c.k}, f32, "w"), b = placeholder({c.n}, f32, "b");
  Tensor out = dense(x, w, with_bias ? std::optional<Tensor>(b) : std::nullopt);
  if (relu) out = compute(out.shape(), [&](const std::vector<Var>& i) { return max(out({i[0], i[1]}), Expr(0.0)); }, "relu");
  AlignedArray<float> xa(c.m * c.k), wa(c.n * c.k), ba(c.n), oa(c.m * c.n);
  fill_random(xa, 11, -1, 1);
  fill_random(wa, 12, -1, 1);
  fill_random(ba, 13, -1, 1);
  fill_random(oa, 14, -9, 9);  // must be overwritten
  std::vector<Tensor> args = {x, w};
  std::vector<float*> buffers = {xa.data(), wa.data()};
  if (with_bias) {
    args.push_back(b);
    buffers.push_back(ba.data());
  }
  args.push_back(out);
  buffers.push_back(oa.data());
  run_default_schedule(out, args, buffers, engine);
  expect_close(oa, dense_reference(xa, wa, with_bias ? &ba : nullptr, c.m, c.k, c.n, relu), 1e-4,
               "dense " + std::to_string(c.m) + "x" + std::to_string(c.k) + "x" + std::to_string(c.n));
}

TEST(NnDense, OddShapesJit) {
  for (DenseCase c : {DenseCase{1, 1, 1}, DenseCase{7, 13, 5}, DenseCase{33, 17, 65}, DenseCase{1, 64, 48},
                      DenseCase{16, 96, 64}, DenseCase{9, 32, 31}}) {
    check_dense(c, false, false, Engine::kJit);
  }
}

TEST(NnDense, BiasJit) {
  check_dense({7, 13, 5}, true, false, Engine::kJit);
  check_dense({33, 17, 65}, true, false, Engine::kJit);
}

TEST(NnDense, BiasReluFusedJit) {
  check_dense({33, 17, 65}, true, true, Engine::kJit);
  check_dense({64, 40, 32}, true, true, Engine::kJit);
}

TEST(NnDense, Interpreter) {
  check_dense({7, 13, 5}, false, false, Engine::kInterpreter);
  check_dense({9, 6, 33}, true, true, Engine::kInterpreter);
}

TEST(NnDense, FusedScheduleHasOneParallelNestAndNoIntermediateTensor) {
  Tensor x = placeholder({32, 64}, f32, "x"), w = placeholder({64, 64}, f32, "w"), b = placeholder({64}, f32, "b");
  Tensor d = dense(x, w, b);
  Tensor relu = compute(d.shape(), [&](const std::vector<Var>& i) { return max(d({i[0], i[1]}), Expr(0.0)); }, "relu");
  Schedule s = default_schedule({relu}, testing::host_schedule_target());
  PrimFunc f = lower_schedule(s, {x, w, b, relu}, "dense_relu");
  std::string ir = to_string(f);
  EXPECT_NE(ir.find("parallel"), std::string::npos) << ir;
  EXPECT_NE(ir.find("ramp"), std::string::npos) << ir;
  // The dense result lives only in the register tile (8 x 32 accumulators), never as a full tensor.
  EXPECT_EQ(ir.find("[2048]"), std::string::npos) << ir;
}

TEST(NnDense, TensorLibraryEpilogueFusedJit) {
  const int m = 19, k = 23, n = 40;
  Tensor x = placeholder({m, k}, f32, "x"), w = placeholder({n, k}, f32, "w"), b = placeholder({n}, f32, "b");
  Tensor out = relu(add(dense(x, w), b));
  Schedule s = default_schedule({out}, testing::host_schedule_target());
  std::string ir = to_string(lower_schedule(s, {x, w, b, out}, "dense_add_relu"));
  EXPECT_EQ(ir.find("[" + std::to_string(m * n) + "]"), std::string::npos) << ir;  // no full dense result
  AlignedArray<float> xa(m * k), wa(n * k), ba(n), oa(m * n);
  fill_random(xa, 15, -1, 1);
  fill_random(wa, 16, -1, 1);
  fill_random(ba, 17, -1, 1);
  run_default_schedule(out, {x, w, b, out}, {xa.data(), wa.data(), ba.data(), oa.data()});
  expect_close(oa, dense_reference(xa, wa, &ba, m, k, n, true), 1e-4, "dense + add + relu");
}

std::vector<double> matmul_reference(const AlignedArray<float>& a, const AlignedArray<float>& b, int batch_a,
                                     int batch_b, int m, int k, int n, bool ta, bool tb) {
  int batch = std::max(batch_a, batch_b);
  std::vector<double> out(static_cast<size_t>(batch) * m * n);
  for (int p = 0; p < batch; ++p) {
    const float* ap = a.data() + static_cast<size_t>(batch_a == 1 ? 0 : p) * m * k;
    const float* bp = b.data() + static_cast<size_t>(batch_b == 1 ? 0 : p) * k * n;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double acc = 0;
        for (int r = 0; r < k; ++r) {
          double x = ta ? ap[r * m + i] : ap[i * k + r];
          double y = tb ? bp[j * k + r] : bp[r * n + j];
          acc += x * y;
        }
        out[(static_cast<size_t>(p) * m + i) * n + j] = acc;
      }
  }
  return out;
}

TEST(NnMatmul, AllTransposesJit) {
  for (auto [m, k, n] : {std::tuple{1, 1, 1}, std::tuple{7, 13, 5}, std::tuple{33, 17, 65}, std::tuple{24, 32, 48}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = ta ? placeholder({k, m}, f32, "a") : placeholder({m, k}, f32, "a");
        Tensor b = tb ? placeholder({n, k}, f32, "b") : placeholder({k, n}, f32, "b");
        Tensor c = matmul(a, b, ta, tb);
        AlignedArray<float> aa(m * k), ba(k * n), ca(m * n);
        fill_random(aa, 21, -1, 1);
        fill_random(ba, 22, -1, 1);
        run_default_schedule(c, {a, b, c}, {aa.data(), ba.data(), ca.data()});
        expect_close(ca, matmul_reference(aa, ba, 1, 1, m, k, n, ta, tb), 1e-4,
                     "matmul ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " " + std::to_string(m) + "x" +
                         std::to_string(k) + "x" + std::to_string(n));
      }
  }
}

void check_batch_matmul(int batch_a, int batch_b, int m, int k, int n, bool ta, bool tb, Engine engine) {
  Tensor a = ta ? placeholder({batch_a, k, m}, f32, "a") : placeholder({batch_a, m, k}, f32, "a");
  Tensor b = tb ? placeholder({batch_b, n, k}, f32, "b") : placeholder({batch_b, k, n}, f32, "b");
  Tensor c = batch_matmul(a, b, ta, tb);
  int batch = std::max(batch_a, batch_b);
  AlignedArray<float> aa(batch_a * m * k), ba(batch_b * k * n), ca(batch * m * n);
  fill_random(aa, 31, -1, 1);
  fill_random(ba, 32, -1, 1);
  run_default_schedule(c, {a, b, c}, {aa.data(), ba.data(), ca.data()}, engine);
  expect_close(ca, matmul_reference(aa, ba, batch_a, batch_b, m, k, n, ta, tb), 1e-4, "batch_matmul");
}

TEST(NnBatchMatmul, ShapesTransposesAndBroadcastJit) {
  check_batch_matmul(3, 3, 7, 13, 5, false, false, Engine::kJit);
  check_batch_matmul(2, 2, 33, 17, 65, false, true, Engine::kJit);
  check_batch_matmul(1, 4, 9, 8, 32, true, false, Engine::kJit);
  check_batch_matmul(5, 1, 16, 11, 19, true, true, Engine::kJit);
  check_batch_matmul(1, 1, 1, 1, 1, false, false, Engine::kJit);
}

TEST(NnBatchMatmul, Interpreter) { check_batch_matmul(2, 1, 5, 3, 18, false, true, Engine::kInterpreter); }

TEST(NnDense, ShapeErrorsAreUserErrors) {
  Tensor x = placeholder({4, 8}, f32, "x"), w = placeholder({5, 7}, f32, "w");
  EXPECT_THROW(dense(x, w), CompileError);
  EXPECT_THROW(matmul(x, w), CompileError);
  Tensor a = placeholder({2, 3, 4}, f32, "a"), b = placeholder({3, 4, 5}, f32, "b");
  EXPECT_THROW(batch_matmul(a, b), CompileError);
}

}  // namespace
}  // namespace tessel::te::ops
