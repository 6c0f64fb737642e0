// Inputs found by the fuzz targets (tests/fuzz, scripts/fuzz.sh) that broke a reader: each is
// refused as Error(kInvalidArgument) with a message naming the input now. The crashing inputs are
// also in the fuzz corpora (tests/fuzz/corpus/<target>/regression-*), so every fuzz run replays them.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "tasks/ifeval.h"
#include "tasks/registry.h"

namespace uaqf {
namespace {

namespace fs = std::filesystem;

class FuzzRegressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("uaqf-fuzz-regression-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path file = dir_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }

  // Runs `body`, which must throw Error(kInvalidArgument) whose message holds `expected`.
  template <typename Body>
  static void expect_refused(Body&& body, const std::string& expected) {
    try {
      body();
      FAIL() << "no error; expected one with: " << expected;
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument) << error.what();
      EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << error.what();
    }
  }

  fs::path dir_;
};

// fuzz_task_data: a number beyond double's range made nlohmann::json throw out_of_range (not
// parse_error), which escaped as "internal error" from IFEval's reader.
TEST_F(FuzzRegressionTest, IfevalNumberOverflowIsBadJson) {
  expect_refused([] { tasks::ifeval::parse_item("1e400"); }, "ifeval: line is not valid JSON");
  expect_refused([] { tasks::ifeval::parse_item(R"({"key": 1, "prompt": "p", "kwargs": [{"n": -1e999}]})"); },
                 "not valid JSON");
}

TEST_F(FuzzRegressionTest, IfevalDataFileWithNumberOverflowNamesTheLine) {
  write("ifeval/input_data.jsonl", R"({"key": 1, "prompt": "Say hi.", "instruction_id_list": [], "kwargs": []})"
                                   "\n1e400{\"key\": 1000}\n");
  tasks::SuiteOptions options;
  options.data_dir = dir_;
  expect_refused([&] { tasks::prepare_suite({"ifeval"}, options); },
                 "input_data.jsonl:2: ifeval: line is not valid JSON");
}

// The same pattern in the IFEval responses file (`uaqf eval --responses`), found by reading the
// code after the finding above.
TEST_F(FuzzRegressionTest, IfevalResponsesWithNumberOverflowNameTheLine) {
  tasks::PreparedSuite suite;
  suite.ifeval_lines = {R"({"key": 1, "prompt": "Say hi.", "instruction_id_list": [], "kwargs": []})"};
  const fs::path responses = write("responses.jsonl", "{\"prompt\": \"Say hi.\", \"response\": 1e400}\n");
  expect_refused([&] { tasks::score_ifeval_responses(suite, responses); }, "responses.jsonl:1: not valid JSON");
}

}  // namespace
}  // namespace uaqf
