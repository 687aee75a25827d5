// The SQLite tuning-record database: opening with validation before anything is written, WAL
// mode, write transactions retried while another process holds the write lock, the record and
// workload queries, cost-model snapshots and JSON-lines export/import.
#include "tessel/autotune/database.h"

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include "tessel/ir/error.h"

namespace tessel::autotune {

namespace fs = std::filesystem;

std::string default_database_path() {
  if (const char* env = std::getenv("TESSEL_DB"); env && *env) return env;
  const char* home = std::getenv("HOME");
  user_check(home && *home) << "tuning database: neither TESSEL_DB nor HOME is set; pass a database path";
  return (fs::path(home) / ".cache" / "tessel" / "tuning.db").string();
}

bool is_jsonl_path(const std::string& path) {
  auto ends_with = [&](const char* suffix) {
    size_t n = std::strlen(suffix);
    return path.size() >= n && path.compare(path.size() - n, n, suffix) == 0;
  };
  return ends_with(".jsonl") || ends_with(".json");
}

namespace {

// SQLite's own busy handler waits this long for a lock; our retry loops around transactions (for
// the cases where SQLite returns SQLITE_BUSY without calling the handler, e.g. WAL recovery) give
// up after kRetrySeconds.
constexpr int kBusyTimeoutMs = 60000;
constexpr double kRetrySeconds = 300;

// Thrown by the statement helpers on SQLITE_BUSY / SQLITE_LOCKED; caught by the retry loops.
struct BusyError {};

bool is_busy(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

std::string describe(sqlite3* db, int rc) {
  std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return message + " (" + sqlite3_errstr(rc) + ")";
}

// Fails with the database path and SQLite's message; busy results become BusyError.
void check_rc(sqlite3* db, int rc, const std::string& path, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  if (is_busy(rc)) throw BusyError{};
  user_error() << "tuning database '" << path << "': " << what << " failed: " << describe(db, rc);
}

class Statement {
 public:
  Statement(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt_);
      stmt_ = nullptr;
      check_rc(db, rc, path, "preparing a query");
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& text) {
    check_rc(db_, sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT), path_,
             "binding a value");
    return *this;
  }
  Statement& bind(int i, double value) {
    check_rc(db_, sqlite3_bind_double(stmt_, i, value), path_, "binding a value");
    return *this;
  }
  Statement& bind(int i, int64_t value) {
    check_rc(db_, sqlite3_bind_int64(stmt_, i, value), path_, "binding a value");
    return *this;
  }
  Statement& bind_null(int i) {
    check_rc(db_, sqlite3_bind_null(stmt_, i), path_, "binding a value");
    return *this;
  }
  Statement& bind_blob(int i, const std::string& bytes) {
    check_rc(db_, sqlite3_bind_blob64(stmt_, i, bytes.data(), bytes.size(), SQLITE_TRANSIENT), path_,
             "binding a value");
    return *this;
  }
  // True when a row is available, false when done.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    check_rc(db_, rc, path_, "a query");
    return false;
  }
  void run() {
    while (step()) {
    }
  }
  std::string text(int i) const {
    const unsigned char* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }
  std::string blob(int i) const {
    const void* p = sqlite3_column_blob(stmt_, i);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }
  int64_t int64(int i) const { return sqlite3_column_int64(stmt_, i); }
  double real(int i) const { return sqlite3_column_double(stmt_, i); }
  bool is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  const std::string& path_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const std::string& path, const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (error) sqlite3_free(error);
  check_rc(db, rc, path, sql);
}

int64_t query_int(sqlite3* db, const std::string& path, const char* sql) {
  Statement st(db, path, sql);
  return st.step() ? st.int64(0) : 0;
}

