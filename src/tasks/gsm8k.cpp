#include "tasks/gsm8k.h"

#include <algorithm>
#include <fstream>
#include <map>

#include <string_view>

#include <fmt/format.h>

#include "core/error.h"
#include "tasks/python_random.h"

namespace uaqf::tasks {
namespace {

using nlohmann::json;

// lm-eval's two GSM8K filters, "#### (-?[0-9.,]+)" (strict: the first match) and
// "(-?[$0-9.,]{2,})|(-?[0-9]+)" (flexible: the last match), as linear scans with the backtracking
// regex semantics spelled out: no recursion and no regex engine, so any input length is safe (a
// std::regex overflowed the stack on '0.' * 15000). Checked against RE2 on 2,000,000 random
// strings over "0123456789.,$- #a\n" with "#### " inserted (docs/tasks.md): no difference.
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool in_strict_class(char c) { return is_digit(c) || c == '.' || c == ','; }
bool in_flexible_class(char c) { return in_strict_class(c) || c == '$'; }

template <typename Pred>
std::size_t run_length(std::string_view s, std::size_t from, Pred in_class) {
  std::size_t n = 0;
  while (from + n < s.size() && in_class(s[from + n])) ++n;
  return n;
}

// The length of the flexible pattern's match starting at `p`, 0 when none: the first
// alternative (its optional '-' taken when that still leaves two class characters), else the second.
std::size_t flexible_match_at(std::string_view s, std::size_t p) {
  const bool minus = s[p] == '-';
  const std::size_t start = minus ? p + 1 : p;
  if (const std::size_t n = run_length(s, start, in_flexible_class); n >= 2) return (start - p) + n;
  const std::size_t digits = run_length(s, start, is_digit);
  return digits > 0 ? (start - p) + digits : 0;
}

// The question and response of one line in either accepted layout.
std::pair<std::string, std::string> response_fields(const json& row) {
  if (row.contains("question") && row["question"].is_string() && row.contains("response") &&
      row["response"].is_string()) {
    return {row["question"].get<std::string>(), row["response"].get<std::string>()};
  }
  // lm-evaluation-harness's samples log: the generation is resps[0][0].
  if (row.contains("doc") && row["doc"].is_object() && row["doc"].contains("question") &&
      row["doc"]["question"].is_string() && row.contains("resps") && row["resps"].is_array() && !row["resps"].empty() &&
      row["resps"][0].is_array() && !row["resps"][0].empty() && row["resps"][0][0].is_string()) {
    return {row["doc"]["question"].get<std::string>(), row["resps"][0][0].get<std::string>()};
  }
  throw Error(ErrorCode::kInvalidArgument,
              R"(expected {"question": string, "response": string} or an lm-eval samples line )"
              R"(({"doc": {"question": ...}, "resps": [[string]]}))");
}

}  // namespace

std::optional<std::string> gsm8k_strict_answer(const std::string& generation) {
  const std::string_view s(generation);
  for (std::size_t at = s.find("#### "); at != std::string_view::npos; at = s.find("#### ", at + 1)) {
    const std::size_t p = at + 5;
    // "-?" is taken only when a class character follows it ('-' itself is not in the class).
    const bool minus = p < s.size() && s[p] == '-' && run_length(s, p + 1, in_strict_class) > 0;
    const std::size_t start = minus ? p + 1 : p;
    if (const std::size_t n = run_length(s, start, in_strict_class); n > 0) {
      return std::string(s.substr(p, (start - p) + n));
    }
  }
  return std::nullopt;
}

std::optional<std::string> gsm8k_flexible_answer(const std::string& generation) {
  const std::string_view s(generation);
  std::optional<std::string> last;
  for (std::size_t p = 0; p < s.size();) {
    const std::size_t n = flexible_match_at(s, p);
    if (n == 0) {
      ++p;
      continue;
    }
    last = std::string(s.substr(p, n));
    p += n;  // findall: the next match starts after this one
  }
  if (last) {
    // lm-eval strips the match; neither alternative can hold whitespace, so this is for fidelity.
    *last = python_strip(*last);
  }
  return last;
}

std::string gsm8k_normalize(const std::string& answer) {
  std::string out;
  for (char c : answer) {
    if (c != ',' && c != '$') {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  // "(?s).*#### ": everything up to the last "#### " (a worked answer's solution).
  if (const auto marker = out.rfind("#### "); marker != std::string::npos) {
    out.erase(0, marker + 5);
  }
  // "\.$": a final ".", or one before a final newline (Python's "$").
  if (!out.empty() && out.back() == '.') {
    out.pop_back();
  } else if (out.size() >= 2 && out.back() == '\n' && out[out.size() - 2] == '.') {
    out.erase(out.size() - 2, 1);
  }
  return out;
}

std::string gsm8k_target(const std::string& worked_answer) { return gsm8k_normalize(worked_answer); }

std::vector<std::vector<std::size_t>> lm_eval_fewshot_draws(std::size_t n_train, std::size_t n_docs, std::size_t shots,
                                                            uint32_t seed) {
  std::vector<std::vector<std::size_t>> draws;
  draws.reserve(n_docs);
  PythonRandom rnd(seed);
  for (std::size_t d = 0; d < n_docs; ++d) {
    draws.push_back(rnd.sample(n_train, shots));
  }
  return draws;
}

std::string gsm8k_prompt(const std::vector<QaItem>& exemplars, const QaItem& item) {
  std::string prompt;
  for (const auto& exemplar : exemplars) {
    if (exemplar.question == item.question && exemplar.answer == item.answer) {
      continue;  // lm-eval: [x for x in fewshotex if x != doc]
    }
    prompt += fmt::format("Question: {}\nAnswer: {}\n\n", exemplar.question, exemplar.answer);
  }
  return prompt + fmt::format("Question: {}\nAnswer:", item.question);
}

Gsm8kVerdict judge_gsm8k(const std::string& generation, const std::string& worked_answer) {
  Gsm8kVerdict verdict{.target = gsm8k_target(worked_answer)};
  verdict.strict_answer = gsm8k_strict_answer(generation);
  verdict.flexible_answer = gsm8k_flexible_answer(generation);
  verdict.correct_strict = verdict.strict_answer && gsm8k_normalize(*verdict.strict_answer) == verdict.target;
  verdict.correct_flexible = verdict.flexible_answer && gsm8k_normalize(*verdict.flexible_answer) == verdict.target;
  return verdict;
}

std::vector<Gsm8kResponse> read_gsm8k_responses(const std::vector<QaItem>& items, const std::filesystem::path& file) {
  std::map<std::string, const QaItem*> by_question;
  for (const auto& item : items) {
    by_question.emplace(item.question, &item);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kNotFound, fmt::format("cannot read the responses file {}", file.string()));
  }
  std::vector<Gsm8kResponse> responses;
  std::map<const QaItem*, std::size_t> index_of;
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      continue;
    }
    try {
      const json row = json::parse(line);
      const auto [question, response] = response_fields(row);
      const auto item = by_question.find(question);
      if (item == by_question.end()) {
        throw Error(
            ErrorCode::kInvalidArgument,
            fmt::format("the question is not one of GSM8K's test questions (\"{}...\")", question.substr(0, 60)));
      }
      const auto [previous, first] = index_of.emplace(item->second, responses.size());
      if (!first) {
        // lm-eval's samples log has a line per filter for the same generation: counted once.
        if (responses[previous->second].response == response) continue;
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("GSM8K item {} was already answered differently on line {}", item->second->id,
                                responses[previous->second].line));
      }
      responses.push_back({item->second, response, number});
    } catch (const json::exception& e) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: not valid JSON ({})", file.string(), number, e.what()));
    } catch (const Error& e) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: {}", file.string(), number, e.what()));
    }
  }
  if (responses.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: no responses in the file", file.string()));
  }
  return responses;
}

}  // namespace uaqf::tasks
