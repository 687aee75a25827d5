// The XGBoost cost model: gradient-boosted trees over per-store features, through XGBoost's C API.
// Each measured program contributes one row per store; a program's score is the sum of its stores'
// predictions. The model file holds our metadata, every training sample (so that later updates
// retrain on what earlier runs saw) and the booster as XGBoost JSON.
#include <xgboost/c_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "tessel/autotune/cost_model.h"
#include "tessel/ir/error.h"

namespace tessel::autotune {
namespace {

constexpr char kMagic[] = "tessel-xgboost-cost-model\n";
constexpr uint32_t kFormatVersion = 1;
constexpr int kBoostRounds = 80;

void check_xgboost(int rc, const char* what) {
  user_check(rc == 0) << "XGBoost " << what << " failed: " << XGBGetLastError();
}

// Owners of XGBoost handles.
struct DMatrix {
  DMatrixHandle handle = nullptr;
  ~DMatrix() { if (handle) XGDMatrixFree(handle); }
};
struct Booster {
  BoosterHandle handle = nullptr;
  Booster() = default;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  ~Booster() { if (handle) XGBoosterFree(handle); }
};

// FNV-1a, to detect truncated or corrupted model files.
uint64_t checksum(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) { h ^= c; h *= 1099511628211ull; }
  return h;
}

// Host-endian binary writer and a bounds-checked reader over a loaded file.
class Writer {
 public:
  template <typename T>
  void put(const T& v) { bytes_.append(reinterpret_cast<const char*>(&v), sizeof(T)); }
  void put_bytes(const void* p, size_t n) { bytes_.append(static_cast<const char*>(p), n); }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

class Reader {
 public:
  Reader(const std::string& bytes, size_t end, const std::string& path) : bytes_(bytes), end_(end), path_(path) {}
  template <typename T>
  T get() {
    T v;
    get_bytes(&v, sizeof(T));
    return v;
  }
  void get_bytes(void* p, size_t n) {
    user_check(n <= end_ - pos_) << "XGBoost cost model: '" << path_ << "' is truncated or corrupt";
    std::memcpy(p, bytes_.data() + pos_, n);
    pos_ += n;
  }
  bool at_end() const { return pos_ == end_; }

 private:
  const std::string& bytes_;
  size_t pos_ = sizeof(kMagic) - 1;
  size_t end_;
  const std::string& path_;
};

class XGBoostCostModel final : public CostModel {
 public:
  XGBoostCostModel(unsigned seed, int warm_up) : seed_(seed), warm_up_(warm_up), rng_(seed) {}

  void update(const std::vector<TrainingSample>& samples) override {
    for (const TrainingSample& s : samples) check_rows(s.stores, "update");
    samples_.insert(samples_.end(), samples.begin(), samples.end());
    if (static_cast<int64_t>(samples_.size()) < warm_up_) return;
    train();
  }

  std::vector<double> predict(const std::vector<std::vector<std::vector<float>>>& programs) override {
    for (const auto& p : programs) check_rows(p, "predict");
    std::vector<double> scores(programs.size(), 0.0);
    if (!booster_ || static_cast<int64_t>(samples_.size()) < warm_up_) {
      std::uniform_real_distribution<double> uniform(0.0, 1.0);
      for (double& s : scores) s = uniform(rng_);
      return scores;
    }
    const size_t width = feature_names().size();
    std::vector<float> matrix;
    size_t rows = 0;
    for (const auto& p : programs)
      for (const auto& store : p) { matrix.insert(matrix.end(), store.begin(), store.end()); ++rows; }
    if (rows == 0) return scores;
    DMatrix data;
    check_xgboost(XGDMatrixCreateFromMat(matrix.data(), rows, width, std::nanf(""), &data.handle),
                  "XGDMatrixCreateFromMat");
    bst_ulong length = 0;
    const float* out = nullptr;
    check_xgboost(XGBoosterPredict(booster_->handle, data.handle, 0, 0, 0, &length, &out), "XGBoosterPredict");
    internal_check(length == rows) << "XGBoost returned " << length << " predictions for " << rows << " rows";
    size_t row = 0;
    for (size_t i = 0; i < programs.size(); ++i)
      for (size_t j = 0; j < programs[i].size(); ++j) scores[i] += out[row++];
    return scores;
  }

