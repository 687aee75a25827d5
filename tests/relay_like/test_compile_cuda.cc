// Compiling graphs for target "cuda": every fused group gets a GPU default schedule (checked
// numerically by running the plan's kernels through the loop-IR interpreter, which executes
// thread-bound loops one iteration after another), the exported library embeds PTX with one
// entry per kernel and records the target, and loading it without a GPU is a clear error. On a
// machine with a GPU the library runs and matches op-by-op evaluation on the CPU.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <filesystem>
#include <unistd.h>

#include "plan_testing.h"
#include "tessel/codegen/cuda.h"
#include "tessel/ir/error.h"
#include "tessel/ir/functor.h"
#include "tessel/ir/interpreter.h"
#include "tessel/relay_like/compile.h"
#include "tessel/relay_like/evaluate.h"
#include "tessel/runtime/runtime.h"
#include "tessel/te/schedule.h"
#include "tessel/te/tensor.h"

using namespace tessel;
using namespace tessel::relay;
using tessel::relay::testing::random_array;

namespace {

namespace fs = std::filesystem;

CompiledModule compile_cuda_graph(const Graph& g, const std::string& target = "cuda -arch=sm_90") {
  CompileOptions options;
  options.target = codegen::Target::parse(target);
  options.print_summary = false;
  return compile(g, options);
}

// Runs the plan with the interpreter: one buffer per storage, kernels in order.
std::vector<NDArray> interpret_plan(const codegen::ExecutionPlan& plan, const std::map<std::string, NDArray>& inputs) {
  std::vector<NDArray> storages;
  for (int64_t bytes : plan.storage_bytes) storages.emplace_back(std::vector<int64_t>{bytes}, DataType::UInt(8));
  for (const auto& in : plan.inputs) {
    const NDArray& value = inputs.at(in.name);
    std::memcpy(storages[static_cast<size_t>(in.storage)].data(), value.data(), static_cast<size_t>(value.byte_size()));
  }
  for (const auto& c : plan.constants) std::memcpy(storages[static_cast<size_t>(c.storage)].data(), c.bytes.data(), c.bytes.size());
  for (const auto& node : plan.nodes) {
    const PrimFunc* kernel = nullptr;
    for (const PrimFunc& f : plan.kernels) {
      if (f->name == node.kernel) kernel = &f;
    }
    std::vector<InterpArg> args;
    for (int s : node.inputs) args.push_back(storages[static_cast<size_t>(s)].data());
    for (int s : node.outputs) args.push_back(storages[static_cast<size_t>(s)].data());
    interpret(*kernel, args);
  }
  std::vector<NDArray> outputs;
  for (const auto& out : plan.outputs) {
    outputs.push_back(NDArray::from_bytes(out.shape, DataType::parse(out.dtype), storages[static_cast<size_t>(out.storage)].data()));
  }
  return outputs;
}

bool has_thread_binding(const PrimFunc& f) {
  bool found = false;
  pre_order_visit(f->body, [&](const Expr*, const Stmt* s) {
    if (s && s->as<ForNode>()) found |= s->as<ForNode>()->for_kind == ForKind::kThreadBound;
  });
  return found;
}

void expect_close(const NDArray& actual, const NDArray& expected, float tolerance) {
  ASSERT_EQ(actual.num_elements(), expected.num_elements());
  for (int64_t i = 0; i < expected.num_elements(); ++i) {
    ASSERT_NEAR(actual.as<float>()[i], expected.as<float>()[i], tolerance) << "element " << i;
  }
}

// conv2d + bias + relu -> max_pool2d -> flatten (reshape) -> dense + bias -> softmax.
Graph small_cnn() {
  Graph g;
  relay::Value x = g.add_input("x", {{1, 3, 9, 7}, DataType::Float(32)});
  Attrs pad{{"padding", std::vector<int64_t>{1, 1, 1, 1}}};
  relay::Value c = g.add_call("conv2d", {x, g.add_constant(random_array({5, 3, 3, 3}, 11), "w1"),
                                  g.add_constant(random_array({5}, 12), "b1")}, pad)[0];
  relay::Value r = g.add_call("relu", {c})[0];
  Attrs pool{{"kernel", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}};
  relay::Value p = g.add_call("max_pool2d", {r}, pool)[0];  // (1, 5, 4, 3)
  relay::Value f = g.add_call("reshape", {p}, Attrs{{"shape", std::vector<int64_t>{1, 60}}})[0];
  relay::Value d = g.add_call("dense", {f, g.add_constant(random_array({13, 60}, 13), "w2"),
                                 g.add_constant(random_array({13}, 14), "b2")})[0];
  g.add_output(g.add_call("softmax", {d})[0]);
  return g;
}

std::string read_symbol(void* library, const std::string& symbol) {
  const char* data = static_cast<const char*>(dlsym(library, symbol.c_str()));
  const uint64_t* size = static_cast<const uint64_t*>(dlsym(library, (symbol + "_size").c_str()));
  if (data == nullptr || size == nullptr) return "<missing " + symbol + ">";
  return std::string(data, *size);
}

}  // namespace

