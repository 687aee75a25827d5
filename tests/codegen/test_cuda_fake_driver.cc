// The runtime's CUDA executor end to end without a GPU: a stand-in libcuda.so.1 (built here with
// the system C compiler; its device memory is host memory) is loaded before the runtime opens the
// driver, so the runtime's dlopen("libcuda.so.1") finds it. Its cuLaunchKernel calls back into
// this test, which runs the launched kernel's loop IR with the interpreter on the "device"
// pointers. A two-node plan (input + constant -> pool -> output) exported for CUDA then runs
// through the C++ runtime API and must match a naive reference: this checks the library sections,
// the cubin/PTX choice, the device memory plan, uploads, launch descriptors and copies back.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "tessel/codegen/cuda.h"
#include "tessel/codegen/export_cuda.h"
#include "tessel/ir/interpreter.h"
#include "tessel/ir/lower.h"
#include "tessel/runtime/runtime.h"

namespace tessel::codegen {
namespace {

namespace fs = std::filesystem;
const DataType f32 = DataType::Float(32);

// Just enough of the driver API; device pointers are host addresses.
const char* kFakeDriver = R"(
#include <stdlib.h>
#include <string.h>
typedef void (*hook_t)(const char*, const unsigned*, const unsigned*, void**);
static hook_t hook;
int fake_loaded_cubin = -1;
void fake_cuda_set_hook(hook_t h) { hook = h; }
int cuInit(unsigned f) { return 0; }
int cuDeviceGet(int* d, int o) { *d = 0; return 0; }
int cuDeviceGetAttribute(int* v, int attribute, int d) { *v = attribute == 75 ? 9 : 0; return 0; }
int cuDevicePrimaryCtxRetain(void** c, int d) { *c = (void*)1; return 0; }
int cuCtxSetCurrent(void* c) { return 0; }
int cuCtxSynchronize(void) { return 0; }
int cuGetErrorString(int r, const char** s) { *s = "fake driver error"; return 0; }
int cuMemAlloc_v2(unsigned long long* p, size_t n) { *p = (unsigned long long)aligned_alloc(256, (n + 255) / 256 * 256); return 0; }
int cuMemFree_v2(unsigned long long p) { free((void*)p); return 0; }
int cuMemcpyHtoD_v2(unsigned long long d, const void* s, size_t n) { memcpy((void*)d, s, n); return 0; }
int cuMemcpyDtoH_v2(void* d, unsigned long long s, size_t n) { memcpy(d, (void*)s, n); return 0; }
int cuMemcpyDtoD_v2(unsigned long long d, unsigned long long s, size_t n) { memmove((void*)d, (void*)s, n); return 0; }
struct module { const char* image; size_t size; };
int cuModuleLoadData(void** m, const void* image) {
  struct module* mod = malloc(sizeof(struct module));
  mod->image = image;
  fake_loaded_cubin = memcmp(image, "\x7f" "ELF", 4) == 0;
  mod->size = fake_loaded_cubin ? 1 << 20 : strlen(image);
  *m = mod;
  return 0;
}
int cuModuleUnload(void* m) { free(m); return 0; }
int cuModuleGetFunction(void** f, void* m, const char* name) {
  struct module* mod = m;
  if (!fake_loaded_cubin && !strstr(mod->image, name)) return 500;
  *f = strdup(name);
  return 0;
}
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned shared, void* stream, void** params, void** extra) {
  unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  if (shared != 0 || extra != 0) return 1;
  hook((const char*)f, grid, block, params);
  return 0;
}
)";

struct Launched {
  std::string name;
  std::vector<unsigned> grid, block;
};
std::map<std::string, PrimFunc>* g_kernels = nullptr;  // kernel name -> function (one kernel each)
std::vector<Launched>* g_launches = nullptr;

