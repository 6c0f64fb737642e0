// Each task's strings against lm-evaluation-harness's rendering of the same items, written by
// scripts/tasks/lm_eval_strings.py from lm-eval's task definitions (tests/data/tasks/README.md).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "tasks/datasets.h"
#include "tasks/registry.h"

namespace uaqf::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path fixture_dir() { return fs::path(UAQF_SOURCE_DIR) / "tests" / "data" / "tasks"; }

fs::path data_dir() {
  const char* shared = std::getenv("UAQF_SHARED_DIR");
  return shared == nullptr ? fs::path() : fs::path(shared) / "data";
}

std::vector<json> expected_rows(const std::string& task) {
  std::vector<json> rows;
  std::ifstream in(fixture_dir() / "lm_eval_strings.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (auto row = json::parse(line); row["task"] == task) rows.push_back(std::move(row));
  }
  return rows;
}

// The items of a multiple-choice task (mmlu with `shots` exemplars) as uaqf builds them, by id.
std::map<std::string, McItem> items_by_id(const std::string& task, int shots) {
  std::vector<McItem> items;
  if (task == "hellaswag") {
    items = load_hellaswag_records(fixture_dir() / "hellaswag_records.jsonl");
  } else if (task == "mmlu") {
    items = load_mmlu(data_dir(), shots);
  } else {
    items = find_task(task).load_items(SuiteOptions{.data_dir = data_dir()});
  }
  std::map<std::string, McItem> by_id;
  for (auto& item : items) by_id.emplace(item.id, std::move(item));
  return by_id;
}

void expect_multiple_choice_strings(const std::string& task, std::size_t expected_rows_at_least) {
  ASSERT_FALSE(data_dir().empty()) << "UAQF_SHARED_DIR is not set (it must name the shared/ dir)";
  const auto rows = expected_rows(task);
  ASSERT_GE(rows.size(), expected_rows_at_least) << task;
  std::map<int, std::map<std::string, McItem>> loaded;  // by number of shots
  for (const auto& row : rows) {
    const int shots = row.value("shots", 0);
    if (!loaded.contains(shots)) loaded[shots] = items_by_id(task, shots);
    const auto it = loaded[shots].find(row["id"].get<std::string>());
    ASSERT_NE(it, loaded[shots].end()) << row["id"];
    const McItem& item = it->second;
    ASSERT_EQ(item.choices.size(), row["contexts"].size()) << row["id"];
    for (std::size_t c = 0; c < item.choices.size(); ++c) {
      EXPECT_EQ(item.choices[c].context, row["contexts"][c].get<std::string>()) << row["id"] << " choice " << c;
      EXPECT_EQ(item.choices[c].continuation, row["continuations"][c].get<std::string>()) << row["id"] << " " << c;
    }
    EXPECT_EQ(item.gold, row["gold"].get<int>()) << row["id"];
  }
}

TEST(TaskStrings, MmluStripsTheQuestionLikeLmEval) {
  // Items whose question begins or ends with whitespace, 0-shot (lm-eval's default) and 5-shot.
  expect_multiple_choice_strings("mmlu", 5);
  const auto rows = expected_rows("mmlu");
  EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [](const json& r) { return r["shots"] == 0; }));
  EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [](const json& r) { return r["shots"] == 5; }));
  EXPECT_EQ(SuiteOptions{}.mmlu_shots, 0);
}

TEST(TaskStrings, HellaswagFromOriginalRecordsIsLmEvalsPreprocessing) {
  expect_multiple_choice_strings("hellaswag", 13);
}

TEST(TaskStrings, ArcPiqaCommonsenseQaAndWinograndeAreLmEvals) {
  for (const char* task : {"arc_easy", "arc_challenge", "piqa", "commonsense_qa", "winogrande"}) {
    expect_multiple_choice_strings(task, 2);
  }
}

TEST(TaskStrings, Gsm8kPromptsHaveLmEvalsSampledExemplars) {
  ASSERT_FALSE(data_dir().empty()) << "UAQF_SHARED_DIR is not set (it must name the shared/ dir)";
  const auto rows = expected_rows("gsm8k");
  ASSERT_GE(rows.size(), 4U);
  const PreparedSuite suite = prepare_suite({"gsm8k"}, SuiteOptions{.data_dir = data_dir()});
  ASSERT_EQ(suite.gsm8k_prompts.size(), suite.gsm8k_items.size());
  for (const auto& row : rows) {
    const auto it = std::find_if(suite.gsm8k_items.begin(), suite.gsm8k_items.end(),
                                 [&](const QaItem& item) { return item.id == row["id"]; });
    ASSERT_NE(it, suite.gsm8k_items.end()) << row["id"];
    EXPECT_EQ(suite.gsm8k_prompts[static_cast<std::size_t>(it - suite.gsm8k_items.begin())],
              row["prompt"].get<std::string>())
        << row["id"];
  }
  // A subset keeps each item's exemplars: the draw follows the test split's order, not the subset's.
  SuiteOptions limited{.data_dir = data_dir(), .limit = 20};
  const PreparedSuite subset = prepare_suite({"gsm8k"}, limited);
  for (std::size_t k = 0; k < subset.gsm8k_items.size(); ++k) {
    const auto full = std::find_if(suite.gsm8k_items.begin(), suite.gsm8k_items.end(),
                                   [&](const QaItem& item) { return item.id == subset.gsm8k_items[k].id; });
    EXPECT_EQ(subset.gsm8k_prompts[k], suite.gsm8k_prompts[static_cast<std::size_t>(full - suite.gsm8k_items.begin())]);
  }
}

TEST(TaskStrings, HellaswagPreprocessingByHand) {
  // lm-eval's preprocess(), worked by hand: " [title]" becomes ". ", other tags go, double spaces
  // become one in a single left-to-right pass, and a "[" without "]" on its line stays.
  // Stripped first: the removed tag leaves the space after it.
  EXPECT_EQ(hellaswag_preprocess("  [header] How to x [title] Do y. [step] Z.  "), " How to x. Do y. Z.");
  EXPECT_EQ(hellaswag_preprocess("a   b"), "a  b");
  EXPECT_EQ(hellaswag_preprocess("keep [this\nline] too"), "keep [this\nline] too");
  EXPECT_EQ(hellaswag_preprocess("x [a[b] y"), "x y");
  EXPECT_EQ(python_capitalize_ascii("tHE boy"), "The boy");
  EXPECT_EQ(python_capitalize_ascii(""), "");
}

}  // namespace
}  // namespace uaqf::tasks
