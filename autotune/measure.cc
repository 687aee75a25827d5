// The builder and the isolated runner. Candidates are replayed and lowered in threads; each is then
// compiled in its own forked child (a hanging or crashing LLVM build is killed after the build
// timeout and costs one candidate), which reports back through a shared-memory slot and waits on a
// socket for the parent's go before it runs and times its candidate (run timeout). The parent
// never runs generated code: reference outputs are computed in a child as well. A child builds and
// runs a Kernel: an LLVM JIT function, or (CUDA tasks) NVRTC output run through the CUDA driver.
#include "tessel/autotune/measure.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <set>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <iostream>
#include <thread>

#include "tessel/autotune/cost_model.h"
#include "tessel/codegen/cuda_runtime.h"
#include "tessel/ir/error.h"

namespace tessel::autotune {

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

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

constexpr int kMaxRepeats = 64;
// Timing granularity inside a repeat (see child()): runs shorter than this are timed in groups.
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
constexpr int kExitRuntime = 3, kExitWrong = 4, kExitCompile = 5;

enum BuildState : int { kBuilding = 0, kBuilt = 1, kBuildFailed = 2 };

// What a child reports back (constructed in shared memory before the fork).
struct ResultSlot {
  std::atomic<int> state{kBuilding};  // BuildState, set by the child once its build is over
  double build_seconds = 0;           // the child's compile time
  int num_costs = 0;
  double costs[kMaxRepeats] = {};
  int error = 0;                      // MeasureError of a failed kernel (interleaved measurement)
  char message[512] = {};
};
static_assert(std::atomic<int>::is_always_lock_free, "the build state is shared between processes");

// Memory shared with children (anonymous, MAP_SHARED), unmapped on destruction.
struct SharedMemory {
  void* data = nullptr;
  size_t bytes = 0;
  explicit SharedMemory(size_t n) : bytes(std::max<size_t>(n, 1)) {
    data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    internal_check(data != MAP_FAILED) << "mmap of " << bytes << " bytes failed";
  }
  ~SharedMemory() {
    if (data && data != MAP_FAILED) munmap(data, bytes);
  }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
};

size_t byte_size(const te::Tensor& t) {
  size_t n = static_cast<size_t>(std::max(1, t.dtype().bytes()));
  for (const Expr& e : t.shape()) {
    const int64_t* v = as_const_int(e);
    user_check(v) << "measuring needs constant shapes; " << t.name() << " has a symbolic dimension";
    n *= static_cast<size_t>(*v);
  }
  return n;
}

size_t round_up(size_t n) { return (std::max<size_t>(n, 1) + 63) / 64 * 64; }

enum class Fault { kNone, kCrash, kHang, kWrong, kBuildHang };

std::map<int, Fault> parse_faults() {
  std::map<int, Fault> faults;
  const char* env = std::getenv("TESSEL_TEST_FAULT");
  if (!env) return faults;
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
      if (f != Fault::kNone) faults[index] = f;
    }
    pos = end + 1;
  }
  return faults;
}

void copy_message(ResultSlot* slot, const std::string& text) {
  std::strncpy(slot->message, text.c_str(), sizeof(slot->message) - 1);
  slot->message[sizeof(slot->message) - 1] = 0;
}

// A forked child that builds one candidate, then runs it when the parent says go. Destruction
// kills and reaps the child if it is still there.
struct ChildProcess {
  pid_t pid = -1;
  int go_fd = -1;  // the parent's end of the go socket; closing it without a go makes the child exit
  std::set<int>* open_fds = nullptr;  // where go_fd is registered while open
  std::unique_ptr<SharedMemory> shared;
  Clock::time_point started;
  bool built = false;

  ResultSlot* slot() const { return static_cast<ResultSlot*>(shared->data); }
  void close_go() {
    if (go_fd < 0) return;
    if (open_fds) open_fds->erase(go_fd);
    ::close(go_fd);
    go_fd = -1;
  }
  void finish() {
    close_go();
    if (pid > 0) {
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    pid = -1;
  }
  ~ChildProcess() {
    finish();
    if (shared) slot()->~ResultSlot();
  }
};

bool killed_by_sigint(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGINT; }

// A built candidate, as a child runs it. `args` are host arrays (64-byte aligned), inputs filled.
struct Kernel {
  virtual ~Kernel() = default;
  // Runs once and leaves the outputs in the host arrays; the error text, empty on success.
  virtual std::string run_to_host(const std::vector<void*>& args) = 0;
  // Runs once for timing; the outputs may stay where the kernel wrote them.
  virtual void run_timed(const std::vector<void*>& args) = 0;
};

struct JitKernel : Kernel {
  codegen::JitFunction fn;
  std::string run_to_host(const std::vector<void*>& args) override {
    int32_t status = fn.call_status(args);
    return status == 0 ? std::string() : "kernel returned status " + std::to_string(status);
  }
  void run_timed(const std::vector<void*>& args) override { fn.call_status(args); }
};

// CUDA: the module is loaded and the device buffers allocated on the first run (after the go, so
// that children waiting to run hold no device context).
struct CudaKernel : Kernel {
  codegen::CudaModuleSource source;
  codegen::CudaBinary binary;
  std::string name;
  std::vector<size_t> bytes;     // per arg
  std::vector<bool> is_output;   // per arg
  std::unique_ptr<codegen::CudaDeviceModule> module;
  std::vector<std::unique_ptr<codegen::CudaDeviceBuffer>> buffers;
  std::vector<codegen::CudaArg> device_args;