void on_launch(const char* name, const unsigned* grid, const unsigned* block, void** params) {
  g_launches->push_back({name, {grid[0], grid[1], grid[2]}, {block[0], block[1], block[2]}});
  const PrimFunc& f = g_kernels->at(name);
  std::vector<InterpArg> args;
  for (size_t i = 0; i < f->params.size(); ++i) {
    args.push_back(reinterpret_cast<void*>(*static_cast<const unsigned long long*>(params[i])));
  }
  interpret(f, args);
}

// out[i] = f(in0[i], in1[i]) over n elements, i = blockIdx.x * 64 + threadIdx.x.
PrimFunc elementwise(const std::string& name, int n, int inputs, const std::function<Expr(Expr, Expr)>& f) {
  Buffer a = make_buffer("a", f32, {n}), b = make_buffer("b", f32, {n}), out = make_buffer("out", f32, {n});
  Var bx("bx"), tx("tx");
  Expr i = bx * 64 + tx;
  Expr value = f(make_load(a, {i}), inputs == 2 ? make_load(b, {i}) : Expr());
  Stmt body = make_if(i < n, make_store(out, value, {i}));
  body = make_for(tx, 0, 64, ForKind::kThreadBound, body, "threadIdx.x");
  body = make_for(bx, 0, (n + 63) / 64, ForKind::kThreadBound, body, "blockIdx.x");
  std::vector<Param> params = {Param::of(a)};
  if (inputs == 2) params.push_back(Param::of(b));
  params.push_back(Param::of(out));
  return lower(make_prim_func(name, params, body));
}

