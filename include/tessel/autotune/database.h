// The tuning-record database: an embedded SQLite file (WAL mode, every write in a transaction)
// holding the workloads (key and DAG text), every measured record (workload, target, hardware
// parameters, step list, costs, error code, timestamp, format version) and cost-model snapshots.
// Several processes may tune into one file at the same time; a busy database is waited for, never
// skipped. A file that is not a Tessel database (or is corrupt) is a CompileError and is never
// written to. JSON-lines export/import (records.h line format) shares records between machines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessel/autotune/records.h"

namespace tessel::autotune {

// The file's `PRAGMA application_id` ("TSDB") and `PRAGMA user_version` (schema version). A file
// with a newer schema version is refused rather than misread.
constexpr int32_t kDatabaseApplicationId = 0x54534442;
constexpr int kDatabaseSchemaVersion = 1;

// $TESSEL_DB if set, else ~/.cache/tessel/tuning.db.
std::string default_database_path();

// Paths ending in ".jsonl" or ".json" are JSON-lines record files; everything else is a database.
bool is_jsonl_path(const std::string& path);

struct WorkloadSummary {
  std::string workload_key;
  std::string task_name;
  std::string dag_text;
  std::vector<std::string> targets;  // targets with records
  int64_t records = 0;               // all records
  int64_t valid = 0;                 // records without error
  double best_seconds = 0;           // the best record's mean cost (best()), +inf when none
};

struct ImportStats {
  int64_t imported = 0;    // new records stored
  int64_t duplicates = 0;  // lines identical to a stored record (same workload, target, steps, costs)
  int64_t corrupt = 0;     // corrupt, truncated or newer-version lines skipped
};

class Database {
 public:
  // Opens (creating the file and its parent directories when missing) a database. CompileError
  // when the file exists but is not a Tessel database, is corrupt, or cannot be opened.
  // An existing file is validated through a read-only connection (SQLite header, `PRAGMA
  // quick_check`, application id, schema version) before anything is written to it; an empty
  // (0-byte) file is initialised.
  // A path ending in .jsonl/.json (is_jsonl_path) is refused: those are JSON-lines files.
  // `read_only`: nothing is ever created or written; a missing (or empty) file reads as an empty
  // database, and the write methods throw CompileError. (When it is the last connection to close,
  // SQLite's checkpoint may still move already committed records from the -wal file into the
  // database file; the data stays the same.)
  explicit Database(const std::string& path, bool read_only = false);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::string& path() const { return path_; }
  bool read_only() const;

  // The DAG text of a workload (idempotent; the first text stored is kept).
  void add_workload(const std::string& workload_key, const std::string& task_name, const std::string& dag_text);
  // Appends records in one transaction (their workloads are added with empty text if unknown).
  void add_records(const std::vector<TuningRecord>& records);

  // The valid record with the lowest mean cost, if any. Here and in top_k and best_records, a
  // record a later record of the same steps supersedes is skipped (see records.h).
  std::optional<TuningRecord> best(const std::string& workload_key, const std::string& target) const;
  // The k valid records with the lowest mean costs, best first.
  std::vector<TuningRecord> top_k(const std::string& workload_key, const std::string& target, int k) const;
  // Records in insertion order; empty key / target match everything; limit < 0: all.
  std::vector<TuningRecord> records(const std::string& workload_key = "", const std::string& target = "",
                                    int64_t limit = -1) const;
  int64_t count(const std::string& workload_key = "", const std::string& target = "") const;
  // The best valid record of every (workload, target) pair (of one target when `target` is not
  // empty), ordered by workload key then target; ties go to the earlier record.
  std::vector<TuningRecord> best_records(const std::string& target = "") const;
  std::vector<WorkloadSummary> workloads() const;

  // Cost-model snapshots (opaque bytes written by CostModel::save), newest wins; storing one
  // replaces the older snapshots of the same (target, model name).
  void put_cost_model(const std::string& target, const std::string& model_name, const std::string& blob);
  std::optional<std::string> latest_cost_model(const std::string& target, const std::string& model_name) const;

  // JSON lines, one record per line (records.h format), in insertion order; returns lines written.
  // The file is written next to `path` and renamed over it, so a failed export leaves no half file.
  int64_t export_jsonl(const std::string& path, const std::string& workload_key = "",
                       const std::string& target = "") const;
  // One transaction. Corrupt, truncated and newer-version lines are skipped, counted and reported
  // in one warning on stderr; duplicates are skipped. CompileError when `path` cannot be read.
  ImportStats import_jsonl(const std::string& path);

 private:
  struct Impl;
  Impl* impl_;
  std::string path_;
};

}  // namespace tessel::autotune
