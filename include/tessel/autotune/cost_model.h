// The auto-scheduler's cost model interface. A candidate program is a search task's compute DAG
// with a schedule (a step list); the model scores candidates so that the search measures only the
// most promising. Implementations: a random model, and an XGBoost model over per-store features
// of the lowered loop IR (feature list: autotune/README.md). Only the implementation files include
// XGBoost.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tessel/ir/stmt.h"
#include "tessel/te/schedule.h"

namespace tessel::autotune {

// One measured candidate, as the cost model learns from it.
struct TrainingSample {
  std::string workload_key;               // task identity; throughputs are normalised per task
  std::vector<std::vector<float>> stores; // one feature vector per store statement of the program
  double seconds = 0;                      // measured run time (> 0 for valid samples)
};

// Per-store feature vectors of a lowered loop-IR function (see autotune/README.md for the list).
std::vector<std::vector<float>> extract_features(const PrimFunc& lowered);
// Names of the features, in order (for documentation and debugging).
const std::vector<std::string>& feature_names();

class CostModel {
 public:
  virtual ~CostModel() = default;
  // Adds samples and retrains.
  virtual void update(const std::vector<TrainingSample>& samples) = 0;
  // Higher is better (predicted normalised throughput). One score per program; a program's score
  // is the sum of its stores' predictions.
  virtual std::vector<double> predict(const std::vector<std::vector<std::vector<float>>>& programs) = 0;
  // Persistence: a new run can start from what earlier runs learned. load() throws CompileError on
  // a missing or corrupt file.
  virtual void save(const std::string& path) const = 0;
  virtual void load(const std::string& path) = 0;
  virtual std::string name() const = 0;
};

// Uniform random scores (for comparison and for the warm-up phase).
std::unique_ptr<CostModel> make_random_cost_model(unsigned seed);
// Gradient-boosted trees through XGBoost's C API; predicts random scores until `warm_up` samples
// have been seen.
std::unique_ptr<CostModel> make_xgboost_cost_model(unsigned seed, int warm_up = 64);

}  // namespace tessel::autotune
