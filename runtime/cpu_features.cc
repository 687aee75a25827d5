// Load-time CPU checks: the architecture this runtime was built for, and which of the CPU
// features an exported module needs (LLVM feature names, e.g. "avx512f") the running CPU lacks.
// On x86-64 the features are read with CPUID, including the OS's XSAVE support for the AVX and
// AVX-512 register state, so a module is refused at load rather than dying with SIGILL.
#include <cstring>

#include "runtime_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace tessel_rt {

std::string host_architecture() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

#if defined(__x86_64__) || defined(__i386__)

namespace {

enum Register { kEax, kEbx, kEcx, kEdx };
// Register state the OS must save (XCR0 bits) for a feature to be usable.
enum StateNeed : uint64_t { kNone = 0, kAvxState = 0x6, kAvx512State = 0xE6, kAmxState = 0x60000 };

struct FeatureBit {
  const char* name;  // LLVM's name
  uint32_t leaf, subleaf;
  Register reg;
  int bit;
  uint64_t state;
};

constexpr FeatureBit kFeatures[] = {
    {"sse", 1, 0, kEdx, 25, kNone},           {"sse2", 1, 0, kEdx, 26, kNone},
    {"sse3", 1, 0, kEcx, 0, kNone},           {"pclmul", 1, 0, kEcx, 1, kNone},
    {"ssse3", 1, 0, kEcx, 9, kNone},          {"fma", 1, 0, kEcx, 12, kAvxState},
    {"cx16", 1, 0, kEcx, 13, kNone},          {"sse4.1", 1, 0, kEcx, 19, kNone},
    {"sse4.2", 1, 0, kEcx, 20, kNone},        {"movbe", 1, 0, kEcx, 22, kNone},
    {"popcnt", 1, 0, kEcx, 23, kNone},        {"aes", 1, 0, kEcx, 25, kNone},
    {"xsave", 1, 0, kEcx, 26, kNone},         {"avx", 1, 0, kEcx, 28, kAvxState},
    {"f16c", 1, 0, kEcx, 29, kAvxState},      {"rdrnd", 1, 0, kEcx, 30, kNone},
    {"bmi", 7, 0, kEbx, 3, kNone},            {"avx2", 7, 0, kEbx, 5, kAvxState},
    {"bmi2", 7, 0, kEbx, 8, kNone},           {"avx512f", 7, 0, kEbx, 16, kAvx512State},
    {"avx512dq", 7, 0, kEbx, 17, kAvx512State}, {"rdseed", 7, 0, kEbx, 18, kNone},
    {"adx", 7, 0, kEbx, 19, kNone},           {"avx512ifma", 7, 0, kEbx, 21, kAvx512State},
    {"avx512cd", 7, 0, kEbx, 28, kAvx512State}, {"sha", 7, 0, kEbx, 29, kNone},
    {"avx512bw", 7, 0, kEbx, 30, kAvx512State}, {"avx512vl", 7, 0, kEbx, 31, kAvx512State},
    {"avx512vbmi", 7, 0, kEcx, 1, kAvx512State}, {"avx512vbmi2", 7, 0, kEcx, 6, kAvx512State},
    {"gfni", 7, 0, kEcx, 8, kNone},           {"vaes", 7, 0, kEcx, 9, kAvxState},
    {"vpclmulqdq", 7, 0, kEcx, 10, kAvxState}, {"avx512vnni", 7, 0, kEcx, 11, kAvx512State},
    {"avx512bitalg", 7, 0, kEcx, 12, kAvx512State}, {"avx512vpopcntdq", 7, 0, kEcx, 14, kAvx512State},
    {"avx512vp2intersect", 7, 0, kEdx, 8, kAvx512State}, {"amx-bf16", 7, 0, kEdx, 22, kAmxState},
    {"avx512fp16", 7, 0, kEdx, 23, kAvx512State}, {"amx-tile", 7, 0, kEdx, 24, kAmxState},
    {"amx-int8", 7, 0, kEdx, 25, kAmxState},  {"avxvnni", 7, 1, kEax, 4, kAvxState},
    {"avx512bf16", 7, 1, kEax, 5, kAvx512State}, {"sahf", 0x80000001, 0, kEcx, 0, kNone},
    {"lzcnt", 0x80000001, 0, kEcx, 5, kNone}, {"sse4a", 0x80000001, 0, kEcx, 6, kNone},
    {"prfchw", 0x80000001, 0, kEcx, 8, kNone}, {"xop", 0x80000001, 0, kEcx, 11, kAvxState},
    {"fma4", 0x80000001, 0, kEcx, 16, kAvxState},
};

bool cpu_has(const FeatureBit& feature) {
  unsigned max_leaf = __get_cpuid_max(feature.leaf & 0x80000000u, nullptr);
  if (max_leaf < feature.leaf) return false;
  unsigned regs[4] = {0, 0, 0, 0};
  __cpuid_count(feature.leaf, feature.subleaf, regs[0], regs[1], regs[2], regs[3]);
  if (((regs[feature.reg] >> feature.bit) & 1u) == 0) return false;
  if (feature.state == kNone) return true;
  // The OS must enable XSAVE (OSXSAVE, leaf 1 ECX bit 27) and save the needed register state.
  unsigned a = 0, b = 0, c = 0, d = 0;
  __cpuid(1, a, b, c, d);
  if (((c >> 27) & 1u) == 0) return false;
  uint32_t xcr0_low = 0, xcr0_high = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  uint64_t xcr0 = (uint64_t{xcr0_high} << 32) | xcr0_low;
  return (xcr0 & feature.state) == feature.state;
}

}  // namespace

std::vector<std::string> missing_cpu_features(const std::vector<std::string>& required) {
  std::vector<std::string> missing;
  for (const std::string& name : required) {
    for (const FeatureBit& feature : kFeatures) {
      if (name == feature.name) {
        if (!cpu_has(feature)) missing.push_back(name);
        break;
      }
    }
  }
  return missing;
}

#else

std::vector<std::string> missing_cpu_features(const std::vector<std::string>&) { return {}; }

#endif

}  // namespace tessel_rt
