// Host CPU detection (include/tessel/codegen/host.h): asks LLVM for the real CPU name and the
// enabled features once per process, and derives the widest native float vector width.
#include <algorithm>
#include <mutex>

#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include "tessel/codegen/host.h"

namespace tessel::codegen {

bool HostCpu::has_feature(const std::string& name) const {
  return std::find(features.begin(), features.end(), name) != features.end();
}

namespace {

HostCpu detect_host_cpu() {
  HostCpu cpu;
  cpu.triple = llvm::Triple::normalize(llvm::sys::getProcessTriple());
  cpu.cpu_name = llvm::sys::getHostCPUName().str();
  for (const auto& entry : llvm::sys::getHostCPUFeatures()) {
    if (entry.getValue()) cpu.features.push_back(entry.getKey().str());
  }
  // StringMap iteration order is unspecified; sort so that feature strings are deterministic.
  std::sort(cpu.features.begin(), cpu.features.end());
  if (cpu.has_feature("avx512f")) {
    cpu.vector_bits = 512;
  } else if (cpu.has_feature("avx2") || cpu.has_feature("avx")) {
    cpu.vector_bits = 256;
  } else {
    cpu.vector_bits = 128;  // SSE, NEON and everything else
  }
  return cpu;
}

}  // namespace

const HostCpu& host_cpu() {
  static const HostCpu cpu = detect_host_cpu();
  return cpu;
}

}  // namespace tessel::codegen
