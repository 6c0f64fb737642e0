#pragma once

// The results store of a study: one SQLite database (WAL) in the study's output folder. Every
// unit of work is committed the moment it finishes, with a hash of the inputs that produced it,
// so that an interrupted study (Ctrl-C, kill -9, power loss) resumes where it stopped and a
// changed input invalidates exactly the units that depend on it. One process at a time runs a
// study: a second one is refused with a message naming the first.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace uaqf::store {

struct Unit {
  std::string key;          // what was measured: "bench/Q4_0", "bench/Q4_0/pp512/3", "item/Q4_0/arc_easy/Mercury_7"
  std::string kind;         // bench, bench_repetition, workload, quality, task_item
  std::string inputs_hash;  // sha256 of everything that determines the result
  nlohmann::json payload;   // the result
  int64_t run_id = 0;       // the run (and so the machine and build) that measured it
  std::string finished_utc;
};

struct Run {
  int64_t id = 0;
  std::string started_utc;
  std::optional<std::string> finished_utc;  // empty: interrupted (or still going)
  int64_t pid = 0;
  nlohmann::json environment;  // the manifest of the machine and build
};

class StudyStore {
 public:
  static constexpr const char* kFileName = "study.db";
  static constexpr const char* kLockName = "study.lock";

  // Opens (creating) <output_dir>/study.db. With `exclusive`, takes the study's lock for the
  // lifetime of the store, or throws Error(kInvalidArgument) naming the process that holds it.
  static std::unique_ptr<StudyStore> open(const std::filesystem::path& output_dir, bool exclusive);
  // Opens an existing store to read while a run may be writing it (reports, tests); throws
  // Error(kNotFound) when the folder has none.
  static std::unique_ptr<StudyStore> open_read_only(const std::filesystem::path& output_dir);
  ~StudyStore();
  StudyStore(const StudyStore&) = delete;
  StudyStore& operator=(const StudyStore&) = delete;

  // Records a run of the study (its environment manifest) and returns its id; units put after
  // this belong to it.
  int64_t begin_run(const nlohmann::json& environment);
  void finish_run();

  // The stored result of `key`, if it was produced from the same inputs; a unit whose inputs
  // changed is stale and counts as missing (the next put replaces it).
  std::optional<Unit> find_unit(const std::string& key, const std::string& inputs_hash) const;

  // Commits one finished unit (replacing a stale one), durably, before returning.
  void put(const std::string& key, const std::string& kind, const std::string& inputs_hash,
           const nlohmann::json& payload);

  std::vector<Unit> units() const;
  // Drops every unit (a fresh start); the runs and their manifests stay.
  void clear_units();
  std::vector<Run> runs() const;
  const std::filesystem::path& path() const { return path_; }
  int64_t run_id() const { return run_id_; }

 private:
  StudyStore(std::filesystem::path path, sqlite3* db, int lock_fd);
  void exec(const std::string& sql) const;

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
  int64_t run_id_ = 0;
};

// sha256 of a canonical JSON text of `inputs` (object keys sorted by nlohmann::json).
std::string inputs_hash(const nlohmann::json& inputs);

}  // namespace uaqf::store