// Runs `fn` until it gets past SQLITE_BUSY/LOCKED, sleeping a little (with jitter, so processes
// do not retry in lockstep) between attempts.
template <typename F>
auto with_retry(const std::string& path, F&& fn) -> decltype(fn()) {
  auto start = std::chrono::steady_clock::now();
  std::minstd_rand jitter(static_cast<unsigned>(::getpid()));
  for (int attempt = 0;; ++attempt) {
    try {
      return fn();
    } catch (const BusyError&) {
      double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      user_check(waited < kRetrySeconds) << "tuning database '" << path << "': still locked by another process after "
                                         << static_cast<int>(waited) << " s";
      int ms = std::min(2 + attempt * 2, 100) + static_cast<int>(jitter() % 10);
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
  }
}

void rollback_quietly(sqlite3* db) {
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

// `fn` inside BEGIN IMMEDIATE ... COMMIT (the write lock is taken up front, so the transaction
// never has to upgrade a read lock and fail). Busy at any point rolls back and redoes everything,
// so `fn` must only touch the database and its own locals.
template <typename F>
void write_transaction(sqlite3* db, const std::string& path, F&& fn) {
  with_retry(path, [&] {
    exec(db, path, "BEGIN IMMEDIATE");
    try {
      fn();
      exec(db, path, "COMMIT");
    } catch (...) {
      rollback_quietly(db);
      throw;
    }
  });
}

// `fn` inside one read transaction (a consistent snapshot across its statements).
template <typename F>
auto read_transaction(sqlite3* db, const std::string& path, F&& fn) -> decltype(fn()) {
  return with_retry(path, [&] {
    exec(db, path, "BEGIN");
    try {
      auto result = fn();
      exec(db, path, "COMMIT");
      return result;
    } catch (...) {
      rollback_quietly(db);
      throw;
    }
  });
}

sqlite3* open_connection(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = describe(db, rc);
    sqlite3_close(db);
    user_error() << "tuning database '" << path << "': cannot open: " << message;
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);
  return db;
}

// Closes `db` when the scope ends unless released.
struct ConnectionGuard {
  sqlite3* db;
  ~ConnectionGuard() {
    if (db) sqlite3_close_v2(db);
  }
  sqlite3* release() { return std::exchange(db, nullptr); }
};

enum class FileState { kEmpty, kTessel };

uint32_t big_endian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Checks on the file's first 100 bytes (SQLite's header) before SQLite opens it: a reader
// connection on a WAL-mode file leaves -wal/-shm files behind, which a file we refuse should not
// get. The header may lag behind a WAL that holds newer commits, so only what the WAL cannot undo
// is decided here; everything else is left to SQLite.
void check_raw_header(const std::string& path, uintmax_t size) {
  unsigned char header[100] = {};
  std::ifstream in(path, std::ios::binary);
  user_check(static_cast<bool>(in)) << "tuning database '" << path << "' cannot be read";
  in.read(reinterpret_cast<char*>(header), sizeof(header));
  user_check(in.gcount() >= 16 && std::memcmp(header, "SQLite format 3", 16) == 0)
      << "'" << path << "' is not a Tessel tuning database: not an SQLite file (unrecognised header); "
      << "it was left unchanged";
  user_check(size >= 512) << "tuning database '" << path << "' is corrupt (truncated: " << size
                          << " bytes); it was left unchanged";
  uint32_t application_id = big_endian32(header + 68), user_version = big_endian32(header + 60);
  if (application_id != 0 && application_id != static_cast<uint32_t>(kDatabaseApplicationId)) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%08x", application_id);
    user_error() << "'" << path << "' is not a Tessel tuning database: an SQLite database of another application "
                 << "(application_id " << hex << "); it was left unchanged";
  }
  user_check(application_id == 0 || user_version <= static_cast<uint32_t>(kDatabaseSchemaVersion))
      << "tuning database '" << path << "' has schema version " << user_version << ", newer than this build of "
      << "Tessel supports (" << kDatabaseSchemaVersion << "); it was left unchanged. Use a newer Tessel";
  // The page count in the header is valid when the change counter matches "version valid for";
  // without a -wal file no checkpoint can be growing the file right now.
  uint32_t page_size = (uint32_t{header[16]} << 8) | header[17];
  uint64_t page_bytes = page_size == 1 ? 65536 : page_size;
  uint64_t pages = big_endian32(header + 28);
  std::error_code ec;
  if (big_endian32(header + 24) == big_endian32(header + 92) && pages > 0 && !fs::exists(path + "-wal", ec)) {
    user_check(pages * page_bytes <= size) << "tuning database '" << path << "' is corrupt (truncated: " << size
                                           << " bytes, its header says " << pages * page_bytes
                                           << "); it was left unchanged";
  }
}

