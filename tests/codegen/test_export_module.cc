// Exported module libraries: a two-kernel plan (dense with embedded weights, then bias + ReLU) is
// exported to one .so, loaded by the runtime alone and run through the C and C++ APIs against a
// naive reference; the static memory plan reuses storage without overlapping live ranges; plan
// validation and every load/run error case report the documented status and message.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include "codegen/export_test_util.h"
#include "tessel/codegen/host.h"
#include "tessel/ir/error.h"
#include "tessel/runtime/c_api.h"
#include "tessel/runtime/runtime.h"

namespace tessel::codegen {
namespace {

using testing::DenseReluModel;
using testing::random_floats;
using testing::ScratchDir;

DLTensor make_view(std::vector<float>& data, std::vector<int64_t>& shape) {
  return DLTensor{data.data(), {kDLCPU, 0}, static_cast<int32_t>(shape.size()), {kDLFloat, 32, 1}, shape.data(), nullptr, 0};
}

void expect_close(const std::vector<float>& actual, const std::vector<float>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    ASSERT_NEAR(actual[i], expected[i], 1e-4f * (1.0f + std::fabs(expected[i]))) << "element " << i;
}

TEST(ExportModule, RunThroughCApi) {
  ScratchDir dir("export-c");
  DenseReluModel model(5, 37, 19, 1);
  export_library(model.plan(), Target::host(), dir.file("model.so"));

  TesselModule* module = nullptr;
  ASSERT_EQ(tessel_module_load(dir.file("model.so").c_str(), &module), TESSEL_OK) << tessel_get_last_error();
  int32_t num_inputs = 0, num_outputs = 0;
  ASSERT_EQ(tessel_module_num_inputs(module, &num_inputs), TESSEL_OK);
  ASSERT_EQ(tessel_module_num_outputs(module, &num_outputs), TESSEL_OK);
  EXPECT_EQ(num_inputs, 1);
  EXPECT_EQ(num_outputs, 1);
  TesselTensorInfo info{};
  ASSERT_EQ(tessel_module_output_info(module, 0, &info), TESSEL_OK);
  EXPECT_STREQ(info.name, "y");
  ASSERT_EQ(info.ndim, 2);
  EXPECT_EQ(info.shape[0], 5);
  EXPECT_EQ(info.shape[1], 19);

  for (uint32_t seed : {11u, 12u}) {  // two runs with different inputs: no stale state
    std::vector<float> x = random_floats(5 * 37, seed), y(5 * 19, -7.0f);
    std::vector<int64_t> x_shape = {5, 37}, y_shape = {5, 19};
    DLTensor x_view = make_view(x, x_shape), y_view = make_view(y, y_shape);
    ASSERT_EQ(tessel_module_set_input(module, "x", &x_view), TESSEL_OK) << tessel_get_last_error();
    ASSERT_EQ(tessel_module_run(module), TESSEL_OK) << tessel_get_last_error();
    ASSERT_EQ(tessel_module_get_output(module, 0, &y_view), TESSEL_OK) << tessel_get_last_error();
    expect_close(y, model.reference(x));
  }
  tessel_module_free(module);
}

TEST(ExportModule, RunThroughCppApiWithZeroCopyAndStrides) {
  ScratchDir dir("export-cpp");
  DenseReluModel model(3, 16, 33, 2);
  export_library(model.plan(), Target::host(), dir.file("model.so"));
  runtime::Module module(dir.file("model.so"));
  EXPECT_EQ(module.input_info(0).name, "x");
  EXPECT_EQ(module.input_index("x"), 0);
  EXPECT_EQ(module.output_index("y"), 0);

  // Zero-copy input and output in runtime-allocated (64-byte aligned) tensors.
  std::vector<float> x = random_floats(3 * 16, 21);
  runtime::Tensor input = runtime::Tensor::empty({3, 16}, {kDLFloat, 32, 1});
  std::copy(x.begin(), x.end(), input.data<float>());
  runtime::Tensor output = runtime::Tensor::empty({3, 33}, {kDLFloat, 32, 1});
  module.set_input_zero_copy(0, input.dltensor());
  module.set_output_zero_copy(0, &output.dltensor());
  module.run();
  std::vector<float> expected = model.reference(x);
  expect_close(std::vector<float>(output.data<float>(), output.data<float>() + expected.size()), expected);
  module.set_output_zero_copy(0, nullptr);

  // A transposed (non-compact) input view is copied element by element.
  std::vector<float> transposed(16 * 3);
  for (int i = 0; i < 3; ++i)
    for (int p = 0; p < 16; ++p) transposed[p * 3 + i] = x[i * 16 + p];
  std::vector<int64_t> shape = {3, 16}, strides = {1, 3};
  DLTensor strided{transposed.data(), {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, shape.data(), strides.data(), 0};
  module.set_input("x", strided);
  module.run();
  runtime::Tensor copy = module.get_output(0);
  expect_close(std::vector<float>(copy.data<float>(), copy.data<float>() + expected.size()), expected);

  // Zero copy refuses a non-compact tensor.
  try {
    module.set_input_zero_copy(0, strided);
    FAIL() << "expected an error";
  } catch (const runtime::Error& error) {
    EXPECT_EQ(error.status(), TESSEL_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(error.what()).find("compact"), std::string::npos) << error.what();
  }

  std::string table = module.run_profile(3);
  EXPECT_NE(table.find("dense0"), std::string::npos) << table;
  EXPECT_NE(table.find("bias_relu0"), std::string::npos) << table;
  EXPECT_NE(module.metadata_json().find("\"format_version\": 1"), std::string::npos);
  EXPECT_NE(module.graph_json().find("\"kind\": \"constant\""), std::string::npos);
}

TEST(ExportModule, WeightsAreUsedInPlaceFromTheLibrary) {
  ScratchDir dir("export-weights");
  DenseReluModel model(2, 8, 5, 3);
  export_library(model.plan(), Target::host(), dir.file("model.so"));
  runtime::Module module(dir.file("model.so"));
  // The module's mapped weights symbol holds the bytes of the constants, 64-byte aligned.
  void* library = dlopen(dir.file("model.so").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(library, nullptr);
  auto* weights = static_cast<const float*>(dlsym(library, "__tessel_weights"));
  ASSERT_NE(weights, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(weights) % 64, 0u);
  EXPECT_EQ(std::memcmp(weights, model.weight.data(), model.weight.size() * 4), 0);
  dlclose(library);
}

// A chain a -> t1 -> t2 -> t3 -> out of elementwise kernels: t1 and t3 can share memory.
ExecutionPlan chain_plan(int n) {
  DataType f32 = DataType::Float(32);
  auto kernel = [&](const std::string& name) {
    Buffer in = make_buffer("In", f32, {n}), out = make_buffer("Out", f32, {n});
    Var i("i");
    return make_prim_func(name, {Param::of(in), Param::of(out)},
                          make_for(i, 0, n, ForKind::kSerial, make_store(out, in({i}) * make_float(f32, 2.0) + make_float(f32, 1.0), {i})));
  };
  ExecutionPlan plan;
  plan.kernels = {kernel("step")};
  plan.storage_bytes.assign(5, 4 * n);
  plan.inputs = {{"a", {n}, "float32", 0}};
  plan.outputs = {{"out", {n}, "float32", 4}};
  for (int s = 0; s < 4; ++s) plan.nodes.push_back({"step" + std::to_string(s), "step", {s}, {s + 1}});
  return plan;
}

TEST(ExportModule, MemoryPlanReusesDeadStorage) {
  ExecutionPlan plan = chain_plan(100);
  MemoryPlan memory = plan_memory(plan);
  EXPECT_EQ(memory.pool_offset[0], -1);
  EXPECT_EQ(memory.pool_offset[4], -1);
  EXPECT_EQ(memory.pool_offset[1], memory.pool_offset[3]);  // t1 is dead when t3 is made
  EXPECT_NE(memory.pool_offset[1], memory.pool_offset[2]);
  EXPECT_EQ(memory.pool_bytes, 2 * 448);                    // 400 bytes rounded up to 64
  EXPECT_EQ(memory.unshared_bytes, 3 * 448);

  // Run it: out = 2(2(2(2a+1)+1)+1)+1.
  ScratchDir dir("export-chain");
  export_library(plan, Target::host(), dir.file("chain.so"));
  runtime::Module module(dir.file("chain.so"));
  std::vector<float> a = random_floats(100, 5), out(100);
  std::vector<int64_t> shape = {100};
  module.set_input(0, make_view(a, shape));
  module.run();
  DLTensor out_view = make_view(out, shape);
  module.get_output(0, &out_view);
  for (int i = 0; i < 100; ++i) EXPECT_NEAR(out[i], 16 * a[i] + 15, 1e-4) << i;
}

TEST(ExportModule, MemoryPlanNeverOverlapsLiveStorages) {
  // A random DAG of elementwise kernels over storages of varied sizes (same kernel per size).
  std::mt19937 rng(7);
  const std::vector<int> sizes = {17, 64, 3, 129};
  ExecutionPlan plan;
  DataType f32 = DataType::Float(32);
  std::map<int, std::string> kernel_of;
  for (int n : sizes) {
    Buffer a = make_buffer("A", f32, {n}), b = make_buffer("B", f32, {n}), out = make_buffer("Out", f32, {n});
    Var i("i");
    std::string name = "add" + std::to_string(n);
    plan.kernels.push_back(make_prim_func(name, {Param::of(a), Param::of(b), Param::of(out)},
                                          make_for(i, 0, n, ForKind::kSerial, make_store(out, a({i}) + b({i}), {i}))));
    kernel_of[n] = name;
  }
  std::map<int, std::vector<int>> by_size;  // defined storages of each size
  for (int n : sizes) {
    for (int s = 0; s < 2; ++s) {
      int id = static_cast<int>(plan.storage_bytes.size());
      plan.storage_bytes.push_back(4 * n);
      plan.inputs.push_back({"in" + std::to_string(id), {n}, "float32", id});
      by_size[n].push_back(id);
    }
  }
  for (int step = 0; step < 40; ++step) {
    int n = sizes[rng() % sizes.size()];
    std::vector<int>& defined = by_size[n];
    int a = defined[rng() % defined.size()], b = defined[rng() % defined.size()];
    if (a == b) b = defined[(std::find(defined.begin(), defined.end(), a) - defined.begin() + 1) % defined.size()];
    int id = static_cast<int>(plan.storage_bytes.size());
    plan.storage_bytes.push_back(4 * n);
    plan.nodes.push_back({"n" + std::to_string(step), kernel_of[n], {a, b}, {id}});
    defined.push_back(id);
  }
  int last = static_cast<int>(plan.storage_bytes.size()) - 1;
  plan.outputs = {{"result", {plan.storage_bytes[last] / 4}, "float32", last}};
  MemoryPlan memory = plan_memory(plan);

  // Live range of each pooled storage: [defining node, last reading node].
  std::vector<int> first(plan.storage_bytes.size(), -1), end(plan.storage_bytes.size(), -1);
  for (size_t n = 0; n < plan.nodes.size(); ++n) {
    for (int id : plan.nodes[n].outputs) first[id] = end[id] = static_cast<int>(n);
    for (int id : plan.nodes[n].inputs) end[id] = static_cast<int>(n);
  }
  int checked = 0;
  for (size_t s = 0; s < plan.storage_bytes.size(); ++s) {
    if (memory.pool_offset[s] < 0) continue;
    EXPECT_EQ(memory.pool_offset[s] % 64, 0);
    EXPECT_LE(memory.pool_offset[s] + plan.storage_bytes[s], memory.pool_bytes);
    for (size_t t = s + 1; t < plan.storage_bytes.size(); ++t) {
      if (memory.pool_offset[t] < 0) continue;
      bool live_together = first[s] <= end[t] && first[t] <= end[s];
      bool overlap = memory.pool_offset[s] < memory.pool_offset[t] + plan.storage_bytes[t] &&
                     memory.pool_offset[t] < memory.pool_offset[s] + plan.storage_bytes[s];
      EXPECT_FALSE(live_together && overlap) << "storages " << s << " and " << t;
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
  EXPECT_LT(memory.pool_bytes, memory.unshared_bytes);
}

TEST(ExportModule, ValidationNamesTheProblem) {
  DenseReluModel model(2, 3, 4, 4);
  auto expect_error = [](const ExecutionPlan& plan, const std::string& fragment) {
    try {
      validate_plan(plan);
      ADD_FAILURE() << "expected an error mentioning '" << fragment << "'";
    } catch (const CompileError& error) {
      EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
    }
  };
  ExecutionPlan plan = model.plan();
  validate_plan(plan);
  ExecutionPlan wrong_size = plan;
  wrong_size.storage_bytes[3] += 4;
  expect_error(wrong_size, "storage 3");
  ExecutionPlan writes_constant = plan;
  writes_constant.nodes[1].outputs = {1};
  expect_error(writes_constant, "a constant");
  ExecutionPlan reads_early = plan;
  std::swap(reads_early.nodes[0], reads_early.nodes[1]);
  expect_error(reads_early, "before any node writes it");
  ExecutionPlan unknown_kernel = plan;
  unknown_kernel.nodes[0].kernel = "conv";
  expect_error(unknown_kernel, "kernel 'conv'");
  ExecutionPlan short_constant = plan;
  short_constant.constants[0].bytes.pop_back();
  expect_error(short_constant, "constant 'weight'");
  ExecutionPlan bad_dtype = plan;
  bad_dtype.inputs[0].dtype = "float31";
  expect_error(bad_dtype, "float31");
}

// ---- Error cases: each through the C API (status + message) and the C++ API (exception). ----

void expect_load_error(const std::string& path, TesselStatus status, const std::string& fragment) {
  TesselModule* module = reinterpret_cast<TesselModule*>(0x1);
  EXPECT_EQ(tessel_module_load(path.c_str(), &module), status) << tessel_get_last_error();
  EXPECT_EQ(module, nullptr);
  EXPECT_NE(std::string(tessel_get_last_error()).find(fragment), std::string::npos) << tessel_get_last_error();
  try {
    runtime::Module loaded(path);
    ADD_FAILURE() << "loading " << path << " should fail";
  } catch (const runtime::Error& error) {
    EXPECT_EQ(error.status(), status);
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

// Compiles a C snippet into a shared library (a foreign library, or a Tessel one from the future).
std::string build_c_library(const ScratchDir& dir, const std::string& name, const std::string& source) {
  std::string c_file = dir.file(name + ".c"), so_file = dir.file(name + ".so");
  std::ofstream(c_file) << source;
  std::string command = "cc -shared -fPIC -o " + so_file + " " + c_file;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return so_file;
}

TEST(ExportModuleErrors, LoadFailures) {
  ScratchDir dir("export-errors");
  expect_load_error(dir.file("missing.so"), TESSEL_ERROR_FILE_NOT_FOUND, "missing.so");
  std::ofstream(dir.file("text.so")) << "this is not a library\n";
  expect_load_error(dir.file("text.so"), TESSEL_ERROR_NOT_A_MODULE, "not a Tessel module library");
  expect_load_error(build_c_library(dir, "foreign", "int answer(void) { return 42; }\n"), TESSEL_ERROR_NOT_A_MODULE,
                    "not a Tessel module library");
  expect_load_error(build_c_library(dir, "future", "const unsigned __tessel_format_version = 999;\n"),
                    TESSEL_ERROR_VERSION_MISMATCH, "format version 999");

  // A real module with its ELF machine patched to AArch64.
  DenseReluModel model(2, 3, 4, 5);
  export_library(model.plan(), Target::host(), dir.file("model.so"));
  std::filesystem::copy_file(dir.file("model.so"), dir.file("arm.so"));
  {
    std::fstream file(dir.file("arm.so"), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(18);  // e_machine
    const char aarch64[2] = {static_cast<char>(183), 0};
    file.write(aarch64, 2);
  }
  expect_load_error(dir.file("arm.so"), TESSEL_ERROR_TARGET_MISMATCH, "built for aarch64");
}

TEST(ExportModuleErrors, MissingCpuFeature) {
  // Pick an instruction-set extension this CPU lacks; compile for a CPU that has it.
  const HostCpu& host = host_cpu();
  std::string missing;
  for (const char* feature : {"amx-tile", "avx512fp16", "avx512vp2intersect", "avx512f", "avx2"}) {
    if (!host.has_feature(feature)) {
      missing = feature;
      break;
    }
  }
  if (missing.empty()) GTEST_SKIP() << "this CPU has every candidate feature";
  ScratchDir dir("export-cpu");
  Target target = Target::host();
  target.features += ",+" + missing;
  DenseReluModel model(2, 3, 4, 6);
  export_library(model.plan(), target, dir.file("model.so"));
  expect_load_error(dir.file("model.so"), TESSEL_ERROR_TARGET_MISMATCH, "needs CPU features this CPU lacks: " + missing);
}

TEST(ExportModuleErrors, InputAndOutputMismatches) {
  ScratchDir dir("export-io");
  DenseReluModel model(2, 3, 4, 7);
  export_library(model.plan(), Target::host(), dir.file("model.so"));
  runtime::Module module(dir.file("model.so"));
  std::vector<float> x = random_floats(6, 8);
  std::vector<int64_t> good = {2, 3}, bad = {3, 2};
  DLTensor view = make_view(x, good);

  auto expect_status = [](int32_t status, TesselStatus expected, const std::string& fragment) {
    EXPECT_EQ(status, expected) << tessel_get_last_error();
    EXPECT_NE(std::string(tessel_get_last_error()).find(fragment), std::string::npos) << tessel_get_last_error();
  };
  auto expect_throw = [](auto&& body, TesselStatus expected, const std::string& fragment) {
    try {
      body();
      ADD_FAILURE() << "expected " << tessel_status_name(expected);
    } catch (const runtime::Error& error) {
      EXPECT_EQ(error.status(), expected);
      EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
    }
  };

  expect_status(tessel_module_set_input(module.handle(), "z", &view), TESSEL_ERROR_UNKNOWN_NAME, "no input named 'z'");
  expect_throw([&] { module.set_input("z", view); }, TESSEL_ERROR_UNKNOWN_NAME, "(it has: x)");
  int32_t index = 0;
  expect_status(tessel_module_output_index(module.handle(), "x", &index), TESSEL_ERROR_UNKNOWN_NAME, "no output named 'x'");

  DLTensor wrong_shape = make_view(x, bad);
  expect_status(tessel_module_set_input(module.handle(), "x", &wrong_shape), TESSEL_ERROR_SHAPE_MISMATCH,
                "expected shape (2, 3), got (3, 2)");
  expect_throw([&] { module.set_input(0, wrong_shape); }, TESSEL_ERROR_SHAPE_MISMATCH, "input 'x'");

  DLTensor wrong_dtype = view;
  wrong_dtype.dtype = {kDLInt, 32, 1};
  expect_status(tessel_module_set_input_index(module.handle(), 0, &wrong_dtype), TESSEL_ERROR_DTYPE_MISMATCH,
                "expected dtype float32, got int32");
  expect_throw([&] { module.set_input("x", wrong_dtype); }, TESSEL_ERROR_DTYPE_MISMATCH, "float32");

  expect_status(tessel_module_set_input_index(module.handle(), 3, &view), TESSEL_ERROR_INVALID_ARGUMENT, "out of range");
  std::vector<float> y(8);
  std::vector<int64_t> y_bad = {2, 5};
  DLTensor y_view = make_view(y, y_bad);
  expect_throw([&] { module.get_output(0, &y_view); }, TESSEL_ERROR_SHAPE_MISMATCH, "output 'y'");
  expect_status(tessel_module_load(nullptr, nullptr), TESSEL_ERROR_INVALID_ARGUMENT, "null");
}

TEST(RuntimeTensor, DlpackRoundTripSharesData) {
  runtime::Tensor tensor = runtime::Tensor::empty({7, 3}, {kDLFloat, 32, 1});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.data<float>()) % 64, 0u);
  for (int i = 0; i < 21; ++i) tensor.data<float>()[i] = static_cast<float>(i) * 0.5f;
  DLManagedTensor* managed = tensor.to_dlpack();
  EXPECT_EQ(managed->dl_tensor.data, tensor.dltensor().data);
  runtime::Tensor imported = runtime::Tensor::from_dlpack(managed);  // takes ownership
  EXPECT_EQ(imported.data<float>(), tensor.data<float>());
  tensor = runtime::Tensor::empty({1}, {kDLFloat, 32, 1});  // the original goes away...
  EXPECT_EQ(imported.data<float>()[20], 10.0f);              // ...the shared data stays alive
  EXPECT_EQ(imported.dltensor().shape[0], 7);
}

}  // namespace
}  // namespace tessel::codegen
