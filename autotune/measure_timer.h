// The repeat timer of a measurement child: turns many runs of a built candidate into one repeat
// cost (the median of single runs, or of the means of groups of short runs), so that a burst of
// another process's work spoils a sample or two rather than the repeat. Also the measuring clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessel::autotune::detail {

struct Kernel;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start);

// Times repeats of one kernel on fixed arguments (both must outlive the timer). Construction
// does one untimed run that sizes the repeat: runs of at least 50 us are timed one by one and a
// repeat costs their median (the benchmarks report medians too); shorter runs are timed in
// groups that last about that long, a group's mean being one sample. A repeat lasts about
// `min_repeat_seconds`. With `flush_bytes` > 0 a buffer of that size is written before every
// run (to start each one with cold caches), and then runs are always timed one by one.
class RepeatTimer {
 public:
  RepeatTimer(Kernel& kernel, const std::vector<void*>& args, size_t flush_bytes, double min_repeat_seconds);
  // Runs one repeat; its cost in seconds per run.
  double repeat();

 private:
  // Flushes (when asked), runs the kernel `runs` times back to back; seconds per run.
  double run_group(int runs);

  Kernel& kernel_;
  const std::vector<void*>& args_;
  std::vector<uint8_t> flush_;  // empty: no flush
  int group_ = 1;               // runs per sample
  std::vector<double> times_;   // one sample per group of the repeat
};

}  // namespace tessel::autotune::detail
