// Evolutionary search per task: a population sampled from the sketches plus mutations of the best
// measured candidates (this run's, and stored records read back into candidates), evolved for a
// few generations under the cost model's scores; each batch takes the best-scored unmeasured
// candidates and an epsilon share of random ones.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tessel/autotune/search.h"
#include "tessel/ir/error.h"
#include "sketch_internal.h"

namespace tessel::autotune {

namespace {

constexpr size_t kEliteSize = 32;  // measured candidates kept as parents

void sort_elite(std::vector<std::pair<double, Candidate>>& elite) {
  std::stable_sort(elite.begin(), elite.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (elite.size() > kEliteSize) elite.resize(kEliteSize);
}

}  // namespace

SearchPolicy::SearchPolicy(const SearchTask& task, CostModel* model, const TuneOptions& options, unsigned seed)
    : task_(task), model_(model), options_(options), rng_(seed), sketches_(generate_sketches(task)),
      best_cost_(std::numeric_limits<double>::infinity()) {}

int SearchPolicy::resume_from(const std::vector<TuningRecord>& records) {
  int matched = 0;
  std::string target = task_.target().to_string();
  std::vector<const TuningRecord*> valid;
  for (const TuningRecord& r : records) {
    if (r.workload_key != task_.workload_key() || r.target != target) continue;
    ++matched;
    measured_.insert(r.steps_json);
    if (std::isfinite(r.mean_cost())) valid.push_back(&r);
    if (r.mean_cost() < best_cost_) {
      best_cost_ = r.mean_cost();
      best_steps_ = r.steps_json;
    }
  }
  trials_ += matched;
  // Seed the parents with the best stored records that read back into candidates of our sketches
  // (records of other rule versions do not, and only count as measured).
  std::stable_sort(valid.begin(), valid.end(),
                   [](const TuningRecord* a, const TuningRecord* b) { return a->mean_cost() < b->mean_cost(); });
  std::set<std::string> tried;
  size_t seeds = 0;
  for (size_t i = 0; i < valid.size() && i < 4 * kEliteSize && seeds < kEliteSize; ++i) {
    if (!tried.insert(valid[i]->steps_json).second) continue;
    try {
      if (auto c = candidate_from_steps(task_, sketches_, te::steps_from_json(valid[i]->steps_json))) {
        elite_.push_back({valid[i]->mean_cost(), std::move(*c)});
        ++seeds;
      }
    } catch (const std::exception&) {
    }
  }
  sort_elite(elite_);
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
  // Random samples come from sketches that tile a reduction three times as often as from the
  // others (a plain loop nest of a matmul or conv is rarely competitive), and among those, twice
  // as often from the ones that compute padding at the root: an inlined padding select splits
  // the conv's loops at the borders, which multiplies the code LLVM compiles (measurement time).
  StageFacts facts = analyze_stages(task_);
  std::vector<double> sketch_weights;
  for (const Sketch& sk : sketches_) {
    bool tiles = false, root_padding = false;
    for (const StagePlan& p : sk.plans) {
      tiles |= p.rule == StageRule::kTile;
      root_padding |= p.rule == StageRule::kSimple && facts.stages[p.stage].conditional && !facts.stages[p.stage].output;
    }
    sketch_weights.push_back(tiles ? (root_padding ? 6.0 : 3.0) : 1.0);
  }
  std::discrete_distribution<int> pick_sketch(sketch_weights.begin(), sketch_weights.end());
  auto random_candidate = [&]() { return sample_candidate(task_, sketches_, pick_sketch(rng_), rng_); };
  std::vector<std::vector<te::Step>> batch;
  // The task's default schedule (what an untuned compile runs) goes into the first batch as an
  // ordinary record, unless the records hold it already: the best record is never worse than it.
  if (!baseline_offered_ && n > 0) {
    baseline_offered_ = true;
    try {
      std::vector<te::Step> steps = task_.default_schedule().steps();
      std::string json = te::steps_to_json(te::steps_from_json(te::steps_to_json(steps)));
      if (!measured_.count(json)) {
        task_.replay(steps);  // it must replay, as records do
        baseline_json_ = json;
        batch.push_back(te::steps_from_json(json));
      }
    } catch (const std::exception&) {
      // No default schedule for this DAG, or one that does not replay: the search alone.
    }
  }
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
  // Scores new candidates with one prediction for all of them (the model's per-call overhead is
  // large next to a program's); candidates that do not apply or lower are dropped.
  auto score_all = [&](const std::vector<Candidate>& cands) {
    std::vector<Scored> fresh;
    std::vector<std::vector<std::vector<float>>> programs;
    for (const Candidate& c : cands) {
      try {
        te::Schedule s = apply_candidate(task_, sketches_, c);
        std::string json = te::steps_to_json(s.steps());
        if (json.empty() || !seen.insert(json).second) continue;
        std::vector<std::vector<float>> features;
        if (model_) features = extract_features(task_.lower(s, "score"));
        programs.push_back(std::move(features));
        fresh.push_back({0, std::move(json), c});
      } catch (const std::exception&) {
      }
    }
    if (model_ && !fresh.empty()) {
      std::vector<double> scores = model_->predict(programs);
      internal_check(scores.size() == fresh.size()) << "cost model returned " << scores.size() << " scores for "
                                                    << fresh.size() << " programs";
      for (size_t i = 0; i < fresh.size(); ++i) fresh[i].score = scores[i];
    }
    for (Scored& f : fresh) {
      if (std::isfinite(f.score)) scored.push_back(std::move(f));
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
  auto take = [&](const std::string& json, const Candidate& c) {
    if (measured_.count(json) || json == baseline_json_) return;
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
  sort_elite(elite_);
  if (model_ && !samples.empty()) model_->update(samples);
  history_.push_back(best_cost_);
  pending_.clear();
}

}  // namespace tessel::autotune
