// Tuning records as JSON lines: one measured candidate per line, appended (and fsync'ed) as the
// search goes, so that a killed run loses nothing already written. Loading skips corrupt or
// truncated lines and counts them. The best valid record per (workload key, target) serves the
// graph compiler as a schedule provider. Where records live (a JSON-lines file or an SQLite
// database) is a RecordStore (record_store.h); load_records, append_records and the provider's
// path constructor are one-shot conveniences that open one. Reading never creates a missing file.
//
// Line format (version 1): {"version":1, "workload_key":..., "task":..., "target":"llvm -mtriple=...",
// "hardware":{...}, "steps":{"version":1,"steps":[...]}, "costs":[seconds...], "error":0,
// "error_name":"none", "timestamp":unix seconds}
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tessel/autotune/measure.h"
#include "tessel/relay_like/compile.h"

namespace tessel::autotune {

constexpr int kRecordFormatVersion = 1;

struct TuningRecord {
  std::string workload_key;
  std::string task_name;
  std::string target;          // codegen::Target::to_string()
  HardwareParams hardware;
  std::string steps_json;      // te::steps_to_json
  std::vector<double> costs;   // seconds per run, per repeat
  MeasureError error = MeasureError::kNone;
  double timestamp = 0;
  int version = kRecordFormatVersion;
  // Mean cost; +inf for failed records.
  double mean_cost() const;
};

std::string record_to_json(const TuningRecord& record);
// Nothing for a corrupt line or an unknown newer version.
std::optional<TuningRecord> record_from_json(const std::string& line);

struct LoadedRecords {
  std::vector<TuningRecord> records;
  int corrupt_lines = 0;
};
// Opens the store at `path` read-only and returns its records. A missing file loads as empty; a
// database that is corrupt or not a Tessel database is a CompileError.
LoadedRecords load_records(const std::string& path);
// Opens the store at `path` and appends the records; CompileError when it cannot be written.
void append_records(const std::string& path, const std::vector<TuningRecord>& records);
// Appends records to a JSON-lines file, one line each, and fsyncs (the JSON-lines store's writer).
void append_record_lines(const std::string& path, const std::vector<TuningRecord>& records);

// A later record of the same schedule (workload, target and steps) supersedes the earlier ones:
// the tuner re-measures its best few schedules at the end of a run (TuneOptions::confirm_top), so
// that one lucky timing on a noisy machine does not keep a schedule on top. Superseded records
// stay stored; the best / top-k answers (here and in the database) only skip them.
//
// The valid record with the lowest mean cost for (workload_key, target) among those no later
// record supersedes, if any.
std::optional<TuningRecord> best_record(const std::vector<TuningRecord>& records, const std::string& workload_key,
                                        const std::string& target);
// The records no later record of the same (workload, target, steps) supersedes, in order.
std::vector<const TuningRecord*> current_records(const std::vector<TuningRecord>& records);

class RecordStore;

// The graph compiler's schedule provider over a record store (its best records read once, at
// construction; a missing file provides nothing). The rule is the store's best(): the valid
// current record with the lowest mean cost, the default schedule's own record among them.
class RecordScheduleProvider : public relay::ScheduleProvider {
 public:
  explicit RecordScheduleProvider(const RecordStore& store);
  // Opens the store at `path` read-only for the lookup.
  explicit RecordScheduleProvider(const std::string& path);
  std::optional<std::vector<te::Step>> find(const std::string& workload_key,
                                            const codegen::Target& target) const override;
  int corrupt_lines() const { return corrupt_lines_; }
  size_t size() const { return best_.size(); }

 private:
  std::optional<std::vector<te::Step>> lookup(const std::string& workload_key, const std::string& target) const;
  std::map<std::pair<std::string, std::string>, TuningRecord> best_;  // (key, target string) -> best
  int corrupt_lines_ = 0;
};

}  // namespace tessel::autotune
