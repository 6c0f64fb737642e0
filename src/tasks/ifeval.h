#pragma once

// IFEval (Zhou et al. 2023, google-research instruction_following_eval): the 25 verifiable
// instruction checkers, scored strictly and loosely as the original evaluation_lib does.
// Where the C++ cannot match the original exactly (nltk tokenizers, langdetect), ifeval.cpp lists how.

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace uaqf::tasks::ifeval {

// One line of input_data.jsonl. kwargs is parallel to instruction_ids; null values are dropped.
struct Item {
  std::string key;
  std::string prompt;
  std::vector<std::string> instruction_ids;
  std::vector<nlohmann::json> kwargs;
};

// Parses one line of input_data.jsonl; throws Error(kInvalidArgument) on malformed input.
Item parse_item(const std::string& json_line);

// Every instruction id this module implements (the 25 of the IFEval registry).
const std::vector<std::string>& supported_instructions();

// Strict check of one instruction. As in the original, a response that is empty or only whitespace
// follows nothing. Throws Error(kInvalidArgument) for an unknown id or missing/invalid kwargs.
// `prompt` is not used by any checker (combination:repeat_prompt reads kwargs.prompt_to_repeat).
bool check(const std::string& instruction_id, const nlohmann::json& kwargs, const std::string& prompt,
           const std::string& response);

struct Result {
  std::vector<bool> strict;
  std::vector<bool> loose;
  bool prompt_strict() const;  // every instruction followed (true for none)
  bool prompt_loose() const;
};

// Strict: check(response). Loose: an instruction passes if any of the original's 8 variants passes
// (response, without first line, without last line, without both, and each of those without '*').
Result evaluate(const Item& item, const std::string& response);

// The counting primitives, exposed for tests and diagnostics.
namespace detail {
std::size_t count_words(const std::string& text);          // runs of Python's Unicode \w
std::size_t count_sentences(const std::string& text);      // approximation of nltk punkt (english)
std::size_t count_capital_words(const std::string& text);  // nltk word_tokenize tokens with isupper()
// ISO 639-1 code (langdetect style, "zh-cn" for Chinese), or "" when the text has no letters.
std::string detect_language(const std::string& text);
}  // namespace detail

}  // namespace uaqf::tasks::ifeval
