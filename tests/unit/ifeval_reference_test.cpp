// IFEval against the official implementation on GPT-4's published responses: every verdict of
// the reference file (shared/data/ifeval/reference/), and the counting primitives against nltk's
// and langdetect's own output (tests/data/ifeval/, made by scripts/ifeval/reference_counts.py).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tasks/ifeval.h"

namespace uaqf::tasks::ifeval {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

fs::path reference_dir() {
  const char* shared = std::getenv("UAQF_SHARED_DIR");
  if (shared == nullptr || *shared == '\0') return {};
  return fs::path(shared) / "data" / "ifeval" / "reference";
}

std::vector<json> read_jsonl(const fs::path& file) {
  std::vector<json> rows;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(json::parse(line));
  }
  return rows;
}

#define REQUIRE_REFERENCE()                                                                               \
  do {                                                                                                    \
    ASSERT_FALSE(reference_dir().empty()) << "UAQF_SHARED_DIR is not set (it must name the shared/ dir)"; \
    ASSERT_TRUE(fs::is_directory(reference_dir())) << "missing " << reference_dir();                      \
  } while (false)

TEST(IfevalReference, GptFourVerdictsEqualTheOfficialOnes) {
  REQUIRE_REFERENCE();
  std::map<std::string, Item> items_by_prompt;
  std::ifstream data(reference_dir().parent_path() / "input_data.jsonl");
  for (std::string line; std::getline(data, line);) {
    if (line.empty()) continue;
    Item item = parse_item(line);
    items_by_prompt.emplace(item.prompt, std::move(item));
  }
  std::map<std::string, json> official;
  for (const json& row : read_jsonl(reference_dir() / "gpt4_official_verdicts.jsonl")) {
    official[std::to_string(row.at("key").get<long>())] = row;
  }
  const std::vector<json> responses = read_jsonl(reference_dir() / "gpt4_responses.jsonl");
  ASSERT_EQ(responses.size(), 541U);
  std::size_t compared = 0, seed_dependent = 0, prompts_strict = 0, prompts_loose = 0;
  std::size_t instructions = 0, followed_strict = 0, followed_loose = 0;
  for (const json& row : responses) {
    const auto item = items_by_prompt.find(row.at("prompt").get<std::string>());
    ASSERT_NE(item, items_by_prompt.end()) << row.at("prompt");
    const json& expected = official.at(item->second.key);
    const Result result = evaluate(item->second, row.at("response").get<std::string>());
    prompts_strict += result.prompt_strict() ? 1 : 0;
    prompts_loose += result.prompt_loose() ? 1 : 0;
    for (std::size_t k = 0; k < result.strict.size(); ++k) {
      ++instructions;
      followed_strict += result.strict[k] ? 1 : 0;
      followed_loose += result.loose[k] ? 1 : 0;
      if (expected.at("seed_dependent").at(k).get<bool>()) {
        ++seed_dependent;
        continue;
      }
      ++compared;
      const std::string what = "key " + item->second.key + " " + item->second.instruction_ids[k];
      EXPECT_EQ(result.strict[k], expected.at("strict").at(k).get<bool>()) << what << " (strict)";
      EXPECT_EQ(result.loose[k], expected.at("loose").at(k).get<bool>()) << what << " (loose)";
    }
  }
  const auto percent = [](std::size_t part, std::size_t whole) {
    return 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  };
  std::cout << "compared " << compared << " verdicts per mode (" << seed_dependent << " seed-dependent); accuracies "
            << percent(prompts_strict, 541) << " / " << percent(followed_strict, instructions) << " / "
            << percent(prompts_loose, 541) << " / " << percent(followed_loose, instructions) << " %\n";
  EXPECT_EQ(compared + seed_dependent, 834U);
  EXPECT_EQ(seed_dependent, 2U);  // as the reference file marks them
  EXPECT_NEAR(percent(prompts_strict, 541), 77.08, 0.2);
  EXPECT_NEAR(percent(followed_strict, instructions), 83.69, 0.2);
  EXPECT_NEAR(percent(prompts_loose, 541), 79.67, 0.2);
  EXPECT_NEAR(percent(followed_loose, instructions), 85.61, 0.2);
}

