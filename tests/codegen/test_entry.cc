// The packed calling convention and failure paths of generated functions: argument count,
// null and misaligned buffers, scalar parameters of several types, failed asserts with their
// messages, lets, if/else, and heap allocations (large and dynamically sized) that are freed on
// both the normal and the failure path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"

namespace tessel::codegen {
namespace {

using testing::AlignedArray;
using testing::fill_random;

// Out[i] = (i < half ? In[i] * scale : In[i] - offset) for i < n, with a check n <= limit and a
// scratch buffer of n elements (heap, dynamic size) holding intermediate values.
PrimFunc make_checked(int64_t limit) {
  Var n("n"), offset("offset", DataType::Int(64)), scale("scale", DataType::Float(64));
  Var flag("flag", DataType::Bool());
  Buffer in = make_buffer("In", DataType::Float(64), {n}), out = make_buffer("Out", DataType::Float(64), {n});
  Buffer scratch = make_buffer("Scratch", DataType::Float(64), {n});
  Var i("i"), half("half");
  Stmt fill = make_for(i, 0, n, ForKind::kSerial,
                       make_if(i < half, make_store(scratch, in({i}) * scale, {i}),
                               make_store(scratch, in({i}) - make_cast(DataType::Float(64), offset), {i})));
  Var j("j");
  Stmt copy = make_for(j, 0, n, ForKind::kSerial,
                       make_store(out, make_select(flag, scratch({j}), -scratch({j})), {j}));
  Stmt body = make_seq({make_assert(n <= make_int(DataType::Int(32), limit), "n exceeds the limit"),
                        make_let_stmt(half, n / 2, make_allocate(scratch, make_seq({fill, copy})))});
  return make_prim_func("checked", {Param::of(in), Param::of(out), Param::of(n), Param::of(offset), Param::of(scale),
                                    Param::of(flag)},
                        body);
}

TEST(CodegenEntry, ScalarsOfSeveralTypesAndHeapAllocation) {
  PrimFunc f = make_checked(1 << 20);
  JitModule module = JitModule::compile({f});
  JitFunction fn = module.get_function("checked");
  for (int32_t n : {1, 10, 20000}) {  // 20000 doubles = 160 KB: on the heap
    AlignedArray<double> in(n), out(n), expected(n);
    fill_random(in, n, -100, 100);
    int64_t offset = -7;
    double scale = 2.5;
    for (bool flag : {true, false}) {
      uint8_t flag_byte = flag;
      fn.call({in.data(), out.data(), &n, &offset, &scale, &flag_byte});
      interpret(f, {in.data(), expected.data(), int64_t{n}, offset, scale, int64_t{flag}});
      for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], expected[i]) << "n = " << n << ", element " << i;
    }
  }
}

TEST(CodegenEntry, FailedAssertReturnsStatusAndMessage) {
  JitModule module = JitModule::compile({make_checked(100)});
  JitFunction fn = module.get_function("checked");
  AlignedArray<double> in(200), out(200);
  int32_t n = 101;
  int64_t offset = 0;
  double scale = 1;
  uint8_t flag = 1;
  EXPECT_EQ(fn.call_status({in.data(), out.data(), &n, &offset, &scale, &flag}), -1);
  EXPECT_EQ(module.last_error(), "n exceeds the limit");
  EXPECT_THROW(fn.call({in.data(), out.data(), &n, &offset, &scale, &flag}), CompileError);
  n = 100;
  EXPECT_EQ(fn.call_status({in.data(), out.data(), &n, &offset, &scale, &flag}), 0);
}

TEST(CodegenEntry, ArgumentChecks) {
  JitModule module = JitModule::compile({make_checked(100)});
  JitFunction fn = module.get_function("checked");
  AlignedArray<double> in(64), out(64);
  int32_t n = 8;
  int64_t offset = 0;
  double scale = 1;
  uint8_t flag = 1;
  EXPECT_EQ(fn.call_status({in.data(), out.data(), &n}), -1);
  EXPECT_NE(module.last_error().find("expected 6 arguments"), std::string::npos) << module.last_error();
  EXPECT_EQ(fn.call_status({in.data(), nullptr, &n, &offset, &scale, &flag}), -1);
  EXPECT_NE(module.last_error().find("argument 1 (buffer Out) is null"), std::string::npos) << module.last_error();
  EXPECT_EQ(fn.call_status({in.data() + 1, out.data(), &n, &offset, &scale, &flag}), -1);
  EXPECT_NE(module.last_error().find("argument 0 (buffer In) is not aligned to 64 bytes"), std::string::npos)
      << module.last_error();
  EXPECT_EQ(fn.call_status({in.data(), out.data(), &n, &offset, nullptr, &flag}), -1);
  EXPECT_NE(module.last_error().find("scalar scale"), std::string::npos) << module.last_error();
  EXPECT_THROW(module.get_function("no_such_function"), CompileError);
}

