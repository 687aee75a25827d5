// The repeat timer of a measurement child (see measure_timer.h): how many runs make a sample and
// how many samples a repeat, and the median that makes a repeat's cost.
#include "measure_timer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "measure_kernel.h"

namespace tessel::autotune::detail {

namespace {

// Timing granularity inside a repeat: runs shorter than this are timed in groups.
constexpr double kPerRunSeconds = 50e-6;
constexpr int kMaxGroupsPerRepeat = 1 << 16;

// The median of `v` (reordered); the mean of the middle two for an even count.
double median_of(std::vector<double>& v) {
  size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

}  // namespace

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

RepeatTimer::RepeatTimer(Kernel& kernel, const std::vector<void*>& args, size_t flush_bytes,
                         double min_repeat_seconds)
    : kernel_(kernel), args_(args), flush_(flush_bytes) {
  double first = run_group(1);
  // Flushing before every run asks for single runs: a group would time warm runs after the first.
  group_ = flush_.empty() ? static_cast<int>(std::clamp(std::ceil(kPerRunSeconds / std::max(first, 1e-9)), 1.0, 1e6))
                          : 1;
  double per_group = first * group_;
  int groups = static_cast<int>(std::clamp(std::ceil(min_repeat_seconds / std::max(per_group, 1e-9)), 1.0,
                                           static_cast<double>(kMaxGroupsPerRepeat)));
  times_.resize(static_cast<size_t>(groups));
}

double RepeatTimer::repeat() {
  for (double& t : times_) t = run_group(group_);
  return median_of(times_);
}

double RepeatTimer::run_group(int runs) {
  if (!flush_.empty()) std::memset(flush_.data(), static_cast<int>(flush_[1] + 1), flush_.size());
  auto t0 = Clock::now();
  for (int n = 0; n < runs; ++n) kernel_.run_timed(args_);
  return seconds_since(t0) / runs;
}

}  // namespace tessel::autotune::detail
