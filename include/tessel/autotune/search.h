// Schedule search: per task, an evolutionary search over annotated sketches guided by a cost
// model, measuring batches of never-measured candidates; and the task scheduler that shares a
// trial budget among the tasks of a graph (round-robin warm-up, then gradient-based allocation
// minimising sum(weight * latency)). Every measured batch is appended to the records (a JSON-lines
// file or a tuning database, records.h); tuning resumes from the records already there, and with a
// database the cost model is saved into it and restored by the next run. Ctrl-C stops tuning
// cleanly: the batch in flight is dropped, everything already stored is kept.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tessel/autotune/cost_model.h"
#include "tessel/autotune/measure.h"
#include "tessel/autotune/record_store.h"
#include "tessel/autotune/records.h"
#include "tessel/autotune/sketch.h"
#include "tessel/autotune/sketch_gpu.h"

namespace tessel::autotune {

struct TuneOptions {
  int trials = 200;              // measured candidates in total over all tasks (records already stored count)
  int batch_size = 16;           // candidates measured per round
  unsigned seed = 0;
  // Where records go: an open store (the caller's, shared with its other uses), else the store at
  // records_path, opened once per tune(); neither: keep nothing.
  RecordStore* store = nullptr;
  std::string records_path;
  std::string cost_model = "xgboost";  // "xgboost" or "random"
  double epsilon = 0.1;          // share of purely random candidates per batch
  int population = 64;
  int generations = 3;
  // Progress on stdout: on a terminal a one-line bar redrawn in place, otherwise one plain line per
  // round; a per-task summary table at the end.
  bool verbose = true;
  double time_budget_seconds = 0;     // no new batch starts after this long (0: no limit)
  std::function<bool()> should_stop;  // asked between batches; true ends tuning
  // After the search (not after Ctrl-C), each task's best `confirm_top` schedules (by their
  // current records), and the default schedule when it has a valid record, are measured again,
  // side by side in one child (Measurer::measure_interleaved), and stored again; up to two more
  // passes measure the schedules timed once that still rank above the best re-measured one,
  // side by side with it. The new records supersede the old ones (records.h), so a schedule
  // whose first timing was lucky on a noisy machine loses its place. 0: none.
  int confirm_top = 3;
  MeasureOptions measure;
};

// The search on one task. A CUDA task (task.is_cuda()) searches the GPU space (sketch_gpu.h)
// under the GPU limits of its hardware parameters: candidates that do not fit them are dropped
// before scoring, so no batch holds one. Everything else works the same in both spaces, except
// that stored GPU records only count as measured (there is no GPU candidate_from_steps to seed
// the population with).
class SearchPolicy {
 public:
  SearchPolicy(const SearchTask& task, CostModel* model, const TuneOptions& options, unsigned seed);
  const SearchTask& task() const { return task_; }
  const std::vector<Sketch>& sketches() const { return sketches_; }          // CPU tasks
  const std::vector<GpuSketch>& gpu_sketches() const { return gpu_sketches_; }  // CUDA tasks
  // The limits GPU candidates must fit (from the task's hardware parameters).
  GpuLimits gpu_limits() const;
  // Up to n step lists never measured before (fewer when the space seems exhausted). The first
  // batch starts with the task's default schedule (te::ops::default_schedule, what an untuned
  // compile runs) unless the records hold it already, so the best record never loses to it.
  std::vector<std::vector<te::Step>> next_batch(int n);
  // Registers measurement results of a batch (same order as next_batch returned).
  void record_results(const std::vector<std::vector<te::Step>>& batch, const std::vector<MeasureResult>& results);
  // Resumes from stored records: those of this task (workload and target) count as measured and
  // never come again, and the best valid ones whose steps decode to a candidate of this task's
  // sketches (candidate_from_steps) seed the population; returns how many records matched.
  int resume_from(const std::vector<TuningRecord>& records);
  double best_cost() const { return best_cost_; }
  const std::string& best_steps_json() const { return best_steps_; }
  int trials() const { return trials_; }
  const std::vector<double>& best_history() const { return history_; }  // best cost after each batch
  // The measured candidates that parents come from (stored seeds and this run's), best first.
  const std::vector<std::pair<double, Candidate>>& elite() const { return cpu_.elite; }
  const std::vector<std::pair<double, GpuCandidate>>& gpu_elite() const { return gpu_.elite; }

