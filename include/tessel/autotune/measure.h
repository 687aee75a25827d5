// Measurement of candidate schedules. Candidates are replayed and lowered in parallel threads, then
// each is JIT-compiled in its own forked child process (several at a time, each with the build
// timeout); once every build is done the children run their candidate one at a time, each with
// the run timeout. A crash, a hang or a wrong answer, in the build or the run, costs one candidate
// and never the tuner. Optionally each result is checked against the task's default schedule.
//
// Test-only fault hook: TESSEL_TEST_FAULT="crash:N,hang:M,wrong:K,buildhang:B" injects a segfault,
// a hang or a corrupted output into the run of the N-th, M-th, K-th candidate, or a hang into the
// build of the B-th (0-based, counted per Measurer), inside its child process.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tessel/autotune/search_task.h"

namespace tessel::autotune {

enum class MeasureError : int {
  kNone = 0,
  kInstantiation = 1,  // the steps do not apply or do not lower
  kCompile = 2,        // code generation failed
  kRuntime = 3,        // the kernel returned an error or the child died (signal)
  kWrongAnswer = 4,    // output differs from the default schedule's
  kBuildTimeout = 5,
  kRunTimeout = 6,
};
const char* error_name(MeasureError error);

struct MeasureOptions {
  int repeat = 3;                    // timed repeats; each repeat's cost is the mean of its runs
  double min_repeat_seconds = 0.02;  // runs per repeat grow until a repeat lasts this long
  double run_timeout_seconds = 10;   // per candidate child (all repeats together)
  double build_timeout_seconds = 10;  // per candidate compile; a kernel that takes longer is never worth it
  bool check_correctness = true;
  bool flush_cache = false;          // write a buffer larger than the caches before every run
  int build_threads = 2;             // lowering threads, and build children at once
  double tolerance = 1e-3;           // relative + absolute tolerance of the correctness check
  // Polled while a batch is built and run; when it returns true the batch is abandoned (children
  // killed) and Measurer::interrupted() says so. Also called from the lowering threads. Empty: never.
  std::function<bool()> cancelled;
};

struct MeasureResult {
  MeasureError error = MeasureError::kNone;
  std::string message;                      // why it failed
  std::vector<double> costs;                // seconds per run, one per repeat (valid results)
  double build_seconds = 0;
  std::vector<std::vector<float>> features; // per-store features of the lowered candidate
  double mean_cost() const;                 // +inf when not valid
};

class Measurer {
 public:
  Measurer(const SearchTask& task, MeasureOptions options = {});
  ~Measurer();
  Measurer(const Measurer&) = delete;
  Measurer& operator=(const Measurer&) = delete;
  // Measures a batch of step lists; one result per entry, in order.
  std::vector<MeasureResult> measure(const std::vector<std::vector<te::Step>>& batch);
  int measured() const { return counter_; }
  // Whether the last measure() was abandoned: options.cancelled() turned true, or a child died of
  // SIGINT (a Ctrl-C at the terminal reaches the whole process group). Its results are not
  // measurements and must be discarded.
  bool interrupted() const { return interrupted_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int counter_ = 0;
  bool interrupted_ = false;
};

}  // namespace tessel::autotune
