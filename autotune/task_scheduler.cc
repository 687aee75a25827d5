// The task scheduler: shares the trial budget among tasks. A round-robin warm-up gives each task
// one batch; afterwards each round goes to the task whose next batch is expected to reduce
// sum(weight * latency) the most (its recent improvement rate, with an optimistic floor so that
// no task starves). Every measured batch is appended to the records file.
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>

#include "tessel/autotune/search.h"
#include "tessel/ir/error.h"

namespace tessel::autotune {

namespace {

std::string format_seconds(double s) {
  if (!std::isfinite(s)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(s < 1e-3 ? 2 : 3) << (s < 1e-3 ? s * 1e6 : s * 1e3) << (s < 1e-3 ? " us" : " ms");
  return os.str();
}

std::unique_ptr<CostModel> make_model(const std::string& name, unsigned seed) {
  if (name == "random") return make_random_cost_model(seed);
  user_check(name == "xgboost") << "unknown cost model '" << name << "' (expected xgboost or random)";
  return make_xgboost_cost_model(seed);
}

}  // namespace

TaskScheduler::TaskScheduler(std::vector<SearchTask> tasks, TuneOptions options)
    : tasks_(std::move(tasks)), options_(std::move(options)), rng_(options_.seed * 7919ull + 17) {
  user_check(!tasks_.empty()) << "tune: no tasks";
  user_check(options_.batch_size >= 1) << "tune: batch_size must be at least 1";
  model_ = make_model(options_.cost_model, options_.seed);
  for (size_t i = 0; i < tasks_.size(); ++i) {
    policies_.push_back(std::make_unique<SearchPolicy>(tasks_[i], model_.get(), options_,
                                                       options_.seed * 1000003u + static_cast<unsigned>(i)));
    measurers_.push_back(std::make_unique<Measurer>(tasks_[i], options_.measure));
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

std::vector<double> TaskScheduler::tune() {
  int total_trials = 0;
  if (!options_.records_path.empty()) {
    LoadedRecords stored = load_records(options_.records_path);
    if (stored.corrupt_lines > 0) {
      std::cerr << "[tessel] warning: skipped " << stored.corrupt_lines << " corrupt line(s) in '"
                << options_.records_path << "'" << std::endl;
    }
    std::vector<TrainingSample> samples;
    for (size_t i = 0; i < policies_.size(); ++i) {
      total_trials += policies_[i]->resume_from(stored.records);
      // Let the cost model start from what earlier runs measured.
      std::string target = tasks_[i].target().to_string();
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
  while (total_trials < options_.trials && stalled < static_cast<int>(policies_.size()) * 2) {
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
    policy.record_results(batch, results);
    total_trials += static_cast<int>(batch.size());
    if (!options_.records_path.empty()) {
      std::vector<TuningRecord> records;
      double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      for (size_t k = 0; k < batch.size(); ++k) {
        TuningRecord r;
        r.workload_key = tasks_[i].workload_key();
        r.task_name = tasks_[i].name();
        r.target = tasks_[i].target().to_string();
        r.hardware = tasks_[i].hardware();
        r.steps_json = te::steps_to_json(batch[k]);
        r.costs = results[k].costs;
        r.error = results[k].error;
        r.timestamp = now;
        records.push_back(std::move(r));
      }
      append_records(options_.records_path, records);
    }
    if (options_.verbose) {
      int errors = 0;
      for (const MeasureResult& r : results) errors += r.error != MeasureError::kNone;
      double total = 0;
      for (size_t t = 0; t < policies_.size(); ++t) total += tasks_[t].weight() * policies_[t]->best_cost();
      std::ostringstream os;
      os << "[tessel tune] round " << round + 1 << " | trials " << total_trials << "/" << options_.trials << " | task "
         << i << " (" << tasks_[i].name() << ") +" << batch.size() << " (" << errors << " failed), best "
         << format_seconds(policy.best_cost());
      if (tasks_[i].flop_count() > 0 && std::isfinite(policy.best_cost())) {
        os << " = " << std::fixed << std::setprecision(1) << tasks_[i].flop_count() / policy.best_cost() * 1e-9
           << " GFLOP/s";
      }
      if (policies_.size() > 1) os << " | estimated total " << format_seconds(total);
      std::cout << os.str() << std::endl;
    }
    ++round;
  }
  std::vector<double> best;
  for (const auto& p : policies_) best.push_back(p->best_cost());
  return best;
}

}  // namespace tessel::autotune