TEST(RelayCompileCuda, EveryGroupIsThreadBoundAndMatchesEvaluation) {
  Graph g = small_cnn();
  CompiledModule module = compile_cuda_graph(g);
  ASSERT_TRUE(module.target.is_cuda());
  EXPECT_EQ(module.target.cuda.arch, "sm_90");
  for (const PrimFunc& f : module.plan.kernels) EXPECT_TRUE(has_thread_binding(f)) << f->name;
  // No CPU layout alteration on the GPU path: no NCHW{c}c convolutions, no packed dense weights.
  for (const Node& node : module.graph.nodes()) {
    EXPECT_NE(node.op, "layout_transform");
    EXPECT_NE(node.op, "dense_packed");
  }
  std::map<std::string, NDArray> inputs{{"x", random_array({1, 3, 9, 7}, 15)}};
  expect_close(interpret_plan(module.plan, inputs)[0], evaluate_graph(g, inputs)[0], 1e-5f);
}

TEST(RelayCompileCuda, OpsWithoutDedicatedScheduleUseTheGenericOne) {
  // Ops with no "cuda:<tag>" schedule (pooling, layer_norm over an odd width, transpose,
  // concatenate, batch_matmul) still compile to thread-bound kernels that compute the right values.
  Graph g;
  relay::Value x = g.add_input("x", {{2, 6, 7}, DataType::Float(32)});
  relay::Value t = g.add_call("transpose", {x}, Attrs{{"axes", std::vector<int64_t>{0, 2, 1}}})[0];  // (2, 7, 6)
  relay::Value m = g.add_call("batch_matmul", {x, t})[0];  // (2, 6, 6)
  relay::Value n = g.add_call("layer_norm", {m, g.add_constant(random_array({6}, 21), "gamma"),
                                      g.add_constant(random_array({6}, 22), "beta")},
                       Attrs{{"axes", std::vector<int64_t>{-1}}, {"epsilon", 1e-5}})[0];
  relay::Value s = g.add_call("sigmoid", {n})[0];
  g.add_output(g.add_call("concatenate", {s, m}, Attrs{{"axis", int64_t{1}}})[0]);
  CompiledModule module = compile_cuda_graph(g, "cuda");
  for (const PrimFunc& f : module.plan.kernels) EXPECT_TRUE(has_thread_binding(f)) << f->name;
  std::map<std::string, NDArray> inputs{{"x", random_array({2, 6, 7}, 23)}};
  expect_close(interpret_plan(module.plan, inputs)[0], evaluate_graph(g, inputs)[0], 1e-4f);
}

TEST(RelayCompileCuda, BadTargetsAreUserErrors) {
  Graph g = small_cnn();
  EXPECT_THROW(compile_cuda_graph(g, "cuda -arch=90"), CompileError);
  EXPECT_THROW(compile_cuda_graph(g, "cuda -mcpu=x"), CompileError);
}

