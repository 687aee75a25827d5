// The test-only fault hook (see measure_faults.h): parsing TESSEL_TEST_FAULT and the faults a
// measurement child injects into its own build or run.
#include "measure_faults.h"

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace tessel::autotune::detail {

FaultPlan FaultPlan::from_environment() {
  FaultPlan plan;
  const char* env = std::getenv("TESSEL_TEST_FAULT");
  if (!env) return plan;
  std::string text(env);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(pos, end - pos);
    size_t colon = item.find(':');
    if (colon != std::string::npos) {
      std::string kind = item.substr(0, colon);
      int index = std::atoi(item.c_str() + colon + 1);
      Fault f = kind == "crash"       ? Fault::kCrash
                : kind == "hang"      ? Fault::kHang
                : kind == "wrong"     ? Fault::kWrong
                : kind == "buildhang" ? Fault::kBuildHang
                                      : Fault::kNone;
      if (f != Fault::kNone) plan.faults_[index] = f;
    }
    pos = end + 1;
  }
  return plan;
}

Fault FaultPlan::fault_of(int candidate) const {
  auto f = faults_.find(candidate);
  return f == faults_.end() ? Fault::kNone : f->second;
}

void inject_build_fault(Fault fault) {
  if (fault == Fault::kBuildHang) {
    for (;;) pause();
  }
}

void inject_run_fault(Fault fault) {
  if (fault == Fault::kCrash) {
    raise(SIGSEGV);
  }
  if (fault == Fault::kHang) {
    for (;;) pause();
  }
}

void inject_wrong_output(Fault fault, const std::vector<void*>& args, const std::vector<bool>& is_output,
                         const std::vector<te::Tensor>& tensors) {
  if (fault != Fault::kWrong) return;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!is_output[i]) continue;
    DataType dt = tensors[i].dtype();
    if (dt.is_float() && dt.bits() == 32) {
      static_cast<float*>(args[i])[0] += 1.0f;
    } else {
      static_cast<uint8_t*>(args[i])[0] ^= 0x5a;
    }
  }
}

}  // namespace tessel::autotune::detail