// Validates an existing file through a read-only connection, writing nothing. Returns the open
// read-only connection (nullptr for an empty file) and what the file holds; CompileError naming
// the path and the reason for anything that is not a usable Tessel database.
std::pair<sqlite3*, FileState> open_and_validate(const std::string& path) {
  std::error_code ec;
  user_check(fs::is_regular_file(path, ec)) << "tuning database '" << path << "' is not a regular file";
  uintmax_t size = fs::file_size(path, ec);
  user_check(!ec) << "tuning database '" << path << "': cannot read its size: " << ec.message();
  if (size == 0) return {nullptr, FileState::kEmpty};
  check_raw_header(path, size);
  ConnectionGuard guard{open_connection(path, SQLITE_OPEN_READONLY)};
  sqlite3* db = guard.db;
  auto fail_corrupt = [&](const std::string& why) {
    user_error() << "tuning database '" << path << "' is corrupt (" << why << "); it was left unchanged";
  };
  // quick_check: the b-trees, free list and page accounting, without comparing indexes to rows.
  // SQLite's own errors here (e.g. "file is not a database") mean corruption too.
  std::vector<std::string> problems;
  int rc = with_retry(path, [&] {
    problems.clear();
    sqlite3_stmt* check = nullptr;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &check, nullptr);
    if (rc == SQLITE_OK) {
      while ((rc = sqlite3_step(check)) == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(check, 0);
        problems.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
    }
    sqlite3_finalize(check);
    if (is_busy(rc)) throw BusyError{};
    return rc;
  });
  if (rc != SQLITE_DONE) fail_corrupt(describe(db, rc));
  if (problems.size() != 1 || problems[0] != "ok") {
    fail_corrupt("integrity check: " + (problems.empty() ? std::string("no result") : problems[0]));
  }
  auto [application_id, version, objects] = with_retry(path, [&] {
    return std::make_tuple(query_int(db, path, "PRAGMA application_id"), query_int(db, path, "PRAGMA user_version"),
                           query_int(db, path, "SELECT COUNT(*) FROM sqlite_schema"));
  });
  if (application_id == 0 && version == 0 && objects == 0) return {guard.release(), FileState::kEmpty};
  if (application_id != kDatabaseApplicationId) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%08llx", static_cast<unsigned long long>(application_id) & 0xffffffffULL);
    user_error() << "'" << path << "' is not a Tessel tuning database: an SQLite database of another application "
                 << "(application_id " << hex << ", " << objects << " schema objects); it was left unchanged";
  }
  user_check(version <= kDatabaseSchemaVersion)
      << "tuning database '" << path << "' has schema version " << version << ", newer than this build of Tessel "
      << "supports (" << kDatabaseSchemaVersion << "); it was left unchanged. Use a newer Tessel";
  user_check(version >= 1) << "tuning database '" << path << "' is corrupt (no schema version); it was left unchanged";
  for (const char* table : {"meta", "workloads", "records", "cost_models"}) {
    int64_t found = with_retry(path, [&] {
      Statement st(db, path, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?");
      st.bind(1, std::string(table));
      return st.step() ? st.int64(0) : 0;
    });
    if (found == 0) fail_corrupt(std::string("table '") + table + "' is missing");
  }
  return {guard.release(), FileState::kTessel};
}

constexpr const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE workloads(
  key TEXT PRIMARY KEY,
  task_name TEXT NOT NULL DEFAULT '',
  dag_text TEXT NOT NULL DEFAULT '');
CREATE TABLE records(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workload_key TEXT NOT NULL,
  task_name TEXT NOT NULL DEFAULT '',
  target TEXT NOT NULL,
  hardware TEXT NOT NULL,
  steps TEXT NOT NULL,
  costs TEXT NOT NULL,
  mean_seconds REAL,
  error INTEGER NOT NULL,
  timestamp REAL NOT NULL,
  version INTEGER NOT NULL);
CREATE INDEX records_by_cost ON records(workload_key, target, mean_seconds);
CREATE TABLE cost_models(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  target TEXT NOT NULL,
  model_name TEXT NOT NULL,
  blob BLOB NOT NULL,
  timestamp REAL NOT NULL);
