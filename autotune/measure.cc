// The builder (threads: replay, lower, JIT-compile) and the isolated runner (one forked child
// per candidate, watched with a timeout; results come back through a shared-memory slot).
// The parent never runs generated code: reference outputs are computed in a child as well.
#include "tessel/autotune/measure.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
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
constexpr int kExitRuntime = 3, kExitWrong = 4;

// What a child reports back.
struct ResultSlot {
  int num_costs;
  double costs[kMaxRepeats];
  char message[512];
};

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

enum class Fault { kNone, kCrash, kHang, kWrong };

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
      Fault f = kind == "crash" ? Fault::kCrash : kind == "hang" ? Fault::kHang : kind == "wrong" ? Fault::kWrong : Fault::kNone;
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
  }

  // Child side: sets up arguments, runs, checks, times; never returns.
  [[noreturn]] void child(const codegen::JitFunction& fn, ResultSlot* slot, Fault fault, bool write_reference) {
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
    if (fault == Fault::kCrash) {
      raise(SIGSEGV);
    }
    if (fault == Fault::kHang) {
      for (;;) pause();
    }
    int32_t status = fn.call_status(args);
    if (status != 0) {
      copy_message(slot, "kernel returned status " + std::to_string(status));
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
    if (options.check_correctness && reference_ready) {
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
              copy_message(slot, "element " + std::to_string(e) + " of " + task.args()[i].name() + ": got " +
                                     std::to_string(got[e]) + ", expected " + std::to_string(want[e]));
              _exit(kExitWrong);
            }
          }
        } else if (std::memcmp(args[i], expected, bytes[i]) != 0) {
          copy_message(slot, "output " + task.args()[i].name() + " differs from the default schedule's");
          _exit(kExitWrong);
        }
      }
    }
    // Timing: grow the number of runs per repeat until a repeat lasts min_repeat_seconds.
    std::vector<uint8_t> flush;
    if (options.flush_cache) flush.resize(static_cast<size_t>(task.hardware().l3_bytes) * 2);
    auto run_once = [&]() {
      if (!flush.empty()) std::memset(flush.data(), static_cast<int>(flush[1] + 1), flush.size());
      auto t0 = Clock::now();
      fn.call_status(args);
      return seconds_since(t0);
    };
    int number = 1;
    double first = run_once();
    if (first < options.min_repeat_seconds) {
      number = static_cast<int>(std::min(1e6, std::ceil(options.min_repeat_seconds / std::max(first, 1e-9))));
    }
    slot->num_costs = 0;
    for (int r = 0; r < options.repeat; ++r) {
      double total = 0;
      for (int n = 0; n < number; ++n) total += run_once();
      slot->costs[r] = total / number;
      slot->num_costs = r + 1;
    }
    _exit(0);
  }

  // Forks a child for fn and waits for it; fills result.
  void run(const codegen::JitFunction& fn, Fault fault, bool write_reference, MeasureResult& result) {
    SharedMemory shared(sizeof(ResultSlot));
    auto* slot = static_cast<ResultSlot*>(shared.data);
    slot->num_costs = 0;
    slot->message[0] = 0;
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      result.error = MeasureError::kRuntime;
      result.message = "fork failed";
      return;
    }
    if (pid == 0) child(fn, slot, fault, write_reference);
    auto start = Clock::now();
    int status = 0;
    bool done = false;
    while (!done) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        done = true;
      } else if (seconds_since(start) > options.run_timeout_seconds) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        result.error = MeasureError::kRunTimeout;
        result.message = "run timed out after " + std::to_string(options.run_timeout_seconds) + " s";
        return;
      } else {
        usleep(200);
      }
    }
    if (WIFSIGNALED(status)) {
      result.error = MeasureError::kRuntime;
      result.message = std::string("child killed by signal ") + strsignal(WTERMSIG(status));
    } else if (WEXITSTATUS(status) == kExitWrong) {
      result.error = MeasureError::kWrongAnswer;
      result.message = slot->message;
    } else if (WEXITSTATUS(status) != 0) {
      result.error = MeasureError::kRuntime;
      result.message = slot->message[0] ? slot->message : "child exited with status " + std::to_string(WEXITSTATUS(status));
    } else {
      result.costs.assign(slot->costs, slot->costs + slot->num_costs);
    }
  }

  void ensure_reference() {
    if (reference_ready || !reference_error.empty() || !options.check_correctness) return;
    try {
      te::Schedule s = task.default_schedule();
      PrimFunc f = task.lower(s, "default_schedule_reference");
      codegen::JitModule module = codegen::JitModule::compile({f}, task.target());
      MeasureResult r;
      run(module.get_function("default_schedule_reference"), Fault::kNone, true, r);
      if (r.error != MeasureError::kNone) {
        reference_error = r.message;
        std::cerr << "[tessel] warning: the default schedule of " << task.name() << " failed to run (" << r.message
                  << "); candidates are not checked" << std::endl;
      } else {
        reference_ready = true;
      }
    } catch (const std::exception& e) {
      reference_error = e.what();
      std::cerr << "[tessel] warning: no reference output for the correctness check of " << task.name() << ": "
                << reference_error << std::endl;
    }
  }
};

Measurer::Measurer(const SearchTask& task, MeasureOptions options)
    : impl_(std::make_unique<Impl>(task, options)) {}
Measurer::~Measurer() = default;

std::vector<MeasureResult> Measurer::measure(const std::vector<std::vector<te::Step>>& batch) {
  Impl& im = *impl_;
  im.ensure_reference();
  std::vector<MeasureResult> results(batch.size());
  std::vector<codegen::JitFunction> functions(batch.size());
  // Build in parallel.
  std::atomic<size_t> next{0};
  auto worker = [&]() {
    for (size_t i = next++; i < batch.size(); i = next++) {
      MeasureResult& r = results[i];
      auto start = Clock::now();
      std::string name = "tune_candidate_" + std::to_string(counter_ + static_cast<int>(i));
      PrimFunc lowered;
      try {
        te::Schedule s = im.task.replay(batch[i]);
        lowered = im.task.lower(s, name);
        r.features = extract_features(lowered);
      } catch (const std::exception& e) {
        r.error = MeasureError::kInstantiation;
        r.message = e.what();
        continue;
      }
      try {
        codegen::JitModule module = codegen::JitModule::compile({lowered}, im.task.target());
        functions[i] = module.get_function(name);
      } catch (const std::exception& e) {
        r.error = MeasureError::kCompile;
        r.message = e.what();
        continue;
      }
      r.build_seconds = seconds_since(start);
      if (r.build_seconds > im.options.build_timeout_seconds) {
        r.error = MeasureError::kBuildTimeout;
        r.message = "build took " + std::to_string(r.build_seconds) + " s";
        functions[i] = codegen::JitFunction();
      }
    }
  };
  int threads = std::clamp(im.options.build_threads, 1, static_cast<int>(std::max<size_t>(1, batch.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  // Run one child at a time (measurements must not overlap).
  for (size_t i = 0; i < batch.size(); ++i) {
    int index = counter_ + static_cast<int>(i);
    if (results[i].error != MeasureError::kNone) continue;
    auto fault = im.faults.find(index);
    im.run(functions[i], fault == im.faults.end() ? Fault::kNone : fault->second, false, results[i]);
  }
  counter_ += static_cast<int>(batch.size());
  return results;
}

}  // namespace tessel::autotune
