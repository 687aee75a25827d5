// Cost models on real measurements: ~200 random schedules of a 64x64x64 matmul are lowered,
// checked against a naive C++ matmul, timed through the JIT and featurised; the XGBoost model
// trained on 150 of them must rank the held-out rest better than chance. Also persistence
// (save -> load -> same predictions; corrupt or missing files), warm-up and the random model.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tessel/autotune/cost_model.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/error.h"
#include "tessel/te/schedule.h"

namespace tessel::autotune {
namespace {

using te::IterVar;
using te::Tensor;

constexpr int kSize = 64;
constexpr int kPrograms = 200;
constexpr int kTrain = 150;
const char* const kWorkload = "matmul_64x64x64_float32";

// 64-byte aligned float storage (the JIT checks buffer alignment).
struct AlignedBuffer {
  std::unique_ptr<float, decltype(&std::free)> data{nullptr, &std::free};
  explicit AlignedBuffer(size_t n) : data(static_cast<float*>(std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64)), &std::free) {}
  float* get() const { return data.get(); }
};

struct Matmul {
  Tensor A, B, C;
  Matmul() {
    A = te::placeholder({kSize, kSize}, DataType::Float(32), "A");
    B = te::placeholder({kSize, kSize}, DataType::Float(32), "B");
    IterVar r = te::reduce_axis(0, kSize, "k");
    Tensor a = A, b = B;
    C = te::compute_reduce({kSize, kSize}, [&](const std::vector<Var>& i) { return te::sum(a({i[0], r}) * b({r, i[1]}), {r}); }, "C");
  }
};

template <typename T>
T pick(std::mt19937& rng, const std::vector<T>& choices) {
  return choices[rng() % choices.size()];
}

// A random schedule: either a register-tiled one (cache_write + compute_at, as auto-schedulers
// build) or a split-and-reorder of the plain nest; random factors (some not dividing 64), loop
// orders, vectorisation and unrolling.
PrimFunc random_schedule(std::mt19937& rng, const std::string& name) {
  Matmul m;
  te::Schedule s = te::create_schedule({m.C});
  if (rng() % 2 == 0) {
    Tensor cc = s.cache_write(m.C, "local");
    te::Stage c = s[m.C];
    auto t = c.tile(c.axis()[0], c.axis()[1], pick<int64_t>(rng, {2, 4, 8, 16}), pick<int64_t>(rng, {4, 8, 16, 32, 12}));
    te::Stage l = s[cc];
    l.compute_at(c, t[1]);
    IterVar i = l.axis()[0], j = l.axis()[1];
    auto [ko, ki] = l.split(l.reduce_axis()[0], pick<int64_t>(rng, {1, 2, 4, 8, 3}));
    std::vector<std::vector<IterVar>> orders = {{ko, i, ki, j}, {ko, ki, i, j}, {i, ko, ki, j}, {ko, j, ki, i}, {j, ko, i, ki}};
    auto order = pick(rng, orders);
    l.reorder(order);
    if (order.back().same_as(j) && rng() % 3 != 0) l.vectorize(j);
    if (rng() % 2 == 0 && !order.back().same_as(ki)) l.unroll(ki);
  } else {
    te::Stage st = s[m.C];
    auto [io, ii] = st.split(st.axis()[0], pick<int64_t>(rng, {1, 4, 8, 16, 32, 12}));
    auto [jo, ji] = st.split(st.axis()[1], pick<int64_t>(rng, {1, 4, 8, 16, 32, 64}));
    auto [ko, ki] = st.split(st.reduce_axis()[0], pick<int64_t>(rng, {1, 4, 8, 16}));
    std::vector<IterVar> order = {io, jo, ko, ii, ji, ki};
    std::shuffle(order.begin(), order.end(), rng);
    st.reorder(order);
    if ((order.back().same_as(ji) || order.back().same_as(ii)) && rng() % 2 == 0) st.vectorize(order.back());
    else if (rng() % 3 == 0) st.unroll(order.back());
  }
  return te::lower_schedule(s, {m.A, m.B, m.C}, name);
}

struct Program {
  std::vector<std::vector<float>> stores;
  double seconds = 0;
};

// Generates, checks and measures the programs once for all tests.
const std::vector<Program>& measured_programs() {
  static const std::vector<Program> programs = [] {
    std::mt19937 rng(2024);
    std::vector<PrimFunc> funcs;
    std::vector<Program> out;
    for (int p = 0; p < kPrograms; ++p) {
      funcs.push_back(random_schedule(rng, "candidate" + std::to_string(p)));
      out.push_back({extract_features(funcs.back()), 0});
    }
    const size_t n = kSize * kSize;
    AlignedBuffer a(n), b(n), c(n);
    std::mt19937 data_rng(7);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (size_t i = 0; i < n; ++i) { a.get()[i] = dist(data_rng); b.get()[i] = dist(data_rng); }
    std::vector<float> expected(n, 0.f);
    for (int i = 0; i < kSize; ++i)
      for (int k = 0; k < kSize; ++k)
        for (int j = 0; j < kSize; ++j) expected[i * kSize + j] += a.get()[i * kSize + k] * b.get()[k * kSize + j];
    // One JIT module per batch keeps compilation overhead down.
    constexpr int kBatch = 50;
    for (int start = 0; start < kPrograms; start += kBatch) {
      std::vector<PrimFunc> batch(funcs.begin() + start, funcs.begin() + std::min(kPrograms, start + kBatch));
      codegen::JitModule module = codegen::JitModule::compile(batch);
      for (int p = start; p < start + static_cast<int>(batch.size()); ++p) {
        codegen::JitFunction f = module.get_function(funcs[p]->name);
        std::fill(c.get(), c.get() + n, 1e9f);
        f.call({a.get(), b.get(), c.get()});
        for (size_t i = 0; i < n; ++i) {
          if (std::fabs(c.get()[i] - expected[i]) > 1e-3f) {
            ADD_FAILURE() << funcs[p]->name << " computes a wrong element " << i;
            break;
          }
        }
        double best = 1e30;
        for (int repeat = 0; repeat < 7; ++repeat) {
          auto t0 = std::chrono::steady_clock::now();
          f.call({a.get(), b.get(), c.get()});
          best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        out[p].seconds = best;
      }
    }
    return out;
  }();
  return programs;
}

std::vector<TrainingSample> samples_of(const std::vector<Program>& programs, size_t begin, size_t end) {
  std::vector<TrainingSample> samples;
  for (size_t i = begin; i < end; ++i) samples.push_back({kWorkload, programs[i].stores, programs[i].seconds});
  return samples;
}

std::vector<std::vector<std::vector<float>>> features_of(const std::vector<Program>& programs, size_t begin, size_t end) {
  std::vector<std::vector<std::vector<float>>> out;
  for (size_t i = begin; i < end; ++i) out.push_back(programs[i].stores);
  return out;
}

// Share of pairs with different measured latencies that the scores order the same way.
double pairwise_accuracy(const std::vector<double>& scores, const std::vector<double>& seconds) {
  int agree = 0, total = 0;
  for (size_t i = 0; i < scores.size(); ++i)
    for (size_t j = i + 1; j < scores.size(); ++j) {
      if (seconds[i] == seconds[j]) continue;
      ++total;
      bool faster = seconds[i] < seconds[j];
      agree += (scores[i] > scores[j]) == faster;
    }
  return total ? static_cast<double>(agree) / total : 0;
}

std::string temp_path(const std::string& stem) {
  return ::testing::TempDir() + "tessel_cost_model_" + stem + "_" + std::to_string(::getpid());
}

TEST(CostModel, XGBoostRanksHeldOutSchedulesBetterThanChance) {
  const auto& programs = measured_programs();
  auto [fastest, slowest] = std::minmax_element(programs.begin(), programs.end(),
                                                [](const Program& x, const Program& y) { return x.seconds < y.seconds; });
  auto model = make_xgboost_cost_model(1, /*warm_up=*/0);
  model->update(samples_of(programs, 0, kTrain));
  std::vector<double> scores = model->predict(features_of(programs, kTrain, kPrograms));
  std::vector<double> seconds;
  for (int i = kTrain; i < kPrograms; ++i) seconds.push_back(programs[i].seconds);
  double accuracy = pairwise_accuracy(scores, seconds);
  std::printf("latency range %.1f us .. %.1f us; held-out pairwise ranking accuracy %.3f\n", fastest->seconds * 1e6,
              slowest->seconds * 1e6, accuracy);
  EXPECT_GT(accuracy, 0.6);
  // For scale: random scores average about 0.5 (a single seed strays by several hundredths).
  double random_mean = 0;
  for (unsigned seed = 1; seed <= 20; ++seed)
    random_mean += pairwise_accuracy(make_random_cost_model(seed)->predict(features_of(programs, kTrain, kPrograms)), seconds) / 20;
  std::printf("random model pairwise ranking accuracy, mean of 20 seeds: %.3f\n", random_mean);
  EXPECT_GT(accuracy, random_mean + 0.05);
}

TEST(CostModel, FeaturesOfEveryRandomScheduleAreFinite) {
  for (const Program& p : measured_programs()) {
    ASSERT_FALSE(p.stores.empty());
    for (const auto& row : p.stores) {
      ASSERT_EQ(row.size(), feature_names().size());
      for (float v : row) ASSERT_TRUE(std::isfinite(v));
    }
  }
}

TEST(CostModel, SaveLoadKeepsPredictionsAndSamples) {
  const auto& programs = measured_programs();
  auto model = make_xgboost_cost_model(3, 20);
  model->update(samples_of(programs, 0, 100));
  auto test_set = features_of(programs, kTrain, kPrograms);
  std::vector<double> before = model->predict(test_set);
  const std::string path = temp_path("roundtrip");
  model->save(path);
  auto loaded = make_xgboost_cost_model(99, 1000);  // its own settings are replaced by the file's
  loaded->load(path);
  std::vector<double> after = loaded->predict(test_set);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_NEAR(before[i], after[i], 1e-6) << i;
  // The loaded model keeps the earlier samples: adding the rest retrains on all of them, exactly
  // as a model that saw everything in one run.
  auto whole = make_xgboost_cost_model(3, 20);
  whole->update(samples_of(programs, 0, 100));
  whole->update(samples_of(programs, 100, kTrain));
  loaded->update(samples_of(programs, 100, kTrain));
  std::vector<double> expected = whole->predict(test_set), resumed = loaded->predict(test_set);
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(expected[i], resumed[i], 1e-6) << i;
  std::remove(path.c_str());
}

TEST(CostModel, CorruptOrMissingFileIsACompileErrorAndChangesNothing) {
  const auto& programs = measured_programs();
  auto model = make_xgboost_cost_model(5, 0);
  model->update(samples_of(programs, 0, 60));
  const std::string path = temp_path("corrupt");
  model->save(path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bytes.size(), 1000u);
  auto test_set = features_of(programs, kTrain, kPrograms);
  auto other = make_xgboost_cost_model(6, 0);
  other->update(samples_of(programs, 60, 120));
  std::vector<double> reference = other->predict(test_set);
  auto write = [&](const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  };
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x5a;
  for (const std::string& bad : {flipped, bytes.substr(0, bytes.size() / 3), std::string("not a model"), std::string()}) {
    write(bad);
    EXPECT_THROW(other->load(path), CompileError);
    EXPECT_EQ(other->predict(test_set), reference);  // the failed load left the model as it was
  }
  EXPECT_THROW(other->load(path + ".missing"), CompileError);
  // A file from another model kind is rejected too.
  auto random = make_random_cost_model(1);
  random->save(path);
  EXPECT_THROW(other->load(path), CompileError);
  EXPECT_THROW(random->load(path + ".missing"), CompileError);
  write(bytes);
  EXPECT_THROW(random->load(path), CompileError);
  // Saving where it cannot write fails without touching anything.
  EXPECT_THROW(model->save("/nonexistent-directory/model.bin"), CompileError);
  std::remove(path.c_str());
}

TEST(CostModel, PredictionsAreRandomUntilWarmUp) {
  const auto& programs = measured_programs();
  auto test_set = features_of(programs, kTrain, kPrograms);
  auto model = make_xgboost_cost_model(7, 100);
  model->update(samples_of(programs, 0, 60));  // 60 < 100: still warming up
  std::vector<double> first = model->predict(test_set), second = model->predict(test_set);
  EXPECT_NE(first, second);
  for (double s : first) { EXPECT_GE(s, 0.0); EXPECT_LT(s, 1.0); }
  // The same seed gives the same random scores.
  auto twin = make_xgboost_cost_model(7, 100);
  twin->update(samples_of(programs, 0, 60));
  EXPECT_EQ(twin->predict(test_set), first);
  model->update(samples_of(programs, 60, 120));  // 120 >= 100: trained, deterministic
  first = model->predict(test_set);
  second = model->predict(test_set);
  EXPECT_EQ(first, second);
}

TEST(CostModel, ProgramScoreIsTheSumOfItsStores) {
  const auto& programs = measured_programs();
  auto model = make_xgboost_cost_model(8, 0);
  model->update(samples_of(programs, 0, kTrain));
  const auto& stores = programs[kTrain].stores;
  ASSERT_GE(stores.size(), 2u);
  double sum = 0;
  for (const auto& store : stores) sum += model->predict({{store}})[0];
  EXPECT_NEAR(model->predict({stores})[0], sum, 1e-5);
  EXPECT_EQ(model->predict({{}})[0], 0.0);  // a program without stores scores nothing
}

TEST(CostModel, WrongFeatureLengthIsACompileError) {
  auto model = make_xgboost_cost_model(9, 0);
  EXPECT_THROW(model->update({{kWorkload, {{1.f, 2.f}}, 1e-3}}), CompileError);
  EXPECT_THROW(model->predict({{{1.f, 2.f}}}), CompileError);
  EXPECT_THROW(make_xgboost_cost_model(1, -1), CompileError);
}

TEST(CostModel, RandomModelIsSeededAndUniform) {
  std::vector<std::vector<std::vector<float>>> programs(500);
  auto a = make_random_cost_model(11), b = make_random_cost_model(11), c = make_random_cost_model(12);
  std::vector<double> sa = a->predict(programs);
  EXPECT_EQ(sa, b->predict(programs));
  EXPECT_NE(sa, c->predict(programs));
  double mean = std::accumulate(sa.begin(), sa.end(), 0.0) / sa.size();
  EXPECT_NEAR(mean, 0.5, 0.05);
  for (double s : sa) { EXPECT_GE(s, 0.0); EXPECT_LT(s, 1.0); }
  a->update({});
  const std::string path = temp_path("random");
  a->save(path);
  EXPECT_NO_THROW(b->load(path));
  EXPECT_EQ(a->name(), "random");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tessel::autotune
