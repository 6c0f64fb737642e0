#pragma once

// GSM8K as lm-evaluation-harness's `gsm8k` task (task version 3.0) defines it: prompts with
// exemplars drawn by its seeded few-shot sampler, answers read by its two filters (strict-match,
// flexible-extract) and compared as its exact_match does. docs/tasks.md names the lm-eval commit.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/datasets.h"

namespace uaqf::tasks {

// The first match of "#### (-?[0-9.,]+)", its group (strict-match).
std::optional<std::string> gsm8k_strict_answer(const std::string& generation);
// The last match of "(-?[$0-9.,]{2,})|(-?[0-9]+)", its non-empty group, stripped (flexible-extract).
// Both are linear scans (no regex engine, no recursion): any length of input is safe.
std::optional<std::string> gsm8k_flexible_answer(const std::string& generation);
// exact_match's regexes_to_ignore (",", "$", "(?s).*#### ", a final "."), then lower case.
std::string gsm8k_normalize(const std::string& answer);
std::string gsm8k_target(const std::string& worked_answer);  // the worked answer normalized: its final number

// lm-evaluation-harness's default few-shot sampler: one random.Random(seed), then for each
// evaluated document in order rnd.sample(fewshot_docs, shots). Element d: the train indices drawn
// for the test document d, for d < n_docs (shots <= n_train).
std::vector<std::vector<std::size_t>> lm_eval_fewshot_draws(std::size_t n_train, std::size_t n_docs, std::size_t shots,
                                                            uint32_t seed);

// k-shot prompt: "Question: {q}\nAnswer: {worked answer}\n\n" per exemplar, then
// "Question: {q}\nAnswer:". An exemplar equal to the item itself is left out, as lm-eval does.
std::string gsm8k_prompt(const std::vector<QaItem>& exemplars, const QaItem& item);

// One answer judged: the strict and flexible answers (nullopt: no match) and whether each equals
// the target.
struct Gsm8kVerdict {
  std::string target;
  std::optional<std::string> strict_answer;
  std::optional<std::string> flexible_answer;
  bool correct_strict = false;
  bool correct_flexible = false;
};
Gsm8kVerdict judge_gsm8k(const std::string& generation, const std::string& worked_answer);

// GSM8K generations made elsewhere, one JSON object a line: {"question": ..., "response": ...}, or
// a line of lm-evaluation-harness's samples log ({"doc": {"question": ...}, "resps": [[...]]}).
// Each question is matched to an item of `items` by its text and the response scored as a model's
// answer is (as given: its maker already cut it at its stop sequences).
struct Gsm8kResponse {
  const QaItem* item = nullptr;
  std::string response;
  std::size_t line = 0;
};
// Throws Error(kInvalidArgument) naming file:line for a malformed line, a question that is no
// item's, or a question answered twice; Error(kNotFound) for a missing file.
std::vector<Gsm8kResponse> read_gsm8k_responses(const std::vector<QaItem>& items, const std::filesystem::path& file);

}  // namespace uaqf::tasks
