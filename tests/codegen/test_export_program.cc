// Deployment from user programs: a C program and a C++ program, compiled inside the test with the
// flags `tessel config --cflags --libs` prints (runtime headers and library only, rpath, no
// environment needed at run time), load an exported two-kernel module, run it on an input file
// and write the output, which is compared with a naive reference.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "codegen/export_test_util.h"
#include "tessel/runtime/c_api.h"

namespace tessel::codegen {
namespace {

using testing::DenseReluModel;
using testing::ScratchDir;

const std::filesystem::path kRepoRoot = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();

std::string runtime_library_path() {
  Dl_info info{};
  EXPECT_NE(dladdr(reinterpret_cast<void*>(&tessel_runtime_format_version), &info), 0);
  return std::filesystem::canonical(info.dli_fname).string();
}

// Runs a shell command and returns its stdout (asserting exit status 0).
std::string capture(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::array<char, 512> chunk{};
  while (pipe && fgets(chunk.data(), chunk.size(), pipe)) output += chunk.data();
  int status = pipe ? pclose(pipe) : -1;
  EXPECT_EQ(status, 0) << command << "\n" << output;
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  return output;
}

std::string tessel_config_flags() {
  return capture("TESSEL_RUNTIME_LIBRARY=" + runtime_library_path() + " PYTHONPATH=" + (kRepoRoot / "python").string() +
                 " /usr/bin/python3 -m tessel config --cflags --libs");
}

constexpr const char* kCProgram = R"(/* Loads a module, runs it on in.bin, writes out.bin. */
#include <stdio.h>
#include <stdlib.h>
#include "tessel/runtime/c_api.h"

static int fail(const char* what) {
  fprintf(stderr, "%s: %s\n", what, tessel_get_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  TesselModule* module = NULL;
  if (tessel_module_load(argv[1], &module) != TESSEL_OK) return fail("load");
  TesselTensorInfo in_info, out_info;
  if (tessel_module_input_info(module, 0, &in_info) || tessel_module_output_info(module, 0, &out_info)) return fail("info");
  long in_count = 1, out_count = 1;
  for (int d = 0; d < in_info.ndim; ++d) in_count *= in_info.shape[d];
  for (int d = 0; d < out_info.ndim; ++d) out_count *= out_info.shape[d];
  float* in = malloc(sizeof(float) * in_count);
  float* out = malloc(sizeof(float) * out_count);
  FILE* f = fopen(argv[2], "rb");
  if (!f || fread(in, sizeof(float), in_count, f) != (size_t)in_count) return 3;
  fclose(f);
  DLTensor x = {in, {kDLCPU, 0}, in_info.ndim, in_info.dtype, (int64_t*)in_info.shape, NULL, 0};
  DLTensor y = {out, {kDLCPU, 0}, out_info.ndim, out_info.dtype, (int64_t*)out_info.shape, NULL, 0};
  if (tessel_module_set_input(module, in_info.name, &x) != TESSEL_OK) return fail("set_input");
  if (tessel_module_run(module) != TESSEL_OK) return fail("run");
  if (tessel_module_get_output(module, 0, &y) != TESSEL_OK) return fail("get_output");
  /* An unknown input name is reported, not fatal. */
  if (tessel_module_set_input(module, "no_such_input", &x) != TESSEL_ERROR_UNKNOWN_NAME) return 4;
  f = fopen(argv[3], "wb");
  fwrite(out, sizeof(float), out_count, f);
  fclose(f);
  tessel_module_free(module);
  free(in);
  free(out);
  return 0;
}
)";

constexpr const char* kCppProgram = R"(// Loads a module, runs it on in.bin, writes out.bin (C++ API).
#include <fstream>
#include <iostream>
#include <vector>
#include "tessel/runtime/runtime.h"

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  try {
    tessel::runtime::Module module(argv[1]);
    tessel::runtime::TensorInfo info = module.input_info(0);
    tessel::runtime::Tensor input = tessel::runtime::Tensor::empty(info.shape, info.dtype);
    int64_t count = 1;
    for (int64_t extent : info.shape) count *= extent;
    std::ifstream(argv[2], std::ios::binary).read(reinterpret_cast<char*>(input.data<float>()), count * 4);
    module.set_input(info.name, input.dltensor());
    module.run();
    tessel::runtime::Tensor output = module.get_output(0);
    int64_t out_count = 1;
    for (int64_t extent : module.output_info(0).shape) out_count *= extent;
    std::ofstream(argv[3], std::ios::binary).write(reinterpret_cast<const char*>(output.data<float>()), out_count * 4);
    try {
      tessel::runtime::Module missing("/no/such/module.so");
      return 4;
    } catch (const tessel::runtime::Error& error) {
      if (error.status() != TESSEL_ERROR_FILE_NOT_FOUND) return 5;
    }
  } catch (const tessel::runtime::Error& error) {
    std::cerr << error.what() << "\n";
    return 1;
  }
  return 0;
}
)";

void check_program(const std::string& compiler, const std::string& source_name, const char* source) {
  ScratchDir dir("export-program");
  DenseReluModel model(4, 29, 17, 9);
  export_library(model.plan(), Target::host(), dir.file("model.so"));
  std::ofstream(dir.file(source_name)) << source;
  std::string flags = tessel_config_flags();
  EXPECT_NE(flags.find("-ltessel_runtime"), std::string::npos) << flags;
#ifdef TESSEL_SANITIZED
  // A sanitizer-built runtime needs the sanitizer runtimes linked into the program first.
  flags += " -fsanitize=address,undefined";
#endif
  std::string program = dir.file("program");
  capture(compiler + " " + dir.file(source_name) + " -o " + program + " " + flags + " 2>&1");
  // The program needs nothing but libc and libtessel_runtime (+ libstdc++ for C++).
  std::string needed = capture("readelf -d " + program + " | grep NEEDED");
  EXPECT_NE(needed.find("libtessel_runtime.so"), std::string::npos) << needed;
  EXPECT_EQ(needed.find("LLVM"), std::string::npos) << needed;

  std::vector<float> x = testing::random_floats(4 * 29, 10);
  std::ofstream(dir.file("in.bin"), std::ios::binary).write(reinterpret_cast<const char*>(x.data()), x.size() * 4);
  capture("env -i " + program + " " + dir.file("model.so") + " " + dir.file("in.bin") + " " + dir.file("out.bin") +
          " 2>&1");
  std::vector<float> y(4 * 17), expected = model.reference(x);
  std::ifstream(dir.file("out.bin"), std::ios::binary).read(reinterpret_cast<char*>(y.data()), y.size() * 4);
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], expected[i], 1e-4f * (1 + std::fabs(expected[i]))) << i;
}

TEST(ExportProgram, CProgramBuiltWithTesselConfig) { check_program("cc -std=c11 -Wall -Werror", "app.c", kCProgram); }

TEST(ExportProgram, CppProgramBuiltWithTesselConfig) {
  check_program("c++ -std=c++17 -Wall -Werror", "app.cc", kCppProgram);
}

}  // namespace
}  // namespace tessel::codegen
