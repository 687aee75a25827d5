// The one Target value that crosses every layer: what kind of code is generated (LLVM for a CPU,
// CUDA for an NVIDIA GPU), for which machine, and the hardware parameters that default schedules
// and the auto-scheduler read (vector width and register count, cores, caches, GPU limits).
// Parsed once, at each entry point (CLI, Python API); everything below takes the parsed value.
// Its canonical string (to_string) is the key of every tuning record and cost-model snapshot.
#pragma once

#include <cstdint>
#include <string>

namespace tessel::codegen {

enum class TargetKind { kLlvm, kCuda };

// The CUDA part of a target: "cuda [-arch=sm_XX] [-fast-math]". The default arch is sm_90.
struct CudaTarget {
  std::string arch = "sm_90";
  bool fast_math = false;  // use __expf/__logf/__powf and -use_fast_math

  // Throws CompileError on anything but the forms above.
  static CudaTarget parse(const std::string& text);
  std::string to_string() const;  // parses back to an equal target
  bool operator==(const CudaTarget&) const = default;
};

// Hardware limits a GPU schedule must respect. The defaults are those of sm_90 (H100), which hold
// for every arch from sm_50 on: 1024 threads per block, 48 KiB of static __shared__ memory per
// block (the generated kernels declare shared arrays statically; more needs dynamic shared memory
// and an opt-in), warps of 32 threads. max_vthread_extent bounds the virtual-thread tiles (as in
// TVM's auto-scheduler). max_local_memory_per_thread is a budget for the per-thread arrays (the
// register tile and the reduction's partials), not a hardware maximum: 255 32-bit registers per
// thread is what keeps them out of (slow) local memory, so the budget is 1 KiB.
struct GpuLimits {
  int max_threads_per_block = 1024;
  int64_t max_shared_memory_per_block = 48 * 1024;
  int warp_size = 32;
  int max_vthread_extent = 8;
  int64_t max_local_memory_per_thread = 1024;
  bool operator==(const GpuLimits&) const = default;
};
// The limits of a CUDA arch; CompileError for an arch before sm_50.
GpuLimits gpu_limits_for(const CudaTarget& target);

struct Target {
  TargetKind kind = TargetKind::kLlvm;
  // The CPU: for an LLVM target the one code is generated for; for a CUDA target the host that
  // compiles and launches the kernels (always this machine).
  std::string triple;    // e.g. "x86_64-pc-linux-gnu", "aarch64-linux-gnu"
  std::string cpu;       // e.g. "znver5"; "generic" when unknown
  std::string features;  // LLVM feature string relative to the CPU's defaults, e.g. "+avx2,-avx512f"
  // Hardware parameters of that CPU.
  int vector_bits = 128;       // widest native float vector: 512 (avx512f), 256 (avx/avx2), else 128
  int vector_registers = 16;   // architectural vector registers: 32 with AVX-512 and AArch64, else 16
  int num_cores = 1;           // threads parallel loops run on (the runtime's pool on this machine)
  int64_t l1_bytes = 32 * 1024;  // per-core data caches, and the shared last level
  int64_t l2_bytes = 1024 * 1024;
  int64_t l3_bytes = 32 * 1024 * 1024;
  // kCuda only: the GPU.
  CudaTarget cuda;
  GpuLimits gpu;

  // The machine this process runs on: real CPU name, detected features, caches, thread count.
  static Target host();
  // Parses "llvm [-mtriple=T] [-mcpu=C] [-mattr=+a,-b,...]" or "cuda [-arch=sm_XX] [-fast-math]".
  // For llvm without -mtriple and -mcpu the host is used; "-mcpu=native" means the host CPU; with
  // another -mcpu on the host triple, the features are those LLVM knows for that CPU (plus
  // -mattr). Throws CompileError (one line naming the bad part) on anything else.
  static Target parse(const std::string& text);

  bool is_cuda() const { return kind == TargetKind::kCuda; }
  const char* kind_name() const { return is_cuda() ? "cuda" : "llvm"; }
  // True when code for this target's CPU can run in this process (same architecture as the host).
  bool runs_on_host() const;
  // True when the CPU's feature string or its name enables `name` (e.g. "avx512f", "neon").
  bool has_feature(const std::string& name) const;
  // The canonical text, the tuning-record key: "llvm -mtriple=... -mcpu=... -mattr=..." or
  // "cuda -arch=sm_90[ -fast-math]". Parses back to an equal target on the same machine.
  std::string to_string() const;
  bool operator==(const Target&) const = default;
};

}  // namespace tessel::codegen
