// Resumable studies: a study killed with SIGKILL at several points and run again ends with exactly
// the units (benchmarks, quality, task items) of an uninterrupted run, none lost or duplicated;
// a second process on a running study is refused.

#include "cli_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/study_store.h"

extern char** environ;

namespace {

using namespace uaqf_test;
namespace fs = std::filesystem;
using nlohmann::json;

fs::path write_resume_study(const std::string& name) {
  const fs::path file = work_dir() / (name + ".toml");
  std::ofstream(file) << "[study]\nname = \"" << name << "\"\noutput = \"" << (work_dir() / name).string()
                      << "\"\n\n[model]\npath = \"" << tiny_model().string()
                      << "\"\ntypes = [\"Q8_0\", \"Q4_0\"]\n\n[runtime]\nthreads = 2\n\n[workload]\n"
                         "prompt_tokens = [64]\ngen_tokens = 8\nreps = 2\n\n[workload.prompts]\nsource = \"gsm8k\"\n"
                         "count = 3\nmax_new_tokens = 16\n\n[quality]\nchunks = 3\n"
                         "tasks = [\"arc_easy\", \"gsm8k\", \"divergence\"]\nlimit = 6\ndata_dir = \""
                      << (shared_dir() / "data").string() << "\"\n\n[profile]\nname = \"interactive\"\nbootstrap = 100\n";
  return file;
}

// Units in the study's store (0 while there is none yet).
std::vector<uaqf::store::Unit> units_of(const fs::path& output) {
  try {
    return uaqf::store::StudyStore::open_read_only(output)->units();
  } catch (const std::exception&) {
    return {};
  }
}

std::set<std::string> keys_of(const fs::path& output) {
  std::set<std::string> keys;
  for (const auto& unit : units_of(output)) {
    keys.insert(unit.key);
  }
  return keys;
}

pid_t spawn_run(const fs::path& study) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::string binary = UAQF_BINARY, run = "run", path = study.string();
  std::vector<char*> argv{binary.data(), run.data(), path.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0);
  return pid;
}

// Runs the study and kills it with SIGKILL once the store holds `units` units; false when the
// run finished first.
bool run_and_kill_at(const fs::path& study, const fs::path& output, std::size_t units) {
  const pid_t pid = spawn_run(study);
  while (true) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return false;
    }
    if (units_of(output).size() >= units) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Task name -> record ids, in order, per variant.
std::map<std::string, std::map<std::string, std::vector<std::string>>> records_of(const fs::path& output) {
  const auto results = json::parse(slurp(output / "results.json"));
  std::map<std::string, std::map<std::string, std::vector<std::string>>> out;
  for (const auto& variant : results.at("variants")) {
    EXPECT_EQ(variant.at("status"), "ok") << variant.dump();
    for (const auto& task : variant.at("tasks")) {
      auto& ids = out[variant.at("name")][task.at("task")];
      for (const auto& record : task.at("records")) {
        ids.push_back(record.at("id").get<std::string>());
      }
    }
  }
  return out;
}

TEST(ResumeCli, KilledStudyResumesToTheSameResults) {
  const fs::path whole = write_resume_study("resume-whole");
  const auto uninterrupted = run_uaqf("run " + q(whole));
  ASSERT_EQ(uninterrupted.exit_code, 0) << uninterrupted.err;
  const auto expected_keys = keys_of(work_dir() / "resume-whole");
  // 3 variants x (bench, 3 tests x 2 repetitions, workload, quality, 3 perplexity chunks) +
  // 3 x (6 arc_easy + 6 gsm8k + 6 divergence items).
  ASSERT_EQ(expected_keys.size(), 3U * 12U + 3U * 18U);

  const fs::path killed = write_resume_study("resume-killed");
  const fs::path output = work_dir() / "resume-killed";
  int kills = 0;
  for (std::size_t at : {1U, 4U, 15U, 40U, 75U}) {
    kills += run_and_kill_at(killed, output, at) ? 1 : 0;
  }
  EXPECT_GE(kills, 4) << "the study finished before it could be interrupted";
  const std::size_t done_before = units_of(output).size();
  const auto resumed = run_uaqf("run " + q(killed));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;

  EXPECT_EQ(keys_of(output), expected_keys);
  EXPECT_EQ(records_of(output), records_of(work_dir() / "resume-whole"));
  // The last run redid nothing that was done: it only added the missing units.
  const auto units = units_of(output);
  int64_t last_run = 0;
  for (const auto& unit : units) {
    last_run = std::max(last_run, unit.run_id);
  }
  const auto by_last = std::count_if(units.begin(), units.end(), [&](const auto& u) { return u.run_id == last_run; });
  EXPECT_EQ(static_cast<std::size_t>(by_last), expected_keys.size() - done_before);
  const auto results = json::parse(slurp(output / "results.json"));
  EXPECT_GE(results.at("runs").size(), 2U);

  // Run again: everything is found, nothing is measured.
  const auto again = run_uaqf("run " + q(killed));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  for (const auto& unit : units_of(output)) {
    EXPECT_LE(unit.run_id, last_run) << unit.key;
  }
  // --fresh: everything measured again, by the new run.
  const auto fresh = run_uaqf("run " + q(killed) + " --fresh");
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  const auto remeasured = units_of(output);
  EXPECT_EQ(remeasured.size(), expected_keys.size());
  for (const auto& unit : remeasured) {
    EXPECT_GT(unit.run_id, last_run + 1) << unit.key;  // not by the run before it, which measured nothing
  }
}

TEST(ResumeCli, SecondProcessOnARunningStudyIsRefused) {
  const fs::path study = write_resume_study("resume-locked");
  const fs::path output = work_dir() / "resume-locked";
  const pid_t first = spawn_run(study);
  while (!fs::exists(output / uaqf::store::StudyStore::kFileName)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto second = run_uaqf("run " + q(study));
  ::kill(first, SIGKILL);
  int status = 0;
  ::waitpid(first, &status, 0);
  expect_one_error_line(second, "is being run by another uaqf process (pid " + std::to_string(first) + ")");
}

}  // namespace
