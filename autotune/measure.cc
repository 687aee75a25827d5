// The builder and the isolated runner. Candidates are replayed and lowered in threads; each is then
// compiled in its own forked child (a hanging or crashing LLVM build is killed after the build
// timeout and costs one candidate), which reports back through a shared-memory slot and waits on a
// socket for the parent's go before it runs and times its candidate (run timeout). The parent
// never runs generated code: reference outputs are computed in a child as well. A child builds and
// runs a Kernel: an LLVM JIT function, or (CUDA tasks) NVRTC output run through the CUDA driver.
//
// This file orders the work; the parts live beside it: the child harness (measure_child), the
// repeat timer (measure_timer), inputs and the output check (measure_inputs), the test-only fault
// hook (measure_faults), and the CUDA kernel and probe (measure_cuda.cc).
#include "tessel/autotune/measure.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iostream>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "measure_child.h"
#include "measure_faults.h"
#include "measure_inputs.h"
#include "measure_kernel.h"
#include "measure_timer.h"
#include "tessel/autotune/cost_model.h"
#include "tessel/codegen/llvm.h"

namespace tessel::autotune {

using namespace detail;

const char* error_name(MeasureError error) {
  switch (error) {
    case MeasureError::kNone: return "none";
    case MeasureError::kInstantiation: return "instantiation";
    case MeasureError::kCompile: return "compile";
    case MeasureError::kRuntime: return "runtime";
    case MeasureError::kWrongAnswer: return "wrong_answer";
    case MeasureError::kBuildTimeout: return "build_timeout";
    case MeasureError::kRunTimeout: return "run_timeout";
  }
  return "unknown";
}

double MeasureResult::mean_cost() const {
  if (error != MeasureError::kNone || costs.empty()) return std::numeric_limits<double>::infinity();
  double sum = 0;
  for (double c : costs) sum += c;
  return sum / static_cast<double>(costs.size());
}

namespace {

struct JitKernel : Kernel {
  codegen::JitFunction fn;
  std::string run_to_host(const std::vector<void*>& args) override {
    int32_t status = fn.call_status(args);
    return status == 0 ? std::string() : "kernel returned status " + std::to_string(status);
  }
  void run_timed(const std::vector<void*>& args) override { fn.call_status(args); }
};

}  // namespace

struct Measurer::Impl {
  SearchTask task;
  MeasureOptions options;
  MeasureBuffers buffers;
  bool reference_ready = false;
  std::string reference_error;
  FaultPlan faults;

  Impl(const SearchTask& t, MeasureOptions o) : task(t), options(o), buffers(task) {
    options.repeat = std::clamp(options.repeat, 1, kMaxRepeats);
    faults = FaultPlan::from_environment();
    // Initialise LLVM's targets once here, so that build children inherit them instead of each
    // paying for it.
    if (!task.is_cuda()) codegen::is_target_registered(task.target().triple);
  }

  // Build side (in the child): compiles the lowered function `name`; throws on failure.
  std::unique_ptr<Kernel> build(const PrimFunc& lowered, const std::string& name) const {
    if (task.is_cuda()) {
      return build_cuda_kernel(lowered, name, task.cuda_target(), buffers.bytes(), buffers.is_output());
    }
    auto kernel = std::make_unique<JitKernel>();
    codegen::JitModule module = codegen::JitModule::compile({lowered}, task.target());
    kernel->fn = module.get_function(name);
    return kernel;
  }

  // Child side: compares the outputs in `args` with the default schedule's (when the check is on
  // and the reference exists); what differs, or empty.
  std::string check_outputs(const std::vector<void*>& args) const {
    if (!options.check_correctness || !reference_ready) return {};
    return buffers.compare_with_reference(args, options.tolerance);
  }

  // Child side: how much a timer writes before each run to flush the caches (twice the L3 when
  // asked, CPU tasks only); 0: no flush.
  size_t flush_bytes() const {
    return options.flush_cache && !task.is_cuda() ? static_cast<size_t>(task.hardware().l3_bytes) * 2 : 0;
  }

