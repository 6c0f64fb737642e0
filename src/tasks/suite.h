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
#include "tasks/gsm8k.h"
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
  // Generation tasks: how their prompts reached the model (to_string(PromptFormat)); empty otherwise.
  std::string prompt_format;
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

// acc_norm's divisor: the choice's length in characters (Unicode code points) without the target
// delimiter, a leading space of the continuation (lm-evaluation-harness: len(choice)).
std::size_t acc_norm_length(const std::string& continuation);
// The log-likelihood acc_norm compares: divided by acc_norm_length (at least 1).
double acc_norm_score(double loglikelihood, const std::string& continuation);

TaskResult run_multiple_choice(backend::Model& model, const std::string& task, int version,
                               const std::vector<McItem>& items, const McOptions& options,
                               const ItemJournal* journal = nullptr);

// How generation prompts reach the model.
enum class PromptFormat {
  kLmEval,  // the task's text as it is, as lm-evaluation-harness sends it without --apply_chat_template
  kChat,    // the text as one user message through the chat template, its special markers parsed as tokens
};
std::string to_string(PromptFormat format);  // "lm-eval" | "chat"
// Throws Error(kInvalidArgument) naming `what` (a flag or key) for anything but "lm-eval" and "chat".
PromptFormat parse_prompt_format(const std::string& text, const std::string& what);

struct GenerationOptions {
  int max_new_tokens = 256;
  int batch_size = 8;  // prompts generated side by side
  // Each prompt in a cache stream of its own and no flash attention: with batch-invariant kernels
  // (Model::batch_invariant_kernels), answers are bit-identical to one prompt at a time.
  bool batch_invariant = false;
  PromptFormat prompt_format = PromptFormat::kLmEval;
  std::optional<std::string> chat_template;  // kChat: overrides the model's
};

// The one-line warning for batch_invariant on a model whose kernels are not batch-invariant.
std::string batch_invariance_warning(const std::string& model_name);

// Generation stops at the first of `stop_sequences`, and the answer is cut there. prompts[i] is
// items[i]'s (gsm8k_prompt with its exemplars).
TaskResult run_gsm8k(backend::Model& model, int version, const std::vector<QaItem>& items,
                     const std::vector<std::string>& prompts, const std::vector<std::string>& stop_sequences,
                     const GenerationOptions& options, const ItemJournal* journal = nullptr);

// Throws Error(kInvalidArgument) naming the model when the chat format is asked for and neither the
// model nor options.chat_template gives a template.
void require_chat_template(const backend::Vocabulary& vocabulary, const GenerationOptions& options,
                           const std::string& model_name);

// Each prompt as the model sees it: through the chat template when asked and the model has one
// (or `chat_template` overrides it) and tokenized with its special markers parsed
// (Vocabulary::tokenize_chat), else tokenized as plain text with BOS.
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

// One GSM8K answer's record: id, question, generation, target, both extracted answers, both verdicts.
nlohmann::json gsm8k_record(const QaItem& item, const std::string& generation);

// Items per second from per-item times (journaled items keep the time of the run that made them).
double items_per_second(const std::vector<double>& item_seconds);

// How far a variant's greedy answers are from the baseline's for the same prompts.
TaskResult compare_generations(const std::vector<std::string>& ids,
                               const std::vector<std::vector<backend::Token>>& baseline,
                               const std::vector<std::vector<backend::Token>>& variant, double seconds);

// Token-level Levenshtein distance.
std::size_t edit_distance(const std::vector<backend::Token>& a, const std::vector<backend::Token>& b);

}  // namespace uaqf::tasks
