// TESSEL_DUMP_CODE=dir (set here through set_settings): compiling writes <func>.tir (the lowered
// loop IR), <module>.ll (LLVM IR after O3) and <module>.s (assembly) into dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "codegen/codegen_test_util.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/settings.h"

namespace tessel::codegen {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(CodegenDumpCode, WritesLoopIrLlvmIrAndAssembly) {
  auto dir = std::filesystem::temp_directory_path() / ("tessel-dump-test-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  Settings saved = settings();
  Settings dumping = saved;
  dumping.dump_code_dir = dir.string();
  set_settings(dumping);

  Buffer a = make_buffer("A", DataType::Float(32), {64}), b = make_buffer("B", DataType::Float(32), {64});
  Var io("io"), ii("ii");
  Expr i = io * 16 + ii;
  PrimFunc scale = make_prim_func(
      "scale", {Param::of(a), Param::of(b)},
      make_for(io, 0, 4, ForKind::kSerial, make_for(ii, 0, 16, ForKind::kVectorized, make_store(b, a({i}) * 2.0, {i}))));
  PrimFunc copy = make_prim_func("copy", {Param::of(a), Param::of(b)},
                                 make_for(io, 0, 64, ForKind::kSerial, make_store(b, a({io}), {io})));
  JitModule module = JitModule::compile({scale, copy}, Target::host(), "dumped");
  set_settings(saved);

  ASSERT_TRUE(std::filesystem::exists(dir / "scale.tir"));
  ASSERT_TRUE(std::filesystem::exists(dir / "copy.tir"));
  ASSERT_TRUE(std::filesystem::exists(dir / "dumped.ll"));
  ASSERT_TRUE(std::filesystem::exists(dir / "dumped.s"));
  std::string tir = read_file(dir / "scale.tir");
  EXPECT_NE(tir.find("ramp("), std::string::npos) << tir;  // lowered: vectorized
  EXPECT_EQ(tir.find("vectorized"), std::string::npos) << tir;
  std::string ll = read_file(dir / "dumped.ll");
  EXPECT_NE(ll.find("@scale(ptr"), std::string::npos) << ll;
  EXPECT_NE(ll.find("@copy(ptr"), std::string::npos);
  EXPECT_EQ(ll, module.llvm_ir());
  std::string assembly = read_file(dir / "dumped.s");
  EXPECT_NE(assembly.find("scale:"), std::string::npos);
  EXPECT_NE(assembly.find("copy:"), std::string::npos);
  std::filesystem::remove_all(dir);

  // With dumping off, nothing is written.
  JitModule::compile({copy}, Target::host(), "not_dumped");
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace tessel::codegen