// How many of the texts have each primitive equal to the Python libraries' (expected[i] holds
// "sentences", "words", "capital_words" and "language"); every difference is a failure.
std::map<std::string, std::size_t> agreement(const std::vector<std::string>& texts, const std::vector<json>& expected) {
  std::map<std::string, std::size_t> agree;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string where = "text " + std::to_string(i + 1) + ": " + texts[i].substr(0, 80);
    const std::map<std::string, std::size_t> counts = {{"sentences", detail::count_sentences(texts[i])},
                                                       {"words", detail::count_words(texts[i])},
                                                       {"capital_words", detail::count_capital_words(texts[i])}};
    for (const auto& [name, count] : counts) {
      EXPECT_EQ(count, expected[i].at(name).get<std::size_t>()) << name << ", " << where;
      agree[name] += count == expected[i].at(name).get<std::size_t>() ? 1 : 0;
    }
    const json& language = expected[i].at("language");
    const std::string want = language.is_null() ? "" : language.get<std::string>();
    EXPECT_EQ(detail::detect_language(texts[i]), want) << where;
    agree["language"] += detail::detect_language(texts[i]) == want ? 1 : 0;
  }
  return agree;
}

void print_agreement(const std::string& what, std::size_t n, const std::map<std::string, std::size_t>& agree) {
  std::cout << "agree with nltk/langdetect on " << n << " " << what << ":";
  for (const auto& [name, count] : agree) std::cout << " " << name << " " << count;
  std::cout << "\n";
}

TEST(IfevalReference, CountsEqualNltksAndLanguagesLangdetectsOnGptFourResponses) {
  REQUIRE_REFERENCE();
  const std::vector<json> expected =
      read_jsonl(fs::path(UAQF_SOURCE_DIR) / "tests/data/ifeval/gpt4_reference_counts.jsonl");
  const std::vector<json> responses = read_jsonl(reference_dir() / "gpt4_responses.jsonl");
  ASSERT_EQ(expected.size(), responses.size());
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < responses.size(); ++i) {
    ASSERT_EQ(expected[i].at("prompt"), responses[i].at("prompt")) << "line " << i + 1;
    texts.push_back(responses[i].at("response").get<std::string>());
  }
  print_agreement("GPT-4 responses", texts.size(), agreement(texts, expected));
}

// Random texts in many scripts exercise what English responses do not: langdetect's CJK classes,
// Vietnamese marks, the cleaning of Latin letters from texts in other scripts.
TEST(IfevalReference, CountsAndLanguagesEqualPythonsOnMixedScriptTexts) {
  REQUIRE_REFERENCE();
  const std::vector<json> expected =
      read_jsonl(fs::path(UAQF_SOURCE_DIR) / "tests/data/ifeval/mixed_script_reference_counts.jsonl");
  ASSERT_EQ(expected.size(), 300U);
  std::vector<std::string> texts;
  std::set<std::string> languages;
  for (const json& row : expected) {
    texts.push_back(row.at("text").get<std::string>());
    if (row.at("language").is_string()) languages.insert(row.at("language").get<std::string>());
  }
  EXPECT_GE(languages.size(), 20U);  // the texts reach many of the profiles
  print_agreement("mixed-script texts", texts.size(), agreement(texts, expected));
}

TEST(IfevalReference, MissingModelFilesAreOneClearError) {
  REQUIRE_REFERENCE();
  const ReferenceFiles defaults = default_reference_files();
  const auto expect_not_found = [](const ReferenceFiles& files, const std::string& fragment) {
    try {
      use_reference_files(files);
      ADD_FAILURE() << "accepted " << files.punkt_parameters << ", " << files.langdetect_dir;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kNotFound) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_not_found({.punkt_parameters = defaults.punkt_parameters, .langdetect_dir = "/no/such/langdetect"},
                   "/no/such/langdetect");
  expect_not_found({.punkt_parameters = defaults.punkt_parameters, .langdetect_dir = "/no/such/langdetect"},
                   "UAQF_LANGDETECT_DIR");
  expect_not_found({.punkt_parameters = "/no/such/punkt.json", .langdetect_dir = defaults.langdetect_dir},
                   "/no/such/punkt.json");
  // A failed load leaves the models in use as they were.
  EXPECT_EQ(detail::count_sentences("My answer is no. Generally, it is fine."), 2U);
  EXPECT_EQ(detail::detect_language("YES"), "cy");
}

}  // namespace
}  // namespace uaqf::tasks::ifeval
