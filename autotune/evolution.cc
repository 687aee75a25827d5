// Evolutionary search per task: a population sampled from the sketches plus mutations of the best
// measured candidates, evolved for a few generations under the cost model's scores; each batch
// takes the best-scored unmeasured candidates and an epsilon share of random ones.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tessel/autotune/search.h"
#include "tessel/ir/error.h"

namespace tessel::autotune {

SearchPolicy::SearchPolicy(const SearchTask& task, CostModel* model, const TuneOptions& options, unsigned seed)
    : task_(task), model_(model), options_(options), rng_(seed), sketches_(generate_sketches(task)),
      best_cost_(std::numeric_limits<double>::infinity()) {}

int SearchPolicy::resume_from(const std::vector<TuningRecord>& records) {
  int matched = 0;
  std::string target = task_.target().to_string();
  for (const TuningRecord& r : records) {
    if (r.workload_key != task_.workload_key() || r.target != target) continue;
    ++matched;
    measured_.insert(r.steps_json);
    if (r.mean_cost() < best_cost_) {
      best_cost_ = r.mean_cost();
      best_steps_ = r.steps_json;
    }
  }
  trials_ += matched;
  return matched;
}

// The steps of a candidate (as JSON) and, through the cost model, its score (higher is better);
// -inf for candidates that do not apply or lower.
double SearchPolicy::score_one(const Candidate& c, std::string* steps_json) {
  try {
    te::Schedule s = apply_candidate(task_, sketches_, c);
    *steps_json = te::steps_to_json(s.steps());
    if (!model_) return 0;
    PrimFunc f = task_.lower(s, "score");
    return model_->predict({extract_features(f)}).at(0);
  } catch (const std::exception&) {
    return -std::numeric_limits<double>::infinity();
  }
}

std::vector<std::vector<te::Step>> SearchPolicy::next_batch(int n) {
  pending_.clear();
  std::uniform_real_distribution<double> unit(0, 1);
  int num_sketches = static_cast<int>(sketches_.size());
  auto random_candidate = [&]() {
    int s = std::uniform_int_distribution<int>(0, num_sketches - 1)(rng_);
    return sample_candidate(task_, sketches_, s, rng_);
  };
  // Initial population: mutations of the best measured candidates and fresh samples.
  std::vector<Candidate> population;
  for (int i = 0; i < options_.population; ++i) {
    if (!elite_.empty() && unit(rng_) < 0.5) {
      size_t top = std::min<size_t>(elite_.size(), 8);
      const Candidate& parent = elite_[std::uniform_int_distribution<size_t>(0, top - 1)(rng_)].second;
      population.push_back(mutate_candidate(task_, sketches_, parent, rng_));
    } else {
      population.push_back(random_candidate());
    }
  }
  // Evolve: keep the better-scored half, refill with their mutations.
  struct Scored {
    double score;
    std::string json;
    Candidate candidate;
  };
  std::vector<Scored> scored;
  std::set<std::string> seen;
  auto score_all = [&](const std::vector<Candidate>& cands) {
    for (const Candidate& c : cands) {
      std::string json;
      double score = score_one(c, &json);
      if (!std::isfinite(score) || json.empty() || seen.count(json)) continue;
      seen.insert(json);
      scored.push_back({score, json, c});
    }
    std::stable_sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
  };
  score_all(population);
  for (int g = 1; g < options_.generations && !scored.empty(); ++g) {
    size_t keep = std::max<size_t>(1, scored.size() / 2);
    std::vector<Candidate> children;
    for (int i = 0; i < options_.population / 2; ++i) {
      const Candidate& parent = scored[std::uniform_int_distribution<size_t>(0, keep - 1)(rng_)].candidate;
      children.push_back(mutate_candidate(task_, sketches_, parent, rng_));
    }
    score_all(children);
  }
  // Batch: the best-scored unmeasured candidates, and an epsilon share of random ones.
  int random_share = std::clamp(static_cast<int>(std::round(options_.epsilon * n)), n > 1 ? 1 : 0, n);
  std::vector<std::vector<te::Step>> batch;
  auto take = [&](const std::string& json, const Candidate& c) {
    if (measured_.count(json)) return;
    for (const auto& p : pending_) {
      if (p.first == json) return;
    }
    pending_.push_back({json, c});
    batch.push_back(te::steps_from_json(json));
  };
  for (const Scored& s : scored) {
    if (static_cast<int>(batch.size()) >= n - random_share) break;
    take(s.json, s.candidate);
  }
  for (int attempts = 0; static_cast<int>(batch.size()) < n && attempts < 8 * n; ++attempts) {
    Candidate c = random_candidate();
    std::string json;
    if (std::isfinite(score_one(c, &json)) && !json.empty()) take(json, c);
  }
  return batch;
}

void SearchPolicy::record_results(const std::vector<std::vector<te::Step>>& batch,
                                  const std::vector<MeasureResult>& results) {
  internal_check(batch.size() == results.size()) << "record_results: batch and results differ in size";
  std::vector<TrainingSample> samples;
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string json = te::steps_to_json(batch[i]);
    measured_.insert(json);
    ++trials_;
    double cost = results[i].mean_cost();
    if (std::isfinite(cost)) {
      if (cost < best_cost_) {
        best_cost_ = cost;
        best_steps_ = json;
      }
      for (const auto& p : pending_) {
        if (p.first == json) elite_.push_back({cost, p.second});
      }
      if (!results[i].features.empty()) samples.push_back({task_.workload_key(), results[i].features, cost});
    }
  }
  std::stable_sort(elite_.begin(), elite_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (elite_.size() > 32) elite_.resize(32);
  if (model_ && !samples.empty()) model_->update(samples);
  history_.push_back(best_cost_);
  pending_.clear();
}

}  // namespace tessel::autotune
