#include "store/study_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <string_view>

#include <fmt/format.h>

#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"

namespace uaqf::store {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What to do about a failed store operation, by SQLite's primary result code: the user sees the
// cause and the way out, not only SQLite's words.
std::string recovery_hint(int code, const fs::path& file) {
  switch (code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return fmt::format(
          "; the results store is damaged: move it aside (mv '{0}' '{0}.damaged') and run the "
          "study again, which measures its units afresh",
          file.string());
    case SQLITE_FULL:
      return fmt::format("; the disk is full: free space in {} and run again (committed units are kept)",
                         file.parent_path().string());
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return fmt::format("; {} must be writable (permissions, a read-only file system?)", file.parent_path().string());
    default:
      return "";
  }
}

[[noreturn]] void fail_store(sqlite3* db, const fs::path& file, const std::string& what) {
  const int code = db != nullptr ? sqlite3_extended_errcode(db) : SQLITE_NOMEM;
  throw Error(ErrorCode::kIo,
              fmt::format("{}: results store {} failed: {}{}", file.string(), what,
                          db != nullptr ? sqlite3_errmsg(db) : "out of memory", recovery_hint(code, file)));
}

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql, const fs::path& file) : db_(db), file_(file) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK) {
      fail("prepare");
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, const std::string& text) {
    check(sqlite3_bind_text(stmt_, index, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT), "bind");
    return *this;
  }
  Statement& bind(int index, int64_t value) {
    check(sqlite3_bind_int64(stmt_, index, value), "bind");
    return *this;
  }
  // True while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
      return true;
    }
    if (rc != SQLITE_DONE) {
      fail("step");
    }
    return false;
  }
  std::string text(int column) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))) : std::string();
  }
  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  void check(int rc, const char* what) const {
    if (rc != SQLITE_OK) {
      fail(what);
    }
  }
  [[noreturn]] void fail(const char* what) const { fail_store(db_, file_, what); }
  sqlite3* db_;
  const fs::path& file_;
  sqlite3_stmt* stmt_ = nullptr;
};

int take_lock(const fs::path& lock_path) {
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(ErrorCode::kIo, fmt::format("{}: cannot open the study lock file", lock_path.string()));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    try {
      holder = read_text_file(lock_path);
    } catch (const Error&) {
    }
    ::close(fd);
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: the study is being run by another uaqf process{}; wait for it or stop it",
                            lock_path.parent_path().string(), holder.empty() ? "" : " (pid " + holder + ")"));
  }
  // The holder's pid, for the message above; the lock itself goes with the process. A failed
  // write only leaves a refused second process's message without the pid.
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return fd;
}

}  // namespace

std::string inputs_hash(const json& inputs) { return sha256_hex(inputs.dump()); }

StudyStore::StudyStore(fs::path path, sqlite3* db, int lock_fd) : path_(std::move(path)), db_(db), lock_fd_(lock_fd) {}

StudyStore::~StudyStore() {
  sqlite3_close(db_);
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
  }
}

std::unique_ptr<StudyStore> StudyStore::open(const fs::path& output_dir, bool exclusive) {
  require_writable_dir(output_dir, "study output");
  const int lock_fd = exclusive ? take_lock(output_dir / kLockName) : -1;
  const fs::path path = output_dir / kFileName;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    const std::string hint = recovery_hint(db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM, path);
    sqlite3_close(db);
    if (lock_fd >= 0) {
      ::close(lock_fd);
    }
    throw Error(ErrorCode::kIo, fmt::format("{}: cannot open the results store: {}{}", path.string(), why, hint));
  }
  std::unique_ptr<StudyStore> store(new StudyStore(path, db, lock_fd));
  // A reader (uaqf report) may look while a run writes; it waits briefly instead of failing.
  sqlite3_busy_timeout(db, 10000);
  store->exec("PRAGMA journal_mode=WAL");
  // A damaged page is found now, with what to do, rather than when a unit happens to read it.
  {
    Statement check(db, "PRAGMA quick_check", path);
    if (check.step() && check.text(0) != "ok") {
      throw Error(ErrorCode::kIo, fmt::format("{}: results store check failed: {}{}", path.string(), check.text(0),
                                              recovery_hint(SQLITE_CORRUPT, path)));
    }
  }
  // FULL: a committed unit survives power loss, not only a crash of the process.
  store->exec("PRAGMA synchronous=FULL");
  store->exec(R"sql(
    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT OR IGNORE INTO meta VALUES ('schema', 'uaqf.store/1');
    CREATE TABLE IF NOT EXISTS runs (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      started_utc TEXT NOT NULL,
      finished_utc TEXT,
      pid INTEGER NOT NULL,
      environment TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS units (
      key TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      inputs_hash TEXT NOT NULL,
      payload TEXT NOT NULL,
      run_id INTEGER NOT NULL REFERENCES runs(id),
      finished_utc TEXT NOT NULL);
  )sql");
  Statement schema(db, "SELECT value FROM meta WHERE name = 'schema'", path);
  if (!schema.step() || schema.text(0) != "uaqf.store/1") {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: a results store of another version ({}); use a new output folder", path.string(),
                            schema.text(0)));
  }
  return store;
}

