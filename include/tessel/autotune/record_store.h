// The record store: one interface over where tuning records live, an SQLite tuning database
// (database.h) or a JSON-lines file (records.h line format). A command opens its store once
// (RecordStore::open, which decides the kind from the path and validates the file) and hands the
// open store to everything that reads or writes records: the task scheduler, the record writer,
// the graph compiler's schedule provider and the Python API. Both kinds answer the same queries
// by the same rule: a later record of a schedule supersedes its earlier ones (records.h), and
// the best record is the valid current one with the lowest mean cost.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessel/autotune/records.h"

namespace tessel::autotune {

class Database;

class RecordStore {
 public:
  virtual ~RecordStore() = default;
  // A path ending in ".jsonl" or ".json" is a JSON-lines file (is_jsonl_path), anything else a
  // database; this is the one place that tells them apart. The file is validated here and only
  // here (a database's header, quick_check, application id and schema; a JSON-lines file's lines,
  // corrupt ones skipped and counted). A missing file is created (a database at once, with its
  // folders; a JSON-lines file at the first write), unless `read_only`: then nothing is ever
  // created or written, a missing file reads as empty and the write methods throw CompileError. CompileError for a file that is not a Tessel database or cannot be read.
  static std::unique_ptr<RecordStore> open(const std::string& path, bool read_only = false);
  // The same for a path that must name a database (the CLI's `db` commands, tessel.database):
  // a JSON-lines path is a CompileError.
  static std::unique_ptr<RecordStore> open_database(const std::string& path, bool read_only = false);
  // Stores opened in this process so far (tests check that a command opens its store once).
  static int64_t opened_count();

  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  virtual bool is_database() const = 0;
  // The SQLite database behind a database store, for what only a database keeps (workload
  // summaries, JSON-lines export and import); nullptr for a JSON-lines file.
  virtual Database* database() { return nullptr; }
  // Lines skipped as corrupt when a JSON-lines file was read (0 for a database).
  virtual int corrupt_lines() const { return 0; }

  // Records in insertion order; an empty key / target matches everything; limit < 0: all.
  virtual std::vector<TuningRecord> records(const std::string& workload_key = "", const std::string& target = "",
                                            int64_t limit = -1) const = 0;
  virtual int64_t count(const std::string& workload_key = "", const std::string& target = "") const = 0;
  // The valid current record with the lowest mean cost for (workload, target), if any.
  virtual std::optional<TuningRecord> best(const std::string& workload_key, const std::string& target) const = 0;
  // The k best valid current records, best first.
  virtual std::vector<TuningRecord> top_k(const std::string& workload_key, const std::string& target, int k) const = 0;
  // best() of every (workload, target) pair (of one target when `target` is not empty), ordered
  // by workload key then target.
  virtual std::vector<TuningRecord> best_records(const std::string& target = "") const = 0;

  // Appends records: one transaction in a database, appended lines and an fsync in a file.
  virtual void add_records(const std::vector<TuningRecord>& records) = 0;
  // The DAG text of a workload (a database keeps it; a JSON-lines file has no place for it).
  virtual void add_workload(const std::string& workload_key, const std::string& task_name,
                            const std::string& dag_text) = 0;
  // Cost-model snapshots: a database keeps the newest per (target, model); a file keeps none.
  virtual void put_cost_model(const std::string& target, const std::string& model_name, const std::string& blob) = 0;
  virtual std::optional<std::string> latest_cost_model(const std::string& target,
                                                       const std::string& model_name) const = 0;

 protected:
  RecordStore(std::string path, bool read_only) : path_(std::move(path)), read_only_(read_only) {}

 private:
  std::string path_;
  bool read_only_;
};

}  // namespace tessel::autotune