  // Child side of measure_interleaved(): builds every lowered function (null entries are
  // skipped), runs and checks each once, then times them in `rounds` rounds of one repeat each,
  // every round in another order. A failed kernel reports in its slot (state kBuildFailed, its
  // error in `error`) and the others go on. Never returns.
  [[noreturn]] void interleaved_child(const std::vector<PrimFunc>& lowered, const std::vector<std::string>& names,
                                      ResultSlot* slots, int rounds) {
    size_t n = lowered.size();
    std::vector<std::unique_ptr<Kernel>> kernels(n);
    std::vector<std::vector<void*>> args(n);
    auto fail = [&](size_t k, MeasureError error, const std::string& why) {
      copy_message(&slots[k], why);
      slots[k].error = static_cast<int>(error);
      slots[k].state.store(kBuildFailed);
      kernels[k].reset();
    };
    for (size_t k = 0; k < n; ++k) {
      if (!lowered[k].defined()) continue;
      auto start = Clock::now();
      try {
        kernels[k] = build(lowered[k], names[k]);
      } catch (const std::exception& e) {
        fail(k, MeasureError::kCompile, e.what());
        continue;
      }
      slots[k].build_seconds = seconds_since(start);
      args[k] = buffers.child_args(false);
      std::string failure = kernels[k]->run_to_host(args[k]);
      if (!failure.empty()) {
        fail(k, MeasureError::kRuntime, failure);
        continue;
      }
      std::string wrong = check_outputs(args[k]);
      if (!wrong.empty()) {
        fail(k, MeasureError::kWrongAnswer, wrong);
        continue;
      }
      slots[k].state.store(kBuilt);
    }
    std::vector<std::unique_ptr<RepeatTimer>> timers(n);
    for (size_t k = 0; k < n; ++k) {
      if (kernels[k]) {
        timers[k] = std::make_unique<RepeatTimer>(*kernels[k], args[k], flush_bytes(), options.min_repeat_seconds);
      }
    }
    for (int r = 0; r < rounds; ++r) {
      for (size_t j = 0; j < n; ++j) {
        size_t k = (j + static_cast<size_t>(r)) % n;
        if (!timers[k]) continue;
        slots[k].costs[r] = timers[k]->repeat();
        slots[k].num_costs = r + 1;
      }
    }
    _exit(0);
  }

  // Child side: sets up arguments, runs, checks, times; never returns.
  [[noreturn]] void child(Kernel& kernel, ResultSlot* slot, Fault fault, bool write_reference) {
    std::vector<void*> args = buffers.child_args(write_reference);
    inject_run_fault(fault);
    std::string failure = kernel.run_to_host(args);
    if (!failure.empty()) {
      copy_message(slot, failure);
      _exit(kExitRuntime);
    }
    if (write_reference) _exit(0);
    inject_wrong_output(fault, args, buffers.is_output(), task.args());
    std::string wrong = check_outputs(args);
    if (!wrong.empty()) {
      copy_message(slot, wrong);
      _exit(kExitWrong);
    }
    RepeatTimer timer(kernel, args, flush_bytes(), options.min_repeat_seconds);
    slot->num_costs = 0;
    for (int r = 0; r < options.repeat; ++r) {
      slot->costs[r] = timer.repeat();
      slot->num_costs = r + 1;
    }
    _exit(0);
  }

  // Parent side: replays and lowers one candidate as function `name` and extracts its features
  // into `result`; a step list that does not apply or lower is an instantiation error (and an
  // undefined function comes back). Thread-safe: measure() lowers a batch in several threads.
  PrimFunc lower_candidate(const std::vector<te::Step>& steps, const std::string& name, MeasureResult& result) const {
    auto start = Clock::now();
    PrimFunc lowered;
    try {
      te::Schedule s = task.replay(steps);
      lowered = task.lower(s, name);
      result.features = extract_features(lowered);
    } catch (const std::exception& e) {
      result.error = MeasureError::kInstantiation;
      result.message = e.what();
      lowered = PrimFunc();
    }
    result.build_seconds = seconds_since(start);
    return lowered;
  }

  bool cancelled() const { return options.cancelled && options.cancelled(); }

  // Forks a child that compiles `lowered` (its function `name`), reports in its slot and waits for
  // go; then it runs `child()`. Returns null (and fills result) when fork or socketpair fail.
  std::unique_ptr<ChildProcess> spawn(const PrimFunc& lowered, const std::string& name, Fault fault,
                                      bool write_reference, MeasureResult& result) {
    auto body = [&](ResultSlot* slot, int go_fd) {
      auto start = Clock::now();
      inject_build_fault(fault);
      std::unique_ptr<Kernel> kernel;
      try {
        kernel = build(lowered, name);
      } catch (const std::exception& e) {
        copy_message(slot, e.what());
        slot->state.store(kBuildFailed);
        _exit(kExitCompile);
      } catch (...) {
        copy_message(slot, "unknown exception during code generation");
        slot->state.store(kBuildFailed);
        _exit(kExitCompile);
      }
      slot->build_seconds = seconds_since(start);
      slot->state.store(kBuilt);
      if (!wait_for_go(go_fd)) _exit(0);
      ::close(go_fd);
      child(*kernel, slot, fault, write_reference);
    };
    std::string failure;
    std::unique_ptr<ChildProcess> c = spawn_child(open_go_fds, body, &failure);
    if (!c) {
      result.error = MeasureError::kRuntime;
      result.message = failure;
    }
    return c;
  }

