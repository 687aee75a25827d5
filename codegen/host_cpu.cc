// Host CPU detection (include/tessel/codegen/host.h): asks LLVM for the real CPU name and the
// enabled features once per process, derives the widest native float vector width, and reads the
// data cache sizes the kernel reports for CPU 0.
#include <algorithm>
#include <fstream>
#include <mutex>
#include <string>

#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include "tessel/codegen/host.h"

namespace tessel::codegen {

bool HostCpu::has_feature(const std::string& name) const {
  return std::find(features.begin(), features.end(), name) != features.end();
}

namespace {

// The size in bytes of sysfs cache description `index` of CPU 0 ("48K" -> 49152) when it is a
// data or unified cache of `level`; 0 otherwise or when the file is absent.
int64_t cache_bytes(int index, int level) {
  const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
  std::ifstream level_file(dir + "level"), type_file(dir + "type"), size_file(dir + "size");
  int found_level = 0;
  std::string type, size;
  if (!(level_file >> found_level) || !(type_file >> type) || !(size_file >> size)) return 0;
  if (found_level != level || type == "Instruction" || size.empty()) return 0;
  int64_t scale = 1;
  if (size.back() == 'K') scale = 1024;
  if (size.back() == 'M') scale = 1024 * 1024;
  try {
    return static_cast<int64_t>(std::stoll(size)) * scale;
  } catch (const std::exception&) {
    return 0;
  }
}

int64_t cache_bytes_of_level(int level) {
  for (int index = 0; index < 8; ++index) {
    if (int64_t bytes = cache_bytes(index, level)) return bytes;
  }
  return 0;
}

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
  cpu.l1_bytes = cache_bytes_of_level(1);
  cpu.l2_bytes = cache_bytes_of_level(2);
  cpu.l3_bytes = cache_bytes_of_level(3);
  return cpu;
}

}  // namespace

const HostCpu& host_cpu() {
  static const HostCpu cpu = detect_host_cpu();
  return cpu;
}

}  // namespace tessel::codegen