CREATE INDEX cost_models_by_name ON cost_models(target, model_name, id);
)sql";

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Creates the schema in a file that holds nothing yet, or checks (again, now under the write lock)
// that another process made it ours.
void initialise(sqlite3* db, const std::string& path) {
  write_transaction(db, path, [&] {
    int64_t application_id = query_int(db, path, "PRAGMA application_id");
    int64_t version = query_int(db, path, "PRAGMA user_version");
    int64_t objects = query_int(db, path, "SELECT COUNT(*) FROM sqlite_schema");
    if (application_id == kDatabaseApplicationId) {
      user_check(version <= kDatabaseSchemaVersion)
          << "tuning database '" << path << "' has schema version " << version << ", newer than this build supports ("
          << kDatabaseSchemaVersion << ")";
      return;
    }
    user_check(application_id == 0 && objects == 0)
        << "'" << path << "' is not a Tessel tuning database (it changed while being opened); it was left unchanged";
    exec(db, path, kSchema);
    exec(db, path, ("PRAGMA application_id = " + std::to_string(kDatabaseApplicationId)).c_str());
    exec(db, path, ("PRAGMA user_version = " + std::to_string(kDatabaseSchemaVersion)).c_str());
    Statement meta(db, path, "INSERT INTO meta(key, value) VALUES ('magic', 'tessel tuning records'), "
                             "('schema_version', ?), ('created', ?)");
    meta.bind(1, std::to_string(kDatabaseSchemaVersion)).bind(2, std::to_string(unix_now()));
    meta.run();
  });
}

constexpr const char* kRecordColumns =
    "workload_key, task_name, target, hardware, steps, costs, error, timestamp, version";

TuningRecord row_to_record(const Statement& st, const std::string& path) {
  TuningRecord r;
  r.workload_key = st.text(0);
  r.task_name = st.text(1);
  r.target = st.text(2);
  r.hardware = HardwareParams::from_json(st.text(3));
  r.steps_json = st.text(4);
  nlohmann::json costs = nlohmann::json::parse(st.text(5), nullptr, false);
  user_check(costs.is_array()) << "tuning database '" << path << "' is corrupt (a record's costs are not a list)";
  for (const nlohmann::json& c : costs) {
    // JSON has no infinity: a non-finite cost was written as null.
    r.costs.push_back(c.is_number() ? c.get<double>() : std::numeric_limits<double>::infinity());
  }
  r.error = static_cast<MeasureError>(st.int64(6));
  r.timestamp = st.real(7);
  r.version = static_cast<int>(st.int64(8));
  return r;
}

std::string canonical_steps(const TuningRecord& r) {
  nlohmann::json steps = nlohmann::json::parse(r.steps_json, nullptr, false);
  user_check(!steps.is_discarded()) << "tuning record of workload '" << r.workload_key << "': steps are not JSON";
  return steps.dump();
}

std::string costs_json(const TuningRecord& r) { return nlohmann::json(r.costs).dump(); }

void insert_workload(sqlite3* db, const std::string& path, const std::string& key, const std::string& task_name,
                     const std::string& dag_text) {
  // The first non-empty task name and DAG text are kept.
  Statement st(db, path,
               "INSERT INTO workloads(key, task_name, dag_text) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO UPDATE SET "
               "task_name = CASE WHEN workloads.task_name = '' THEN excluded.task_name ELSE workloads.task_name END, "
               "dag_text = CASE WHEN workloads.dag_text = '' THEN excluded.dag_text ELSE workloads.dag_text END");
  st.bind(1, key).bind(2, task_name).bind(3, dag_text);
  st.run();
}

void insert_record(sqlite3* db, const std::string& path, const TuningRecord& r, const std::string& steps,
                   const std::string& costs) {
  Statement st(db, path,
               "INSERT INTO records(workload_key, task_name, target, hardware, steps, costs, mean_seconds, error, "
               "timestamp, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, r.workload_key).bind(2, r.task_name).bind(3, r.target).bind(4, r.hardware.to_json());
  st.bind(5, steps).bind(6, costs);
  double mean = r.mean_cost();
  // Failed records have no cost, so that the best / top-k queries are plain ORDER BY on the index.
  if (std::isfinite(mean)) {
    st.bind(7, mean);
  } else {
    st.bind_null(7);
  }
  st.bind(8, static_cast<int64_t>(r.error)).bind(9, r.timestamp).bind(10, static_cast<int64_t>(r.version));
  st.run();
}

void check_record(const TuningRecord& r) {
  user_check(!r.workload_key.empty()) << "tuning record without a workload key";
  user_check(!r.target.empty()) << "tuning record of workload '" << r.workload_key << "' without a target";
}

// WHERE clause over the optional workload key (?1) and target (?2) filters.
std::string filter_clause(const std::string& workload_key, const std::string& target) {
  std::string where;
  if (!workload_key.empty()) where += " WHERE workload_key = ?1";
  if (!target.empty()) where += (where.empty() ? " WHERE" : " AND") + std::string(" target = ?2");
  return where;
}

void bind_filter(Statement& st, const std::string& workload_key, const std::string& target) {
  if (!workload_key.empty()) st.bind(1, workload_key);
  if (!target.empty()) st.bind(2, target);
}

}  // namespace