  // Builds and runs one function in a child, waiting for each (used for the reference).
  Progress build_and_run(const PrimFunc& lowered, const std::string& name, bool write_reference,
                         MeasureResult& result) {
    std::unique_ptr<ChildProcess> c = spawn(lowered, name, Fault::kNone, write_reference, result);
    if (!c) return Progress::kDone;
    for (;;) {
      if (cancelled()) {
        c->finish();
        return Progress::kInterrupted;
      }
      Progress p = poll_build(*c, options.build_timeout_seconds, result);
      if (p == Progress::kInterrupted) return p;
      if (p == Progress::kDone) break;
      usleep(500);
    }
    if (!c->built) return Progress::kDone;
    return run_child(*c, options.run_timeout_seconds, options.cancelled, result);
  }

  // False when interrupted (the reference is then tried again with the next batch).
  bool ensure_reference() {
    if (reference_ready || !reference_error.empty() || !options.check_correctness || options.build_only) return true;
    try {
      te::Schedule s = task.default_schedule();
      PrimFunc f = task.lower(s, "default_schedule_reference");
      MeasureResult r;
      if (build_and_run(f, "default_schedule_reference", true, r) == Progress::kInterrupted) return false;
      if (r.error != MeasureError::kNone) {
        reference_error = r.message;
        std::cerr << "[tessel] warning: the default schedule of " << task.name() << " failed to build or run ("
                  << r.message << "); candidates are not checked" << std::endl;
      } else {
        reference_ready = true;
      }
    } catch (const std::exception& e) {
      reference_error = e.what();
      std::cerr << "[tessel] warning: no reference output for the correctness check of " << task.name() << ": "
                << reference_error << std::endl;
    }
    return true;
  }

