// Tuning records: the JSON-lines serialisation, the JSON-lines writer (append with fsync), the
// supersede rule and best-record query, one-shot helpers over a RecordStore, and the schedule
// provider the graph compiler uses.
#include "tessel/autotune/records.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <string_view>
#include <tuple>
#include <nlohmann/json.hpp>

#include "tessel/autotune/record_store.h"
#include "tessel/ir/error.h"

namespace tessel::autotune {

double TuningRecord::mean_cost() const {
  if (error != MeasureError::kNone || costs.empty()) return std::numeric_limits<double>::infinity();
  double sum = 0;
  for (double c : costs) sum += c;
  return sum / static_cast<double>(costs.size());
}

std::string record_to_json(const TuningRecord& r) {
  nlohmann::json j;
  j["version"] = r.version;
  j["workload_key"] = r.workload_key;
  j["task"] = r.task_name;
  j["target"] = r.target;
  j["hardware"] = nlohmann::json::parse(r.hardware.to_json());
  j["steps"] = nlohmann::json::parse(r.steps_json);
  j["costs"] = r.costs;
  j["error"] = static_cast<int>(r.error);
  j["error_name"] = error_name(r.error);
  j["timestamp"] = r.timestamp;
  return j.dump();
}

std::optional<TuningRecord> record_from_json(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    TuningRecord r;
    r.version = j.at("version").get<int>();
    if (r.version > kRecordFormatVersion || r.version < 1) return std::nullopt;
    r.workload_key = j.at("workload_key").get<std::string>();
    r.task_name = j.value("task", std::string());
    r.target = j.at("target").get<std::string>();
    r.hardware = HardwareParams::from_json(j.at("hardware").dump());
    r.steps_json = j.at("steps").dump();
    te::steps_from_json(r.steps_json);  // validates
    r.costs = j.at("costs").get<std::vector<double>>();
    int error = j.at("error").get<int>();
    if (error < 0 || error > static_cast<int>(MeasureError::kRunTimeout)) return std::nullopt;
    r.error = static_cast<MeasureError>(error);
    r.timestamp = j.value("timestamp", 0.0);
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

LoadedRecords load_records(const std::string& path) {
  auto store = RecordStore::open(path, /*read_only=*/true);
  return LoadedRecords{store->records(), store->corrupt_lines()};
}

void append_records(const std::string& path, const std::vector<TuningRecord>& records) {
  if (records.empty()) return;
  RecordStore::open(path)->add_records(records);
}

void append_record_lines(const std::string& path, const std::vector<TuningRecord>& records) {
  if (records.empty()) return;
  std::string text;
  for (const TuningRecord& r : records) text += record_to_json(r) + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  user_check(fd >= 0) << "tuning records: cannot open '" << path << "' for writing";
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n <= 0) {
      ::close(fd);
      user_error() << "tuning records: write to '" << path << "' failed";
    }
    written += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
}

std::vector<const TuningRecord*> current_records(const std::vector<TuningRecord>& records) {
  std::map<std::tuple<std::string_view, std::string_view, std::string_view>, size_t> latest;
  for (size_t i = 0; i < records.size(); ++i) {
    latest[{records[i].workload_key, records[i].target, records[i].steps_json}] = i;
  }
  std::vector<size_t> kept;
  for (const auto& entry : latest) kept.push_back(entry.second);
  std::sort(kept.begin(), kept.end());
  std::vector<const TuningRecord*> out;
  for (size_t i : kept) out.push_back(&records[i]);
  return out;
}

std::optional<TuningRecord> best_record(const std::vector<TuningRecord>& records, const std::string& workload_key,
                                        const std::string& target) {
  const TuningRecord* best = nullptr;
  for (const TuningRecord* r : current_records(records)) {
    if (r->workload_key != workload_key || r->target != target || !std::isfinite(r->mean_cost())) continue;
    if (!best || r->mean_cost() < best->mean_cost()) best = r;
  }
  if (!best) return std::nullopt;
  return *best;
}

RecordScheduleProvider::RecordScheduleProvider(const RecordStore& store) : corrupt_lines_(store.corrupt_lines()) {
  if (corrupt_lines_ > 0) {
    std::cerr << "[tessel] warning: skipped " << corrupt_lines_ << " corrupt line(s) in tuning records '"
              << store.path() << "'" << std::endl;
  }
  for (TuningRecord& r : store.best_records()) {
    auto key = std::make_pair(r.workload_key, r.target);
    best_.emplace(std::move(key), std::move(r));
  }
}

RecordScheduleProvider::RecordScheduleProvider(const std::string& path)
    : RecordScheduleProvider(*RecordStore::open(path, /*read_only=*/true)) {}

std::optional<std::vector<te::Step>> RecordScheduleProvider::lookup(const std::string& workload_key,
                                                                    const std::string& target) const {
  auto it = best_.find({workload_key, target});
  if (it == best_.end()) return std::nullopt;
  return te::steps_from_json(it->second.steps_json);
}

std::optional<std::vector<te::Step>> RecordScheduleProvider::find(const std::string& workload_key,
                                                                  const codegen::Target& target) const {
  return lookup(workload_key, target.to_string());
}

}  // namespace tessel::autotune
