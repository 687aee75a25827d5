// Target strings and host detection: "llvm" is the host with its real CPU name, -mcpu changes
// the CPU and with it the features LLVM assumes (and the vector width), -mattr adds or removes
// features, -mtriple cross-compiles; malformed strings are user errors naming the problem.
#include <gtest/gtest.h>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/host.h"
#include "tessel/codegen/llvm.h"

namespace tessel::codegen {
namespace {

TEST(CodegenTarget, HostMatchesDetectedCpu) {
  Target host = Target::parse("llvm");
  EXPECT_EQ(host, Target::host());
  EXPECT_EQ(host.cpu, host_cpu().cpu_name);
  EXPECT_NE(host.cpu, "generic");
  EXPECT_TRUE(host.runs_on_host());
  EXPECT_EQ(host.vector_bits, host_cpu().vector_bits);
  EXPECT_EQ(host.has_feature("avx512f"), host_cpu().has_feature("avx512f"));
  EXPECT_EQ(Target::parse("llvm -mcpu=native"), host);
  // The string form parses back to the same target.
  EXPECT_EQ(Target::parse(host.to_string()), host);
}

TEST(CodegenTarget, HostFeatureListIsConsistent) {
  const HostCpu& cpu = host_cpu();
  EXPECT_FALSE(cpu.features.empty());
  EXPECT_TRUE(std::is_sorted(cpu.features.begin(), cpu.features.end()));
  if (cpu.has_feature("avx512f")) {
    EXPECT_EQ(cpu.vector_bits, 512);
  } else if (cpu.has_feature("avx2")) {
    EXPECT_EQ(cpu.vector_bits, 256);
  }
  // x86-64 hosts have at least SSE2.
  if (cpu.triple.rfind("x86_64", 0) == 0) {
    EXPECT_TRUE(cpu.has_feature("sse2"));
  }
}

TEST(CodegenTarget, CpuImpliesFeatures) {
  Target zen4 = Target::parse("llvm -mcpu=znver4");
  EXPECT_EQ(zen4.cpu, "znver4");
  EXPECT_TRUE(zen4.has_feature("avx512f"));
  EXPECT_EQ(zen4.vector_bits, 512);
  Target haswell = Target::parse("llvm -mcpu=haswell");
  EXPECT_TRUE(haswell.has_feature("avx2"));
  EXPECT_FALSE(haswell.has_feature("avx512f"));
  EXPECT_EQ(haswell.vector_bits, 256);
  Target reduced = Target::parse("llvm -mcpu=znver4 -mattr=-avx512f");
  EXPECT_FALSE(reduced.has_feature("avx512f"));
  EXPECT_EQ(reduced.vector_bits, 256);
  Target added = Target::parse("llvm -mcpu=x86-64 -mattr=+avx2,+fma");
  EXPECT_TRUE(added.has_feature("avx2"));
  EXPECT_EQ(added.vector_bits, 256);
  EXPECT_EQ(Target::parse("llvm -mcpu=x86-64").vector_bits, 128);
}

TEST(CodegenTarget, CrossCompileTarget) {
  if (!is_target_registered("aarch64-linux-gnu")) GTEST_SKIP() << "LLVM has no AArch64 backend";
  Target arm = Target::parse("llvm -mtriple=aarch64-linux-gnu -mcpu=neoverse-n1");
  EXPECT_EQ(arm.cpu, "neoverse-n1");
  EXPECT_NE(arm.triple.find("aarch64"), std::string::npos);
  EXPECT_TRUE(arm.has_feature("neon"));
  EXPECT_EQ(arm.vector_bits, 128);
  EXPECT_FALSE(arm.runs_on_host());
  EXPECT_EQ(Target::parse("llvm -mtriple=aarch64-linux-gnu").cpu, "generic");
}

TEST(CodegenTarget, CodeFollowsTheTarget) {
  // The same vector loop: 512-bit registers for znver4, none for AVX2-only haswell.
  Buffer a = make_buffer("A", DataType::Float(32), {256}), b = make_buffer("B", DataType::Float(32), {256});
  Var i("i");
  Expr index = make_ramp(i * 16, 1, 16);
  PrimFunc f = make_prim_func("twice", {Param::of(a), Param::of(b)},
                              make_for(i, 0, 16, ForKind::kSerial,
                                       make_store(b, make_load(a, {index}) * make_const(DataType::Float(32, 16), 2.0), {index})));
  std::string zen4 = emit_assembly({f}, Target::parse("llvm -mcpu=znver4"));
  std::string haswell = emit_assembly({f}, Target::parse("llvm -mcpu=haswell"));
  EXPECT_NE(zen4.find("zmm"), std::string::npos);
  EXPECT_EQ(haswell.find("zmm"), std::string::npos);
  EXPECT_NE(haswell.find("ymm"), std::string::npos);
  std::string ir = emit_llvm_ir({f}, Target::parse("llvm -mcpu=znver4"));
  EXPECT_NE(ir.find("\"target-cpu\"=\"znver4\""), std::string::npos);
}

TEST(CodegenTarget, MalformedTargetsAreUserErrors) {
  auto message_of = [](const std::string& text) -> std::string {
    try {
      Target::parse(text);
    } catch (const CompileError& error) {
      return error.what();
    }
    return "";
  };
  EXPECT_NE(message_of("gpu").find("neither an LLVM CPU target nor a CUDA one"), std::string::npos);
  EXPECT_NE(message_of("cuda -arch=sm_35").find("not a CUDA arch of sm_50 or later"), std::string::npos);
  EXPECT_TRUE(Target::parse("cuda").is_cuda());
  EXPECT_EQ(Target::parse("cuda -arch=sm_80").to_string(), "cuda -arch=sm_80");
  EXPECT_NE(message_of("llvm -mcpu=notacpu").find("unknown CPU 'notacpu'"), std::string::npos);
  EXPECT_NE(message_of("llvm -mattr=+notafeature").find("unknown feature '+notafeature'"), std::string::npos);
  EXPECT_NE(message_of("llvm -mattr=avx2").find("unknown feature 'avx2'"), std::string::npos);
  EXPECT_NE(message_of("llvm -O3").find("unknown option '-O3'"), std::string::npos);
  EXPECT_NE(message_of("llvm -mtriple=nonsense-arch-os").find("no backend"), std::string::npos);
}

}  // namespace
}  // namespace tessel::codegen