struct Database::Impl {
  sqlite3* db = nullptr;  // nullptr: a read-only view of a missing or empty file
  bool read_only = false;
  // One connection serves one operation at a time (Python may call from several threads).
  mutable std::mutex mutex;
};

Database::Database(const std::string& path, bool read_only) : impl_(new Impl), path_(path) {
  std::unique_ptr<Impl> impl(impl_);
  impl_->read_only = read_only;
  user_check(!path.empty()) << "tuning database: empty path";
  // Everything else reads such paths as JSON lines: a database under that name would be unreadable.
  user_check(!is_jsonl_path(path)) << "'" << path << "' names a JSON-lines records file, not a tuning database "
                                   << "(use a path not ending in .jsonl/.json, and export/import for JSON lines)";
  std::error_code ec;
  bool exists = fs::exists(path, ec);
  if (read_only) {
    if (exists) {
      auto [db, state] = open_and_validate(path);
      // An SQLite file without tables reads as empty (a read-only view never creates the schema).
      if (state == FileState::kEmpty && db) {
        sqlite3_close_v2(db);
        db = nullptr;
      }
      if (db && ::access(path.c_str(), W_OK) == 0 &&
          ::access((fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path()).c_str(),
                   W_OK) == 0) {
        // A validated Tessel database is read through a query-only read-write connection when
        // possible: a read-only connection that closes last cannot checkpoint, leaving -wal/-shm
        // files (and committed records only in the -wal) beside the database.
        sqlite3_close_v2(db);
        db = open_connection(path, SQLITE_OPEN_READWRITE);
        exec(db, path, "PRAGMA query_only = 1");
      }
      impl_->db = db;
    }
    impl.release();
    return;
  }
  if (exists) {
    // Validate before the read-write connection exists: nothing may be written to a foreign file.
    sqlite3* checked = open_and_validate(path).first;
    if (checked) sqlite3_close_v2(checked);
  } else {
    fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) {
      fs::create_directories(parent, ec);
      user_check(!ec) << "tuning database '" << path << "': cannot create directory '" << parent.string()
                      << "': " << ec.message();
    }
  }
  ConnectionGuard guard{open_connection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)};
  // WAL: readers never block the writer and one writer at a time appends; a no-op when already set.
  std::string mode = with_retry(path, [&] {
    Statement st(guard.db, path, "PRAGMA journal_mode = WAL");
    return st.step() ? st.text(0) : std::string();
  });
  if (mode != "wal") {
    std::cerr << "[tessel] warning: tuning database '" << path << "': WAL mode unavailable (journal mode '" << mode
              << "'); concurrent writers will wait longer" << std::endl;
  }
  exec(guard.db, path, "PRAGMA synchronous = NORMAL");
  initialise(guard.db, path);
  impl_->db = guard.release();
  impl.release();
}

Database::~Database() {
  if (impl_->db) sqlite3_close_v2(impl_->db);
  delete impl_;
}

bool Database::read_only() const { return impl_->read_only; }

namespace {

sqlite3* writable(bool read_only, sqlite3* db, const std::string& path) {
  user_check(!read_only) << "tuning database '" << path << "' was opened read-only";
  internal_check(db) << "writable database without a connection";
  return db;
}

}  // namespace

void Database::add_workload(const std::string& workload_key, const std::string& task_name,
                            const std::string& dag_text) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  user_check(!workload_key.empty()) << "tuning database: empty workload key";
  sqlite3* db = writable(impl_->read_only, impl_->db, path_);
  write_transaction(db, path_, [&] { insert_workload(db, path_, workload_key, task_name, dag_text); });
}

void Database::add_records(const std::vector<TuningRecord>& records) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (records.empty()) return;
  sqlite3* db = writable(impl_->read_only, impl_->db, path_);
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const TuningRecord& r : records) {
    check_record(r);
    encoded.emplace_back(canonical_steps(r), costs_json(r));
  }
  write_transaction(db, path_, [&] {
    std::set<std::string> workloads;
    for (size_t i = 0; i < records.size(); ++i) {
      if (workloads.insert(records[i].workload_key).second) {
        insert_workload(db, path_, records[i].workload_key, records[i].task_name, "");
      }
      insert_record(db, path_, records[i], encoded[i].first, encoded[i].second);
    }
  });
}

