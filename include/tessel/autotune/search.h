// Schedule search: per task, an evolutionary search over annotated sketches guided by a cost
// model, measuring batches of never-measured candidates; and the task scheduler that shares a
// trial budget among the tasks of a graph (round-robin warm-up, then gradient-based allocation
// minimising sum(weight * latency)). Every measurement is appended to a JSON-lines records file;
// tuning resumes from the records already there.
#pragma once

#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tessel/autotune/cost_model.h"
#include "tessel/autotune/measure.h"
#include "tessel/autotune/records.h"
#include "tessel/autotune/sketch.h"

namespace tessel::autotune {

struct TuneOptions {
  int trials = 200;              // measured candidates in total over all tasks (records already stored count)
  int batch_size = 16;           // candidates measured per round
  unsigned seed = 0;
  std::string records_path;      // JSON lines; empty: keep nothing
  std::string cost_model = "xgboost";  // "xgboost" or "random"
  double epsilon = 0.1;          // share of purely random candidates per batch
  int population = 64;
  int generations = 3;
  bool verbose = true;           // one progress line per round
  MeasureOptions measure;
};

// The search on one task.
class SearchPolicy {
 public:
  SearchPolicy(const SearchTask& task, CostModel* model, const TuneOptions& options, unsigned seed);
  const SearchTask& task() const { return task_; }
  const std::vector<Sketch>& sketches() const { return sketches_; }
  // Up to n step lists never measured before (fewer when the space seems exhausted).
  std::vector<std::vector<te::Step>> next_batch(int n);
  // Registers measurement results of a batch (same order as next_batch returned).
  void record_results(const std::vector<std::vector<te::Step>>& batch, const std::vector<MeasureResult>& results);
  // Marks stored records of this task as measured (resume); returns how many matched.
  int resume_from(const std::vector<TuningRecord>& records);
  double best_cost() const { return best_cost_; }
  const std::string& best_steps_json() const { return best_steps_; }
  int trials() const { return trials_; }
  const std::vector<double>& best_history() const { return history_; }  // best cost after each batch

 private:
  double score_one(const Candidate& c, std::string* steps_json);
  SearchTask task_;
  CostModel* model_;
  TuneOptions options_;
  std::mt19937_64 rng_;
  std::vector<Sketch> sketches_;
  std::set<std::string> measured_;  // step-list JSON of everything measured or stored
  std::vector<std::pair<double, Candidate>> elite_;  // measured candidates of this run, best first
  std::vector<std::pair<std::string, Candidate>> pending_;  // batch handed out, awaiting results
  double best_cost_;
  std::string best_steps_;
  int trials_ = 0;
  std::vector<double> history_;
};

// Tunes all tasks together; returns the best mean cost (seconds) per task (+inf if none valid).
class TaskScheduler {
 public:
  TaskScheduler(std::vector<SearchTask> tasks, TuneOptions options);
  ~TaskScheduler();
  std::vector<double> tune();
  const std::vector<std::unique_ptr<SearchPolicy>>& policies() const { return policies_; }

 private:
  int pick_task(int round);
  std::vector<SearchTask> tasks_;
  TuneOptions options_;
  std::unique_ptr<CostModel> model_;
  std::vector<std::unique_ptr<SearchPolicy>> policies_;
  std::vector<std::unique_ptr<Measurer>> measurers_;
  std::mt19937_64 rng_;
};

}  // namespace tessel::autotune