  void save(const std::string& path) const override {
    Writer w;
    w.put_bytes(kMagic, sizeof(kMagic) - 1);
    w.put(kFormatVersion);
    w.put(static_cast<uint32_t>(feature_names().size()));
    w.put(static_cast<int64_t>(warm_up_));
    w.put(static_cast<uint64_t>(samples_.size()));
    for (const TrainingSample& s : samples_) {
      w.put(static_cast<uint32_t>(s.workload_key.size()));
      w.put_bytes(s.workload_key.data(), s.workload_key.size());
      w.put(s.seconds);
      w.put(static_cast<uint32_t>(s.stores.size()));
      for (const auto& row : s.stores) w.put_bytes(row.data(), row.size() * sizeof(float));
    }
    std::string model;
    if (booster_) {
      bst_ulong length = 0;
      const char* buffer = nullptr;
      check_xgboost(XGBoosterSaveModelToBuffer(booster_->handle, R"({"format": "json"})", &length, &buffer),
                    "XGBoosterSaveModelToBuffer");
      model.assign(buffer, length);
    }
    w.put(static_cast<uint64_t>(model.size()));
    w.put_bytes(model.data(), model.size());
    w.put(checksum(w.bytes()));
    // Write beside the target and rename, so a failure never leaves a half-written model file.
    const std::string temporary = path + ".tmp";
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out.write(w.bytes().data(), static_cast<std::streamsize>(w.bytes().size()));
      out.close();
      if (!out.good()) {
        std::remove(temporary.c_str());
        user_error() << "XGBoost cost model: cannot write '" << path << "'";
      }
    }
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
      std::remove(temporary.c_str());
      user_error() << "XGBoost cost model: cannot write '" << path << "'";
    }
  }

  // Parses everything into temporaries first: a bad file leaves the model as it was.
  void load(const std::string& path) override {
    std::ifstream in(path, std::ios::binary);
    user_check(in.good()) << "XGBoost cost model: cannot open '" << path << "'";
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t magic = sizeof(kMagic) - 1;
    user_check(bytes.size() >= magic + sizeof(uint64_t) && bytes.compare(0, magic, kMagic) == 0)
        << "XGBoost cost model: '" << path << "' is not a Tessel cost model file";
    const size_t body_end = bytes.size() - sizeof(uint64_t);
    uint64_t stored_sum;
    std::memcpy(&stored_sum, bytes.data() + body_end, sizeof(stored_sum));
    user_check(stored_sum == checksum(bytes.substr(0, body_end)))
        << "XGBoost cost model: '" << path << "' is corrupt (checksum mismatch)";
    Reader r(bytes, body_end, path);
    uint32_t version = r.get<uint32_t>();
    user_check(version == kFormatVersion) << "XGBoost cost model: '" << path << "' has format version " << version
                                          << ", expected " << kFormatVersion;
    uint32_t width = r.get<uint32_t>();
    user_check(width == feature_names().size())
        << "XGBoost cost model: '" << path << "' has " << width << " features per store, this build extracts "
        << feature_names().size();
    int64_t warm_up = r.get<int64_t>();
    uint64_t count = r.get<uint64_t>();
    std::vector<TrainingSample> samples;
    for (uint64_t i = 0; i < count; ++i) {
      TrainingSample s;
      s.workload_key.resize(r.get<uint32_t>());
      r.get_bytes(s.workload_key.data(), s.workload_key.size());
      s.seconds = r.get<double>();
      s.stores.resize(r.get<uint32_t>(), std::vector<float>(width));
      for (auto& row : s.stores) r.get_bytes(row.data(), row.size() * sizeof(float));
      samples.push_back(std::move(s));
    }
    std::string model(r.get<uint64_t>(), '\0');
    r.get_bytes(model.data(), model.size());
    user_check(r.at_end()) << "XGBoost cost model: '" << path << "' has trailing data";
    std::unique_ptr<Booster> booster;
    if (!model.empty()) {
      booster = std::make_unique<Booster>();
      check_xgboost(XGBoosterCreate(nullptr, 0, &booster->handle), "XGBoosterCreate");
      check_xgboost(XGBoosterLoadModelFromBuffer(booster->handle, model.data(), model.size()),
                    "XGBoosterLoadModelFromBuffer");
      set_params(*booster);
    }
    warm_up_ = warm_up;
    samples_ = std::move(samples);
    booster_ = std::move(booster);
  }