TEST(CudaFakeDriver, ExportedModuleRunsThroughTheRuntime) {
  std::string why;
  if (!nvrtc_available(&why)) GTEST_SKIP() << "NVRTC is not available: " << why;
  fs::path dir = fs::temp_directory_path() / ("tessel-fake-cuda-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const int n = 1001;  // 16 blocks of 64, the last one partial
  ExecutionPlan plan;
  plan.name = "fake_cuda_module";
  plan.kernels = {elementwise("add_weights", n, 2, [](Expr a, Expr b) { return a + b; }),
                  elementwise("scale_shift", n, 1, [](Expr a, Expr) { return a * 3.0f - 1.0f; })};
  const int64_t bytes = n * 4;
  plan.storage_bytes = {bytes, bytes, bytes, bytes};  // x, w, t (pool), y
  plan.inputs = {{"x", {n}, "float32", 0}};
  plan.outputs = {{"y", {n}, "float32", 3}};
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-2, 2);
  std::vector<float> weights(n), x(n), x2(n);
  for (float& v : weights) v = dist(rng);
  for (float& v : x) v = dist(rng);
  for (float& v : x2) v = dist(rng);
  PlanConstant w{"w", 1, std::vector<uint8_t>(bytes)};
  std::memcpy(w.bytes.data(), weights.data(), bytes);
  plan.constants = {w};
  plan.nodes = {{"first", "add_weights", {0, 1}, {2}}, {"second", "scale_shift", {2}, {3}}};
  const std::string path = (dir / "fake_cuda_module.so").string();
  export_cuda_library(plan, CudaTarget::parse("cuda -arch=sm_90"), path);

  { std::ofstream(dir / "fake.c") << kFakeDriver; }
  std::string command = "cc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o '" + (dir / "libcuda.so.1").string() +
                        "' '" + (dir / "fake.c").string() + "'";
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "no C compiler for the stand-in driver";
  // Loaded after NVRTC has run (NVRTC probes a loaded driver, which this stand-in is not), and
  // before the runtime opens the driver, by soname: the runtime's later dlopen("libcuda.so.1") returns this library.
  if (dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD) != nullptr) GTEST_SKIP() << "a CUDA driver is already loaded";
  void* fake = dlopen((dir / "libcuda.so.1").c_str(), RTLD_NOW | RTLD_GLOBAL);
  ASSERT_NE(fake, nullptr) << dlerror();
  ASSERT_TRUE(tessel::runtime::cuda_available(&why)) << why;
  reinterpret_cast<void (*)(void (*)(const char*, const unsigned*, const unsigned*, void**))>(
      dlsym(fake, "fake_cuda_set_hook"))(on_launch);

  std::map<std::string, PrimFunc> kernels;
  CudaModuleSource source = generate_cuda(plan.kernels);
  for (size_t f = 0; f < source.functions.size(); ++f) {
    ASSERT_EQ(source.functions[f].kernels.size(), 1u);
    kernels[source.functions[f].kernels[0].name] = plan.kernels[f];
  }
  std::vector<Launched> launches;
  g_kernels = &kernels;
  g_launches = &launches;

  auto reference = [&](const std::vector<float>& in) {
    std::vector<float> y(n);
    for (int i = 0; i < n; ++i) y[i] = (in[i] + weights[i]) * 3.0f - 1.0f;
    return y;
  };
  {
    tessel::runtime::Module module(path);
    EXPECT_EQ(*static_cast<int*>(dlsym(fake, "fake_loaded_cubin")), 1);  // sm_90 GPU: the cubin
    EXPECT_NE(module.metadata_json().find("\"kind\": \"cuda\""), std::string::npos);
    int64_t shape[1] = {n};
    DLTensor input{x.data(), {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, nullptr, 0};
    module.set_input("x", input);
    module.run();
    ASSERT_EQ(launches.size(), 2u);
    EXPECT_EQ(launches[0].name, "add_weights_kernel");
    EXPECT_EQ(launches[0].grid, (std::vector<unsigned>{16, 1, 1}));
    EXPECT_EQ(launches[0].block, (std::vector<unsigned>{64, 1, 1}));
    EXPECT_EQ(launches[1].name, "scale_shift_kernel");
    std::vector<float> expected = reference(x);
    tessel::runtime::Tensor out = module.get_output(0);
    for (int i = 0; i < n; ++i) ASSERT_FLOAT_EQ(out.data<float>()[i], expected[i]) << i;

    // Zero-copy CPU input: read at each run, so later changes to the caller's memory count.
    std::vector<float> bound = x;
    DLTensor bound_input{bound.data(), {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, nullptr, 0};
    module.set_input_zero_copy(0, bound_input);
    bound = x2;
    // Zero-copy CPU output: written at the end of each run.
    std::vector<float> y(n, 0.0f);
    DLTensor output{y.data(), {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, nullptr, 0};
    module.set_output_zero_copy(0, &output);
    module.run();
    expected = reference(x2);
    for (int i = 0; i < n; ++i) ASSERT_FLOAT_EQ(y[i], expected[i]) << i;
    // A strided CPU destination: every other element of a twice-as-long array.
    std::vector<float> strided(2 * n, 0.0f);
    int64_t stride[1] = {2};
    DLTensor strided_output{strided.data(), {kDLCPU, 0}, 1, {kDLFloat, 32, 1}, shape, stride, 0};
    module.get_output(0, &strided_output);
    for (int i = 0; i < n; ++i) ASSERT_FLOAT_EQ(strided[2 * i], expected[i]) << i;
    EXPECT_NE(module.run_profile(2).find("scale_shift"), std::string::npos);
    EXPECT_EQ(launches.size(), 8u);  // two runs and two profiled runs of two kernels
    // A CUDA output tensor gets a device-to-device copy.
    auto device_out = tessel::runtime::Tensor::empty({n}, DLDataType{kDLFloat, 32, 1}, DLDevice{kDLCUDA, 0});
    DLTensor device_view = device_out.dltensor();
    module.get_output(0, &device_view);
    for (int i = 0; i < n; ++i) ASSERT_FLOAT_EQ(device_out.data<float>()[i], expected[i]) << i;
  }
  g_kernels = nullptr;
  g_launches = nullptr;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tessel::codegen
