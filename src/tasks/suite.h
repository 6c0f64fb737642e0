#pragma once

// The task suite: multiple choice by log-likelihood, GSM8K by generation, and answer divergence
// from the baseline. Definitions follow lm-evaluation-harness (docs/tasks.md lists where and why
// uaqf differs). Every item's record is kept for paired analysis.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "tasks/datasets.h"
#include "tasks/journal.h"

namespace uaqf::tasks {

struct TaskMetric {
  std::string name;  // acc, acc_norm, exact_match_strict, ...
  double value = 0;
  double stderr_value = 0;
  std::size_t n = 0;
};

struct TaskResult {
  std::string task;
  int version = 0;
  std::vector<TaskMetric> metrics;
  nlohmann::json records = nlohmann::json::array();  // one object per item
  double seconds = 0;
  double items_per_second = 0;
};

// How a multiple-choice score is normalized.
enum class McNormalization {
  kLmEval,    // acc: summed log-likelihood; acc_norm: divided by the continuation's length in characters
  kLlamaCpp,  // mean log-probability of the tokens after the choices' common prefix (llama-perplexity)
};

struct McOptions {
  McNormalization normalization = McNormalization::kLmEval;
  // Shared context once, choices side by side (fast); false scores each choice on its own from an
  // empty cache (the naive way, kept to check and benchmark the fast path).
  bool share_context = true;
  // Each choice in a cache stream of its own and no flash attention, in both ways: with
  // batch-invariant kernels (Model::batch_invariant_kernels) the shared-context scores are
  // bit-identical to the naive ones.
  bool batch_invariant = false;
};

// A deterministic subset: `limit` items drawn without replacement by a seeded shuffle, in their
// original order. nullopt limit: all.
std::vector<std::size_t> select_items(std::size_t n_items, std::optional<std::size_t> limit, uint32_t seed);

// llama-perplexity --hellaswag-tasks N's draw: N distinct indices, each drawn uniformly from those
// left, with std::mt19937 seeded 1.
std::vector<std::size_t> select_items_like_llama_hellaswag(std::size_t n_items, std::size_t limit);

TaskResult run_multiple_choice(backend::Model& model, const std::string& task, int version,
                               const std::vector<McItem>& items, const McOptions& options,
                               const ItemJournal* journal = nullptr);

// GSM8K answer extraction as lm-evaluation-harness's gsm8k (v3) defines it.
std::optional<std::string> gsm8k_strict_answer(const std::string& generation);    // "#### N"
std::optional<std::string> gsm8k_flexible_answer(const std::string& generation);  // last number
std::string gsm8k_normalize(const std::string& answer);                           // drop ",", "$", trailing "."
std::string gsm8k_target(const std::string& worked_answer);                       // the number after "####"

struct GenerationOptions {
  int max_new_tokens = 256;
  int batch_size = 8;  // prompts generated side by side
  // Each prompt in a cache stream of its own and no flash attention: with batch-invariant kernels
  // (Model::batch_invariant_kernels), answers are bit-identical to one prompt at a time.
  bool batch_invariant = false;
  bool use_chat_template = true;
  std::optional<std::string> chat_template;  // overrides the model's
};

// The one-line warning for batch_invariant on a model whose kernels are not batch-invariant.
std::string batch_invariance_warning(const std::string& model_name);

// k-shot prompts ("Question: q\nAnswer: a\n\n" per exemplar from the train split).
std::string gsm8k_prompt(const std::vector<QaItem>& exemplars, const QaItem& item);

// Generation stops at the first of `stop_sequences`, and the answer is cut there.
TaskResult run_gsm8k(backend::Model& model, int version, const std::vector<QaItem>& exemplars,
                     const std::vector<QaItem>& items, const std::vector<std::string>& stop_sequences,
                     const GenerationOptions& options, const ItemJournal* journal = nullptr);

// Each prompt as the model sees it: through the chat template when asked and the model has one
// (or `chat_template` overrides it), then tokenized with BOS.
std::vector<std::vector<backend::Token>> tokenize_prompts(const backend::Model& model,
                                                          const std::vector<std::string>& prompts,
                                                          bool use_chat_template,
                                                          const std::optional<std::string>& chat_template);

// Greedy answers to `prompts`, generated in batches; stops at any of `stop_strings`. `seconds`
// gets the generation time of each answer (its batch's time shared out), 0 for journaled ones.
// With a journal, answers are looked up and recorded under (`task`, ids[i], prompt hash).
struct JournalScope {
  const ItemJournal* journal = nullptr;
  std::string task;
  const std::vector<std::string>* ids = nullptr;
};
std::vector<std::vector<backend::Token>> generate_answers(backend::Model& model,
                                                          const std::vector<std::string>& prompts,
                                                          const std::vector<std::string>& stop_strings,
                                                          const GenerationOptions& options,
                                                          std::vector<double>* seconds, const JournalScope& scope = {});

// Items per second from per-item times (journaled items keep the time of the run that made them).
double items_per_second(const std::vector<double>& item_seconds);

// How far a variant's greedy answers are from the baseline's for the same prompts.
TaskResult compare_generations(const std::vector<std::string>& ids,
                               const std::vector<std::vector<backend::Token>>& baseline,
                               const std::vector<std::vector<backend::Token>>& variant, double seconds);

// Token-level Levenshtein distance.
std::size_t edit_distance(const std::vector<backend::Token>& a, const std::vector<backend::Token>& b);

}  // namespace uaqf::tasks
