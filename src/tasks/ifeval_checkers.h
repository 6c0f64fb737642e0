#pragma once

// The 25 IFEval instruction checkers (internal to the IFEval module). Each factory reads and
// validates its kwargs once and returns the test of one response, given as code points.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/ifeval_unicode.h"

namespace uaqf::tasks::ifeval::detail {

// Typed access to one instruction's kwargs. Every failure throws Error(kInvalidArgument) naming the
// instruction id and the key. Holds references: it lives only while a factory runs.
class Args {
 public:
  Args(const std::string& id, const nlohmann::json& kwargs);

  std::int64_t count(const char* key) const;  // a non-negative integer
  U32 text(const char* key) const;
  std::vector<U32> texts(const char* key) const;  // a list of strings
  bool less_than(const char* key) const;          // true for "less than", false for "at least"

  [[noreturn]] void fail(std::string_view key, std::string_view why) const;

 private:
  const nlohmann::json& get(const char* key) const;

  const std::string& id_;
  const nlohmann::json& kwargs_;
};

// Whether a response follows the instruction; the caller handles the empty response.
using Checker = std::function<bool(const U32&)>;

// In the order of instructions_registry.py.
Checker keywords_existence(const Args& args);
Checker keywords_frequency(const Args& args);
Checker keywords_forbidden_words(const Args& args);
Checker keywords_letter_frequency(const Args& args);
Checker language_response_language(const Args& args);
Checker length_number_sentences(const Args& args);
Checker length_number_paragraphs(const Args& args);
Checker length_number_words(const Args& args);
Checker length_nth_paragraph_first_word(const Args& args);
Checker content_number_placeholders(const Args& args);
Checker content_postscript(const Args& args);
Checker format_number_bullet_lists(const Args& args);
Checker format_constrained_response(const Args& args);
Checker format_number_highlighted_sections(const Args& args);
Checker format_multiple_sections(const Args& args);
Checker format_json(const Args& args);
Checker format_title(const Args& args);
Checker combination_two_responses(const Args& args);
Checker combination_repeat_prompt(const Args& args);
Checker startend_end_checker(const Args& args);
Checker change_case_capital_word_frequency(const Args& args);
Checker change_case_english_capital(const Args& args);
Checker change_case_english_lowercase(const Args& args);
Checker punctuation_no_comma(const Args& args);
Checker startend_quotation(const Args& args);

}  // namespace uaqf::tasks::ifeval::detail
