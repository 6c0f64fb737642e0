// The bad-input corpus (issue #17): each bad study key, profile, file or task data set is refused
// as Error(kInvalidArgument) with one message that names the file and line (or the key), before
// any model is loaded. Library level, so that the whole corpus runs in milliseconds.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "decide/decide.h"
#include "decide/profile.h"
#include "report/table.h"
#include "study/study.h"
#include "study/workload.h"
#include "tasks/registry.h"

namespace uaqf {
namespace {

namespace fs = std::filesystem;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("uaqf-bad-input-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A study file: [model] on lines 1-2, then `rest` from line 3 on.
  fs::path study_file(const std::string& rest) const {
    const fs::path file = dir_ / "study.toml";
    std::ofstream(file) << "[model]\npath = \"m.gguf\"\n" << rest;
    return file;
  }

  // The message of the Error(kInvalidArgument) that loading `rest` throws ("" when none).
  std::string load_error(const std::string& rest) const {
    try {
      study::load_study(study_file(rest));
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument) << error.what();
      return error.what();
    }
    return "";
  }

  fs::path dir_;
};

struct StudyCase {
  std::string rest;      // the study from line 3 on
  std::string fragment;  // in the message, after "study.toml:"
};

TEST_F(BadInputTest, EveryBadStudyValueNamesItsLine) {
  const std::vector<StudyCase> cases = {
      {"[workload]\nprompt_tokens = [4294967360]\n", "4: 'prompt_tokens' has a value too large: 4294967360"},
      {"[quality]\nctx = 4294967424\n", "4: 'ctx' is too large: 4294967424"},
      {"[quality]\nctx = 0\n", "4: 'ctx' must be at least 2, got 0"},
      {"[quality]\nchunks = 0\n", "4: 'chunks' must be at least 1, got 0"},
      {"[quality]\ntasks = [\"arc_easy\", \"nope\"]\n", "4: unknown task 'nope' in 'tasks' (known: gsm8k,"},
      {"[quality]\nmax_item_bytes = 0\n", "4: 'max_item_bytes' must be at least 1"},
      {"[quality]\nprompt_format = \"jinja\"\n", "4: prompt_format must be lm-eval (the task's text) or chat"},
      {"[workload]\ngen_tokens = 0\n", "4: 'gen_tokens' must be at least 1, got 0"},
      {"[workload]\nprompt_tokens = [0]\n", "4: 'prompt_tokens' must be at least 1, got 0"},
      {"[workload]\nmax_cv = nan\n", "4: 'max_cv' must be a finite number"},
      {"[runtime]\nthreads = 100000\n", "4: 'threads' must be between 1 and"},
      {"[runtime]\nbatch_size = 0\n", "4: 'batch_size' must be at least 1"},
      {"[profile]\nbootstrap = 0\n", "4: 'bootstrap' must be between 1 and 100000, got 0"},
      {"[profile]\nbootstrap = 2000000000\n", "4: 'bootstrap' must be between 1 and 100000"},
      {"[study]\nname = \"../escape\"\n", "4: study name '../escape' must not contain '/'"},
      {"[study]\nname = \"..\"\n", "4: study name '..' is not a folder name"},
      {"types = [\"../../x\"]\n", "3: 'types' has '../../x', not a quantization type name"},
      {"types = [\"Q4_0\", \"q4_0\"]\n", "3: 'types' names q4_0 twice"},
      {"[workload]\nreps = 2000000000\n", "4: 'reps' must be at most 10000, got 2000000000"},
      {"[workload]\ndepths = [0, 100000000]\n", "4: 'depths' must be at most 16777216"},
      {"[quality]\nctx = 100000000\n", "4: 'ctx' must be at most 16777216"},
  };
  for (const auto& c : cases) {
    const std::string message = load_error(c.rest);
    EXPECT_NE(message.find((dir_ / "study.toml").string() + ":" + c.fragment), std::string::npos)
        << "study: " << c.rest << "\nmessage: " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST_F(BadInputTest, StudyRemembersWhereEachKeyStands) {
  const auto study = study::load_study(study_file("types = [\"Q4_0\"]\n\n[runtime]\nkv_types = [\"f16\"]\n"));
  EXPECT_EQ(study.where("model.types"), (dir_ / "study.toml").string() + ":3");
  EXPECT_EQ(study.where("runtime.kv_types"), (dir_ / "study.toml").string() + ":6");
  EXPECT_EQ(study.where("quality.ctx"), (dir_ / "study.toml").string());
  EXPECT_FALSE(study.variants_dir_given);
}

TEST_F(BadInputTest, ThreadCountIsBoundedByTheMachine) {
  EXPECT_NO_THROW(check_thread_count(0, "--threads"));
  EXPECT_NO_THROW(check_thread_count(max_thread_count(), "--threads"));
  EXPECT_THROW(check_thread_count(max_thread_count() + 1, "--threads"), Error);
  EXPECT_THROW(check_thread_count(-1, "--threads"), Error);
  try {
    check_thread_count(100000, "--threads");
    FAIL() << "100000 threads accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("--threads must be between 1 and"), std::string::npos) << error.what();
  }
}

TEST_F(BadInputTest, EndlessOrHugeTextInputsAreRefusedNotRead) {
  try {
    read_text_file("/dev/zero");
    FAIL() << "/dev/zero read";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("/dev/zero is a device"), std::string::npos) << error.what();
  }
  write_file_atomic(dir_ / "big.txt", std::string(5000, 'x'));
  EXPECT_EQ(read_text_file(dir_ / "big.txt", 5000).size(), 5000U);
  try {
    read_text_file(dir_ / "big.txt", 4096);
    FAIL() << "over the limit";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("big.txt is larger than"), std::string::npos) << error.what();
  }
}

TEST_F(BadInputTest, InvalidUtf8IsFoundAtItsOffset) {
  EXPECT_EQ(first_invalid_utf8("plain ascii"), std::nullopt);
  EXPECT_EQ(first_invalid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::nullopt);
  EXPECT_EQ(first_invalid_utf8("ab\xff"), 2U);
  EXPECT_EQ(first_invalid_utf8("ab\xc3"), 2U);              // truncated sequence
  EXPECT_EQ(first_invalid_utf8("a\xc0\xaf"), 1U);           // overlong '/'
  EXPECT_EQ(first_invalid_utf8("x\xed\xa0\x80"), 1U);       // a surrogate
  EXPECT_EQ(first_invalid_utf8("\xe2\x82(more"), 0U);       // bad continuation
  EXPECT_EQ(first_invalid_utf8("ok\xf4\x90\x80\x80"), 2U);  // above U+10FFFF
}

TEST_F(BadInputTest, ProfileKeysAndWeightsAreChecked) {
  try {
    decide::profile_from_json(nlohmann::json::parse(R"({"base": "interactive", "weigths": {"decode_tps": 1}})"));
    FAIL() << "misspelt key accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("unknown profile key 'weigths'"), std::string::npos) << error.what();
  }
  for (const double weight : {1e308, -1.0, 1e7}) {
    EXPECT_THROW(
        decide::profile_from_json(nlohmann::json{{"weights", nlohmann::json{{"decode_tps", weight}, {"ppl", 1}}}}),
        Error)
        << weight;
  }
  EXPECT_NO_THROW(decide::profile_from_json(nlohmann::json::parse(R"({"weights": {"decode_tps": 1e6}})")));
}

TEST_F(BadInputTest, BootstrapIsBounded) {
  decide::Variant base{.name = "base", .is_baseline = true};
  base.metrics["decode_tps"].samples = {10, 11};
  const auto profile =
      decide::profile_from_json(nlohmann::json::parse(R"({"weights": {"decode_tps": 1}, "normalization": "min-max"})"));
  EXPECT_THROW(decide::decide({base}, profile, {.bootstrap_resamples = decide::kMaxBootstrapResamples + 1}), Error);
  EXPECT_THROW(decide::decide({base}, profile, {.bootstrap_resamples = 0}), Error);
  EXPECT_NO_THROW(decide::decide({base}, profile, {.bootstrap_resamples = 10}));
}

// One task data file (ARC's JSON lines) with `content`; the message of what preparing it throws.
std::string arc_error(const fs::path& dir, const std::string& content, std::size_t max_item_bytes = 1 << 16) {
  fs::create_directories(dir / "arc");
  std::ofstream(dir / "arc" / "arc_easy.jsonl", std::ios::binary | std::ios::trunc) << content;
  tasks::SuiteOptions options;
  options.data_dir = dir;
  options.max_item_bytes = max_item_bytes;
  try {
    tasks::prepare_suite({"arc_easy"}, options);
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument) << error.what();
    return error.what();
  }
  return "";
}

