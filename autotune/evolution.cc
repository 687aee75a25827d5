// Evolutionary search per task: a population sampled from the sketches plus mutations of the best
// measured candidates (this run's, and stored records read back into candidates), evolved for a
// few generations under the cost model's scores; each batch takes the best-scored unmeasured
// candidates and an epsilon share of random ones. The same evolution runs over the CPU space
// (sketch.h) or, for CUDA tasks, the GPU space (sketch_gpu.h), each wrapped in a small "space"
// struct below that says how to sample, mutate, apply and accept its candidates.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tessel/autotune/search.h"
#include "tessel/ir/error.h"
#include "sketch_internal.h"

namespace tessel::autotune {

namespace {

constexpr size_t kEliteSize = 32;  // measured candidates kept as parents

template <class C>
void sort_elite(std::vector<std::pair<double, C>>& elite) {
  std::stable_sort(elite.begin(), elite.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (elite.size() > kEliteSize) elite.resize(kEliteSize);
}

// A measured candidate of the batch handed out joins the parents.
template <class C>
void add_measured(SearchPolicy::Population<C>& population, const std::string& json, double cost) {
  for (const auto& p : population.pending) {
    if (p.first == json) population.elite.push_back({cost, p.second});
  }
}

// The CPU search space.
struct CpuSpace {
  using Cand = Candidate;
  const SearchTask& task;
  const std::vector<Sketch>& sketches;
  SearchPolicy::Population<Candidate>& population;

  // Random samples come from sketches that tile a reduction three times as often as from the
  // others (a plain loop nest of a matmul or conv is rarely competitive), and among those, twice
  // as often from the ones that compute padding at the root: an inlined padding select splits
  // the conv's loops at the borders, which multiplies the code LLVM compiles (measurement time).
  std::vector<double> sketch_weights() const {
    StageFacts facts = analyze_stages(task);
    std::vector<double> weights;
    for (const Sketch& sk : sketches) {
      bool tiles = false, root_padding = false;
      for (const StagePlan& p : sk.plans) {
        tiles |= p.rule == StageRule::kTile;
        root_padding |=
            p.rule == StageRule::kSimple && facts.stages[p.stage].conditional && !facts.stages[p.stage].output;
      }
      weights.push_back(tiles ? (root_padding ? 6.0 : 3.0) : 1.0);
    }
    return weights;
  }
  Cand sample(int sketch, std::mt19937_64& rng) const { return sample_candidate(task, sketches, sketch, rng); }
  Cand mutate(const Cand& c, std::mt19937_64& rng) const { return mutate_candidate(task, sketches, c, rng); }
  te::Schedule apply(const Cand& c) const { return apply_candidate(task, sketches, c); }
  // Every CPU candidate that applies can run; features (when asked for) come from its lowering.
  bool accept(te::Schedule& s, std::vector<std::vector<float>>* features) const {
    if (features) *features = extract_features(task.lower(s, "score"));
    return true;
  }
  std::optional<Cand> from_steps(const std::vector<te::Step>& steps) const {
    return candidate_from_steps(task, sketches, steps);
  }
};

// The GPU search space: candidates must fit the GPU limits.
struct GpuSpace {
  using Cand = GpuCandidate;
  const SearchTask& task;
  const std::vector<GpuSketch>& sketches;
  GpuLimits limits;
  SearchPolicy::Population<GpuCandidate>& population;

  // Sketches that tile a reduction or combine it across threads are sampled three times as often
  // as plain thread-per-element ones (a reduction computed by one thread per output is rarely
  // competitive).
  std::vector<double> sketch_weights() const {
    std::vector<double> weights;
    for (const GpuSketch& sk : sketches) {
      bool structured = false;
      for (const GpuStagePlan& p : sk.plans) {
        structured |= p.rule == GpuStageRule::kTile || p.rule == GpuStageRule::kCrossThread;
      }
      weights.push_back(structured ? 3.0 : 1.0);
    }
    return weights;
  }
  Cand sample(int sketch, std::mt19937_64& rng) const {
    return sample_gpu_candidate(task, sketches, sketch, rng, limits);
  }
  Cand mutate(const Cand& c, std::mt19937_64& rng) const {
    return mutate_gpu_candidate(task, sketches, c, rng, limits);
  }
  te::Schedule apply(const Cand& c) const { return apply_gpu_candidate(task, sketches, c); }
  // A candidate runs when its lowering becomes CUDA within the limits (threads per block, shared
  // and per-thread memory).
  bool accept(te::Schedule& s, std::vector<std::vector<float>>* features) const {
    PrimFunc f = task.lower(s, "score");
    if (!gpu_function_fits(f, limits)) return false;
    if (features) *features = extract_features(f);
    return true;
  }
  // GPU step lists are not read back into candidates: stored records count as measured only.
  std::optional<Cand> from_steps(const std::vector<te::Step>&) const { return std::nullopt; }
};

}  // namespace

SearchPolicy::SearchPolicy(const SearchTask& task, CostModel* model, const TuneOptions& options, unsigned seed)
    : task_(task), model_(model), options_(options), rng_(seed),
      sketches_(task.is_cuda() ? std::vector<Sketch>{} : generate_sketches(task)),
      gpu_sketches_(task.is_cuda() ? generate_gpu_sketches(task) : std::vector<GpuSketch>{}),
      best_cost_(std::numeric_limits<double>::infinity()) {}

GpuLimits SearchPolicy::gpu_limits() const { return task_.hardware().gpu_limits(); }

int SearchPolicy::resume_from(const std::vector<TuningRecord>& records) {
  int matched = 0;
  std::string target = task_.target_string();
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
  std::stable_sort(valid.begin(), valid.end(),
                   [](const TuningRecord* a, const TuningRecord* b) { return a->mean_cost() < b->mean_cost(); });
  if (task_.is_cuda()) {
    seed_from(GpuSpace{task_, gpu_sketches_, gpu_limits(), gpu_}, valid);
  } else {
    seed_from(CpuSpace{task_, sketches_, cpu_}, valid);
  }
  return matched;
}

// Seeds the parents with the best stored records that read back into candidates of our sketches
// (records of other rule versions do not, and only count as measured). `valid` is sorted by cost.
template <class Space>
void SearchPolicy::seed_from(const Space& space, const std::vector<const TuningRecord*>& valid) {
  std::set<std::string> tried;
  size_t seeds = 0;
  for (size_t i = 0; i < valid.size() && i < 4 * kEliteSize && seeds < kEliteSize; ++i) {
    if (!tried.insert(valid[i]->steps_json).second) continue;
    try {
      if (auto c = space.from_steps(te::steps_from_json(valid[i]->steps_json))) {
        space.population.elite.push_back({valid[i]->mean_cost(), std::move(*c)});
        ++seeds;
      }
    } catch (const std::exception&) {
    }
  }
  sort_elite(space.population.elite);
}

// The steps of a candidate (as JSON) and, through the cost model, its score (higher is better);
// -inf for candidates that do not apply, lower or fit.
template <class Space>
double SearchPolicy::score_one(const Space& space, const typename Space::Cand& c, std::string* steps_json) {
  try {
    te::Schedule s = space.apply(c);
    *steps_json = te::steps_to_json(s.steps());
    std::vector<std::vector<float>> features;
    if (!space.accept(s, model_ ? &features : nullptr)) return -std::numeric_limits<double>::infinity();
    if (!model_) return 0;
    return model_->predict({features}).at(0);
  } catch (const std::exception&) {
    return -std::numeric_limits<double>::infinity();
  }
}

void SearchPolicy::clear_pending() {
  cpu_.pending.clear();
  gpu_.pending.clear();
}

std::vector<std::vector<te::Step>> SearchPolicy::next_batch(int n) {
  if (task_.is_cuda()) return next_batch_in(GpuSpace{task_, gpu_sketches_, gpu_limits(), gpu_}, n);
  return next_batch_in(CpuSpace{task_, sketches_, cpu_}, n);
}

template <class Space>
std::vector<std::vector<te::Step>> SearchPolicy::next_batch_in(const Space& space, int n) {
  using Cand = typename Space::Cand;
  auto& elite = space.population.elite;
  auto& pending = space.population.pending;
  clear_pending();
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<double> sketch_weights = space.sketch_weights();
  std::discrete_distribution<int> pick_sketch(sketch_weights.begin(), sketch_weights.end());
  auto random_candidate = [&]() { return space.sample(pick_sketch(rng_), rng_); };
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
  std::vector<Cand> population;
  for (int i = 0; i < options_.population; ++i) {
    if (!elite.empty() && unit(rng_) < 0.5) {
      size_t top = std::min<size_t>(elite.size(), 8);
      const Cand& parent = elite[std::uniform_int_distribution<size_t>(0, top - 1)(rng_)].second;
      population.push_back(space.mutate(parent, rng_));
    } else {
      population.push_back(random_candidate());
    }
  }
  // Evolve: keep the better-scored half, refill with their mutations.
  struct Scored {
    double score;
    std::string json;
    Cand candidate;
  };
  std::vector<Scored> scored;
  std::set<std::string> seen;
  // Scores new candidates with one prediction for all of them (the model's per-call overhead is
  // large next to a program's); candidates that do not apply, lower or fit are dropped.
  auto score_all = [&](const std::vector<Cand>& cands) {
    std::vector<Scored> fresh;
    std::vector<std::vector<std::vector<float>>> programs;
    for (const Cand& c : cands) {
      try {
        te::Schedule s = space.apply(c);
        std::string json = te::steps_to_json(s.steps());
        if (json.empty() || !seen.insert(json).second) continue;
        std::vector<std::vector<float>> features;
        if (!space.accept(s, model_ ? &features : nullptr)) continue;
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
    std::vector<Cand> children;
    for (int i = 0; i < options_.population / 2; ++i) {
      const Cand& parent = scored[std::uniform_int_distribution<size_t>(0, keep - 1)(rng_)].candidate;
      children.push_back(space.mutate(parent, rng_));
    }
    score_all(children);
  }
  // Batch: the best-scored unmeasured candidates, and an epsilon share of random ones.
  int random_share = std::clamp(static_cast<int>(std::round(options_.epsilon * n)), n > 1 ? 1 : 0, n);
  auto take = [&](const std::string& json, const Cand& c) {
    if (measured_.count(json) || json == baseline_json_) return;
    for (const auto& p : pending) {
      if (p.first == json) return;
    }
    pending.push_back({json, c});
    batch.push_back(te::steps_from_json(json));
  };
  for (const Scored& s : scored) {
    if (static_cast<int>(batch.size()) >= n - random_share) break;
    take(s.json, s.candidate);
  }
  for (int attempts = 0; static_cast<int>(batch.size()) < n && attempts < 8 * n; ++attempts) {
    Cand c = random_candidate();
    std::string json;
    if (std::isfinite(score_one(space, c, &json)) && !json.empty()) take(json, c);
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
      add_measured(cpu_, json, cost);
      add_measured(gpu_, json, cost);
      if (!results[i].features.empty()) samples.push_back({task_.workload_key(), results[i].features, cost});
    }
  }
  sort_elite(cpu_.elite);
  sort_elite(gpu_.elite);
  if (model_ && !samples.empty()) model_->update(samples);
  history_.push_back(best_cost_);
  clear_pending();
}

}  // namespace tessel::autotune