TEST(RelayCompileCuda, ExportedLibraryEmbedsPtxAndRecordsTheTarget) {
  std::string why;
  if (!codegen::nvrtc_available(&why)) GTEST_SKIP() << "NVRTC is not available: " << why;
  Graph g = small_cnn();
  CompiledModule module = compile_cuda_graph(g);
  fs::path dir = fs::temp_directory_path() / ("tessel-cuda-export-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "cnn_cuda.so").string();
  module.export_library(path);
  ASSERT_TRUE(fs::exists(path));

  // The library's sections, read without the runtime's loader (which needs a GPU).
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr) << dlerror();
  std::string metadata = read_symbol(library, "__tessel_module_metadata");
  EXPECT_NE(metadata.find("\"kind\": \"cuda\""), std::string::npos) << metadata;
  EXPECT_NE(metadata.find("\"arch\": \"sm_90\""), std::string::npos) << metadata;
  std::string ptx = read_symbol(library, "__tessel_cuda_ptx");
  std::string launches = read_symbol(library, "__tessel_cuda_launches");
  EXPECT_NE(ptx.find(".target sm_90"), std::string::npos);
  int kernels = 0;
  codegen::CudaModuleSource source = codegen::generate_cuda(module.plan.kernels, module.target.cuda);
  for (const codegen::CudaFunction& f : source.functions) {
    for (const codegen::CudaKernelLaunch& k : f.kernels) {
      ++kernels;
      EXPECT_NE(ptx.find(".visible .entry " + k.name + "("), std::string::npos) << k.name;
      EXPECT_NE(launches.find("\"name\": \"" + k.name + "\""), std::string::npos) << k.name;
    }
  }
  EXPECT_GE(kernels, static_cast<int>(module.plan.kernels.size()));
  const uint64_t* cubin_size = static_cast<const uint64_t*>(dlsym(library, "__tessel_cuda_cubin_size"));
  ASSERT_NE(cubin_size, nullptr);
  EXPECT_GT(*cubin_size, 0u);  // sm_90 is a real architecture: a cubin is embedded too
  const char* cubin = static_cast<const char*>(dlsym(library, "__tessel_cuda_cubin"));
  EXPECT_EQ(std::string(cubin, 4), "\x7f" "ELF");
  dlclose(library);

  std::map<std::string, NDArray> inputs{{"x", random_array({1, 3, 9, 7}, 16)}};
  if (!runtime::cuda_available(&why)) {
    // Without a GPU or driver: a clear error through the C API and the C++ API, no crash.
    TesselModule* handle = nullptr;
    int32_t status = tessel_module_load(path.c_str(), &handle);
    EXPECT_EQ(status, TESSEL_ERROR_NO_DEVICE);
    EXPECT_EQ(handle, nullptr);
    std::string message = tessel_get_last_error();
    EXPECT_TRUE(message.find("libcuda.so.1") != std::string::npos || message.find("cuInit") != std::string::npos)
        << message;
    EXPECT_EQ(message, why);
    try {
      runtime::Module loaded(path);
      ADD_FAILURE() << "loading a CUDA module without a GPU succeeded";
    } catch (const runtime::Error& error) {
      EXPECT_EQ(error.status(), TESSEL_ERROR_NO_DEVICE);
      EXPECT_EQ(std::string(error.what()), why);
    }
  } else {
    // On a GPU: run it and compare with op-by-op evaluation on the CPU.
    runtime::Module loaded(path);
    const NDArray& x = inputs.at("x");
    std::vector<int64_t> shape = x.shape();
    DLTensor input{const_cast<void*>(x.data()), {kDLCPU, 0}, 4, {kDLFloat, 32, 1}, shape.data(), nullptr, 0};
    loaded.set_input("x", input);
    loaded.run();
    runtime::Tensor out = loaded.get_output(0);
    NDArray expected = evaluate_graph(g, inputs)[0];
    for (int64_t i = 0; i < expected.num_elements(); ++i)
      EXPECT_NEAR(out.data<float>()[i], expected.as<float>()[i], 1e-4f) << i;
  }
  fs::remove_all(dir);
}

