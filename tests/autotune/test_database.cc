// The SQLite tuning-record database: field round trip, best / top-k / count / listing against a
// naive reference, target separation, 4 processes writing one file at once, JSON-lines
// export/import with corrupt lines, refusal (without a byte changed) of files that are not Tessel
// databases, read-only opening, cost-model snapshots and the records.h path dispatch.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "tessel/autotune/database.h"
#include "tessel/autotune/records.h"
#include "tessel/codegen/llvm.h"
#include "tessel/ir/error.h"
#include "tessel/te/schedule.h"

namespace tessel::autotune {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() / ("tessel_db_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

const std::string kTargetA = "llvm -mtriple=x86_64-unknown-linux-gnu -mcpu=skylake-avx512 -mattr=";
const std::string kTargetB = "llvm -mtriple=aarch64-linux-gnu -mcpu=generic -mattr=";

// Distinct steps per `tag` so that records are told apart by their step list.
std::string steps_for(int tag, int stage = 1) {
  return te::steps_to_json({te::Step{"split", stage, {0}, {tag, 3}, ""}, te::Step{"parallel", stage, {0}, {}, ""},
                            te::Step{"pragma", stage, {1}, {16}, "auto_unroll_max_step"}});
}

TuningRecord make_record(const std::string& key, const std::string& target, int tag, std::vector<double> costs,
                         MeasureError error = MeasureError::kNone) {
  TuningRecord r;
  r.workload_key = key;
  r.task_name = "task_" + key;
  r.target = target;
  r.hardware.num_cores = 3 + tag % 5;
  r.hardware.vector_bits = tag % 2 ? 256 : 512;
  r.hardware.l2_bytes = 1024 * (1000 + tag);
  r.steps_json = steps_for(tag);
  r.costs = std::move(costs);
  r.error = error;
  r.timestamp = 1700000000.25 + tag;
  return r;
}

void expect_same(const TuningRecord& a, const TuningRecord& b) {
  EXPECT_EQ(a.workload_key, b.workload_key);
  EXPECT_EQ(a.task_name, b.task_name);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.hardware, b.hardware);
  EXPECT_EQ(a.steps_json, b.steps_json);
  EXPECT_EQ(a.costs, b.costs);  // bit-exact
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.version, b.version);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

void sqlite_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

TEST(Database, RoundTripsEveryField) {
  TempDir dir("roundtrip");
  std::string path = dir.file("nested/dirs/tuning.db");  // parent directories are created
  std::vector<TuningRecord> in = {
      make_record("wk1", kTargetA, 1, {1.25e-3, 1.5e-3, 0.1 + 0.2}),
      make_record("wk1", kTargetA, 2, {}, MeasureError::kCompile),
      make_record("wk2", kTargetB, 3, {2e-4}, MeasureError::kWrongAnswer),  // failed despite a cost
      make_record("wk2", kTargetB, 4, {std::nextafter(1e-5, 1.0), 3.14159e-7}),
  };
  {
    Database db(path);
    EXPECT_EQ(db.path(), path);
    EXPECT_FALSE(db.read_only());
    db.add_records({in[0], in[1]});
    db.add_records({in[2], in[3]});
  }
  // The file is in WAL mode (header bytes 18 and 19 are 2).
  std::string header = read_bytes(path).substr(0, 20);
  EXPECT_EQ(header[18], 2);
  EXPECT_EQ(header[19], 2);
  Database db(path);  // reopened: everything was committed
  auto out = db.records();
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) expect_same(out[i], in[i]);
  EXPECT_TRUE(std::isinf(out[1].mean_cost()));
  EXPECT_TRUE(std::isinf(out[2].mean_cost()));
  // Failed records are stored but never best, even with a lower cost.
  expect_same(*db.best("wk2", kTargetB), in[3]);
  EXPECT_FALSE(db.best("wk1", kTargetB));
  EXPECT_EQ(db.count(), 4);
}