  void launch(const std::vector<void*>& args) {
    if (!module) {
      module = std::make_unique<codegen::CudaDeviceModule>(source, binary);
      for (size_t i = 0; i < args.size(); ++i) {
        buffers.push_back(std::make_unique<codegen::CudaDeviceBuffer>(bytes[i]));
        if (!is_output[i]) buffers.back()->copy_from_host(args[i], bytes[i]);
        device_args.push_back(buffers.back().get());
      }
    }
    module->run(name, device_args);
  }
  std::string run_to_host(const std::vector<void*>& args) override {
    try {
      launch(args);
      for (size_t i = 0; i < args.size(); ++i) {
        if (is_output[i]) buffers[i]->copy_to_host(args[i], bytes[i]);
      }
    } catch (const std::exception& e) {
      return e.what();
    }
    return {};
  }
  void run_timed(const std::vector<void*>& args) override { launch(args); }
};

enum class Progress { kPending, kDone, kInterrupted };

}  // namespace

struct Measurer::Impl {
  SearchTask task;
  MeasureOptions options;
  std::vector<bool> is_output;                 // per arg
  std::vector<size_t> bytes;                   // per arg
  // Per arg (null for outputs), 64-byte aligned as kernels require; children read copies.
  std::vector<std::unique_ptr<uint8_t, decltype(&std::free)>> inputs;
  std::unique_ptr<SharedMemory> reference;     // outputs of the default schedule, concatenated
  std::vector<size_t> reference_offset;        // per arg
  bool reference_ready = false;
  std::string reference_error;
  std::map<int, Fault> faults;

  Impl(const SearchTask& t, MeasureOptions o) : task(t), options(o) {
    options.repeat = std::clamp(options.repeat, 1, kMaxRepeats);
    std::mt19937 rng(20240613u);
    size_t total_out = 0;
    for (const te::Tensor& arg : task.args()) {
      bool out = false;
      for (const te::Tensor& o2 : task.outputs()) out |= o2.same_as(arg);
      is_output.push_back(out);
      bytes.push_back(byte_size(arg));
      reference_offset.push_back(total_out);
      std::unique_ptr<uint8_t, decltype(&std::free)> storage(nullptr, &std::free);
      if (out) {
        total_out += round_up(bytes.back());
      } else {
        storage.reset(static_cast<uint8_t*>(std::aligned_alloc(64, round_up(bytes.back()))));
        std::memset(storage.get(), 0, round_up(bytes.back()));
        uint8_t* data = storage.get();
        DataType dt = arg.dtype();
        if (dt.is_float() && dt.bits() == 32) {
          std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
          auto* p = reinterpret_cast<float*>(data);
          for (size_t i = 0; i < bytes.back() / 4; ++i) p[i] = dist(rng);
        } else if (dt.is_float() && dt.bits() == 64) {
          std::uniform_real_distribution<double> dist(-1.0, 1.0);
          auto* p = reinterpret_cast<double*>(data);
          for (size_t i = 0; i < bytes.back() / 8; ++i) p[i] = dist(rng);
        } else if (dt.is_int() && dt.bits() == 32) {
          std::uniform_int_distribution<int32_t> dist(0, 3);  // small: safe as indices and divisors+1
          auto* p = reinterpret_cast<int32_t*>(data);
          for (size_t i = 0; i < bytes.back() / 4; ++i) p[i] = dist(rng);
        } else {
          for (size_t i = 0; i < bytes.back(); ++i) data[i] = static_cast<uint8_t>(rng() % 2);
        }
      }
      inputs.push_back(std::move(storage));
    }
    reference = std::make_unique<SharedMemory>(total_out);
    faults = parse_faults();
    // Initialise LLVM's targets once here, so that build children inherit them instead of each
    // paying for it.
    if (!task.is_cuda()) codegen::is_target_registered(task.target().triple);
  }