// Resident memory of this process in bytes.
int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

TEST(CodegenEntry, AllocationFreedOnFailurePath) {
  // An assert inside the scope of an 8 MB heap allocation whose pages are touched (one element
  // every 8 KB), run many times: a block leaked on the failure path would add 4 MB of resident
  // memory per call.
  Var n("n");
  const int stride = 2048, touched = 1024;
  Buffer big = make_buffer("Big", DataType::Float(32), {make_int(DataType::Int(32), stride * touched)});
  Buffer out = make_buffer("Out", DataType::Float(32), {1});
  Var i("i");
  Stmt fill = make_for(i, 0, touched, ForKind::kSerial,
                       make_store(big, make_cast(DataType::Float(32), i * n), {i * stride}));
  Stmt body = make_allocate(big, make_seq({fill, make_assert(n < 10, "n too large"),
                                           make_store(out, big({(n * 7 % touched) * stride}), {0})}));
  PrimFunc f = make_prim_func("big_alloc", {Param::of(out), Param::of(n)}, body);
  JitModule module = JitModule::compile({f});
  EXPECT_NE(module.llvm_ir().find("aligned_alloc"), std::string::npos);
  JitFunction fn = module.get_function("big_alloc");
  AlignedArray<float> result(16);
  int32_t ok = 3, bad = 20;
  ASSERT_EQ(fn.call_status({result.data(), &bad}), -1);  // warm up the allocator
  const int64_t before = resident_bytes();
  for (int k = 0; k < 500; ++k) {
    ASSERT_EQ(fn.call_status({result.data(), &bad}), -1);
    ASSERT_EQ(fn.call_status({result.data(), &ok}), 0);
  }
  EXPECT_LT(resident_bytes() - before, int64_t{200} << 20);
  EXPECT_EQ(result[0], 63.0f);  // Big[(3 * 7) * stride] = 21 * 3
}

TEST(CodegenEntry, SmallConstantAllocationIsOnTheStack) {
  Buffer in = make_buffer("In", DataType::Int(32), {16}), out = make_buffer("Out", DataType::Int(32), {16});
  Buffer tmp = make_buffer("Tmp", DataType::Int(32), {16}, {}, MemoryScope::kLocal);
  Var i("i"), j("j");
  Stmt body = make_allocate(tmp, make_seq({make_for(i, 0, 16, ForKind::kSerial, make_store(tmp, in({15 - i}) * 3, {i})),
                                           make_for(j, 0, 16, ForKind::kSerial, make_store(out, tmp({j}) + j, {j}))}));
  PrimFunc f = make_prim_func("reverse", {Param::of(in), Param::of(out)}, body);
  JitModule module = JitModule::compile({f});
  EXPECT_EQ(module.llvm_ir().find("aligned_alloc"), std::string::npos);
  AlignedArray<int32_t> a(16), b(16);
  fill_random(a, 17, -50, 50);
  module.get_function("reverse").call({a.data(), b.data()});
  for (int k = 0; k < 16; ++k) ASSERT_EQ(b[k], a[15 - k] * 3 + k);
}

TEST(CodegenEntry, FunctionNamesMustBeUsableCSymbols) {
  Buffer a = make_buffer("A", DataType::Int(32), {4});
  Var i("i");
  Stmt body = make_for(i, 0, 4, ForKind::kSerial, make_store(a, i, {i}));
  for (const char* name : {"free", "expf", "tessel_parallel_launch", "9lives", "has space", "a.b", ""}) {
    EXPECT_THROW(JitModule::compile({make_prim_func(name, {Param::of(a)}, body)}), CompileError) << name;
  }
  PrimFunc f = make_prim_func("fine_name_2", {Param::of(a)}, body);
  EXPECT_THROW(JitModule::compile({f, f}), CompileError);  // two functions with one name
  AlignedArray<int32_t> data(4);
  JitModule::compile({f}).get_function("fine_name_2").call({data.data()});
  EXPECT_EQ(data[3], 3);
}

}  // namespace
}  // namespace tessel::codegen