TEST_F(BadInputTest, TaskDataIsCheckedWithExactLines) {
  const std::string good = R"({"query": "Question: 2+2?", "choices": ["3", "4"], "gold": 1})";
  const std::string file = (dir_ / "arc" / "arc_easy.jsonl").string();
  struct Case {
    std::string content;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      // Blank lines count: the bad item is on line 4.
      {good + "\n\n\n" + R"({"query": "q", "choices": [], "gold": 0})" + "\n",
       file + ":4: item arc-easy-2 has 0 choices; a multiple-choice item needs at least 2"},
      {good + "\n" + R"({"query": "q", "choices": ["a", "b"], "gold": 5})" + "\n",
       file + ":2: item arc-easy-2 has gold index 5, outside its 2 choices (0-1)"},
      {good + "\n" + R"({"query": "q", "choices": ["a", "b"], "gold": -1})" + "\n",
       file + ":2: item arc-easy-2 has gold"},
      {"", file + ": no items (the file is empty)"},
      {"\n  \n", file + ": no items"},
      {"\n" + good + "\n\n" + R"({"choices": ["a", "b"], "gold": 0})" + "\n",
       file + ":4: field 'query' is missing or has the wrong type"},
      {good + "\n" + R"({"query": "caf\xe9", "choices": ["a", "b"], "gold": 0})" + "\n",
       file + ":2: malformed JSON line"},
      {good + "\n[1, 2]\n", file + ":2: not a JSON object"},
      {good + "\n{\"query\": \"" + std::string(70000, 'x') + "\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n",
       file + ":2: item arc-easy-2 is 70010 bytes long, above the limit of 65536 bytes per item"},
  };
  for (const auto& c : cases) {
    const std::string message = arc_error(dir_, c.content);
    EXPECT_NE(message.find(c.fragment), std::string::npos) << "expected: " << c.fragment << "\nmessage: " << message;
  }
  EXPECT_EQ(arc_error(dir_, good + "\n"), "");
}

