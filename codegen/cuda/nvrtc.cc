// NVRTC, opened with dlopen on first use: CUDA C++ -> PTX (and cubin for a real sm_XX arch).
// Nothing links against CUDA, so the same build runs on machines without the toolkit, where
// nvrtc_available() says why and compile_cuda() throws a CompileError.
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include "tessel/codegen/cuda.h"
#include "tessel/ir/error.h"
#include "tessel/ir/settings.h"

namespace tessel::codegen {

namespace {

// The subset of nvrtc.h used here (the C ABI is stable across CUDA versions).
using NvrtcProgram = void*;
using NvrtcResult = int;
constexpr NvrtcResult kNvrtcSuccess = 0;

struct Nvrtc {
  void* handle = nullptr;
  std::string error;
  const char* (*get_error_string)(NvrtcResult) = nullptr;
  NvrtcResult (*create_program)(NvrtcProgram*, const char*, const char*, int, const char* const*,
                                const char* const*) = nullptr;
  NvrtcResult (*destroy_program)(NvrtcProgram*) = nullptr;
  NvrtcResult (*compile_program)(NvrtcProgram, int, const char* const*) = nullptr;
  NvrtcResult (*get_ptx_size)(NvrtcProgram, size_t*) = nullptr;
  NvrtcResult (*get_ptx)(NvrtcProgram, char*) = nullptr;
  NvrtcResult (*get_cubin_size)(NvrtcProgram, size_t*) = nullptr;
  NvrtcResult (*get_cubin)(NvrtcProgram, char*) = nullptr;
  NvrtcResult (*get_log_size)(NvrtcProgram, size_t*) = nullptr;
  NvrtcResult (*get_log)(NvrtcProgram, char*) = nullptr;
};

std::vector<std::string> library_candidates() {
  std::vector<std::string> candidates;
  for (const char* variable : {"CUDA_HOME", "CUDA_PATH"}) {
    if (const char* root = std::getenv(variable)) {
      candidates.push_back(std::string(root) + "/lib64/libnvrtc.so");
    }
  }
  candidates.push_back("/usr/local/cuda/lib64/libnvrtc.so");
  candidates.push_back("libnvrtc.so");
  for (int major = 13; major >= 11; --major) candidates.push_back("libnvrtc.so." + std::to_string(major));
  return candidates;
}

const Nvrtc& nvrtc() {
  static Nvrtc* library = [] {
    auto* lib = new Nvrtc();
    for (const std::string& path : library_candidates()) {
      lib->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib->handle) break;
    }
    if (!lib->handle) {
      lib->error = "libnvrtc.so was not found (install the CUDA toolkit or set CUDA_HOME)";
      return lib;
    }
    auto load = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib->handle, name));
      if (!fn && lib->error.empty()) lib->error = std::string("libnvrtc.so lacks ") + name;
    };
    load(lib->get_error_string, "nvrtcGetErrorString");
    load(lib->create_program, "nvrtcCreateProgram");
    load(lib->destroy_program, "nvrtcDestroyProgram");
    load(lib->compile_program, "nvrtcCompileProgram");
    load(lib->get_ptx_size, "nvrtcGetPTXSize");
    load(lib->get_ptx, "nvrtcGetPTX");
    load(lib->get_cubin_size, "nvrtcGetCUBINSize");
    load(lib->get_cubin, "nvrtcGetCUBIN");
    load(lib->get_log_size, "nvrtcGetProgramLogSize");
    load(lib->get_log, "nvrtcGetProgramLog");
    return lib;
  }();
  return *library;
}

void check(const Nvrtc& lib, NvrtcResult result, const char* what) {
  user_check(result == kNvrtcSuccess) << "NVRTC " << what << " failed: " << lib.get_error_string(result);
}

void dump(const std::string& name, const std::string& extension, const std::string& text) {
  const Settings& config = settings();
  if (config.dump_code_dir.empty()) return;
  std::error_code error;
  std::filesystem::create_directories(config.dump_code_dir, error);
  std::filesystem::path path = std::filesystem::path(config.dump_code_dir) / (name + extension);
  std::ofstream out(path, std::ios::binary);
  user_check(out.good()) << "cannot write " << path.string() << " (TESSEL_DUMP_CODE)";
  out << text;
}

}  // namespace

bool nvrtc_available(std::string* why) {
  const Nvrtc& lib = nvrtc();
  if (why) *why = lib.error;
  return lib.error.empty();
}

CudaBinary compile_cuda(const std::string& source, const CudaTarget& target, bool want_cubin, const std::string& name) {
  const Nvrtc& lib = nvrtc();
  user_check(lib.error.empty()) << "cannot compile CUDA: " << lib.error;
  user_check(!want_cubin || target.arch.rfind("sm_", 0) == 0)
      << "a cubin needs a real architecture (-arch=sm_XX), not " << target.arch;
  NvrtcProgram program = nullptr;
  check(lib, lib.create_program(&program, source.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr),
        "nvrtcCreateProgram");
  // A PTX-only compile targets the virtual architecture of the same number, so that the driver
  // can JIT it for the GPU it finds.
  std::string arch = target.arch;
  if (!want_cubin && arch.rfind("sm_", 0) == 0) arch = "compute_" + arch.substr(3);
  std::vector<std::string> options = {"--gpu-architecture=" + arch, "--std=c++17", "-default-device"};
  if (target.fast_math) options.push_back("--use_fast_math");
  std::vector<const char*> option_ptrs;
  for (const std::string& o : options) option_ptrs.push_back(o.c_str());
  NvrtcResult compiled = lib.compile_program(program, static_cast<int>(option_ptrs.size()), option_ptrs.data());
  CudaBinary binary;
  size_t log_size = 0;
  lib.get_log_size(program, &log_size);
  if (log_size > 1) {
    binary.log.resize(log_size);
    lib.get_log(program, binary.log.data());
    while (!binary.log.empty() && (binary.log.back() == '\0' || binary.log.back() == '\n')) binary.log.pop_back();
  }
  if (compiled != kNvrtcSuccess) {
    lib.destroy_program(&program);
    user_error() << "NVRTC could not compile " << name << " for " << target.arch << ":\n" << binary.log;
  }
  size_t size = 0;
  check(lib, lib.get_ptx_size(program, &size), "nvrtcGetPTXSize");
  binary.ptx.resize(size);
  check(lib, lib.get_ptx(program, binary.ptx.data()), "nvrtcGetPTX");
  while (!binary.ptx.empty() && binary.ptx.back() == '\0') binary.ptx.pop_back();
  if (want_cubin) {
    check(lib, lib.get_cubin_size(program, &size), "nvrtcGetCUBINSize");
    binary.cubin.resize(size);
    check(lib, lib.get_cubin(program, binary.cubin.data()), "nvrtcGetCUBIN");
  }
  lib.destroy_program(&program);
  dump(name, ".ptx", binary.ptx);
  return binary;
}

}  // namespace tessel::codegen
