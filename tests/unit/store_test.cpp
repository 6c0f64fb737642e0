// The study results store: units found only with the inputs that made them, replaced when stale,
// runs and their manifests kept, one writer at a time.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/files.h"
#include "store/study_store.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using uaqf::store::StudyStore;

std::optional<json> payload(const std::optional<uaqf::store::Unit>& unit) {
  return unit ? std::optional<json>(unit->payload) : std::nullopt;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("uaqf-store-test-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  return dir;
}

TEST(StudyStore, FindsAUnitOnlyWithTheInputsThatMadeIt) {
  const fs::path dir = fresh_dir("find");
  {
    auto store = StudyStore::open(dir, true);
    store->begin_run({{"hostname", "a"}});
    store->put("bench/Q4_0", "bench", "h1", {{"decode_tps", 10}});
    EXPECT_EQ(payload(store->find_unit("bench/Q4_0", "h1")), json({{"decode_tps", 10}}));
    EXPECT_FALSE(payload(store->find_unit("bench/Q4_0", "h2")));  // inputs changed: stale
    EXPECT_FALSE(payload(store->find_unit("bench/Q8_0", "h1")));
    store->put("bench/Q4_0", "bench", "h2", {{"decode_tps", 12}});  // replaces the stale unit
    EXPECT_EQ(store->units().size(), 1U);
    EXPECT_EQ(payload(store->find_unit("bench/Q4_0", "h2")), json({{"decode_tps", 12}}));
  }
  // Durable: a new process (here, a new store) finds it with the run that made it.
  auto store = StudyStore::open(dir, true);
  const auto unit = store->find_unit("bench/Q4_0", "h2");
  ASSERT_TRUE(unit);
  EXPECT_EQ(unit->kind, "bench");
  const auto runs = store->runs();
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(unit->run_id, runs[0].id);
  EXPECT_EQ(runs[0].environment, json({{"hostname", "a"}}));
  EXPECT_FALSE(runs[0].finished_utc);  // never finished: interrupted
}

TEST(StudyStore, RecordsEachRunWithItsManifest) {
  const fs::path dir = fresh_dir("runs");
  auto store = StudyStore::open(dir, true);
  store->begin_run({{"hostname", "a"}});
  store->put("x", "task_item", "h", json::object());
  store->finish_run();
  store->begin_run({{"hostname", "b"}});
  store->put("y", "task_item", "h", json::object());
  const auto runs = store->runs();
  ASSERT_EQ(runs.size(), 2U);
  EXPECT_TRUE(runs[0].finished_utc);
  EXPECT_FALSE(runs[1].finished_utc);
  EXPECT_EQ(store->find_unit("y", "h")->run_id, runs[1].id);
  EXPECT_EQ(store->find_unit("x", "h")->run_id, runs[0].id);
}

TEST(StudyStore, ClearingDropsUnitsKeepsRuns) {
  auto store = StudyStore::open(fresh_dir("clear"), true);
  store->begin_run({{"hostname", "a"}});
  store->put("x", "bench", "h", json::object());
  store->clear_units();
  EXPECT_TRUE(store->units().empty());
  EXPECT_FALSE(payload(store->find_unit("x", "h")));
  EXPECT_EQ(store->runs().size(), 1U);
}

TEST(StudyStore, PutBeforeARunIsAnError) {
  auto store = StudyStore::open(fresh_dir("norun"), true);
  EXPECT_THROW(store->put("x", "bench", "h", json::object()), uaqf::Error);
}

TEST(StudyStore, ASecondWriterIsRefusedWithThePidOfTheFirst) {
  const fs::path dir = fresh_dir("lock");
  auto first = StudyStore::open(dir, true);
  try {
    StudyStore::open(dir, true);
    FAIL() << "a second writer was let in";
  } catch (const uaqf::Error& error) {
    EXPECT_NE(std::string(error.what()).find("being run by another uaqf process (pid " + std::to_string(::getpid())),
              std::string::npos)
        << error.what();
  }
  // Readers are welcome while it runs.
  EXPECT_NO_THROW(StudyStore::open_read_only(dir)->units());
  first.reset();
  EXPECT_NO_THROW(StudyStore::open(dir, true));  // released with the first
}

TEST(StudyStore, ReadOnlyOpenOfAFolderWithoutAStoreNamesIt) {
  const fs::path dir = fresh_dir("none");
  fs::create_directories(dir);
  try {
    StudyStore::open_read_only(dir);
    FAIL();
  } catch (const uaqf::Error& error) {
    EXPECT_EQ(error.code(), uaqf::ErrorCode::kNotFound);
    EXPECT_NE(std::string(error.what()).find("study.db"), std::string::npos);
  }
}

TEST(StudyStore, InputsHashIgnoresKeyOrder) {
  EXPECT_EQ(uaqf::store::inputs_hash({{"a", 1}, {"b", 2}}), uaqf::store::inputs_hash({{"b", 2}, {"a", 1}}));
  EXPECT_NE(uaqf::store::inputs_hash({{"a", 1}}), uaqf::store::inputs_hash({{"a", 2}}));
}

// The message opening a damaged store fails with, or "" when it opens.
std::string open_error(const fs::path& dir) {
  try {
    StudyStore::open(dir, true);
  } catch (const uaqf::Error& error) {
    EXPECT_EQ(error.code(), uaqf::ErrorCode::kIo);
    return error.what();
  }
  return "";
}

TEST(StudyStore, ADamagedStoreIsNamedWithWhatToDo) {
  const fs::path garbage = fresh_dir("garbage");
  fs::create_directories(garbage);
  uaqf::write_file_atomic(garbage / "study.db", std::string(8192, 'x'));
  std::string message = open_error(garbage);
  EXPECT_NE(message.find((garbage / "study.db").string()), std::string::npos) << message;
  EXPECT_NE(message.find("the results store is damaged: move it aside"), std::string::npos) << message;

  // A store whose pages were overwritten past its header: found when it is opened, not later.
  const fs::path damaged = fresh_dir("damaged");
  {
    auto store = StudyStore::open(damaged, true);
    store->begin_run(json::object());
    for (int i = 0; i < 200; ++i) {
      store->put("unit-" + std::to_string(i), "bench", "h", json{{"payload", std::string(200, 'p')}});
    }
    store->finish_run();
  }
  {
    // Every page after the first (the header and schema) overwritten with noise.
    const auto size = fs::file_size(damaged / "study.db");
    ASSERT_GT(size, 3 * 4096U);
    std::fstream file(damaged / "study.db", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096);
    const std::string noise(size - 4096, '\x5a');
    file.write(noise.data(), static_cast<std::streamsize>(noise.size()));
  }
  message = open_error(damaged);
  EXPECT_NE(message.find("the results store is damaged: move it aside (mv '" + (damaged / "study.db").string()),
            std::string::npos)
      << message;
}

}  // namespace