std::unique_ptr<StudyStore> StudyStore::open_read_only(const fs::path& output_dir) {
  const fs::path path = output_dir / kFileName;
  if (!fs::exists(path)) {
    throw Error(ErrorCode::kNotFound, fmt::format("{}: no results store (not a study output folder?)", path.string()));
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    const std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw Error(ErrorCode::kIo, fmt::format("{}: cannot open the results store: {}", path.string(), why));
  }
  sqlite3_busy_timeout(db, 10000);
  return std::unique_ptr<StudyStore>(new StudyStore(path, db, -1));
}

void StudyStore::exec(const std::string& sql) const {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string why = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw Error(ErrorCode::kIo, fmt::format("{}: results store: {}{}", path_.string(), why,
                                            recovery_hint(sqlite3_extended_errcode(db_), path_)));
  }
}

int64_t StudyStore::begin_run(const json& environment) {
  Statement insert(db_, "INSERT INTO runs (started_utc, pid, environment) VALUES (?, ?, ?)", path_);
  insert.bind(1, utc_now_iso8601()).bind(2, static_cast<int64_t>(::getpid())).bind(3, environment.dump());
  insert.step();
  run_id_ = sqlite3_last_insert_rowid(db_);
  return run_id_;
}

void StudyStore::finish_run() {
  Statement update(db_, "UPDATE runs SET finished_utc = ? WHERE id = ?", path_);
  update.bind(1, utc_now_iso8601()).bind(2, run_id_);
  update.step();
}

std::optional<Unit> StudyStore::find_unit(const std::string& key, const std::string& inputs_hash) const {
  Statement select(db_, "SELECT kind, inputs_hash, payload, run_id, finished_utc FROM units WHERE key = ?", path_);
  select.bind(1, key);
  if (!select.step() || select.text(1) != inputs_hash) {
    return std::nullopt;
  }
  auto payload = json::parse(select.text(2), nullptr, false);
  if (payload.is_discarded()) {
    return std::nullopt;  // unreadable: measured again
  }
  return Unit{.key = key,
              .kind = select.text(0),
              .inputs_hash = inputs_hash,
              .payload = std::move(payload),
              .run_id = select.integer(3),
              .finished_utc = select.text(4)};
}

void StudyStore::put(const std::string& key, const std::string& kind, const std::string& inputs_hash,
                     const json& payload) {
  if (run_id_ == 0) {
    throw Error(ErrorCode::kInternal, "results store: a unit was put before the run began");
  }
  Statement upsert(
      db_,
      "INSERT INTO units (key, kind, inputs_hash, payload, run_id, finished_utc) VALUES (?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(key) DO UPDATE SET kind = excluded.kind, inputs_hash = excluded.inputs_hash, "
      "payload = excluded.payload, run_id = excluded.run_id, finished_utc = excluded.finished_utc",
      path_);
  upsert.bind(1, key)
      .bind(2, kind)
      .bind(3, inputs_hash)
      .bind(4, payload.dump())
      .bind(5, run_id_)
      .bind(6, utc_now_iso8601());
  upsert.step();  // autocommit: durable when step returns
}

void StudyStore::clear_units() { exec("DELETE FROM units"); }

std::vector<Unit> StudyStore::units() const {
  Statement select(db_, "SELECT key, kind, inputs_hash, payload, run_id, finished_utc FROM units ORDER BY key", path_);
  std::vector<Unit> units;
  while (select.step()) {
    units.push_back({.key = select.text(0),
                     .kind = select.text(1),
                     .inputs_hash = select.text(2),
                     .payload = json::parse(select.text(3), nullptr, false),
                     .run_id = select.integer(4),
                     .finished_utc = select.text(5)});
  }
  return units;
}

std::vector<Run> StudyStore::runs() const {
  Statement select(db_, "SELECT id, started_utc, finished_utc, pid, environment FROM runs ORDER BY id", path_);
  std::vector<Run> runs;
  while (select.step()) {
    Run run{.id = select.integer(0), .started_utc = select.text(1), .pid = select.integer(3)};
    if (!select.is_null(2)) {
      run.finished_utc = select.text(2);
    }
    run.environment = json::parse(select.text(4), nullptr, false);
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace uaqf::store