// SQL condition on a row of `records`: no later record of the same schedule supersedes it.
const std::string kNotSuperseded =
    "NOT EXISTS (SELECT 1 FROM records AS newer WHERE newer.workload_key = records.workload_key AND "
    "newer.target = records.target AND newer.steps = records.steps AND newer.id > records.id)";

std::optional<TuningRecord> Database::best(const std::string& workload_key, const std::string& target) const {
  auto top = top_k(workload_key, target, 1);
  if (top.empty()) return std::nullopt;
  return std::move(top[0]);
}

std::vector<TuningRecord> Database::top_k(const std::string& workload_key, const std::string& target, int k) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->db || k <= 0) return {};
  std::string sql = std::string("SELECT ") + kRecordColumns +
                    " FROM records WHERE workload_key = ? AND target = ? AND mean_seconds IS NOT NULL AND " +
                    kNotSuperseded + " ORDER BY mean_seconds, id LIMIT ?";
  return with_retry(path_, [&] {
    Statement st(impl_->db, path_, sql.c_str());
    st.bind(1, workload_key).bind(2, target).bind(3, static_cast<int64_t>(k));
    std::vector<TuningRecord> out;
    while (st.step()) out.push_back(row_to_record(st, path_));
    return out;
  });
}

std::vector<TuningRecord> Database::records(const std::string& workload_key, const std::string& target,
                                            int64_t limit) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->db || limit == 0) return {};
  std::string sql = std::string("SELECT ") + kRecordColumns + " FROM records" + filter_clause(workload_key, target) +
                    " ORDER BY id LIMIT ?3";
  return with_retry(path_, [&] {
    Statement st(impl_->db, path_, sql.c_str());
    bind_filter(st, workload_key, target);
    st.bind(3, limit < 0 ? int64_t{-1} : limit);
    std::vector<TuningRecord> out;
    while (st.step()) out.push_back(row_to_record(st, path_));
    return out;
  });
}

int64_t Database::count(const std::string& workload_key, const std::string& target) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->db) return 0;
  std::string sql = "SELECT COUNT(*) FROM records" + filter_clause(workload_key, target);
  return with_retry(path_, [&] {
    Statement st(impl_->db, path_, sql.c_str());
    bind_filter(st, workload_key, target);
    return st.step() ? st.int64(0) : int64_t{0};
  });
}

std::vector<TuningRecord> Database::best_records(const std::string& target) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->db) return {};
  // One index probe per (workload, target) pair that has a valid record.
  std::string sql = std::string("SELECT ") + kRecordColumns +
                    " FROM (SELECT DISTINCT workload_key AS k, target AS t FROM records WHERE mean_seconds IS NOT NULL" +
                    (target.empty() ? "" : " AND target = ?1") +
                    ") AS pairs JOIN records ON records.id = (SELECT id FROM records WHERE workload_key = pairs.k "
                    "AND target = pairs.t AND mean_seconds IS NOT NULL AND " + kNotSuperseded +
                    " ORDER BY mean_seconds, id LIMIT 1) ORDER BY pairs.k, pairs.t";
  return with_retry(path_, [&] {
    Statement st(impl_->db, path_, sql.c_str());
    if (!target.empty()) st.bind(1, target);
    std::vector<TuningRecord> out;
    while (st.step()) out.push_back(row_to_record(st, path_));
    return out;
  });
}

