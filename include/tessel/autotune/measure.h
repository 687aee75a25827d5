// Measurement of candidate schedules. Candidates are replayed and lowered in parallel threads, then
// each is JIT-compiled in its own forked child process (several at a time, each with the build
// timeout); once every build is done the children run their candidate one at a time, each with
// the run timeout. A crash, a hang or a wrong answer, in the build or the run, costs one candidate
// and never the tuner. Optionally each result is checked against the task's default schedule.
//
// CUDA tasks: the build is CUDA source generation plus NVRTC (PTX and cubin), in the build child
// like an LLVM build; the run loads the module through the CUDA driver in the child, copies the
// inputs to the device once, checks the outputs of a first run and times further runs by wall
// clock (each run launches the kernels and waits for them). The parent never touches the driver,
// so its forked children can. MeasureOptions::build_only builds without running (no GPU needed).
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
  // Timed repeats. Each repeat's cost is the median time of its runs (runs under 50 us are timed
  // in groups, and a group's mean is one sample), so a burst of other work spoils a few samples
  // rather than the repeat.
  int repeat = 3;
  double min_repeat_seconds = 0.02;  // runs per repeat grow until a repeat lasts this long
  double run_timeout_seconds = 10;   // per candidate child (all repeats together)
  // Per candidate compile. On 2 cores the median CPU candidate builds in about 0.5 s; the few that
  // take longer are unrolled so far that LLVM spends 10-200 s on them, and in the ResNet-18 search
  // none of them was much faster than a quick-building one, so waiting longer only burns time.
  double build_timeout_seconds = 4;
  bool check_correctness = true;
  bool flush_cache = false;          // write a buffer larger than the caches before every run
  int build_threads = 2;             // lowering threads, and build children at once
  double tolerance = 1e-3;           // relative + absolute tolerance of the correctness check
  // Build every candidate (LLVM JIT, or CUDA source + NVRTC) and run none: a result is valid-less
  // (no costs) with error kNone when the build succeeded, else the build's error. No reference
  // output is computed. For checking candidates on a machine without the device.
  bool build_only = false;
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

// Whether CUDA candidates can be run here (libcuda loads and a device initialises); otherwise
// false with the reason in *why. Asked in a short-lived forked child, so that this process never
// initialises the driver (a forked child of a process that did cannot use CUDA).
bool cuda_measurement_available(std::string* why = nullptr);

class Measurer {
 public:
  Measurer(const SearchTask& task, MeasureOptions options = {});
  ~Measurer();
  Measurer(const Measurer&) = delete;
  Measurer& operator=(const Measurer&) = delete;
  // Measures a batch of step lists; one result per entry, in order.
  std::vector<MeasureResult> measure(const std::vector<std::vector<te::Step>>& batch);
  // Measures a few schedules side by side, for choosing between good ones: one child builds and
  // checks every candidate, then times them in `rounds` rounds of one repeat each, in a rotating
  // order, so that all of them run under the same machine load (on a shared machine, separate
  // children timed a second apart can differ by 1.5x). One cost per round; a candidate that
  // fails costs only itself, a child that dies fails the candidates it had not finished.
  std::vector<MeasureResult> measure_interleaved(const std::vector<std::vector<te::Step>>& batch, int rounds);
  int measured() const { return counter_; }
  // Whether the last measure() was abandoned: options.cancelled() turned true, or a child died of
  // SIGINT (a Ctrl-C at the terminal reaches the whole process group). Its results are not
  // measurements and must be discarded.
  bool interrupted() const { return interrupted_; }

 private:
  // An interrupted batch: every result not measured yet becomes a runtime error ("measurement
  // interrupted"), interrupted() turns true, and the batch still counts in measured().
  std::vector<MeasureResult> abandon_batch(std::vector<MeasureResult>& results);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  int counter_ = 0;
  bool interrupted_ = false;
};

}  // namespace tessel::autotune