  // Build side (in the child): compiles the lowered function `name`; throws on failure.
  std::unique_ptr<Kernel> build(const PrimFunc& lowered, const std::string& name) const {
    if (task.is_cuda()) {
      auto kernel = std::make_unique<CudaKernel>();
      const codegen::CudaTarget& target = task.cuda_target();
      kernel->source = codegen::generate_cuda({lowered}, target);
      kernel->binary = codegen::compile_cuda(kernel->source.source, target,
                                             /*want_cubin=*/target.arch.rfind("sm_", 0) == 0, name);
      kernel->name = name;
      kernel->bytes = bytes;
      kernel->is_output = is_output;
      return kernel;
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
    for (size_t i = 0; i < args.size(); ++i) {
      if (!is_output[i]) continue;
      const void* expected = static_cast<const char*>(reference->data) + reference_offset[i];
      DataType dt = task.args()[i].dtype();
      if (dt.is_float() && dt.bits() == 32) {
        const auto* got = static_cast<const float*>(args[i]);
        const auto* want = static_cast<const float*>(expected);
        for (size_t e = 0; e < bytes[i] / 4; ++e) {
          double diff = std::fabs(static_cast<double>(got[e]) - want[e]);
          if (!(diff <= options.tolerance * (1.0 + std::fabs(static_cast<double>(want[e]))))) {
            return "element " + std::to_string(e) + " of " + task.args()[i].name() + ": got " +
                   std::to_string(got[e]) + ", expected " + std::to_string(want[e]);
          }
        }
      } else if (std::memcmp(args[i], expected, bytes[i]) != 0) {
        return "output " + task.args()[i].name() + " differs from the default schedule's";
      }
    }
    return {};
  }

  // Child side: the arguments of one run; outputs get fresh zeroed buffers (or, for the
  // reference run, the shared reference buffer).
  std::vector<void*> child_args(bool write_reference) const {
    std::vector<void*> args;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!is_output[i]) {
        args.push_back(inputs[i].get());
      } else if (write_reference) {
        args.push_back(static_cast<char*>(reference->data) + reference_offset[i]);
      } else {
        void* p = std::aligned_alloc(64, round_up(bytes[i]));
        std::memset(p, 0, round_up(bytes[i]));
        args.push_back(p);
      }
    }
    return args;
  }

  // Child side: times repeats of one kernel. One untimed run sizes the repeat: runs of at least
  // kPerRunSeconds are timed one by one and a repeat costs their median, so a burst of another
  // process's work on a shared core spoils a run or two, not the repeat (the benchmarks report
  // medians too); shorter runs are timed in groups that last that long. A repeat lasts about
  // min_repeat_seconds.
  class RepeatTimer {
   public:
    RepeatTimer(const Impl& im, Kernel& kernel, const std::vector<void*>& args) : kernel_(kernel), args_(args) {
      if (im.options.flush_cache && !im.task.is_cuda()) {
        flush_.resize(static_cast<size_t>(im.task.hardware().l3_bytes) * 2);
      }
      double first = run_group(1);
      // Flushing before every run asks for single runs: a group would time warm runs after the first.
      group_ = flush_.empty() ? static_cast<int>(std::clamp(std::ceil(kPerRunSeconds / std::max(first, 1e-9)), 1.0, 1e6))
                              : 1;
      double per_group = first * group_;
      int groups = static_cast<int>(std::clamp(std::ceil(im.options.min_repeat_seconds / std::max(per_group, 1e-9)),
                                               1.0, static_cast<double>(kMaxGroupsPerRepeat)));
      times_.resize(static_cast<size_t>(groups));
    }
    double repeat() {
      for (double& t : times_) t = run_group(group_);
      return median_of(times_);
    }

   private:
    double run_group(int runs) {
      if (!flush_.empty()) std::memset(flush_.data(), static_cast<int>(flush_[1] + 1), flush_.size());
      auto t0 = Clock::now();
      for (int n = 0; n < runs; ++n) kernel_.run_timed(args_);
      return seconds_since(t0) / runs;
    }
    Kernel& kernel_;
    const std::vector<void*>& args_;
    std::vector<uint8_t> flush_;
    int group_ = 1;
    std::vector<double> times_;
  };

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
      args[k] = child_args(false);
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
      if (kernels[k]) timers[k] = std::make_unique<RepeatTimer>(*this, *kernels[k], args[k]);
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
    std::vector<void*> args = child_args(write_reference);
    if (fault == Fault::kCrash) {
      raise(SIGSEGV);
    }
    if (fault == Fault::kHang) {
      for (;;) pause();
    }
    std::string failure = kernel.run_to_host(args);
    if (!failure.empty()) {
      copy_message(slot, failure);
      _exit(kExitRuntime);
    }
    if (write_reference) _exit(0);
    if (fault == Fault::kWrong) {
      for (size_t i = 0; i < args.size(); ++i) {
        if (!is_output[i]) continue;
        DataType dt = task.args()[i].dtype();
        if (dt.is_float() && dt.bits() == 32) {
          static_cast<float*>(args[i])[0] += 1.0f;
        } else {
          static_cast<uint8_t*>(args[i])[0] ^= 0x5a;
        }
      }
    }
    std::string wrong = check_outputs(args);
    if (!wrong.empty()) {
      copy_message(slot, wrong);
      _exit(kExitWrong);
    }
    RepeatTimer timer(*this, kernel, args);
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
    auto c = std::make_unique<ChildProcess>();
    c->shared = std::make_unique<SharedMemory>(sizeof(ResultSlot));
    ResultSlot* slot = new (c->shared->data) ResultSlot();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      result.error = MeasureError::kRuntime;
      result.message = "socketpair failed";
      return nullptr;
    }
    std::fflush(nullptr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
      ::close(sv[0]);
      ::close(sv[1]);
      result.error = MeasureError::kRuntime;
      result.message = "fork failed";
      return nullptr;
    }
    if (pid == 0) {
      // A Ctrl-C at the terminal ends the children at once; the parent sees why and discards.
      signal(SIGINT, SIG_DFL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(kExitRuntime);
      ::close(sv[0]);
      // Siblings' go sockets: a dead parent must leave every waiting child with end-of-file.
      for (int fd : open_go_fds) ::close(fd);
      auto start = Clock::now();
      if (fault == Fault::kBuildHang) {
        for (;;) pause();
      }
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
      char go = 0;
      ssize_t n;
      do {
        n = ::read(sv[1], &go, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) _exit(0);
      ::close(sv[1]);
      child(*kernel, slot, fault, write_reference);
    }
    ::close(sv[1]);
    c->pid = pid;
    c->go_fd = sv[0];
    c->open_fds = &open_go_fds;
    c->started = Clock::now();
    open_go_fds.insert(c->go_fd);
    return c;
  }

  // One look at a building child: built, failed (result filled, child gone), timed out (killed),
  // or still building.
  Progress poll_build(ChildProcess& c, MeasureResult& result) {
    ResultSlot* slot = c.slot();
    int state = slot->state.load();
    if (state == kBuilt) {
      c.built = true;
      result.build_seconds += slot->build_seconds;
      return Progress::kDone;
    }
    int status = 0;
    pid_t w = waitpid(c.pid, &status, WNOHANG);
    if (w == c.pid) {
      c.pid = -1;
      c.close_go();
      if (killed_by_sigint(status)) return Progress::kInterrupted;
      result.error = MeasureError::kCompile;
      if (slot->message[0]) {
        result.message = slot->message;
      } else if (WIFSIGNALED(status)) {
        result.message = std::string("build process killed by signal ") + strsignal(WTERMSIG(status));
      } else {
        result.message = "build process exited with status " + std::to_string(WEXITSTATUS(status));
      }
      return Progress::kDone;
    }
    double elapsed = seconds_since(c.started);
    if (elapsed > options.build_timeout_seconds) {
      c.finish();
      result.error = MeasureError::kBuildTimeout;
      result.message = "build timed out after " + std::to_string(options.build_timeout_seconds) + " s";
      result.build_seconds += elapsed;
      return Progress::kDone;
    }
    return Progress::kPending;
  }

  // Waits for child `c` to end, at most `timeout` seconds (then it is killed and kDone comes back
  // with *timed_out set). The parent sleeps in poll() on a pidfd meanwhile: on 2 shared cores a
  // parent that woke up every few hundred microseconds would preempt the kernel's threads. The
  // 20 ms slices only bound how late a Ctrl-C or the timeout is noticed.
  Progress wait_child(ChildProcess& c, double timeout, int& status, bool& timed_out) {
    auto start = Clock::now();
    timed_out = false;
    int pidfd = c.pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, c.pid, 0)) : -1;
    Progress progress = Progress::kDone;
    while (c.pid > 0) {
      pid_t r = waitpid(c.pid, &status, WNOHANG);
      if (r == c.pid) {
        c.pid = -1;
      } else if (cancelled()) {
        c.finish();
        progress = Progress::kInterrupted;
      } else if (seconds_since(start) > timeout) {
        c.finish();
        timed_out = true;
      } else if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        poll(&p, 1, 20);
      } else {
        usleep(200);  // no pidfd (kernel before 5.3): poll the child's state
      }
    }
    if (pidfd >= 0) ::close(pidfd);
    return progress;
  }

  // Tells a built child to run and waits for it (run timeout); fills result.
  Progress run_child(ChildProcess& c, MeasureResult& result) {
    ResultSlot* slot = c.slot();
    char go = 1;
    ssize_t sent = send(c.go_fd, &go, 1, MSG_NOSIGNAL);
    c.close_go();
    int status = 0;
    if (sent != 1) {
      // The child is gone already: collect how it ended.
      while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
      }
      c.pid = -1;
    }
    bool timed_out = false;
    if (wait_child(c, options.run_timeout_seconds, status, timed_out) == Progress::kInterrupted) {
      return Progress::kInterrupted;
    }
    if (timed_out) {
      result.error = MeasureError::kRunTimeout;
      result.message = "run timed out after " + std::to_string(options.run_timeout_seconds) + " s";
      return Progress::kDone;
    }
    if (killed_by_sigint(status)) return Progress::kInterrupted;
    if (WIFSIGNALED(status)) {
      result.error = MeasureError::kRuntime;
      result.message = std::string("child killed by signal ") + strsignal(WTERMSIG(status));
    } else if (WEXITSTATUS(status) == kExitWrong) {
      result.error = MeasureError::kWrongAnswer;
      result.message = slot->message;
    } else if (WEXITSTATUS(status) != 0) {
      result.error = MeasureError::kRuntime;
      result.message =
          slot->message[0] ? slot->message : "child exited with status " + std::to_string(WEXITSTATUS(status));
    } else {
      result.costs.assign(slot->costs, slot->costs + slot->num_costs);
    }
    return Progress::kDone;
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
      Progress p = poll_build(*c, result);
      if (p == Progress::kInterrupted) return p;
      if (p == Progress::kDone) break;
      usleep(500);
    }
    if (!c->built) return Progress::kDone;
    return run_child(*c, result);
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

