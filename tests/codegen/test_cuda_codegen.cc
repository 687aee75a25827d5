// The CUDA code generator on hand-built loop IR: thread-bound loops and launch dimensions, guards,
// shared allocations and barriers, float4 accesses, cross-thread reductions, intrinsics, targets,
// workspaces, the host launcher and TESSEL_DUMP_CODE. NVRTC compiles (warning-free) whenever it is
// present; without it those checks are skipped and the text checks still run. The interpreter runs
// the same IR serially as the numerical reference of the GPU semantics.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tessel/codegen/cuda.h"
#include "tessel/codegen/cuda_runtime.h"
#include "tessel/ir/arith.h"
#include "tessel/ir/error.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/lower.h"
#include "tessel/ir/settings.h"

namespace tessel::codegen {
namespace {

const DataType f32 = DataType::Float(32);
const DataType i32 = DataType::Int(32);

// Compiles with NVRTC when available and expects a clean log; returns the PTX ("" when skipped).
std::string compile_if_possible(const std::string& source, const std::string& name,
                                const CudaTarget& target = CudaTarget()) {
  if (!nvrtc_available()) return "";
  CudaBinary binary = compile_cuda(source, target, false, name);
  EXPECT_EQ(binary.log, "") << source;
  return binary.ptx;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(CudaTarget, ParsesArchitecturesAndRejectsOthers) {
  EXPECT_EQ(CudaTarget::parse("cuda").arch, "sm_90");
  CudaTarget t = CudaTarget::parse("cuda -arch=sm_80 -fast-math");
  EXPECT_EQ(t.arch, "sm_80");
  EXPECT_TRUE(t.fast_math);
  EXPECT_EQ(CudaTarget::parse(t.to_string()), t);
  EXPECT_THROW(CudaTarget::parse("llvm"), CompileError);
  EXPECT_THROW(CudaTarget::parse("cuda -arch=90"), CompileError);
  EXPECT_THROW(CudaTarget::parse("cuda -mcpu=x"), CompileError);
}

// C[i] = A[i] * 2 + 1 for i < n, with i = blockIdx.x * 64 + threadIdx.x and a bounds check.
PrimFunc scaled_copy(int n) {
  Buffer a = make_buffer("A", f32, {n});
  Buffer c = make_buffer("C", f32, {n});
  Var bx("bx"), tx("tx");
  Expr i = bx * 64 + tx;
  Stmt body = make_if(i < n, make_store(c, make_load(a, {i}) * 2.0f + 1.0f, {i}));
  body = make_for(tx, 0, 64, ForKind::kThreadBound, body, "threadIdx.x");
  body = make_for(bx, 0, (n + 63) / 64, ForKind::kThreadBound, body, "blockIdx.x");
  return lower(make_prim_func("scaled_copy", {Param::of(a), Param::of(c)}, body));
}

TEST(CudaCodegen, ThreadBoundLoopsBecomeTheLaunchGrid) {
  PrimFunc f = scaled_copy(1000);
  CudaModuleSource module = generate_cuda({f});
  ASSERT_EQ(module.functions.size(), 1u);
  ASSERT_EQ(module.functions[0].kernels.size(), 1u);
  const CudaKernelLaunch& k = module.functions[0].kernels[0];
  EXPECT_EQ(k.name, "scaled_copy_kernel");
  EXPECT_EQ(evaluate_launch_dim(k.grid[0], f->params, {0, 0}), 16);
  EXPECT_EQ(evaluate_launch_dim(k.block[0], f->params, {0, 0}), 64);
  EXPECT_EQ(evaluate_launch_dim(k.grid[1], f->params, {0, 0}), 1);
  const std::string& src = module.source;
  EXPECT_NE(src.find("extern \"C\" __global__"), std::string::npos) << src;
  EXPECT_NE(src.find("const float* __restrict__ A"), std::string::npos) << src;
  EXPECT_NE(src.find("float* __restrict__ C"), std::string::npos) << src;
  EXPECT_NE(src.find("((int)blockIdx.x)"), std::string::npos) << src;
  EXPECT_NE(module.host_source.find("cuLaunchKernel(kernel"), std::string::npos) << module.host_source;
  std::string ptx = compile_if_possible(src, "scaled_copy");
  if (!ptx.empty()) {
    EXPECT_NE(ptx.find(".entry scaled_copy_kernel"), std::string::npos);
  }

  // The GPU semantics (one thread per iteration) agree with the serial interpreter's.
  std::vector<float> a(1000), c(1000, -7.0f);
  for (int i = 0; i < 1000; ++i) a[i] = std::sin(0.1f * i);
  interpret(f, {a.data(), c.data()});
  for (int i = 0; i < 1000; ++i) ASSERT_FLOAT_EQ(c[i], a[i] * 2 + 1);
}

TEST(CudaCodegen, ScalarParameterDrivesTheGrid) {
  Var n("n");
  Buffer a = make_buffer("A", f32, {n});
  Var bx("bx"), tx("tx");
  Expr i = bx * 128 + tx;
  Stmt body = make_if(i < n, make_store(a, make_load(a, {i}) + 1.0f, {i}));
  body = make_for(tx, 0, 128, ForKind::kThreadBound, body, "threadIdx.x");
  body = make_for(bx, 0, (n + 127) / 128, ForKind::kThreadBound, body, "blockIdx.x");
  PrimFunc f = lower(make_prim_func("bump", {Param::of(a), Param::of(n)}, body));
  CudaModuleSource module = generate_cuda({f});
  const CudaKernelLaunch& k = module.functions[0].kernels[0];
  EXPECT_EQ(evaluate_launch_dim(k.grid[0], f->params, {0, 1000}), 8);
  EXPECT_EQ(evaluate_launch_dim(k.grid[0], f->params, {0, 1}), 1);
  EXPECT_NE(module.host_source.find("scalar1"), std::string::npos) << module.host_source;
  compile_if_possible(module.source, "bump");
}

TEST(CudaCodegen, SmallerExtentIsGuardedAndLargestIsTheBlock) {
  Buffer a = make_buffer("A", f32, {96});
  Var t1("t1"), t2("t2");
  Stmt first = make_for(t1, 0, 96, ForKind::kThreadBound, make_store(a, 0.0f, {t1}), "threadIdx.x");
  Stmt second = make_for(t2, 0, 40, ForKind::kThreadBound, make_store(a, 1.0f, {t2}), "threadIdx.x");
  Var bx("bx");
  Stmt body = make_for(bx, 0, 2, ForKind::kThreadBound, make_seq({first, second}), "blockIdx.x");
  PrimFunc f = make_prim_func("two_loops", {Param::of(a)}, body);
  CudaModuleSource module = generate_cuda({lower(f)});
  ASSERT_EQ(module.functions[0].kernels.size(), 1u);
  EXPECT_EQ(evaluate_launch_dim(module.functions[0].kernels[0].block[0], f->params, {0}), 96);
  EXPECT_NE(module.source.find("if (threadIdx.x < 40)"), std::string::npos) << module.source;
  EXPECT_EQ(count(module.source, "if (threadIdx.x < 96)"), 0u) << module.source;
  compile_if_possible(module.source, "two_loops");
}

// A block-cooperative shared-memory stencil: each block loads 64 + 2 elements into shared memory
// (threads fetch one each, two threads fetch the halo), then each thread averages three of them.
PrimFunc shared_stencil(int blocks) {
  int n = blocks * 64;
  Buffer a = make_buffer("A", f32, {n + 2});
  Buffer c = make_buffer("C", f32, {n});
  Buffer tile = make_buffer("tile", f32, {66}, {}, MemoryScope::kShared);
  Var bx("bx"), tx("tx"), fx("fx"), ko("ko");
  Stmt fetch = make_for(fx, 0, 64, ForKind::kThreadBound,
                        make_seq({make_store(tile, make_load(a, {bx * 64 + fx}), {fx}),
                                  make_if(fx < 2, make_store(tile, make_load(a, {bx * 64 + 64 + fx}), {fx + 64}))}),
                        "threadIdx.x");
  Expr avg = (make_load(tile, {tx}) + make_load(tile, {tx + 1}) + make_load(tile, {tx + 2})) * (1.0f / 3.0f);
  Stmt compute = make_for(tx, 0, 64, ForKind::kThreadBound,
                          make_store(c, make_load(c, {bx * 64 + tx}) + avg, {bx * 64 + tx}), "threadIdx.x");
  // Two passes over the same tile (a serial loop): the second pass's fetch must wait for the
  // first pass's reads.
  Stmt body = make_for(ko, 0, 2, ForKind::kSerial, make_allocate(tile, make_seq({fetch, compute})));
  body = make_for(bx, 0, blocks, ForKind::kThreadBound, body, "blockIdx.x");
  return lower(make_prim_func("stencil", {Param::of(a), Param::of(c)}, body));
}

TEST(CudaCodegen, SharedMemoryGetsBarriers) {
  PrimFunc f = shared_stencil(3);
  CudaModuleSource module = generate_cuda({f});
  const std::string& src = module.source;
  EXPECT_NE(src.find("__shared__ __align__(16) float tile[66];"), std::string::npos) << src;
  // One barrier between the fetch and the reads, one before the next iteration's fetch.
  size_t kernel = src.find("extern \"C\"");
  EXPECT_EQ(count(src.substr(kernel), "__syncthreads();"), 2u) << src;
  EXPECT_EQ(module.functions[0].kernels[0].shared_bytes, 66 * 4);
  compile_if_possible(src, "stencil");
  std::vector<float> a(3 * 64 + 2), c(3 * 64, 0.0f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i % 7) - 3;
  interpret(f, {a.data(), c.data()});
  for (int i = 0; i < 3 * 64; ++i) ASSERT_NEAR(c[i], 2 * (a[i] + a[i + 1] + a[i + 2]) / 3, 1e-5) << i;
}

TEST(CudaCodegen, BarrierUnderThreadGuardIsAnError) {
  Buffer a = make_buffer("A", f32, {64});
  Buffer tile = make_buffer("tile", f32, {64}, {}, MemoryScope::kShared);
  Var t1("t1"), t2("t2"), t3("t3");
  // The outer loop has extent 32 but another loop makes the block 64 wide: it needs a guard, and
  // the barrier inside it could deadlock.
  Stmt inner = make_seq({make_for(t2, 0, 64, ForKind::kThreadBound, make_store(tile, 1.0f, {t2}), "threadIdx.x"),
                         make_store(a, make_load(tile, {t1}), {t1})});
  Stmt body = make_for(t1, 0, 32, ForKind::kThreadBound, make_allocate(tile, inner), "threadIdx.x");
  PrimFunc f = make_prim_func("bad_barrier", {Param::of(a)}, body);
  EXPECT_THROW(generate_cuda({f}), CompileError);
}

TEST(CudaCodegen, ContiguousAlignedVectorsUseFloat4) {
  Buffer a = make_buffer("A", f32, {256});
  Buffer c = make_buffer("C", f32, {256});
  Var tx("tx");
  Expr base = tx * 4;
  Expr value = make_load(a, {make_ramp(base, 1, 4)}) * make_broadcast(3.0f, 4);
  Stmt body = make_for(tx, 0, 64, ForKind::kThreadBound, make_store(c, value, {make_ramp(base, 1, 4)}), "threadIdx.x");
  PrimFunc f = make_prim_func("scale4", {Param::of(a), Param::of(c)}, body);
  CudaModuleSource module = generate_cuda({f});
  EXPECT_NE(module.source.find("const float4 vec0 = *reinterpret_cast<const float4*>(A + (tx * 4));"), std::string::npos)
      << module.source;
  EXPECT_NE(module.source.find("*reinterpret_cast<float4*>(C + (tx * 4)) = make_float4("), std::string::npos)
      << module.source;
  compile_if_possible(module.source, "scale4");

  // An odd base (not a multiple of 4) stays scalar.
  Stmt odd = make_for(tx, 0, 60, ForKind::kThreadBound,
                      make_store(c, make_load(a, {make_ramp(tx * 4 + 1, 1, 4)}), {make_ramp(tx * 4 + 1, 1, 4)}),
                      "threadIdx.x");
  CudaModuleSource scalar = generate_cuda({make_prim_func("shift4", {Param::of(a), Param::of(c)}, odd)});
  EXPECT_EQ(scalar.source.find("float4", scalar.source.find("extern")), std::string::npos) << scalar.source;
  compile_if_possible(scalar.source, "shift4");
}

// out[r] = sum_k x[r, k] over a loop bound to threadIdx.x (a cross-thread reduction), rows on
// blockIdx.x; the reduction target is a per-thread register written back once per row.
PrimFunc row_sum(int rows, int width, BinaryOp op) {
  Buffer x = make_buffer("x", f32, {rows, width});
  Buffer out = make_buffer("out", f32, {rows});
  Buffer acc = make_buffer("acc", f32, {1}, {}, MemoryScope::kLocal);
  Var r("r"), k("k");
  Expr element = make_load(x, {r, k});
  Expr init = op == BinaryOp::kAdd ? Expr(0.0f) : make_float(f32, -INFINITY);
  Stmt update = make_store(acc, make_binary(op, make_load(acc, {0}), element), {0});
  Stmt body = make_seq({make_store(acc, init, {0}), make_for(k, 0, width, ForKind::kThreadBound, update, "threadIdx.x"),
                        make_store(out, make_load(acc, {0}), {r})});
  body = make_for(r, 0, rows, ForKind::kThreadBound, make_allocate(acc, body), "blockIdx.x");
  return lower(make_prim_func("row_reduce", {Param::of(x), Param::of(out)}, body));
}

TEST(CudaCodegen, ReductionOverThreadsUsesWarpShuffles) {
  for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kMax}) {
    PrimFunc f = row_sum(5, 128, op);
    CudaModuleSource module = generate_cuda({f});
    const std::string& src = module.source;
    EXPECT_NE(src.find("__shfl_xor_sync"), std::string::npos);
    EXPECT_NE(src.find(op == BinaryOp::kAdd ? "tessel_block_allreduce(red0, tessel_add_op()"
                                            : "tessel_block_allreduce(red0, tessel_max_op()"),
              std::string::npos)
        << src;
    compile_if_possible(src, "row_reduce");
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> dist(-1, 1);
    std::vector<float> x(5 * 128), out(5);
    for (float& v : x) v = dist(rng);
    interpret(f, {x.data(), out.data()});
    for (int r = 0; r < 5; ++r) {
      double want = op == BinaryOp::kAdd ? 0 : -1e30;
      for (int k = 0; k < 128; ++k) want = op == BinaryOp::kAdd ? want + x[r * 128 + k] : std::max(want, double(x[r * 128 + k]));
      ASSERT_NEAR(out[r], want, 1e-4);
    }
  }
}

TEST(CudaCodegen, MathIntrinsicsAndFastMath) {
  Buffer a = make_buffer("A", f32, {32});
  Buffer c = make_buffer("C", f32, {32});
  Var tx("tx");
  Expr v = make_load(a, {tx});
  Expr value = make_call(Intrinsic::k_exp, {v}) + make_call(Intrinsic::k_tanh, {v}) + make_call(Intrinsic::k_erf, {v}) +
               make_call(Intrinsic::k_sigmoid, {v}) + make_call(Intrinsic::k_pow, {make_call(Intrinsic::k_fabs, {v}), 1.5f}) +
               make_call(Intrinsic::k_rsqrt, {v * v + 1.0f}) + make_call(Intrinsic::k_round, {v}) +
               make_select(v > 0.0f, max(v, 0.5f), make_float(f32, -INFINITY)) + make_cast(f32, make_cast(i32, v * 10.0f) / 3);
  PrimFunc f = make_prim_func("math", {Param::of(a), Param::of(c)},
                              make_for(tx, 0, 32, ForKind::kThreadBound, make_store(c, value, {tx}), "threadIdx.x"));
  std::string precise = generate_cuda({f}).source;
  EXPECT_NE(precise.find("expf("), std::string::npos);
  EXPECT_NE(precise.find("tanhf("), std::string::npos);
  EXPECT_NE(precise.find("erff("), std::string::npos);
  EXPECT_NE(precise.find("tessel_floordiv<int>"), std::string::npos);
  EXPECT_EQ(precise.find("__expf("), std::string::npos);
  compile_if_possible(precise, "math");
  CudaTarget fast = CudaTarget::parse("cuda -arch=sm_90 -fast-math");
  std::string quick = generate_cuda({f}, fast).source;
  EXPECT_NE(quick.find("__expf("), std::string::npos);
  EXPECT_NE(quick.find("__powf("), std::string::npos);
  compile_if_possible(quick, "math_fast", fast);
}

TEST(CudaCodegen, GlobalIntermediatesBecomeWorkspaces) {
  Buffer a = make_buffer("A", f32, {100});
  Buffer c = make_buffer("C", f32, {100});
  Buffer tmp = make_buffer("T", f32, {100});
  Var t1("t1"), t2("t2");
  Stmt first = make_for(t1, 0, 100, ForKind::kThreadBound, make_store(tmp, make_load(a, {t1}) * 2.0f, {t1}), "threadIdx.x");
  Stmt second = make_for(t2, 0, 100, ForKind::kThreadBound,
                         make_store(c, make_load(tmp, {99 - t2}), {t2}), "threadIdx.x");
  PrimFunc f = make_prim_func("two_stage", {Param::of(a), Param::of(c)}, make_allocate(tmp, make_seq({first, second})));
  CudaModuleSource module = generate_cuda({f});
  ASSERT_EQ(module.functions[0].workspaces.size(), 1u);
  EXPECT_EQ(module.functions[0].kernels.size(), 2u);
  EXPECT_NE(module.source.find("two_stage_kernel1(const float* __restrict__ A, float* __restrict__ C, const float* __restrict__ T)"),
            std::string::npos)
      << module.source;
  EXPECT_NE(module.host_source.find("cuMemAlloc(&workspace0"), std::string::npos) << module.host_source;
  compile_if_possible(module.source, "two_stage");
}

TEST(CudaCodegen, ParallelLoopsAreRejected) {
  Buffer a = make_buffer("A", f32, {8});
  Var i("i");
  PrimFunc f = make_prim_func("par", {Param::of(a)}, make_for(i, 0, 8, ForKind::kParallel, make_store(a, 0.0f, {i})));
  EXPECT_THROW(generate_cuda({f}), CompileError);
}

TEST(CudaCodegen, DumpCodeWritesCuAndPtx) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "tessel_cuda_dump_test";
  std::filesystem::remove_all(dir);
  Settings saved = settings();
  Settings dumping = saved;
  dumping.dump_code_dir = dir.string();
  set_settings(dumping);
  CudaModuleSource module = generate_cuda({scaled_copy(100)});
  bool compiled = nvrtc_available();
  if (compiled) compile_cuda(module.source, CudaTarget(), false, "scaled_copy");
  set_settings(saved);
  EXPECT_TRUE(std::filesystem::exists(dir / "scaled_copy.cu"));
  if (compiled) {
    EXPECT_TRUE(std::filesystem::exists(dir / "scaled_copy.ptx"));
  }
  std::filesystem::remove_all(dir);
}

