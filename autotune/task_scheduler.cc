// The task scheduler: shares the trial budget among tasks. A round-robin warm-up gives each task
// one batch; afterwards each round goes to the task whose next batch is expected to reduce
// sum(weight * latency) the most (its recent improvement rate, with an optimistic floor so that
// no task starves). Every measured batch is appended to the records; Ctrl-C, a time budget or
// should_stop end tuning between (or, for Ctrl-C, during) batches. Progress: a bar on a terminal,
// plain lines elsewhere, and a summary table. CUDA tasks need a GPU: without one tune() fails
// before it starts.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>

#include "tessel/autotune/search.h"
#include "tessel/autotune/record_store.h"
#include "tessel/ir/error.h"
#include "tessel/te/workload_key.h"

namespace tessel::autotune {

namespace {

using Clock = std::chrono::steady_clock;

std::string format_seconds(double s) {
  if (!std::isfinite(s)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(s < 1e-3 ? 2 : 3) << (s < 1e-3 ? s * 1e6 : s * 1e3) << (s < 1e-3 ? " us" : " ms");
  return os.str();
}

std::string format_elapsed(double seconds) {
  int total = static_cast<int>(seconds);
  std::ostringstream os;
  os << total / 60 << ":" << std::setw(2) << std::setfill('0') << total % 60;
  return os.str();
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The record of one measurement of `task`'s schedule `steps_json`.
TuningRecord record_of(const SearchTask& task, std::string steps_json, const MeasureResult& result, double now) {
  TuningRecord r;
  r.workload_key = task.workload_key();
  r.task_name = task.name();
  r.target = task.target_string();
  r.hardware = task.hardware();
  r.steps_json = std::move(steps_json);
  r.costs = result.costs;
  r.error = result.error;
  r.timestamp = now;
  return r;
}

std::unique_ptr<CostModel> make_model(const std::string& name, unsigned seed) {
  if (name == "random") return make_random_cost_model(seed);
  user_check(name == "xgboost") << "unknown cost model '" << name << "' (expected xgboost or random)";
  return make_xgboost_cost_model(seed);
}

// ---- Ctrl-C ------------------------------------------------------------------------------------

// The flag of the tune() in progress; the handler only stores to lock-free atomics.
std::atomic<std::atomic<bool>*> sigint_flag{nullptr};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<std::atomic<bool>*>::is_always_lock_free,
              "the SIGINT handler needs lock-free atomics");

extern "C" void on_sigint(int) {
  if (std::atomic<bool>* flag = sigint_flag.load()) flag->store(true);
}

// Catches SIGINT for its lifetime and then restores the previous disposition (and flag, should
// tunes nest).
class SigintScope {
 public:
  explicit SigintScope(std::atomic<bool>* flag) : previous_flag_(sigint_flag.exchange(flag)) {
    struct sigaction action = {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    installed_ = sigaction(SIGINT, &action, &previous_) == 0;
  }
  ~SigintScope() {
    if (installed_) sigaction(SIGINT, &previous_, nullptr);
    sigint_flag.store(previous_flag_);
  }
  SigintScope(const SigintScope&) = delete;
  SigintScope& operator=(const SigintScope&) = delete;

 private:
  std::atomic<bool>* previous_flag_;
  struct sigaction previous_ = {};
  bool installed_ = false;
};

// ---- cost-model snapshots ----------------------------------------------------------------------

// A temporary file path, removed on destruction (CostModel persistence works on files).
class TempFile {
 public:
  TempFile() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tessel_cost_model_XXXXXX").string();
    int fd = mkstemp(pattern.data());
    user_check(fd >= 0) << "cannot create a temporary file for the cost model";
    ::close(fd);
    path_ = pattern;
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
    std::filesystem::remove(path_ + ".tmp", ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TaskScheduler::TaskScheduler(std::vector<SearchTask> tasks, TuneOptions options)
    : tasks_(std::move(tasks)), options_(std::move(options)), rng_(options_.seed * 7919ull + 17) {
  user_check(!tasks_.empty()) << "tune: no tasks";
  user_check(options_.batch_size >= 1) << "tune: batch_size must be at least 1";
  user_check(options_.time_budget_seconds >= 0) << "tune: time_budget_seconds must not be negative";
  model_ = make_model(options_.cost_model, options_.seed);
  // Measurement stops as soon as Ctrl-C arrives (or the caller's own cancel says so).
  MeasureOptions measure = options_.measure;
  measure.cancelled = [this, user = options_.measure.cancelled]() {
    return interrupted_.load() || (user && user());
  };
  for (size_t i = 0; i < tasks_.size(); ++i) {
    policies_.push_back(std::make_unique<SearchPolicy>(tasks_[i], model_.get(), options_,
                                                       options_.seed * 1000003u + static_cast<unsigned>(i)));
    measurers_.push_back(std::make_unique<Measurer>(tasks_[i], measure));
  }
}

TaskScheduler::~TaskScheduler() = default;

int TaskScheduler::pick_task(int round) {
  int n = static_cast<int>(policies_.size());
  if (round < n) return round;  // warm-up: one batch each
  int best = 0;
  double best_gain = -1;
  for (int i = 0; i < n; ++i) {
    const SearchPolicy& p = *policies_[i];
    double weight = tasks_[i].weight();
    double cost = p.best_cost();
    if (!std::isfinite(cost)) return i;  // nothing valid yet: it needs trials most
    const auto& h = p.best_history();
    double backward = 0;
    if (h.size() >= 2 && std::isfinite(h[h.size() - 2])) backward = (h[h.size() - 2] - h.back()) / options_.batch_size;
    // Optimistic estimate: the next batch may still improve by a share shrinking with the trials.
    double optimistic = cost / std::max(1, p.trials());
    double gain = weight * std::max(backward, 0.2 * optimistic);
    if (gain > best_gain) {
      best_gain = gain;
      best = i;
    }
  }
  return best;
}

// The snapshot of the database's newest model of this kind for the first task's target, if any.
// Snapshots only help: every failure is a warning.
void TaskScheduler::load_cost_model() {
  if (store_ == nullptr) return;
  try {
    std::optional<std::string> blob = store_->latest_cost_model(tasks_[0].target_string(), model_->name());
    if (!blob) return;
    TempFile file;
    {
      std::ofstream out(file.path(), std::ios::binary | std::ios::trunc);
      out.write(blob->data(), static_cast<std::streamsize>(blob->size()));
      user_check(static_cast<bool>(out)) << "cannot write '" << file.path() << "'";
    }
    model_->load(file.path());
  } catch (const std::exception& e) {
    std::cerr << "[tessel] warning: the stored cost model was not loaded (" << e.what() << "); starting afresh"
              << std::endl;
  }
}

void TaskScheduler::save_cost_model() {
  if (store_ == nullptr || !store_->is_database()) return;
  try {
    TempFile file;
    model_->save(file.path());
    std::ifstream in(file.path(), std::ios::binary);
    std::string blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    user_check(static_cast<bool>(in) || in.eof()) << "cannot read '" << file.path() << "'";
    store_->put_cost_model(tasks_[0].target_string(), model_->name(), blob);
  } catch (const std::exception& e) {
    std::cerr << "[tessel] warning: the cost model was not saved (" << e.what() << ")" << std::endl;
  }
}

void TaskScheduler::print_progress(int round, int task, int total_trials, int batch, int errors, double elapsed) {
  const SearchPolicy& policy = *policies_[task];
  double model_latency = 0;
  int tuned = 0;
  for (size_t t = 0; t < policies_.size(); ++t) {
    if (!std::isfinite(policies_[t]->best_cost())) continue;
    model_latency += tasks_[t].weight() * policies_[t]->best_cost();
    ++tuned;
  }
  int num_tasks = static_cast<int>(policies_.size());
  std::ostringstream os;
  if (progress_on_terminal_) {
    constexpr int kBar = 24;
    int filled = options_.trials > 0 ? std::min(kBar, kBar * total_trials / options_.trials) : kBar;
    os << "\r[" << std::string(filled, '#') << std::string(kBar - filled, '.') << "] " << total_trials << "/"
       << options_.trials << " trials  " << format_elapsed(elapsed) << "  task " << task << " " << tasks_[task].name()
       << ": " << format_seconds(policy.best_cost()) << "  model " << (tuned ? format_seconds(model_latency) : "-")
       << "  " << tuned << "/" << num_tasks << " tasks tuned";
    std::string line = os.str();
    size_t width = line.size();
    if (width < progress_width_) line += std::string(progress_width_ - width, ' ');  // erase the longer old line
    progress_width_ = width;
    std::cout << line << std::flush;
    return;
  }
  os << "[tessel tune] round " << round + 1 << " | trials " << total_trials << "/" << options_.trials << " | "
     << format_elapsed(elapsed) << " | task " << task << " (" << tasks_[task].name() << ") +" << batch << " ("
     << errors << " failed), best " << format_seconds(policy.best_cost());
  if (tasks_[task].flop_count() > 0 && std::isfinite(policy.best_cost())) {
    os << " = " << std::fixed << std::setprecision(1) << tasks_[task].flop_count() / policy.best_cost() * 1e-9
       << " GFLOP/s";
  }
  if (num_tasks > 1) {
    os << " | estimated model " << (tuned ? format_seconds(model_latency) : "-") << " (" << tuned << "/" << num_tasks
       << " tasks tuned)";
  }
  std::cout << os.str() << std::endl;
}

void TaskScheduler::print_summary(const std::vector<double>& best_costs) const {
  size_t name_width = 4;
  for (const SearchTask& t : tasks_) name_width = std::max(name_width, std::min<size_t>(t.name().size(), 48));
  std::ostringstream os;
  os << std::left << std::setw(4) << "#" << std::setw(static_cast<int>(name_width) + 2) << "task" << std::right
     << std::setw(7) << "weight" << std::setw(8) << "trials" << std::setw(13) << "best" << std::setw(11) << "GFLOP/s"
     << "\n";
  double model_latency = 0;
  int tuned = 0;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    const SearchTask& t = tasks_[i];
    double best = best_costs[i];
    std::string gflops = "-";
    if (std::isfinite(best)) {
      model_latency += t.weight() * best;
      ++tuned;
      if (t.flop_count() > 0) {
        std::ostringstream g;
        g << std::fixed << std::setprecision(1) << t.flop_count() / best * 1e-9;
        gflops = g.str();
      }
    }
    os << std::left << std::setw(4) << i << std::setw(static_cast<int>(name_width) + 2)
       << t.name().substr(0, name_width) << std::right << std::setw(7) << t.weight() << std::setw(8)
       << policies_[i]->trials() << std::setw(13) << format_seconds(best) << std::setw(11) << gflops << "\n";
  }
  os << "estimated model latency (sum of weight x best): " << (tuned ? format_seconds(model_latency) : "-") << ", "
     << tuned << "/" << tasks_.size() << " tasks tuned";
  std::cout << os.str() << std::endl;
}

void TaskScheduler::check_measurable(const std::vector<SearchTask>& tasks) {
  // A CUDA task is measured on the GPU: without one, say so once.
  for (const SearchTask& t : tasks) {
    if (!t.is_cuda()) continue;
    std::string why;
    user_check(cuda_measurement_available(&why)) << "tuning for cuda needs an NVIDIA GPU and its driver: " << why;
    return;
  }
}

std::vector<double> TaskScheduler::tune() {
  check_measurable(tasks_);
  auto start = Clock::now();
  interrupted_ = false;
  SigintScope sigint(&interrupted_);
  progress_on_terminal_ = options_.verbose && isatty(STDOUT_FILENO);
  progress_width_ = 0;
  int total_trials = 0;
  // The store is opened here, once per run and only after the check above, so that a run that
  // cannot measure leaves no file behind.
  if (options_.store != nullptr) {
    store_ = options_.store;
  } else if (!options_.records_path.empty()) {
    owned_store_ = RecordStore::open(options_.records_path);
    store_ = owned_store_.get();
  }
  if (store_ != nullptr) {
    // A database keeps each workload's DAG text next to its records (its canonical workload text).
    for (const SearchTask& t : tasks_) store_->add_workload(t.workload_key(), t.name(), te::workload_text(t.outputs()));
    load_cost_model();
    LoadedRecords stored{store_->records(), store_->corrupt_lines()};
    if (stored.corrupt_lines > 0) {
      std::cerr << "[tessel] warning: skipped " << stored.corrupt_lines << " corrupt record(s) in '"
                << store_->path() << "'" << std::endl;
    }
    std::vector<TrainingSample> samples;
    for (size_t i = 0; i < policies_.size(); ++i) {
      total_trials += policies_[i]->resume_from(stored.records);
      // Let the cost model start from what earlier runs measured.
      std::string target = tasks_[i].target_string();
      for (const TuningRecord& r : stored.records) {
        if (samples.size() >= 512) break;
        if (r.workload_key != tasks_[i].workload_key() || r.target != target || !std::isfinite(r.mean_cost())) continue;
        try {
          te::Schedule s = tasks_[i].replay(te::steps_from_json(r.steps_json));
          samples.push_back({r.workload_key, extract_features(tasks_[i].lower(s, "resume")), r.mean_cost()});
        } catch (const std::exception&) {
        }
      }
    }
    if (!samples.empty()) model_->update(samples);
  }
  int round = 0;
  int stalled = 0;
  int measured_now = 0;  // trials measured by this call (a resumed run may have none)
  auto elapsed = [&]() { return std::chrono::duration<double>(Clock::now() - start).count(); };
  while (total_trials < options_.trials && stalled < static_cast<int>(policies_.size()) * 2) {
    if (interrupted_) break;
    if (options_.time_budget_seconds > 0 && elapsed() >= options_.time_budget_seconds) break;
    if (options_.should_stop && options_.should_stop()) break;
    int i = pick_task(round);
    SearchPolicy& policy = *policies_[i];
    int n = std::min(options_.batch_size, options_.trials - total_trials);
    auto batch = policy.next_batch(n);
    if (batch.empty()) {
      ++stalled;
      ++round;
      continue;
    }
    stalled = 0;
    auto results = measurers_[i]->measure(batch);
    // An interrupted batch's failures may be the signal's doing: none of it is recorded.
    if (measurers_[i]->interrupted() || interrupted_) {
      interrupted_ = true;
      break;
    }
    policy.record_results(batch, results);
    total_trials += static_cast<int>(batch.size());
    measured_now += static_cast<int>(batch.size());
    if (store_ != nullptr) {
      std::vector<TuningRecord> records;
      double now = unix_seconds();
      for (size_t k = 0; k < batch.size(); ++k) {
        records.push_back(record_of(tasks_[i], te::steps_to_json(batch[k]), results[k], now));
      }
      store_->add_records(records);
    }
    if (options_.verbose) {
      int errors = 0;
      for (const MeasureResult& r : results) errors += r.error != MeasureError::kNone;
      print_progress(round, i, total_trials, static_cast<int>(batch.size()), errors, elapsed());
    }
    ++round;
  }
  if (progress_width_ > 0) std::cout << std::endl;  // leave the bar's line
  std::map<size_t, double> confirmed;
  if (!interrupted_ && measured_now > 0 && options_.confirm_top > 0 && store_ != nullptr) {
    confirmed = confirm_best();
  }
  if (interrupted_ && options_.verbose) {
    std::cerr << "[tessel tune] interrupted: the batch in flight was dropped; " << total_trials << " trial(s) "
              << (store_ == nullptr ? "done" : "stored in '" + store_->path() + "'") << std::endl;
  }
  save_cost_model();
  std::vector<double> best;
  for (size_t i = 0; i < policies_.size(); ++i) {
    auto it = confirmed.find(i);
    best.push_back(it != confirmed.end() ? it->second : policies_[i]->best_cost());
  }
  if (options_.verbose) print_summary(best);
  return best;
}

// Rounds of each confirmation measurement, and passes at most per task (see confirm_best).
constexpr int kConfirmRounds = 12;
constexpr int kConfirmPasses = 3;
constexpr size_t kConfirmLater = 6;  // schedules timed once, at most, measured in a later pass

std::vector<MeasureResult> TaskScheduler::measure_side_by_side(size_t task,
                                                               const std::vector<std::vector<te::Step>>& batch) {
  // One child times all of them, one repeat each per round over kConfirmRounds rounds, so the
  // schedules take turns under the machine's changing load: on a shared machine the same kernel
  // timed in two children a second apart can differ by 1.5x, which made separately measured
  // schedules rank by luck.
  auto results = measurers_[task]->measure_interleaved(batch, kConfirmRounds);
  if (measurers_[task]->interrupted()) interrupted_ = true;
  return results;
}

std::map<size_t, double> TaskScheduler::confirm_best() {
  LoadedRecords stored{store_->records(), 0};
  std::map<size_t, double> confirmed;
  for (size_t i = 0; i < tasks_.size() && !interrupted_; ++i) {
    // The task's schedules by their current (latest) record.
    std::map<std::string, double> current;
    for (const TuningRecord& r : stored.records) {
      if (r.workload_key == tasks_[i].workload_key() && r.target == tasks_[i].target_string()) {
        current[r.steps_json] = r.mean_cost();
      }
    }
    // The default schedule (what an untuned compile runs) takes part when it has a valid record:
    // a tuned schedule has to beat it side by side, not only against its first timing.
    std::string default_steps;
    try {
      default_steps = te::steps_to_json(tasks_[i].default_schedule().steps());
    } catch (const std::exception&) {
    }
    std::set<std::string> remeasured;
    // Re-measured schedules usually come out slower than their lucky first timings, which can
    // leave schedules timed once on top. Each later pass measures all of those that rank above
    // the best re-measured one (up to kConfirmLater), side by side with that best one.
    for (int pass = 0; pass < kConfirmPasses && !interrupted_; ++pass) {
      std::vector<std::pair<double, std::string>> ranked;
      for (const auto& [steps, cost] : current) {
        if (std::isfinite(cost)) ranked.push_back({cost, steps});
      }
      std::sort(ranked.begin(), ranked.end());
      if (ranked.size() < 2) break;  // nothing to choose between
      std::vector<std::string> chosen;
      if (pass == 0) {
        for (size_t k = 0; k < ranked.size() && chosen.size() < static_cast<size_t>(options_.confirm_top); ++k) {
          chosen.push_back(ranked[k].second);
        }
        if (current.count(default_steps) && std::isfinite(current[default_steps]) &&
            std::find(chosen.begin(), chosen.end(), default_steps) == chosen.end()) {
          chosen.push_back(default_steps);
        }
      } else {
        for (const auto& [cost, steps] : ranked) {
          if (remeasured.count(steps)) {
            if (chosen.empty()) break;  // the best is re-measured already: done
            chosen.push_back(steps);   // the best re-measured one, as the yardstick
            break;
          }
          if (chosen.size() < kConfirmLater) chosen.push_back(steps);
        }
      }
      bool fresh = false;
      for (const std::string& steps : chosen) fresh |= !remeasured.count(steps);
      if (!fresh) break;
      std::vector<std::vector<te::Step>> batch;
      for (const std::string& steps : chosen) batch.push_back(te::steps_from_json(steps));
      if (options_.verbose) {
        std::cout << "[tessel tune] task " << i << " (" << tasks_[i].name() << "): measuring its best "
                  << batch.size() << " schedules again" << std::endl;
      }
      std::vector<MeasureResult> results = measure_side_by_side(i, batch);
      if (interrupted_) break;
      double now = unix_seconds();
      std::vector<TuningRecord> records;
      for (size_t k = 0; k < batch.size(); ++k) {
        records.push_back(record_of(tasks_[i], chosen[k], results[k], now));
        current[chosen[k]] = records.back().mean_cost();
        remeasured.insert(chosen[k]);
      }
      store_->add_records(records);
    }
    if (!remeasured.empty()) {
      double best = std::numeric_limits<double>::infinity();
      for (const auto& entry : current) best = std::min(best, entry.second);
      confirmed[i] = best;
    }
  }
  return confirmed;
}

}  // namespace tessel::autotune
