// The random cost model: uniform scores in [0, 1) from a seeded generator. It learns nothing; the
// search uses it as a baseline and the XGBoost model uses the same scores during its warm-up.
#include <fstream>
#include <random>

#include "tessel/autotune/cost_model.h"
#include "tessel/ir/error.h"

namespace tessel::autotune {
namespace {

constexpr const char* kRandomModelHeader = "tessel-random-cost-model 1";

class RandomCostModel final : public CostModel {
 public:
  explicit RandomCostModel(unsigned seed) : rng_(seed) {}

  void update(const std::vector<TrainingSample>&) override {}

  std::vector<double> predict(const std::vector<std::vector<std::vector<float>>>& programs) override {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<double> scores(programs.size());
    for (double& s : scores) s = uniform(rng_);
    return scores;
  }

  // The file only records which model wrote it, so that loading another model's file fails.
  void save(const std::string& path) const override {
    std::ofstream out(path, std::ios::trunc);
    out << kRandomModelHeader << "\n";
    user_check(out.good()) << "random cost model: cannot write '" << path << "'";
  }

  void load(const std::string& path) override {
    std::ifstream in(path);
    user_check(in.good()) << "random cost model: cannot open '" << path << "'";
    std::string line;
    std::getline(in, line);
    user_check(line == kRandomModelHeader) << "random cost model: '" << path << "' is not a random cost model file";
  }

  std::string name() const override { return "random"; }

 private:
  std::mt19937_64 rng_;
};

}  // namespace

std::unique_ptr<CostModel> make_random_cost_model(unsigned seed) { return std::make_unique<RandomCostModel>(seed); }

}  // namespace tessel::autotune