TEST_F(BadInputTest, CommonsenseAnswerKeyMustNameAChoice) {
  fs::create_directories(dir_ / "commonsenseqa");
  std::ofstream(dir_ / "commonsenseqa" / "dev_rand_split.jsonl")
      << R"({"id": "q1", "answerKey": "Z", "question": {"stem": "s", "choices": [{"label": "A", "text": "a"}, )"
      << R"({"label": "B", "text": "b"}]}})"
      << "\n";
  tasks::SuiteOptions options;
  options.data_dir = dir_;
  try {
    tasks::prepare_suite({"commonsense_qa"}, options);
    FAIL() << "an answer key that names no choice scored as choice 0";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("dev_rand_split.jsonl:1: item q1 has gold index -1"), std::string::npos)
        << error.what();
  }
}

TEST_F(BadInputTest, PromptFilesAreCheckedWithExactLines) {
  const auto prompts_error = [&](const std::string& content, std::size_t max_bytes = 1 << 16) -> std::string {
    std::ofstream(dir_ / "prompts.txt", std::ios::binary | std::ios::trunc) << content;
    try {
      study::workload_prompts({.source = "file", .file = dir_ / "prompts.txt", .count = 10}, dir_, max_bytes);
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument) << error.what();
      return error.what();
    }
    return "";
  };
  const std::string file = (dir_ / "prompts.txt").string();
  EXPECT_NE(prompts_error("").find(file + ": no prompts"), std::string::npos);
  EXPECT_NE(prompts_error("\n\n").find(file + ": no prompts"), std::string::npos);
  EXPECT_NE(prompts_error("fine\n\nbad \xff byte\n").find(file + ":3: not UTF-8 text (byte 5)"), std::string::npos)
      << prompts_error("fine\n\nbad \xff byte\n");
  EXPECT_NE(prompts_error("short\n" + std::string(100, 'x') + "\n", 64).find(file + ":2: the prompt is 100 bytes long"),
            std::string::npos);
  EXPECT_EQ(prompts_error("one\ntwo\n"), "");
}

TEST_F(BadInputTest, CsvCellsCannotBeFormulas) {
  EXPECT_EQ(report::csv_field("=1+1"), "'=1+1");
  EXPECT_EQ(report::csv_field("+cmd"), "'+cmd");
  EXPECT_EQ(report::csv_field("-2+3"), "'-2+3");
  EXPECT_EQ(report::csv_field("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(report::csv_field("\tx"), "'\tx");
  EXPECT_EQ(report::csv_field("\rx"), "\"'\rx\"");
  EXPECT_EQ(report::csv_field("=HYPERLINK(\"a\",\"b\")"), "\"'=HYPERLINK(\"\"a\"\",\"\"b\"\")\"");
  // Numbers stay numbers; plain text is unchanged.
  EXPECT_EQ(report::csv_field("-1.5"), "-1.5");
  EXPECT_EQ(report::csv_field("-2e-05"), "-2e-05");
  EXPECT_EQ(report::csv_field("-inf"), "-inf");
  EXPECT_EQ(report::csv_field("Q4_K_M"), "Q4_K_M");
  EXPECT_EQ(report::csv_field("a,b"), "\"a,b\"");
}

}  // namespace
}  // namespace uaqf
