// The two record stores behind RecordStore (include/tessel/autotune/record_store.h): the SQLite
// database, which answers queries in SQL, and a JSON-lines file, read once at open and then kept
// in memory next to the file it appends to. Opening either counts in opened_count().
#include "tessel/autotune/record_store.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <map>

#include "tessel/autotune/database.h"
#include "tessel/ir/error.h"

namespace tessel::autotune {

namespace {

std::atomic<int64_t> stores_opened{0};

class DatabaseStore final : public RecordStore {
 public:
  DatabaseStore(const std::string& path, bool read_only) : RecordStore(path, read_only), db_(path, read_only) {}
  bool is_database() const override { return true; }
  Database* database() override { return &db_; }
  std::vector<TuningRecord> records(const std::string& key, const std::string& target, int64_t limit) const override {
    return db_.records(key, target, limit);
  }
  int64_t count(const std::string& key, const std::string& target) const override { return db_.count(key, target); }
  std::optional<TuningRecord> best(const std::string& key, const std::string& target) const override {
    return db_.best(key, target);
  }
  std::vector<TuningRecord> top_k(const std::string& key, const std::string& target, int k) const override {
    return db_.top_k(key, target, k);
  }
  std::vector<TuningRecord> best_records(const std::string& target) const override { return db_.best_records(target); }
  void add_records(const std::vector<TuningRecord>& records) override { db_.add_records(records); }
  void add_workload(const std::string& key, const std::string& name, const std::string& dag) override {
    db_.add_workload(key, name, dag);
  }
  void put_cost_model(const std::string& target, const std::string& name, const std::string& blob) override {
    db_.put_cost_model(target, name, blob);
  }
  std::optional<std::string> latest_cost_model(const std::string& target, const std::string& name) const override {
    return db_.latest_cost_model(target, name);
  }

 private:
  mutable Database db_;
};

class JsonLinesStore final : public RecordStore {
 public:
  JsonLinesStore(const std::string& path, bool read_only) : RecordStore(path, read_only) {
    std::ifstream in(path);
    std::string line;
    while (in && std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (auto r = record_from_json(line)) {
        records_.push_back(std::move(*r));
      } else {
        ++corrupt_lines_;
      }
    }
  }
  bool is_database() const override { return false; }
  int corrupt_lines() const override { return corrupt_lines_; }

  std::vector<TuningRecord> records(const std::string& key, const std::string& target, int64_t limit) const override {
    std::vector<TuningRecord> out;
    for (const TuningRecord& r : records_) {
      if (limit >= 0 && static_cast<int64_t>(out.size()) >= limit) break;
      if (matches(r, key, target)) out.push_back(r);
    }
    return out;
  }
  int64_t count(const std::string& key, const std::string& target) const override {
    return std::count_if(records_.begin(), records_.end(), [&](const TuningRecord& r) { return matches(r, key, target); });
  }
  std::optional<TuningRecord> best(const std::string& key, const std::string& target) const override {
    return best_record(records_, key, target);
  }
  std::vector<TuningRecord> top_k(const std::string& key, const std::string& target, int k) const override {
    std::vector<TuningRecord> valid;
    for (const TuningRecord* r : current_records(records_)) {
      if (r->workload_key == key && r->target == target && std::isfinite(r->mean_cost())) valid.push_back(*r);
    }
    std::stable_sort(valid.begin(), valid.end(),
                     [](const TuningRecord& a, const TuningRecord& b) { return a.mean_cost() < b.mean_cost(); });
    if (k >= 0 && static_cast<int64_t>(valid.size()) > k) valid.resize(static_cast<size_t>(k));
    return valid;
  }
  std::vector<TuningRecord> best_records(const std::string& target) const override {
    std::map<std::pair<std::string, std::string>, const TuningRecord*> best;
    for (const TuningRecord* r : current_records(records_)) {
      if ((!target.empty() && r->target != target) || !std::isfinite(r->mean_cost())) continue;
      auto& slot = best[{r->workload_key, r->target}];
      if (slot == nullptr || r->mean_cost() < slot->mean_cost()) slot = r;
    }
    std::vector<TuningRecord> out;
    for (const auto& entry : best) out.push_back(*entry.second);
    return out;
  }
  void add_records(const std::vector<TuningRecord>& records) override {
    user_check(!read_only()) << "tuning records: '" << path() << "' was opened read-only";
    append_record_lines(path(), records);
    records_.insert(records_.end(), records.begin(), records.end());
  }
  void add_workload(const std::string&, const std::string&, const std::string&) override {}
  void put_cost_model(const std::string&, const std::string&, const std::string&) override {}
  std::optional<std::string> latest_cost_model(const std::string&, const std::string&) const override {
    return std::nullopt;
  }

 private:
  static bool matches(const TuningRecord& r, const std::string& key, const std::string& target) {
    return (key.empty() || r.workload_key == key) && (target.empty() || r.target == target);
  }
  std::vector<TuningRecord> records_;
  int corrupt_lines_ = 0;
};

}  // namespace

std::unique_ptr<RecordStore> RecordStore::open(const std::string& path, bool read_only) {
  user_check(!path.empty()) << "tuning records: no path given";
  std::unique_ptr<RecordStore> store;
  if (is_jsonl_path(path)) {
    store = std::make_unique<JsonLinesStore>(path, read_only);
  } else {
    store = std::make_unique<DatabaseStore>(path, read_only);
  }
  stores_opened.fetch_add(1);
  return store;
}

std::unique_ptr<RecordStore> RecordStore::open_database(const std::string& path, bool read_only) {
  auto store = std::make_unique<DatabaseStore>(path, read_only);  // Database refuses a JSON-lines path
  stores_opened.fetch_add(1);
  return store;
}

int64_t RecordStore::opened_count() { return stores_opened.load(); }

}  // namespace tessel::autotune