  // The candidates of one search space and what the search keeps of them.
  template <class C>
  struct Population {
    std::vector<std::pair<double, C>> elite;          // measured (stored and this run's), best first
    std::vector<std::pair<std::string, C>> pending;  // batch handed out, awaiting results
  };

 private:
  // The evolution over one space (CpuSpace or GpuSpace in evolution.cc).
  template <class Space>
  std::vector<std::vector<te::Step>> next_batch_in(const Space& space, int n);
  template <class Space>
  void seed_from(const Space& space, const std::vector<const TuningRecord*>& valid);
  template <class Space>
  double score_one(const Space& space, const typename Space::Cand& c, std::string* steps_json);
  void clear_pending();
  SearchTask task_;
  CostModel* model_;
  TuneOptions options_;
  std::mt19937_64 rng_;
  std::vector<Sketch> sketches_;         // CPU tasks
  std::vector<GpuSketch> gpu_sketches_;  // CUDA tasks
  std::set<std::string> measured_;  // step-list JSON of everything measured or stored
  Population<Candidate> cpu_;
  Population<GpuCandidate> gpu_;
  bool baseline_offered_ = false;   // the default schedule was considered for a batch
  std::string baseline_json_;       // its step list, when it was handed out
  double best_cost_;
  std::string best_steps_;
  int trials_ = 0;
  std::vector<double> history_;
};

// Tunes all tasks together; returns the best mean cost (seconds) per task (+inf if none valid).
// While tune() runs, SIGINT (Ctrl-C) is caught (the previous handler comes back when it returns or
// throws): the batch in flight is abandoned and not recorded, tune() returns what it has, and
// interrupted() is true.
class TaskScheduler {
 public:
  TaskScheduler(std::vector<SearchTask> tasks, TuneOptions options);
  ~TaskScheduler();
  TaskScheduler(const TaskScheduler&) = delete;
  TaskScheduler& operator=(const TaskScheduler&) = delete;
  std::vector<double> tune();
  // CompileError unless every task can be measured here: CUDA tasks need a GPU and its driver
  // (cuda_measurement_available). tune() checks this first, before it writes anything.
  static void check_measurable(const std::vector<SearchTask>& tasks);
  bool interrupted() const { return interrupted_.load(); }
  const std::vector<std::unique_ptr<SearchPolicy>>& policies() const { return policies_; }

 private:
  int pick_task(int round);
  void load_cost_model();
  void save_cost_model();
  void print_progress(int round, int task, int total_trials, int batch, int errors, double elapsed);
  // The per-task table after tuning; best_costs: confirmed where re-measured (see confirm_best).
  void print_summary(const std::vector<double>& best_costs) const;
  // Measures each task's best confirm_top schedules again and stores them (see TuneOptions);
  // returns the best re-measured cost of each task that had two or more schedules to compare.
  std::map<size_t, double> confirm_best();
  // Measures `batch` of task `task` in rounds, each in another order; costs of all rounds.
  std::vector<MeasureResult> measure_side_by_side(size_t task, const std::vector<std::vector<te::Step>>& batch);
  std::vector<SearchTask> tasks_;
  TuneOptions options_;
  std::unique_ptr<CostModel> model_;
  std::vector<std::unique_ptr<SearchPolicy>> policies_;
  std::vector<std::unique_ptr<Measurer>> measurers_;
  std::unique_ptr<RecordStore> owned_store_;  // opened from records_path by tune()
  RecordStore* store_ = nullptr;              // what tune() reads and writes
  std::mt19937_64 rng_;
  std::atomic<bool> interrupted_{false};  // set by the SIGINT handler or a child killed by SIGINT
  bool progress_on_terminal_ = false;
  size_t progress_width_ = 0;             // length of the bar line last drawn (0: none)
};

}  // namespace tessel::autotune