  std::string name() const override { return "xgboost"; }

 private:
  void check_rows(const std::vector<std::vector<float>>& rows, const char* what) const {
    for (const auto& row : rows)
      user_check(row.size() == feature_names().size())
          << "XGBoost cost model " << what << ": a store has " << row.size() << " features, expected "
          << feature_names().size();
  }

  void set_params(Booster& b) const {
    const std::pair<const char*, std::string> params[] = {
        {"objective", "reg:squarederror"}, {"max_depth", "10"}, {"eta", "0.2"}, {"min_child_weight", "0"},
        {"gamma", "0.0001"}, {"tree_method", "hist"}, {"nthread", "2"}, {"verbosity", "0"},
        {"seed", std::to_string(seed_)}};
    for (const auto& [key, value] : params)
      check_xgboost(XGBoosterSetParam(b.handle, key, value.c_str()), "XGBoosterSetParam");
  }

  // Retrains from scratch on every sample. Labels: a program's throughput normalised within its
  // task (fastest latency of the task / latency, in (0, 1]; 0 for failed runs), split evenly over
  // its stores so that the summed store predictions approximate the program's label.
  void train() {
    std::map<std::string, double> best;
    for (const TrainingSample& s : samples_) {
      if (!(s.seconds > 0) || !std::isfinite(s.seconds)) continue;
      auto it = best.find(s.workload_key);
      if (it == best.end() || s.seconds < it->second) best[s.workload_key] = s.seconds;
    }
    const size_t width = feature_names().size();
    std::vector<float> matrix, labels;
    for (const TrainingSample& s : samples_) {
      if (s.stores.empty()) continue;
      double label = 0;
      if (s.seconds > 0 && std::isfinite(s.seconds)) label = best[s.workload_key] / s.seconds;
      for (const auto& row : s.stores) {
        matrix.insert(matrix.end(), row.begin(), row.end());
        labels.push_back(static_cast<float>(label / static_cast<double>(s.stores.size())));
      }
    }
    if (labels.empty()) return;
    DMatrix data;
    check_xgboost(XGDMatrixCreateFromMat(matrix.data(), labels.size(), width, std::nanf(""), &data.handle),
                  "XGDMatrixCreateFromMat");
    check_xgboost(XGDMatrixSetFloatInfo(data.handle, "label", labels.data(), labels.size()), "XGDMatrixSetFloatInfo");
    auto booster = std::make_unique<Booster>();
    check_xgboost(XGBoosterCreate(&data.handle, 1, &booster->handle), "XGBoosterCreate");
    set_params(*booster);
    for (int round = 0; round < kBoostRounds; ++round)
      check_xgboost(XGBoosterUpdateOneIter(booster->handle, round, data.handle), "XGBoosterUpdateOneIter");
    booster_ = std::move(booster);
  }

  unsigned seed_;
  int64_t warm_up_;
  std::mt19937_64 rng_;
  std::vector<TrainingSample> samples_;
  std::unique_ptr<Booster> booster_;
};

}  // namespace

std::unique_ptr<CostModel> make_xgboost_cost_model(unsigned seed, int warm_up) {
  user_check(warm_up >= 0) << "XGBoost cost model: warm_up must be >= 0, got " << warm_up;
  return std::make_unique<XGBoostCostModel>(seed, warm_up);
}

}  // namespace tessel::autotune