bool cuda_measurement_available(std::string* why) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    if (why) *why = "pipe failed";
    return false;
  }
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    if (why) *why = "fork failed";
    return false;
  }
  if (pid == 0) {
    ::close(fds[0]);
    std::string reason;
    bool ok = codegen::cuda_device_available(&reason);
    std::string reply = (ok ? "1" : "0") + reason;
    size_t written = 0;
    while (written < reply.size()) {
      ssize_t n = ::write(fds[1], reply.data() + written, reply.size() - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    _exit(0);
  }
  ::close(fds[1]);
  std::string reply;
  char buffer[512];
  for (;;) {
    ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (reply.empty()) {
    if (why) *why = "the CUDA driver check crashed";
    return false;
  }
  if (why) *why = reply.substr(1);
  return reply[0] == '1';
}

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
  auto fault_of = [&](size_t i) {
    auto f = im.faults.find(counter_ + static_cast<int>(i));
    return f == im.faults.end() ? Fault::kNone : f->second;
  };
  std::vector<std::unique_ptr<ChildProcess>> children(batch.size());
  std::vector<size_t> building;
  size_t next_build = 0;
  for (;;) {
    while (next_build < batch.size() && static_cast<int>(building.size()) < threads) {
      size_t i = next_build++;
      if (results[i].error != MeasureError::kNone) continue;
      children[i] = im.spawn(lowered[i], names[i], fault_of(i), false, results[i]);
      if (children[i]) building.push_back(i);
    }
    if (building.empty()) break;
    if (im.cancelled()) return abandon();
    bool changed = false;
    for (size_t b = 0; b < building.size();) {
      size_t i = building[b];
      Progress p = im.poll_build(*children[i], results[i]);
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
    if (im.run_child(*children[i], results[i]) == Progress::kInterrupted) return abandon();
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

  std::fflush(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    for (size_t k = 0; k < n; ++k) {
      if (results[k].error != MeasureError::kNone) continue;
      results[k].error = MeasureError::kRuntime;
      results[k].message = "fork failed";
    }
    counter_ += static_cast<int>(n);
    return results;
  }
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(kExitRuntime);
    for (int fd : im.open_go_fds) ::close(fd);
    im.interleaved_child(lowered, names, slots, rounds);
  }
  ChildProcess child;
  child.pid = pid;
  int status = 0;
  bool timed_out = false;
  double timeout = im.options.build_timeout_seconds * static_cast<double>(n) + im.options.run_timeout_seconds;
  if (im.wait_child(child, timeout, status, timed_out) == Progress::kInterrupted) return abandon();
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