std::vector<WorkloadSummary> Database::workloads() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->db) return {};
  return read_transaction(impl_->db, path_, [&] {
    std::vector<WorkloadSummary> out;
    std::map<std::string, size_t> index;
    Statement list(impl_->db, path_, "SELECT key, task_name, dag_text FROM workloads ORDER BY rowid");
    while (list.step()) {
      WorkloadSummary w;
      w.workload_key = list.text(0);
      w.task_name = list.text(1);
      w.dag_text = list.text(2);
      w.best_seconds = std::numeric_limits<double>::infinity();
      index[w.workload_key] = out.size();
      out.push_back(std::move(w));
    }
    // The best is what best() returns: the lowest cost among records no later record of the same
    // schedule supersedes (one index probe per pair, in cost order).
    std::string sql =
        "SELECT g.workload_key, g.target, g.n, g.valid, (SELECT mean_seconds FROM records WHERE "
        "workload_key = g.workload_key AND target = g.target AND mean_seconds IS NOT NULL AND " +
        kNotSuperseded +
        " ORDER BY mean_seconds, id LIMIT 1) FROM (SELECT workload_key, target, COUNT(*) AS n, COUNT(mean_seconds) "
        "AS valid FROM records GROUP BY workload_key, target) AS g ORDER BY g.workload_key, g.target";
    Statement stats(impl_->db, path_, sql.c_str());
    while (stats.step()) {
      std::string key = stats.text(0);
      auto it = index.find(key);
      if (it == index.end()) {  // records whose workload row is missing still show up
        WorkloadSummary w;
        w.workload_key = key;
        w.best_seconds = std::numeric_limits<double>::infinity();
        it = index.emplace(key, out.size()).first;
        out.push_back(std::move(w));
      }
      WorkloadSummary& w = out[it->second];
      w.targets.push_back(stats.text(1));
      w.records += stats.int64(2);
      w.valid += stats.int64(3);
      if (!stats.is_null(4)) w.best_seconds = std::min(w.best_seconds, stats.real(4));
    }
    return out;
  });
}

void Database::put_cost_model(const std::string& target, const std::string& model_name, const std::string& blob) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite3* db = writable(impl_->read_only, impl_->db, path_);
  double now = unix_now();
  write_transaction(db, path_, [&] {
    Statement drop(db, path_, "DELETE FROM cost_models WHERE target = ? AND model_name = ?");
    drop.bind(1, target).bind(2, model_name);
    drop.run();
    Statement put(db, path_, "INSERT INTO cost_models(target, model_name, blob, timestamp) VALUES (?, ?, ?, ?)");
    put.bind(1, target).bind(2, model_name).bind_blob(3, blob).bind(4, now);
    put.run();
  });
}

std::optional<std::string> Database::latest_cost_model(const std::string& target, const std::string& model_name) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->db) return std::nullopt;
  return with_retry(path_, [&]() -> std::optional<std::string> {
    Statement st(impl_->db, path_,
                 "SELECT blob FROM cost_models WHERE target = ? AND model_name = ? ORDER BY id DESC LIMIT 1");
    st.bind(1, target).bind(2, model_name);
    if (!st.step()) return std::nullopt;
    return st.blob(0);
  });
}

int64_t Database::export_jsonl(const std::string& path, const std::string& workload_key,
                               const std::string& target) const {
  std::vector<TuningRecord> selected = records(workload_key, target);
  std::string text;
  for (const TuningRecord& r : selected) text += record_to_json(r) + "\n";
  fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    user_check(static_cast<bool>(out)) << "cannot write tuning records to '" << path << "'";
    out << text;
    out.flush();
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      user_error() << "writing tuning records to '" << path << "' failed";
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    user_error() << "cannot write tuning records to '" << path << "'";
  }
  return static_cast<int64_t>(selected.size());
}

ImportStats Database::import_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  user_check(static_cast<bool>(in)) << "cannot read tuning records '" << path << "'";
  std::vector<TuningRecord> parsed;
  int64_t corrupt = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (auto r = record_from_json(line); r && !r->workload_key.empty() && !r->target.empty()) {
      parsed.push_back(std::move(*r));
    } else {
      ++corrupt;
    }
  }
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite3* db = writable(impl_->read_only, impl_->db, path_);
  ImportStats stats;
  write_transaction(db, path_, [&] {
    stats = ImportStats{};
    stats.corrupt = corrupt;
    std::set<std::string> workloads;
    for (const TuningRecord& r : parsed) {
      std::string steps = canonical_steps(r), costs = costs_json(r);
      Statement dup(db, path_,
                    "SELECT 1 FROM records WHERE workload_key = ? AND target = ? AND steps = ? AND costs = ? LIMIT 1");
      dup.bind(1, r.workload_key).bind(2, r.target).bind(3, steps).bind(4, costs);
      if (dup.step()) {
        ++stats.duplicates;
        continue;
      }
      if (workloads.insert(r.workload_key).second) insert_workload(db, path_, r.workload_key, r.task_name, "");
      insert_record(db, path_, r, steps, costs);
      ++stats.imported;
    }
  });
  if (corrupt > 0) {
    std::cerr << "[tessel] warning: skipped " << corrupt << " corrupt, truncated or newer-version line(s) in '" << path
              << "'" << std::endl;
  }
  return stats;
}

}  // namespace tessel::autotune
