// Parallel loops in generated code: outlined bodies launched on the runtime pool. Every element is
// written exactly once (counted with per-element increments), results equal a serial reference for
// extents smaller than, equal to and larger than the pool, with free scalars and allocations
// captured; a parallel loop nested in another runs serially; failures inside a task reach the
// caller.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"
#include "tessel/runtime/parallel.h"

extern char** environ;

namespace tessel::codegen {
namespace {

using testing::AlignedArray;
using testing::fill_random;

// Count[i] += 1 and Out[i] = In[i] * scale + i for i in [0, n), parallel over blocks of 8.
PrimFunc make_parallel_update() {
  Var n("n"), scale("scale", DataType::Float(32));
  Buffer in = make_buffer("In", DataType::Float(32), {n}), out = make_buffer("Out", DataType::Float(32), {n});
  Buffer count = make_buffer("Count", DataType::Int(32), {n});
  Var block("block"), lane("lane");
  Expr i = block * 8 + lane;
  Stmt body = make_seq({make_store(count, count({i}) + 1, {i}),
                        make_store(out, in({i}) * scale + make_cast(DataType::Float(32), i), {i})});
  Stmt guarded = make_if(i < n, body);
  Stmt loop = make_for(block, 0, (n + 7) / 8, ForKind::kParallel, make_for(lane, 0, 8, ForKind::kSerial, guarded));
  return make_prim_func("parallel_update",
                        {Param::of(in), Param::of(out), Param::of(count), Param::of(n), Param::of(scale)}, loop);
}

TEST(CodegenParallel, EveryElementWrittenOnceForAnyExtent) {
  JitModule module = JitModule::compile({make_parallel_update()});
  JitFunction f = module.get_function("parallel_update");
  for (int n : {0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 4099}) {
    AlignedArray<float> in(n + 1), out(n + 1), expected(n + 1);
    AlignedArray<int32_t> count(n + 1);
    fill_random(in, 5 + n, -10, 10);
    float scale = 0.5f;
    out[n] = -123.0f;  // one past the end: must stay untouched
    f.call({in.data(), out.data(), count.data(), &n, &scale});
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(count[i], 1) << "element " << i << " of " << n;
      ASSERT_EQ(out[i], in[i] * 0.5f + static_cast<float>(i)) << "element " << i << " of " << n;
    }
    EXPECT_EQ(count[n], 0);
    EXPECT_EQ(out[n], -123.0f);
  }
  EXPECT_NE(module.llvm_ir().find("tessel_parallel_launch"), std::string::npos);
}

TEST(CodegenParallel, MatchesInterpreterWithCapturedAllocation) {
  // A global scratch buffer allocated outside the parallel loop, written by one parallel loop and
  // read by a second one: captures of an allocation, a loop bound and a float scalar.
  const int n = 777;
  Var scale("scale", DataType::Float(32));
  Buffer in = make_buffer("In", DataType::Float(32), {n}), out = make_buffer("Out", DataType::Float(32), {n});
  Buffer scratch = make_buffer("Scratch", DataType::Float(32), {n + 1});
  Var i("i"), j("j");
  Stmt first = make_for(i, 0, n, ForKind::kParallel, make_store(scratch, in({i}) * scale, {i + 1}));
  Stmt second = make_for(j, 1, n - 2, ForKind::kParallel,
                         make_store(out, scratch({j}) - scratch({j + 2}) + max(scratch({j + 1}), in({j})), {j}));
  Stmt body = make_allocate(scratch, make_seq({make_store(scratch, make_float(DataType::Float(32), 0.0), {0}), first, second}));
  PrimFunc f = make_prim_func("captures", {Param::of(in), Param::of(out), Param::of(scale)}, body);
  AlignedArray<float> values(n), jit_out(n), ref_out(n);
  fill_random(values, 9, -3, 3);
  float s = 1.25f;
  JitModule::compile({f}).get_function("captures").call({values.data(), jit_out.data(), &s});
  interpret(f, {values.data(), ref_out.data(), double{s}});
  for (int k = 0; k < n; ++k) ASSERT_EQ(jit_out[k], ref_out[k]) << "element " << k;
}

TEST(CodegenParallel, NestedParallelRunsSerially) {
  const int rows = 37, cols = 53;
  Buffer out = make_buffer("Out", DataType::Int(32), {rows * cols});
  Buffer count = make_buffer("Count", DataType::Int(32), {rows * cols});
  Var r("r"), c("c");
  Expr index = r * cols + c;
  Stmt body = make_seq({make_store(out, r * 1000 + c, {index}), make_store(count, count({index}) + 1, {index})});
  PrimFunc f = make_prim_func("nested", {Param::of(out), Param::of(count)},
                              make_for(r, 0, rows, ForKind::kParallel, make_for(c, 0, cols, ForKind::kParallel, body)));
  JitModule module = JitModule::compile({f});
  AlignedArray<int32_t> result(rows * cols), counts(rows * cols);
  module.get_function("nested").call({result.data(), counts.data()});
  for (int k = 0; k < rows * cols; ++k) {
    ASSERT_EQ(result[k], (k / cols) * 1000 + k % cols);
    ASSERT_EQ(counts[k], 1);
  }
  // Only the outer loop is outlined: one lambda, one launch site.
  const std::string& ir = module.llvm_ir();
  EXPECT_NE(ir.find("nested__parallel_0"), std::string::npos);
  EXPECT_EQ(ir.find("nested__parallel_1"), std::string::npos);
}

TEST(CodegenParallel, FailureInsideTaskReachesCaller) {
  Var n("n");
  Buffer out = make_buffer("Out", DataType::Int(32), {n});
  Var i("i");
  Stmt body = make_seq({make_assert(i != 500, "element 500 is forbidden"), make_store(out, i, {i})});
  PrimFunc f = make_prim_func("failing", {Param::of(out), Param::of(n)}, make_for(i, 0, n, ForKind::kParallel, body));
  JitModule module = JitModule::compile({f});
  JitFunction fn = module.get_function("failing");
  AlignedArray<int32_t> data(1000);
  int32_t small = 400, large = 1000;
  EXPECT_EQ(fn.call_status({data.data(), &small}), 0);
  EXPECT_NE(fn.call_status({data.data(), &large}), 0);
  EXPECT_EQ(module.last_error(), "element 500 is forbidden");
  try {
    fn.call({data.data(), &large});
    FAIL() << "expected an error";
  } catch (const CompileError& error) {
    EXPECT_NE(std::string(error.what()).find("element 500 is forbidden"), std::string::npos) << error.what();
  }
}

// Reruns the tests above in child processes whose pools have 1, 3 and 8 threads: the results
// must not depend on the number of tasks a launch is split into.
TEST(CodegenParallel, ResultsIndependentOfThreadCount) {
  if (std::getenv("TESSEL_PARALLEL_TEST_CHILD")) GTEST_SKIP() << "already a child run";
  for (const char* threads : {"1", "3", "8"}) {
    std::vector<std::string> env_strings = {std::string("TESSEL_NUM_THREADS=") + threads, "TESSEL_PARALLEL_TEST_CHILD=1"};
    for (char** e = environ; *e; ++e) {
      if (std::strncmp(*e, "TESSEL_NUM_THREADS=", 19) != 0) env_strings.push_back(*e);
    }
    std::vector<char*> env;
    for (std::string& s : env_strings) env.push_back(s.data());
    env.push_back(nullptr);
    std::string filter = "--gtest_filter=CodegenParallel.EveryElementWrittenOnceForAnyExtent:"
                         "CodegenParallel.MatchesInterpreterWithCapturedAllocation:CodegenParallel.NestedParallelRunsSerially";
    std::string self = "/proc/self/exe";
    char* argv[] = {self.data(), filter.data(), nullptr};
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, env.data()), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child with TESSEL_NUM_THREADS=" << threads << " failed";
  }
}

}  // namespace
}  // namespace tessel::codegen
