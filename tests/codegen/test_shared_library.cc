// Ahead-of-time outputs: compile_to_shared_library links a .so that dlopen loads (with its
// dependency on libtessel_runtime.so resolved through the rpath) and whose packed entries compute
// what the interpreter computes, parallel loops included; emit_object_file writes an ELF object.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/interpreter.h"

namespace tessel::codegen {
namespace {

using testing::AlignedArray;
using testing::fill_random;

std::filesystem::path scratch_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("tessel-so-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Out[i] = exp(In[i]) * s + In[i], parallel over blocks of 16 lanes; Sum[0] = sum of In (int).
std::vector<PrimFunc> make_functions(int n) {
  Var s("s", DataType::Float(32));
  Buffer in = make_buffer("In", DataType::Float(32), {n}), out = make_buffer("Out", DataType::Float(32), {n});
  Var block("block");
  Expr index = make_ramp(block * 16, 1, 16);
  Expr x = make_load(in, {index});
  Stmt body = make_for(block, 0, n / 16, ForKind::kParallel,
                       make_store(out, make_call(Intrinsic::k_exp, {x}) * make_broadcast(s, 16) + x, {index}));
  PrimFunc scaled_exp = make_prim_func("scaled_exp", {Param::of(in), Param::of(out), Param::of(s)}, body);

  Buffer ints = make_buffer("Ints", DataType::Int(32), {n}), sum = make_buffer("Sum", DataType::Int(64), {1});
  Var i("i");
  Stmt total = make_seq({make_store(sum, make_int(DataType::Int(64), 0), {0}),
                         make_for(i, 0, n, ForKind::kSerial,
                                  make_store(sum, sum({0}) + make_cast(DataType::Int(64), ints({i})), {0}))});
  PrimFunc int_sum = make_prim_func("int_sum", {Param::of(ints), Param::of(sum)}, total);
  return {scaled_exp, int_sum};
}

TEST(CodegenSharedLibrary, DlopenAndCall) {
  const int n = 1024;
  std::vector<PrimFunc> funcs = make_functions(n);
  auto dir = scratch_dir();
  std::string path = (dir / "kernels.so").string();
  compile_to_shared_library(funcs, Target::host(), path, "kernels");
  ASSERT_TRUE(std::filesystem::exists(path));

  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr) << dlerror();
  auto scaled_exp = reinterpret_cast<PackedEntry>(dlsym(library, "scaled_exp"));
  auto int_sum = reinterpret_cast<PackedEntry>(dlsym(library, "int_sum"));
  auto last_error = reinterpret_cast<const char* const*>(dlsym(library, "__tessel_last_error"));
  ASSERT_NE(scaled_exp, nullptr);
  ASSERT_NE(int_sum, nullptr);
  ASSERT_NE(last_error, nullptr);

  AlignedArray<float> in(n), out(n), expected(n);
  fill_random(in, 3, -5, 5);
  float s = 0.75f;
  void* args[] = {in.data(), out.data(), &s};
  ASSERT_EQ(scaled_exp(args, 3), 0);
  interpret(funcs[0], {in.data(), expected.data(), double{s}});
  // exp is approximated (relative error < 1e-6) and exp * s + x may cancel, so the tolerance
  // scales with the size of the terms rather than of the result.
  for (int i = 0; i < n; ++i) {
    double magnitude = std::exp(static_cast<double>(in[i])) * s + std::fabs(in[i]);
    ASSERT_NEAR(out[i], expected[i], 1e-6 * magnitude) << "element " << i << ", x = " << in[i];
  }

  AlignedArray<int32_t> ints(n);
  AlignedArray<int64_t> sum(1);
  fill_random(ints, 4, -2000000000, 2000000000);
  int64_t reference = 0;
  for (int i = 0; i < n; ++i) reference += ints[i];
  void* sum_args[] = {ints.data(), sum.data()};
  ASSERT_EQ(int_sum(sum_args, 2), 0);
  EXPECT_EQ(sum[0], reference);

  // Wrong argument count: status -1 and a message.
  EXPECT_EQ(int_sum(sum_args, 1), -1);
  ASSERT_NE(*last_error, nullptr);
  EXPECT_NE(std::string(*last_error).find("expected 2 arguments"), std::string::npos) << *last_error;
  dlclose(library);
  std::filesystem::remove_all(dir);
}

TEST(CodegenSharedLibrary, ObjectFileIsElf) {
  auto dir = scratch_dir();
  std::string path = (dir / "kernels.o").string();
  emit_object_file(make_functions(64), Target::host(), path);
  std::ifstream file(path, std::ios::binary);
  char magic[4] = {};
  file.read(magic, 4);
  EXPECT_EQ(std::string(magic, 4), "\x7f" "ELF");
  std::filesystem::remove_all(dir);
}

TEST(CodegenSharedLibrary, CrossTargetCannotLinkHere) {
  if (!is_target_registered("aarch64-linux-gnu")) GTEST_SKIP() << "LLVM has no AArch64 backend";
  auto dir = scratch_dir();
  Target arm = Target::parse("llvm -mtriple=aarch64-linux-gnu");
  EXPECT_THROW(compile_to_shared_library(make_functions(64), arm, (dir / "arm.so").string()), CompileError);
  // An AArch64 object file can still be written.
  std::string object = (dir / "arm.o").string();
  emit_object_file(make_functions(64), arm, object);
  EXPECT_GT(std::filesystem::file_size(object), 64u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessel::codegen