TEST(Database, BestTopKCountAndListingMatchNaiveReference) {
  TempDir dir("queries");
  Database db(dir.file("tuning.db"));
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> cost(1e-5, 1e-2);
  std::vector<TuningRecord> all;
  const std::vector<std::string> keys = {"conv", "dense", "pool"};
  for (int i = 0; i < 137; ++i) {
    const std::string& key = keys[rng() % keys.size()];
    const std::string& target = rng() % 3 ? kTargetA : kTargetB;
    MeasureError error = rng() % 5 == 0 ? MeasureError::kRuntime : MeasureError::kNone;
    std::vector<double> costs;
    if (error == MeasureError::kNone) costs = {cost(rng), cost(rng), cost(rng)};
    all.push_back(make_record(key, target, i, costs, error));
  }
  // Mixed batch sizes, one transaction each.
  for (size_t i = 0; i < all.size();) {
    size_t n = std::min<size_t>(1 + i % 7, all.size() - i);
    db.add_records(std::vector<TuningRecord>(all.begin() + i, all.begin() + i + n));
    i += n;
  }
  db.add_workload("unused", "never_tuned", "dag text of unused");
  EXPECT_EQ(db.count(), 137);
  for (const std::string& key : keys) {
    for (const std::string& target : {kTargetA, kTargetB}) {
      std::vector<TuningRecord> valid;
      int64_t n = 0;
      for (const TuningRecord& r : all) {
        if (r.workload_key != key || r.target != target) continue;
        ++n;
        if (std::isfinite(r.mean_cost())) valid.push_back(r);
      }
      std::stable_sort(valid.begin(), valid.end(),
                       [](const TuningRecord& a, const TuningRecord& b) { return a.mean_cost() < b.mean_cost(); });
      EXPECT_EQ(db.count(key, target), n);
      auto top = db.top_k(key, target, 5);
      ASSERT_EQ(top.size(), std::min<size_t>(5, valid.size()));
      for (size_t i = 0; i < top.size(); ++i) expect_same(top[i], valid[i]);
      auto best = db.best(key, target);
      ASSERT_EQ(best.has_value(), !valid.empty());
      if (best) expect_same(*best, valid[0]);
      auto listed = db.records(key, target);
      ASSERT_EQ(static_cast<int64_t>(listed.size()), n);
    }
    int64_t per_key = std::count_if(all.begin(), all.end(), [&](const TuningRecord& r) { return r.workload_key == key; });
    EXPECT_EQ(db.count(key), per_key);
  }
  EXPECT_EQ(db.count("", kTargetB),
            std::count_if(all.begin(), all.end(), [](const TuningRecord& r) { return r.target == kTargetB; }));
  EXPECT_EQ(db.count("nope"), 0);
  EXPECT_TRUE(db.top_k("conv", kTargetA, 0).empty());
  // Insertion order and limit.
  auto first = db.records("", "", 10);
  ASSERT_EQ(first.size(), 10u);
  for (size_t i = 0; i < first.size(); ++i) expect_same(first[i], all[i]);

  auto summaries = db.workloads();
  ASSERT_EQ(summaries.size(), 4u);
  for (const WorkloadSummary& w : summaries) {
    if (w.workload_key == "unused") {
      EXPECT_EQ(w.task_name, "never_tuned");
      EXPECT_EQ(w.dag_text, "dag text of unused");
      EXPECT_EQ(w.records, 0);
      EXPECT_TRUE(w.targets.empty());
      EXPECT_TRUE(std::isinf(w.best_seconds));
      continue;
    }
    int64_t records = 0, valid = 0;
    double best = std::numeric_limits<double>::infinity();
    std::set<std::string> targets;
    for (const TuningRecord& r : all) {
      if (r.workload_key != w.workload_key) continue;
      ++records;
      targets.insert(r.target);
      if (std::isfinite(r.mean_cost())) {
        ++valid;
        best = std::min(best, r.mean_cost());
      }
    }
    EXPECT_EQ(w.task_name, "task_" + w.workload_key);
    EXPECT_EQ(w.records, records);
    EXPECT_EQ(w.valid, valid);
    EXPECT_DOUBLE_EQ(w.best_seconds, best);
    EXPECT_EQ(std::set<std::string>(w.targets.begin(), w.targets.end()), targets);
  }
  // best_records: one per (workload, target) with a valid record, equal to best().
  auto bests = db.best_records();
  for (const TuningRecord& r : bests) expect_same(r, *db.best(r.workload_key, r.target));
  for (const TuningRecord& r : db.best_records(kTargetB)) EXPECT_EQ(r.target, kTargetB);
}