  std::set<int> open_go_fds;  // parent ends of the go sockets of live children
};

Measurer::Measurer(const SearchTask& task, MeasureOptions options)
    : impl_(std::make_unique<Impl>(task, options)) {}
Measurer::~Measurer() = default;

std::vector<MeasureResult> Measurer::abandon_batch(std::vector<MeasureResult>& results) {
  interrupted_ = true;
  for (MeasureResult& r : results) {
    if (r.error == MeasureError::kNone && r.costs.empty()) {
      r.error = MeasureError::kRuntime;
      r.message = "measurement interrupted";
    }
  }
  counter_ += static_cast<int>(results.size());
  return results;
}

std::vector<MeasureResult> Measurer::measure(const std::vector<std::vector<te::Step>>& batch) {
  Impl& im = *impl_;
  interrupted_ = false;
  std::vector<MeasureResult> results(batch.size());
  auto abandon = [&]() { return abandon_batch(results); };
  if (!im.ensure_reference()) return abandon();
  // Replay and lower in parallel threads (the parent stays single-threaded while it forks).
  std::vector<PrimFunc> lowered(batch.size());
  std::vector<std::string> names(batch.size());
  std::atomic<size_t> next{0};
  auto worker = [&]() {
    for (size_t i = next++; i < batch.size(); i = next++) {
      MeasureResult& r = results[i];
      if (im.cancelled()) {
        r.error = MeasureError::kRuntime;
        r.message = "measurement interrupted";
        continue;
      }
      names[i] = "tune_candidate_" + std::to_string(counter_ + static_cast<int>(i));
      lowered[i] = im.lower_candidate(batch[i], names[i], r);
    }
  };
  int threads = std::clamp(im.options.build_threads, 1, static_cast<int>(std::max<size_t>(1, batch.size())));
  {
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (std::thread& t : pool) t.join();
  }
  if (im.cancelled()) return abandon();
  // Compile in child processes, `threads` at a time; every build is over before anything runs.
  std::vector<std::unique_ptr<ChildProcess>> children(batch.size());
  std::vector<size_t> building;
  size_t next_build = 0;
  for (;;) {
    while (next_build < batch.size() && static_cast<int>(building.size()) < threads) {
      size_t i = next_build++;
      if (results[i].error != MeasureError::kNone) continue;
      Fault fault = im.faults.fault_of(counter_ + static_cast<int>(i));
      children[i] = im.spawn(lowered[i], names[i], fault, false, results[i]);
      if (children[i]) building.push_back(i);
    }
    if (building.empty()) break;
    if (im.cancelled()) return abandon();
    bool changed = false;
    for (size_t b = 0; b < building.size();) {
      size_t i = building[b];
      Progress p = poll_build(*children[i], im.options.build_timeout_seconds, results[i]);
      if (p == Progress::kInterrupted) return abandon();
      if (p == Progress::kDone) {
        building.erase(building.begin() + static_cast<std::ptrdiff_t>(b));
        changed = true;
      } else {
        ++b;
      }
    }
    if (!changed) usleep(500);
  }
  // Run one child at a time (measurements must not overlap).
  for (size_t i = 0; i < batch.size() && !im.options.build_only; ++i) {
    if (!children[i] || !children[i]->built || results[i].error != MeasureError::kNone) continue;
    if (im.cancelled()) return abandon();
    Progress p = run_child(*children[i], im.options.run_timeout_seconds, im.options.cancelled, results[i]);
    if (p == Progress::kInterrupted) return abandon();
    children[i].reset();
  }
  counter_ += static_cast<int>(batch.size());
  return results;
}

std::vector<MeasureResult> Measurer::measure_interleaved(const std::vector<std::vector<te::Step>>& batch,
                                                         int rounds) {
  Impl& im = *impl_;
  if (im.options.build_only) return measure(batch);
  interrupted_ = false;
  rounds = std::clamp(rounds, 1, kMaxRepeats);
  const size_t n = batch.size();
  std::vector<MeasureResult> results(n);
  auto abandon = [&]() { return abandon_batch(results); };
  if (n == 0) return results;
  if (!im.ensure_reference()) return abandon();
  std::vector<PrimFunc> lowered(n);
  std::vector<std::string> names(n);
  for (size_t i = 0; i < n; ++i) {
    names[i] = "tune_candidate_" + std::to_string(counter_ + static_cast<int>(i));
    lowered[i] = im.lower_candidate(batch[i], names[i], results[i]);
  }
  if (im.cancelled()) return abandon();

  SharedMemory shared(sizeof(ResultSlot) * n);
  auto* slots = static_cast<ResultSlot*>(shared.data);
  for (size_t k = 0; k < n; ++k) new (&slots[k]) ResultSlot();
  struct SlotsGuard {  // the slots' destructors run however this function ends
    ResultSlot* slots;
    size_t n;
    ~SlotsGuard() {
      for (size_t k = 0; k < n; ++k) slots[k].~ResultSlot();
    }
  } guard{slots, n};

  pid_t pid = fork_child({.supervised = true, .sibling_fds = &im.open_go_fds});
  if (pid < 0) {
    for (size_t k = 0; k < n; ++k) {
      if (results[k].error != MeasureError::kNone) continue;
      results[k].error = MeasureError::kRuntime;
      results[k].message = "fork failed";
    }
    counter_ += static_cast<int>(n);
    return results;
  }
  if (pid == 0) im.interleaved_child(lowered, names, slots, rounds);
  ChildProcess child;
  child.pid = pid;
  int status = 0;
  bool timed_out = false;
  double timeout = im.options.build_timeout_seconds * static_cast<double>(n) + im.options.run_timeout_seconds;
  if (wait_child(child, timeout, im.options.cancelled, status, timed_out) == Progress::kInterrupted) return abandon();
  if (!timed_out && killed_by_sigint(status)) return abandon();
  std::string ended = timed_out ? "side-by-side measurement timed out after " + std::to_string(timeout) + " s"
                      : WIFSIGNALED(status) ? std::string("child killed by signal ") + strsignal(WTERMSIG(status))
                                            : "child exited with status " + std::to_string(WEXITSTATUS(status));
  for (size_t k = 0; k < n; ++k) {
    MeasureResult& r = results[k];
    if (r.error != MeasureError::kNone) continue;
    const ResultSlot& slot = slots[k];
    r.build_seconds += slot.build_seconds;
    if (slot.state.load() == kBuildFailed) {
      r.error = static_cast<MeasureError>(slot.error);
      r.message = slot.message;
    } else if (slot.num_costs == rounds) {
      r.costs.assign(slot.costs, slot.costs + slot.num_costs);
    } else {
      r.error = timed_out ? MeasureError::kRunTimeout : MeasureError::kRuntime;
      r.message = ended;
    }
  }
  counter_ += static_cast<int>(n);
  return results;
}

}  // namespace tessel::autotune
