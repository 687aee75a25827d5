// The Target value (include/tessel/codegen/target.h): parsing "llvm ..." and "cuda ..." strings,
// the host, and the hardware parameters derived from them. CPU features are stored as the
// difference from the CPU's defaults (usually empty for the host), and queried through LLVM's
// subtarget tables, so "llvm -mcpu=znver4" knows it has AVX-512.
#include <algorithm>
#include <set>
#include <sstream>

#include <llvm/ADT/StringMap.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include "llvm_backend.h"
#include "tessel/codegen/host.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/error.h"
#include "tessel/runtime/parallel.h"

namespace tessel::codegen {

namespace {

std::unique_ptr<llvm::MCSubtargetInfo> subtarget_info(const std::string& triple, const std::string& cpu,
                                                      const std::string& features) {
  initialize_llvm();
  std::string error;
  const llvm::Target* backend = llvm::TargetRegistry::lookupTarget(triple, error);
  user_check(backend != nullptr) << "LLVM has no backend for target triple " << triple << ": " << error;
  return std::unique_ptr<llvm::MCSubtargetInfo>(backend->createMCSubtargetInfo(triple, cpu, features));
}

std::set<std::string> known_features(const llvm::MCSubtargetInfo& info) {
  std::set<std::string> names;
  for (const llvm::SubtargetFeatureKV& feature : info.getAllProcessorFeatures()) names.insert(feature.Key);
  return names;
}

std::set<std::string> enabled_features(const llvm::MCSubtargetInfo& info) {
  std::set<std::string> names;
  for (const llvm::SubtargetFeatureKV& feature : info.getEnabledProcessorFeatures()) names.insert(feature.Key);
  return names;
}

std::vector<std::string> split_features(const std::string& text) {
  std::vector<std::string> result;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) result.push_back(item);
  }
  return result;
}

int vector_bits_of(const std::string& triple, const std::set<std::string>& enabled) {
  llvm::Triple parsed(triple);
  if (parsed.isX86()) {
    if (enabled.count("avx512f")) return 512;
    if (enabled.count("avx") || enabled.count("avx2")) return 256;
  }
  return 128;  // SSE, NEON and the rest
}

// Architectural vector registers: zmm0-31 with AVX-512 (x86-64), v0-v31 on AArch64, 16 (xmm/ymm
// on x86-64, q0-q15 on 32-bit ARM) elsewhere.
int vector_registers_of(const std::string& triple, const std::set<std::string>& enabled) {
  llvm::Triple parsed(triple);
  if (parsed.isX86()) return parsed.isArch64Bit() && enabled.count("avx512f") ? 32 : 16;
  if (parsed.isAArch64()) return 32;
  return 16;
}

// Validates the CPU and the features (before LLVM sees them: it would print warnings and ignore
// them) and derives the vector width and register count. Cores and caches: the host's when the
// CPU is the host's architecture (code for it runs here), else the struct's defaults.
void finish_target(Target* target) {
  auto base = subtarget_info(target->triple, "", "");
  user_check(target->cpu == "generic" || base->isCPUStringValid(target->cpu))
      << "unknown CPU '" << target->cpu << "' for target triple " << target->triple;
  std::set<std::string> known = known_features(*base);
  for (const std::string& feature : split_features(target->features)) {
    user_check((feature[0] == '+' || feature[0] == '-') && known.count(feature.substr(1)))
        << "unknown feature '" << feature << "' for target triple " << target->triple
        << " (write features as +name or -name, e.g. -mattr=+avx2,-avx512f)";
  }
  auto info = subtarget_info(target->triple, target->cpu, target->features);
  std::set<std::string> enabled = enabled_features(*info);
  target->vector_bits = vector_bits_of(target->triple, enabled);
  target->vector_registers = vector_registers_of(target->triple, enabled);
  target->num_cores = std::max(1, static_cast<int>(tessel_num_threads()));
  if (llvm::Triple(target->triple).getArch() == llvm::Triple(host_cpu().triple).getArch()) {
    const HostCpu& host = host_cpu();
    if (host.l1_bytes > 0) target->l1_bytes = host.l1_bytes;
    if (host.l2_bytes > 0) target->l2_bytes = host.l2_bytes;
    if (host.l3_bytes > 0) target->l3_bytes = host.l3_bytes;
  }
}