TEST(Database, WorkloadTextFirstNonEmptyIsKept) {
  TempDir dir("workloads");
  Database db(dir.file("tuning.db"));
  db.add_records({make_record("w", kTargetA, 1, {1e-3})});  // workload known only by key and task
  db.add_workload("w", "other_name", "first text");
  db.add_workload("w", "third_name", "second text");
  auto w = db.workloads();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].task_name, "task_w");
  EXPECT_EQ(w[0].dag_text, "first text");
}

TEST(Database, RecordsOfAnotherTargetAreNeverBest) {
  TempDir dir("targets");
  std::string path = dir.file("tuning.db");
  {
    Database db(path);
    db.add_records({make_record("w", kTargetB, 1, {1e-9}),  // far faster, but another target
                    make_record("w", kTargetA, 2, {5e-3}), make_record("w", kTargetA, 3, {4e-3})});
    auto best = db.best("w", kTargetA);
    ASSERT_TRUE(best);
    EXPECT_EQ(best->target, kTargetA);
    EXPECT_EQ(best->costs, std::vector<double>{4e-3});
    for (const TuningRecord& r : db.top_k("w", kTargetA, 10)) EXPECT_EQ(r.target, kTargetA);
    EXPECT_EQ(db.top_k("w", kTargetA, 10).size(), 2u);
    EXPECT_FALSE(db.best("w", "llvm -mtriple=riscv64"));
  }
  RecordScheduleProvider provider(path);
  EXPECT_EQ(provider.size(), 2u);
  auto host = codegen::Target::host();
  auto steps = provider.find("w", host);
  if (host.to_string() == kTargetA) {
    ASSERT_TRUE(steps);
    EXPECT_EQ(te::steps_to_json(*steps), steps_for(3));
  } else if (host.to_string() != kTargetB) {
    EXPECT_FALSE(steps);
  }
}