// Virtual threads (TVM's "vthread"): a TVM-style GPU matmul with 2x2 virtual threads per real
// thread, shared-memory tiles fetched cooperatively and a register accumulator. The vthread loops
// become serial loops inside each thread: the launch has only the real threads, and the
// interpreter (one thread after another) reproduces the matmul.
TEST(CudaVirtualThread, InterleavedInsideEachThread) {
  const int M = 37, N = 45, K = 19;
  te::Tensor A = te::placeholder({M, K}, DataType::Float(32), "A");
  te::Tensor B = te::placeholder({K, N}, DataType::Float(32), "B");
  te::IterVar k = te::reduce_axis(0, K, "k");
  te::Tensor C = te::compute_reduce(
      {M, N}, [&](const std::vector<Var>& i) { return te::sum(A({i[0], k}) * B({k, i[1]}), {k}); }, "C");
  te::Schedule s = te::create_schedule({C});
  te::Tensor AS = s.cache_read(A, "shared", {C});
  te::Tensor BS = s.cache_read(B, "shared", {C});
  te::Tensor CL = s.cache_write(C, "local");
  te::Stage c = s[C];
  auto [by, yi] = c.split(c.axis()[0], 16);
  auto [bx, xi] = c.split(c.axis()[1], 16);
  auto [vy, ty] = c.split_nparts(yi, 2);
  auto [vx, tx] = c.split_nparts(xi, 2);
  c.reorder({by, bx, vy, vx, ty, tx});
  c.bind(by, "blockIdx.y");
  c.bind(bx, "blockIdx.x");
  c.bind(vy, "vthread");
  c.bind(vx, "vthread");
  c.bind(ty, "threadIdx.y");
  c.bind(tx, "threadIdx.x");
  te::Stage cl = s[CL];
  cl.compute_at(c, tx);
  auto [ko, ki] = cl.split(cl.reduce_axis()[0], 4);
  cl.reorder({ko, ki, cl.axis()[0], cl.axis()[1]});
  for (const te::Tensor& shared : {AS, BS}) {
    te::Stage fetch = s[shared];
    fetch.compute_at(s[CL], ko);
    std::vector<te::IterVar> axes = fetch.axis();
    auto [rest, fx] = fetch.split(fetch.fuse(axes[0], axes[1]), 8);
    auto [outer, fy] = fetch.split(rest, 8);
    (void)outer;
    fetch.bind(fy, "threadIdx.y");
    fetch.bind(fx, "threadIdx.x");
  }
  PrimFunc f = te::lower_schedule(s, {A, B, C}, "virtual_matmul");

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(M * K), b(K * N), out(M * N, -5.0f);
  for (float& v : a) v = dist(rng);
  for (float& v : b) v = dist(rng);
  interpret(f, {a.data(), b.data(), out.data()});
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      float expected = 0;
      for (int kk = 0; kk < K; ++kk) expected += a[i * K + kk] * b[kk * N + j];
      ASSERT_NEAR(out[i * N + j], expected, 1e-4f) << i << ", " << j;
    }
  }

  codegen::CudaModuleSource source = codegen::generate_cuda({f});
  ASSERT_EQ(source.functions[0].kernels.size(), 1u);
  const codegen::CudaKernelLaunch& launch = source.functions[0].kernels[0];
  std::vector<int64_t> dims;
  for (const Expr& e : {launch.grid[0], launch.grid[1], launch.block[0], launch.block[1], launch.block[2]})
    dims.push_back(*as_const_int(e));
  EXPECT_EQ(dims, (std::vector<int64_t>{3, 3, 8, 8, 1}));  // 2x2 vthreads are not threads
  EXPECT_EQ(source.source.find("vthread"), std::string::npos);
  EXPECT_NE(source.source.find("__syncthreads()"), std::string::npos);
  std::string why;
  if (codegen::nvrtc_available(&why)) {
    EXPECT_EQ(codegen::compile_cuda(source.source, codegen::CudaTarget(), false, "virtual_matmul").log, "");
  }
}
