// Host CPU detection for the LLVM backend: the real CPU name (e.g. "znver5") and its features,
// as LLVM 19 reports them. Kept free of LLVM headers so that Python bindings can include it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessel::codegen {

struct HostCpu {
  std::string triple;                 // e.g. "x86_64-pc-linux-gnu"
  std::string cpu_name;               // e.g. "znver5"
  std::vector<std::string> features;  // enabled features, e.g. "avx512f", "fma"
  int vector_bits = 128;              // widest native float vector register, in bits
  // Data cache sizes from the operating system (Linux sysfs); 0 when it does not say.
  int64_t l1_bytes = 0, l2_bytes = 0, l3_bytes = 0;
  bool has_feature(const std::string& name) const;
};

// Detects the host once per process and caches the result.
const HostCpu& host_cpu();

}  // namespace tessel::codegen