// Host features as a difference from what LLVM assumes for the host CPU name.
std::string host_feature_delta(const std::string& triple, const std::string& cpu) {
  auto info = subtarget_info(triple, cpu, "");
  std::set<std::string> known = known_features(*info);
  std::set<std::string> defaults = enabled_features(*info);
  std::vector<std::string> delta;
  for (const auto& entry : llvm::sys::getHostCPUFeatures()) {
    std::string name = entry.getKey().str();
    if (!known.count(name)) continue;
    if (entry.getValue() && !defaults.count(name)) delta.push_back("+" + name);
    if (!entry.getValue() && defaults.count(name)) delta.push_back("-" + name);
  }
  std::sort(delta.begin(), delta.end());
  std::string text;
  for (const std::string& feature : delta) text += (text.empty() ? "" : ",") + feature;
  return text;
}

}  // namespace

Target Target::host() {
  static const Target host = [] {
    Target target;
    target.triple = host_cpu().triple;
    target.cpu = host_cpu().cpu_name;
    target.features = host_feature_delta(target.triple, target.cpu);
    finish_target(&target);
    return target;
  }();
  return host;
}

GpuLimits gpu_limits_for(const CudaTarget& target) {
  const std::string& arch = target.arch;
  int version = 0;
  if (arch.rfind("sm_", 0) == 0 || arch.rfind("compute_", 0) == 0) {
    std::string digits;
    for (char ch : arch.substr(arch.find('_') + 1)) {
      if (ch < '0' || ch > '9') break;
      digits += ch;
    }
    if (!digits.empty() && digits.size() < 6) version = std::stoi(digits);
  }
  user_check(version >= 50) << "GPU limits: arch '" << arch << "' is not a CUDA arch of sm_50 or later";
  // Maxwell through Hopper (and Blackwell) agree on every number GpuLimits holds.
  return GpuLimits{};
}

Target Target::parse(const std::string& text) {
  std::istringstream stream(text);
  std::string kind;
  stream >> kind;
  if (kind == "cuda") {
    // The host compiles and launches the kernels; the GPU part comes from the CUDA options.
    Target target = host();
    target.kind = TargetKind::kCuda;
    target.cuda = CudaTarget::parse(text);
    target.gpu = gpu_limits_for(target.cuda);
    return target;
  }
  user_check(kind == "llvm") << "target '" << text
                             << "' is neither an LLVM CPU target nor a CUDA one (expected \"llvm [options]\" or "
                                "\"cuda [-arch=sm_XX]\")";
  std::string triple, cpu, attributes;
  std::string option;
  while (stream >> option) {
    auto value_of = [&](const std::string& prefix, std::string* out) {
      if (option.rfind(prefix, 0) != 0) return false;
      *out = option.substr(prefix.size());
      user_check(!out->empty()) << "empty value for " << prefix << " in target '" << text << "'";
      return true;
    };
    if (value_of("-mtriple=", &triple) || value_of("-mcpu=", &cpu) || value_of("-mattr=", &attributes)) continue;
    user_error() << "unknown option '" << option << "' in target '" << text
                 << "' (supported: -mtriple=, -mcpu=, -mattr=)";
  }
  const Target& host_target = host();
  Target target;
  target.triple = triple.empty() ? host_target.triple : llvm::Triple::normalize(triple);
  const bool on_host_triple = llvm::Triple(target.triple).getArch() == llvm::Triple(host_target.triple).getArch();
  if ((cpu.empty() && on_host_triple) || cpu == "native") {
    user_check(on_host_triple) << "-mcpu=native in target '" << text << "' needs the host architecture";
    target.cpu = host_target.cpu;
    target.features = host_target.features;
  } else {
    target.cpu = cpu.empty() ? "generic" : cpu;
  }
  if (!attributes.empty()) target.features += (target.features.empty() ? "" : ",") + attributes;
  finish_target(&target);
  return target;
}

bool Target::runs_on_host() const {
  return llvm::Triple(triple).getArch() == llvm::Triple(host().triple).getArch();
}

bool Target::has_feature(const std::string& name) const {
  auto info = subtarget_info(triple, cpu, features);
  return enabled_features(*info).count(name) > 0;
}

std::string Target::to_string() const {
  if (is_cuda()) return cuda.to_string();
  std::string text = "llvm -mtriple=" + triple + " -mcpu=" + cpu;
  if (!features.empty()) text += " -mattr=" + features;
  return text;
}

}  // namespace tessel::codegen