TEST(Database, FourProcessesWritingAtOnceLoseNothing) {
  TempDir dir("concurrent");
  std::string path = dir.file("tuning.db");
  constexpr int kProcesses = 4, kPerProcess = 200;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int status = 0;
      try {
        Database db(path);  // all four may create the file at the same moment
        for (int i = 0; i < kPerProcess;) {
          int n = std::min(1 + (i + p) % 3, kPerProcess - i);
          std::vector<TuningRecord> batch;
          for (int j = 0; j < n; ++j) {
            int tag = p * 1000 + i + j;
            batch.push_back(make_record("w" + std::to_string(tag % 3), kTargetA, tag, {1e-3 + tag * 1e-7}));
          }
          db.add_records(batch);
          if (i % 50 == 0) (void)db.best("w0", kTargetA);  // readers alongside the writers
          i += n;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        status = 1;
      }
      ::_exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  Database db(path);
  EXPECT_EQ(db.count(), kProcesses * kPerProcess);
  auto all = db.records();
  ASSERT_EQ(all.size(), static_cast<size_t>(kProcesses * kPerProcess));
  std::set<std::string> steps;
  std::map<int, std::vector<double>> per_process;  // each process's records in its own order
  for (const TuningRecord& r : all) {
    steps.insert(r.steps_json);
    double tag = std::round((r.costs.at(0) - 1e-3) / 1e-7);
    per_process[static_cast<int>(tag) / 1000].push_back(tag);
  }
  EXPECT_EQ(steps.size(), all.size()) << "a record was stored twice";
  ASSERT_EQ(per_process.size(), static_cast<size_t>(kProcesses));
  for (auto& [p, tags] : per_process) {
    ASSERT_EQ(tags.size(), static_cast<size_t>(kPerProcess));
    for (int i = 0; i < kPerProcess; ++i) EXPECT_EQ(tags[i], p * 1000 + i);
  }
}

TEST(Database, ExportImportSkipsCorruptLinesAndDuplicates) {
  TempDir dir("jsonl");
  Database source(dir.file("source.db"));
  std::vector<TuningRecord> in;
  for (int i = 0; i < 9; ++i) {
    in.push_back(make_record(i % 2 ? "a" : "b", i % 3 ? kTargetA : kTargetB, i, {1e-3 * (i + 1), 2e-3},
                             i == 4 ? MeasureError::kRunTimeout : MeasureError::kNone));
  }
  source.add_records(in);
  std::string exported = dir.file("out/all.jsonl");
  EXPECT_EQ(source.export_jsonl(exported), 9);
  EXPECT_EQ(source.export_jsonl(dir.file("a.jsonl"), "a"), 4);
  EXPECT_EQ(source.export_jsonl(dir.file("a_b.jsonl"), "a", kTargetB), 1);
  EXPECT_EQ(load_records(dir.file("a_b.jsonl")).records.size(), 1u);

  // Every exported line is a records.h line that parses back to the same record.
  std::vector<std::string> lines;
  {
    std::ifstream f(exported);
    for (std::string line; std::getline(f, line);) lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 9u);
  for (size_t i = 0; i < lines.size(); ++i) expect_same(*record_from_json(lines[i]), in[i]);

  std::string version99 = lines[0];
  version99.replace(version99.rfind("\"version\":1"), 11, "\"version\":99");
  std::string wrong_types = lines[1];
  wrong_types.replace(wrong_types.find("\"costs\":["), 9, "\"costs\":\"fast\",\"x\":[");
  std::string mixed = dir.file("mixed.jsonl");
  {
    std::ofstream f(mixed, std::ios::binary);
    f << lines[0] << "\n" << lines[1] << "\n";
    f << "garbage {{{ not json\n";
    f << "\n";  // blank lines are ignored, not corrupt
    f << version99 << "\n";
    f << wrong_types << "\n";
    f << "[1, 2, 3]\n";
    for (size_t i = 2; i < lines.size(); ++i) f << lines[i] << "\n";
    f << lines[3] << "\n";                                   // a duplicate
    f << lines[5].substr(0, lines[5].size() / 2);            // truncated last line, no newline
  }
  Database target(dir.file("target.db"));
  target.add_records({in[7]});  // already present: a duplicate too
  ImportStats stats = target.import_jsonl(mixed);
  EXPECT_EQ(stats.imported, 8);
  EXPECT_EQ(stats.duplicates, 2);
  EXPECT_EQ(stats.corrupt, 5);
  EXPECT_EQ(target.count(), 9);
  for (const char* key : {"a", "b"}) {
    for (const std::string& t : {kTargetA, kTargetB}) {
      auto want = source.best(key, t), got = target.best(key, t);
      ASSERT_EQ(want.has_value(), got.has_value());
      if (want) expect_same(*got, *want);
    }
  }
  // Importing again adds nothing.
  ImportStats again = target.import_jsonl(exported);
  EXPECT_EQ(again.imported, 0);
  EXPECT_EQ(again.duplicates, 9);
  EXPECT_EQ(target.count(), 9);
  EXPECT_THROW(target.import_jsonl(dir.file("missing.jsonl")), CompileError);
}

// Opening `path` (read-write or read-only) is a CompileError naming the path, and no byte changes.
void expect_refused(const std::string& path, const std::string& reason) {
  std::string before = read_bytes(path);
  ASSERT_FALSE(before.empty());
  for (bool read_only : {false, true}) {
    try {
      Database db(path, read_only);
      ADD_FAILURE() << "opened " << path << " (read_only " << read_only << ")";
    } catch (const CompileError& e) {
      std::string message = e.what();
      EXPECT_NE(message.find(path), std::string::npos) << message;
      EXPECT_NE(message.find(reason), std::string::npos) << message;
    }
  }
  EXPECT_THROW(load_records(path), CompileError);
  EXPECT_THROW(append_records(path, {make_record("w", kTargetA, 1, {1e-3})}), CompileError);
  EXPECT_THROW(RecordScheduleProvider provider(path), CompileError);
  EXPECT_EQ(read_bytes(path), before) << path << " was modified";
  EXPECT_FALSE(fs::exists(path + "-wal") && fs::file_size(path + "-wal") > 0);
}

TEST(Database, CorruptOrForeignFilesAreRefusedUnchanged) {
  TempDir dir("corrupt");
  std::mt19937 rng(3);
  std::string random_bytes(8192, '\0');
  for (char& c : random_bytes) c = static_cast<char>(rng());
  write_bytes(dir.file("random.db"), random_bytes);
  expect_refused(dir.file("random.db"), "not an SQLite file");

  // A real database cut in half (after its last connection closed, so everything is in the file).
  std::string real = dir.file("real.db");
  {
    Database db(real);
    for (int i = 0; i < 40; ++i) {
      std::vector<TuningRecord> batch;
      for (int j = 0; j < 10; ++j) batch.push_back(make_record("w" + std::to_string(j), kTargetA, i * 10 + j, {1e-3}));
      db.add_records(batch);
    }
  }
  std::string bytes = read_bytes(real);
  ASSERT_GT(bytes.size(), 64u * 1024);
  write_bytes(dir.file("truncated.db"), bytes.substr(0, bytes.size() / 2));
  expect_refused(dir.file("truncated.db"), "corrupt");
  write_bytes(dir.file("header_only.db"), bytes.substr(0, 300));
  expect_refused(dir.file("header_only.db"), "truncated");
  // SQLite's header, then garbage pages (the size the header promises).
  std::string garbage_pages = bytes.substr(0, 100);
  while (garbage_pages.size() < bytes.size()) garbage_pages += static_cast<char>(rng());
  write_bytes(dir.file("garbage_pages.db"), garbage_pages);
  expect_refused(dir.file("garbage_pages.db"), "corrupt");
  // One page in the middle overwritten.
  std::string damaged = bytes;
  for (size_t i = bytes.size() / 2 / 4096 * 4096, end = i + 4096; i < end; ++i) damaged[i] = static_cast<char>(rng());
  write_bytes(dir.file("damaged.db"), damaged);
  expect_refused(dir.file("damaged.db"), "corrupt");

  std::string other = dir.file("other_app.db");
  sqlite_exec(other, "CREATE TABLE records(id INTEGER, text TEXT); INSERT INTO records VALUES (1, 'theirs');");
  expect_refused(other, "another application");
  std::string other_id = dir.file("other_id.db");
  sqlite_exec(other_id, "PRAGMA application_id = 1234; CREATE TABLE t(x);");
  expect_refused(other_id, "another application");

  std::string newer = dir.file("newer.db");
  fs::copy_file(real, newer);
  sqlite_exec(newer, "PRAGMA user_version = 99;");
  expect_refused(newer, "schema version 99");

  // A directory is not a database either.
  fs::create_directories(dir.file("a_dir.db"));
  EXPECT_THROW(Database db(dir.file("a_dir.db")), CompileError);

  // The intact original still opens and holds everything.
  EXPECT_EQ(Database(real).count(), 400);
}

TEST(Database, EmptyFilesAreInitialised) {
  TempDir dir("empty");
  std::string path = dir.file("empty.db");
  write_bytes(path, "");
  EXPECT_EQ(Database(path, true).count(), 0);  // read-only: still empty, nothing written
  EXPECT_EQ(fs::file_size(path), 0u);
  {
    Database db(path);
    db.add_records({make_record("w", kTargetA, 1, {1e-3})});
  }
  EXPECT_EQ(Database(path).count(), 1);
  // An SQLite file without tables (e.g. made by `sqlite3 x.db ''`) is initialised too.
  std::string bare = dir.file("bare.db");
  sqlite_exec(bare, "CREATE TABLE t(x); DROP TABLE t; VACUUM;");
  ASSERT_GT(fs::file_size(bare), 0u);
  EXPECT_EQ(Database(bare, true).count(), 0);
  Database(bare).add_records({make_record("w", kTargetA, 1, {1e-3})});
  EXPECT_EQ(Database(bare).count(), 1);
}

TEST(Database, ReadOnlyNeverCreatesOrWrites) {
  TempDir dir("readonly");
  std::string missing = dir.file("not/there/tuning.db");
  {
    Database db(missing, true);
    EXPECT_TRUE(db.read_only());
    EXPECT_EQ(db.count(), 0);
    EXPECT_TRUE(db.records().empty());
    EXPECT_TRUE(db.workloads().empty());
    EXPECT_TRUE(db.best_records().empty());
    EXPECT_FALSE(db.best("w", kTargetA));
    EXPECT_FALSE(db.latest_cost_model(kTargetA, "xgboost"));
    EXPECT_THROW(db.add_records({make_record("w", kTargetA, 1, {1e-3})}), CompileError);
    EXPECT_THROW(db.import_jsonl(missing), CompileError);
  }
  EXPECT_TRUE(load_records(missing).records.empty());
  EXPECT_EQ(RecordScheduleProvider(missing).size(), 0u);
  EXPECT_FALSE(fs::exists(dir.file("not")));

  std::string path = dir.file("tuning.db");
  Database(path).add_records({make_record("w", kTargetA, 1, {1e-3})});
  std::string before = read_bytes(path);
  {
    Database db(path, true);
    EXPECT_EQ(db.count(), 1);
    EXPECT_TRUE(db.read_only());
    EXPECT_THROW(db.put_cost_model(kTargetA, "m", "x"), CompileError);
    EXPECT_THROW(db.add_workload("w", "t", "d"), CompileError);
  }
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_FALSE(fs::exists(path + "-wal"));  // closed last, it checkpointed and removed its files
  EXPECT_FALSE(fs::exists(path + "-shm"));
}

TEST(Database, CostModelSnapshotsNewestWins) {
  TempDir dir("costmodel");
  std::string path = dir.file("tuning.db");
  std::string blob1("model\0one\xff", 10), blob2(100000, '\0');
  std::mt19937 rng(5);
  for (char& c : blob2) c = static_cast<char>(rng());
  {
    Database db(path);
    EXPECT_FALSE(db.latest_cost_model(kTargetA, "xgboost"));
    db.put_cost_model(kTargetA, "xgboost", blob1);
    EXPECT_EQ(*db.latest_cost_model(kTargetA, "xgboost"), blob1);
    db.put_cost_model(kTargetA, "xgboost", blob2);
    db.put_cost_model(kTargetB, "xgboost", "b");
  }
  Database db(path);
  EXPECT_EQ(*db.latest_cost_model(kTargetA, "xgboost"), blob2);
  EXPECT_EQ(*db.latest_cost_model(kTargetB, "xgboost"), "b");
  EXPECT_FALSE(db.latest_cost_model(kTargetA, "random"));
}

// A later record of the same schedule supersedes the earlier ones (the tuner's re-measurement of
// its best schedules): best, top-k, best_records and the compiler's provider skip superseded
// records, in the database and in JSON lines alike; nothing is deleted.
TEST(Database, LaterRecordsOfTheSameScheduleSupersedeEarlierOnes) {
  TempDir dir("supersede");
  const codegen::Target target = codegen::Target::host();
  const std::string t = target.to_string();
  for (const std::string name : {"tuning.db", "tuning.jsonl"}) {
    std::string path = dir.file(name);
    // Schedule 1 first timed lucky (1 ms), then again at 4 ms; 2 and 3 timed once.
    append_records(path, {make_record("w", t, 1, {1e-3}), make_record("w", t, 2, {2e-3}),
                          make_record("w", t, 3, {3e-3}), make_record("other", t, 1, {0.5e-3})});
    append_records(path, {make_record("w", t, 1, {4e-3})});
    LoadedRecords loaded = load_records(path);
    ASSERT_EQ(loaded.records.size(), 5u) << name;  // nothing lost
    auto best = best_record(loaded.records, "w", t);
    ASSERT_TRUE(best.has_value()) << name;
    EXPECT_EQ(best->steps_json, steps_for(2)) << name;
    // The same schedule of another workload is another schedule.
    EXPECT_EQ(best_record(loaded.records, "other", t)->steps_json, steps_for(1)) << name;
    EXPECT_EQ(RecordScheduleProvider(path).find("w", target), te::steps_from_json(steps_for(2))) << name;
    if (!is_jsonl_path(path)) {
      Database db(path, /*read_only=*/true);
      auto top = db.top_k("w", t, 5);
      ASSERT_EQ(top.size(), 3u);
      EXPECT_EQ(top[0].steps_json, steps_for(2));
      EXPECT_EQ(top[1].steps_json, steps_for(3));
      EXPECT_EQ(top[2].steps_json, steps_for(1));
      EXPECT_DOUBLE_EQ(top[2].mean_cost(), 4e-3);
      EXPECT_EQ(db.best("w", t)->steps_json, steps_for(2));
      for (const WorkloadSummary& w : db.workloads()) {  // the summary's best is best()'s cost
        EXPECT_DOUBLE_EQ(w.best_seconds, w.workload_key == "w" ? 2e-3 : 0.5e-3) << w.workload_key;
        EXPECT_EQ(w.records, w.workload_key == "w" ? 4 : 1) << w.workload_key;
      }
      for (const TuningRecord& r : db.best_records()) {
        EXPECT_EQ(r.steps_json, steps_for(r.workload_key == "w" ? 2 : 1)) << r.workload_key;
      }
    }
    // A failed re-measurement takes a schedule out of the running.
    append_records(path, {make_record("w", t, 2, {}, MeasureError::kRunTimeout)});
    EXPECT_EQ(best_record(load_records(path).records, "w", t)->steps_json, steps_for(3)) << name;
    EXPECT_EQ(RecordScheduleProvider(path).find("w", target), te::steps_from_json(steps_for(3))) << name;
    if (!is_jsonl_path(path)) {
      EXPECT_EQ(Database(path, true).best("w", t)->steps_json, steps_for(3));
    }
  }
}

TEST(Database, RecordsFunctionsDispatchOnThePath) {
  TempDir dir("dispatch");
  EXPECT_TRUE(is_jsonl_path("x/records.jsonl"));
  EXPECT_TRUE(is_jsonl_path("records.json"));
  EXPECT_FALSE(is_jsonl_path("tuning.db"));
  EXPECT_FALSE(is_jsonl_path("records.jsonl.db"));
  EXPECT_THROW(Database db(dir.file("records.jsonl")), CompileError);  // never an SQLite file by that name
  EXPECT_FALSE(fs::exists(dir.file("records.jsonl")));
  std::vector<TuningRecord> in = {make_record("w", kTargetA, 1, {2e-3}), make_record("w", kTargetA, 2, {1e-3}),
                                  make_record("w", kTargetA, 3, {}, MeasureError::kRuntime)};
  for (const std::string name : {"tuning.db", "tuning.jsonl"}) {
    std::string path = dir.file(name);
    append_records(path, {in[0]});
    append_records(path, {in[1], in[2]});
    LoadedRecords loaded = load_records(path);
    ASSERT_EQ(loaded.records.size(), 3u) << name;
    for (size_t i = 0; i < in.size(); ++i) expect_same(loaded.records[i], in[i]);
    RecordScheduleProvider provider(path);
    EXPECT_EQ(provider.size(), 1u);
  }
  // The JSON-lines file is plain text; the database is SQLite.
  EXPECT_EQ(read_bytes(dir.file("tuning.db")).substr(0, 15), "SQLite format 3");
  EXPECT_EQ(read_bytes(dir.file("tuning.jsonl")).front(), '{');
}

TEST(Database, DefaultPathFollowsEnvironment) {
  const char* old_db = std::getenv("TESSEL_DB");
  std::string saved_db = old_db ? old_db : "";
  std::string saved_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::setenv("TESSEL_DB", "/somewhere/else.db", 1);
  EXPECT_EQ(default_database_path(), "/somewhere/else.db");
  ::unsetenv("TESSEL_DB");
  ::setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(default_database_path(), "/home/someone/.cache/tessel/tuning.db");
  ::setenv("HOME", saved_home.c_str(), 1);
  if (old_db) ::setenv("TESSEL_DB", saved_db.c_str(), 1);
}

}  // namespace
}  // namespace tessel::autotune
