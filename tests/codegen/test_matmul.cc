// Matmul through the LLVM JIT: the naive loop nest and the tiled, packed, vectorised, parallel
// schedule that bench/matmul_vs_openblas.cc times, against the interpreter (small shapes) and
// against plain C++ loops in double (larger shapes). Tolerance: relative 1e-5 of the result's
// magnitude, since FMA contraction and a different summation order change the rounding.
// Also checks the machine code: 512-bit FMAs on an AVX-512 host, the register tile promoted out
// of memory, and NEON fmla when cross-compiling for AArch64.
#include <gtest/gtest.h>

#include <regex>

#include "../../bench/matmul_schedule.h"
#include "codegen/codegen_test_util.h"
#include "tessel/codegen/host.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"

namespace tessel::codegen {
namespace {

using bench::make_naive_matmul;
using bench::make_tiled_matmul;
using bench::MatmulTiling;
using testing::AlignedArray;
using testing::fill_random;

struct Problem {
  int m, n, k;
  AlignedArray<float> a, b;
  Problem(int m_, int n_, int k_) : m(m_), n(n_), k(k_), a(m_ * k_), b(k_ * n_) {
    fill_random(a, 101, -1, 1);
    fill_random(b, 102, -1, 1);
  }
  // Reference in double, and the largest |C| for scaling the tolerance.
  std::vector<double> reference() const {
    std::vector<double> c(m * n, 0.0);
    for (int i = 0; i < m; ++i)
      for (int r = 0; r < k; ++r)
        for (int j = 0; j < n; ++j) c[i * n + j] += static_cast<double>(a[i * k + r]) * b[r * n + j];
    return c;
  }
};

void expect_close(const AlignedArray<float>& c, const std::vector<double>& expected, double tolerance) {
  double scale = 0;
  for (double v : expected) scale = std::max(scale, std::fabs(v));
  ASSERT_GT(scale, 0.1);
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(c[i], expected[i], tolerance * scale) << "element " << i;
  }
}

void run_jit(const PrimFunc& f, Problem& p, AlignedArray<float>& c) {
  JitModule module = JitModule::compile({f});
  module.get_function(f->name).call({p.a.data(), p.b.data(), c.data()});
}

TEST(CodegenMatmul, NaiveMatchesInterpreter) {
  Problem p(24, 40, 33);
  PrimFunc f = make_naive_matmul(p.m, p.n, p.k);
  AlignedArray<float> jit_c(p.m * p.n), ref_c(p.m * p.n);
  fill_random(jit_c, 7, -5, 5);  // overwritten: the kernel zeroes C itself
  run_jit(f, p, jit_c);
  interpret(f, {p.a.data(), p.b.data(), ref_c.data()});
  std::vector<double> ref(ref_c.data(), ref_c.data() + ref_c.size());
  expect_close(jit_c, ref, 1e-5);
  expect_close(jit_c, p.reference(), 1e-5);
}

TEST(CodegenMatmul, TiledParallelMatchesInterpreter) {
  Problem p(128, 64, 37);
  MatmulTiling tiling;  // 8 x 32 register tiles, 64-row blocks, 16 lanes
  PrimFunc f = make_tiled_matmul(p.m, p.n, p.k, tiling);
  AlignedArray<float> jit_c(p.m * p.n), ref_c(p.m * p.n);
  run_jit(f, p, jit_c);
  interpret(f, {p.a.data(), p.b.data(), ref_c.data()});
  std::vector<double> ref(ref_c.data(), ref_c.data() + ref_c.size());
  expect_close(jit_c, ref, 1e-5);
}

TEST(CodegenMatmul, TiledParallelLargeMatchesReference) {
  for (MatmulTiling tiling : {MatmulTiling{}, MatmulTiling{4, 64, 32, 16}, MatmulTiling{6, 32, 48, 8}}) {
    Problem p(192, 256, 300);
    PrimFunc f = make_tiled_matmul(p.m, p.n, p.k, tiling);
    AlignedArray<float> c(p.m * p.n);
    run_jit(f, p, c);
    expect_close(c, p.reference(), 1e-5);
  }
}

TEST(CodegenMatmul, RegisterTileLeavesMemory) {
  PrimFunc f = make_tiled_matmul(256, 256, 256);
  JitModule module = JitModule::compile({f});
  // SROA turned the 8 x 32 accumulator allocation into SSA values: no alloca of it remains.
  EXPECT_EQ(module.llvm_ir().find("%Acc = alloca"), std::string::npos);
  EXPECT_EQ(module.llvm_ir().find("alloca [256 x float]"), std::string::npos);
  EXPECT_NE(module.llvm_ir().find("@tessel_parallel_launch"), std::string::npos);
}

TEST(CodegenMatmul, Avx512AssemblyUsesZmmFma) {
  if (!host_cpu().has_feature("avx512f")) GTEST_SKIP() << "host has no AVX-512";
  JitModule module = JitModule::compile({make_tiled_matmul(256, 256, 256)});
  const std::string& assembly = module.assembly();
  std::regex zmm_fma(R"(vfmadd\w*ps\s+[^\n]*zmm)");
  EXPECT_TRUE(std::regex_search(assembly, zmm_fma)) << assembly.substr(0, 4000);
}

TEST(CodegenMatmul, CrossCompilesToNeonFmla) {
  if (!is_target_registered("aarch64-linux-gnu")) GTEST_SKIP() << "LLVM has no AArch64 backend";
  Target target = Target::parse("llvm -mtriple=aarch64-linux-gnu -mcpu=neoverse-n1");
  EXPECT_EQ(target.vector_bits, 128);
  EXPECT_FALSE(target.runs_on_host());
  MatmulTiling tiling{8, 16, 64, 4};
  std::string assembly = emit_assembly({make_tiled_matmul(128, 128, 64, tiling)}, target);
  EXPECT_TRUE(std::regex_search(assembly, std::regex(R"(fmla\s+v\d+\.4s)"))) << assembly.substr(0, 4000);
  EXPECT_THROW(JitModule::compile({make_tiled_matmul(128, 128, 64, tiling)}, target), CompileError);
}

}  // namespace
}  // namespace tessel::codegen