TEST(CudaNvrtc, CubinForRealArchitecturesAndErrorsCarryTheLog) {
  std::string why;
  if (!nvrtc_available(&why)) GTEST_SKIP() << "NVRTC is not available: " << why;
  CudaModuleSource module = generate_cuda({scaled_copy(256)});
  CudaBinary binary = compile_cuda(module.source, CudaTarget::parse("cuda -arch=sm_90"), true, "cubin");
  EXPECT_FALSE(binary.cubin.empty());
  EXPECT_NE(binary.ptx.find(".version"), std::string::npos);
  try {
    compile_cuda("extern \"C\" __global__ void broken() { undefined_name = 1; }", CudaTarget(), false, "broken");
    FAIL() << "expected a CompileError";
  } catch (const CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("undefined_name"), std::string::npos) << e.what();
  }
}

TEST(CudaRuntime, WithoutDeviceEveryEntryPointIsAClearError) {
  std::string why;
  if (cuda_device_available(&why)) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_FALSE(why.empty());
  try {
    CudaDeviceBuffer buffer(64);
    FAIL() << "expected a CompileError";
  } catch (const CompileError& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
  EXPECT_THROW(CudaDeviceModule(generate_cuda({scaled_copy(8)}), CudaBinary{"// ptx", "", ""}), CompileError);
}

TEST(CudaRuntime, RunsKernelsOnTheDevice) {
  std::string why;
  if (!cuda_device_available(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  ASSERT_TRUE(nvrtc_available());
  for (PrimFunc f : {scaled_copy(1000), row_sum(5, 128, BinaryOp::kAdd), shared_stencil(3)}) {
    CudaModuleSource module = generate_cuda({f});
    CudaDeviceModule device(module, compile_cuda(module.source, CudaTarget(), false, f->name));
    std::vector<std::vector<float>> host;
    std::vector<std::unique_ptr<CudaDeviceBuffer>> buffers;
    std::vector<CudaArg> args;
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (const Param& p : f->params) {
      Expr count = simplify(p.buffer.num_elements());
      host.emplace_back(static_cast<size_t>(*as_const_int(count)));
      for (float& v : host.back()) v = dist(rng);
      buffers.push_back(std::make_unique<CudaDeviceBuffer>(host.back().size() * 4));
      buffers.back()->copy_from_host(host.back().data(), host.back().size() * 4);
      args.push_back(buffers.back().get());
    }
    device.run(f->name, args);
    std::vector<std::vector<float>> expected = host;
    std::vector<InterpArg> interp_args;
    for (auto& v : expected) interp_args.push_back(v.data());
    interpret(f, interp_args);
    for (size_t b = 0; b < host.size(); ++b) {
      std::vector<float> got(host[b].size());
      buffers[b]->copy_to_host(got.data(), got.size() * 4);
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[b][i], 1e-4) << f->name << " " << b << " " << i;
    }
  }
}

}  // namespace
}  // namespace tessel::codegen
