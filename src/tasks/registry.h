#pragma once

// The tasks of `uaqf eval`, as one table (task_table): kind, data, version, prompt, stop sequences,
// answer filter, metrics, help and the functions that load and run each. Data is loaded and
// checked for every task before any model runs.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "tasks/datasets.h"
#include "tasks/suite.h"

namespace uaqf::tasks {

inline constexpr std::size_t kDefaultMaxItemBytes = std::size_t{64} << 10;  // 64 KiB

struct SuiteOptions {
  std::filesystem::path data_dir;
  std::optional<std::size_t> limit;  // items per task (seeded subset)
  uint32_t seed = 1234;
  // lm-evaluation-harness's fewshot_random_seed (its default 1234): GSM8K's exemplars.
  uint32_t fewshot_seed = 1234;
  int gsm8k_shots = 5;
  int mmlu_shots = 0;  // lm-evaluation-harness's mmlu is 0-shot unless asked
  McOptions mc;
  GenerationOptions generation;
  // Applies to both: each prompt or choice in a cache stream of its own, no flash attention (see
  // GenerationOptions::batch_invariant). The runners below set it in the options they pass on.
  bool batch_invariant = false;
  int divergence_max_new_tokens = 64;
  const ItemJournal* journal = nullptr;  // per-item results kept across runs (studies)
  // The longest item (a choice with its context, a question, a prompt) in bytes: the tokenizer's
  // time grows faster than the text, so a longer item is refused when the data is read.
  std::size_t max_item_bytes = kDefaultMaxItemBytes;
};

struct PreparedSuite {
  std::vector<std::string> tasks;
  std::map<std::string, std::vector<McItem>> multiple_choice;
  std::vector<QaItem> gsm8k_items;
  std::vector<std::string> gsm8k_prompts;  // per item, with its exemplars
  std::vector<std::string> ifeval_lines;   // raw JSON lines of the selected prompts
  std::vector<std::string> divergence_ids;
  std::vector<std::string> divergence_prompts;
};

// How a task measures a model.
enum class TaskKind {
  kMultipleChoice,        // the log-likelihood of each choice
  kGeneration,            // greedy answers, judged or compared with the baseline's
  kRollingLogLikelihood,  // the log-likelihood of running text (perplexity.h)
};

struct TaskDefinition;
// Every item of a multiple-choice data set (prepare_suite draws the subset).
using McItemsLoader = std::vector<McItem> (*)(const SuiteOptions& options);
// Reads and checks a task's data into the suite, before any model runs.
using TaskLoader = void (*)(const TaskDefinition& task, const SuiteOptions& options, PreparedSuite& suite);
using TaskRunner = TaskResult (*)(backend::Model& model, const TaskDefinition& task, const PreparedSuite& suite,
                                  const SuiteOptions& options);

// One row of the task table: everything uaqf knows about a task. A multiple-choice task whose data
// is in a format datasets.h reads is one row (and its data file).
struct TaskDefinition {
  std::string name;
  TaskKind kind = TaskKind::kMultipleChoice;
  int version = 1;   // raised when its prompt, data or scoring changes; recorded with every result
  std::string help;  // one line: what it measures, on what
  // Suite tasks: `load` reads the data, `run` runs it (divergence has no `run`: run_divergence
  // needs the baseline's answers). Rolling log-likelihood tasks have neither: their data is a
  // corpus (read_corpus), scored by evaluate_perplexity.
  TaskLoader load = nullptr;
  TaskRunner run = nullptr;
  McItemsLoader load_items = nullptr;  // multiple choice: the data set's items
  // Multiple choice: with --mc-normalization llama, --limit draws items as llama-perplexity's
  // --hellaswag-tasks does, so that the two tools score the same items.
  bool llama_hellaswag_draw = false;
  std::string data;                         // its data, relative to the data folder
  std::string prompt;                       // its prompt, where it has one ({name} are an item's fields)
  std::vector<std::string> stop_sequences;  // generation stops at the first of them
  std::string answer_filter;                // how an answer is read from a generation
  std::vector<std::string> metrics;         // its results' metric names, in order
};

// Every task `uaqf eval --tasks` accepts, in the order help lists them.
const std::vector<TaskDefinition>& task_table();
// The task's row. Throws Error(kInvalidArgument) for an unknown name; the message lists the known ones.
const TaskDefinition& find_task(const std::string& name);
// The known task names, comma-separated ("perplexity, kld, gsm8k, ...").
std::string known_task_names();

// The tasks prepare_suite and run_suite handle: every task but the rolling log-likelihood ones.
const std::vector<std::string>& suite_task_names();
bool is_suite_task(const std::string& name);
// The task's version; throws as find_task does for an unknown name.
int task_version(const std::string& name);

// Loads and checks the data of every task (throws for an unknown or non-suite task name).
PreparedSuite prepare_suite(const std::vector<std::string>& tasks, const SuiteOptions& options);

// Runs every task except divergence, which needs the baseline's answers (run_divergence).
std::vector<TaskResult> run_suite(backend::Model& model, const PreparedSuite& suite, const SuiteOptions& options);

// IFEval on responses generated elsewhere: each {"prompt": ..., "response": ...} line of `file` is
// matched to the suite's IFEval items by prompt text and scored as a model's answers are (the same
// records and metrics). A malformed line, a prompt that is no item's, or a prompt answered twice
// throws Error(kInvalidArgument) naming file:line; an empty response is scored (it follows nothing).
TaskResult score_ifeval_responses(const PreparedSuite& suite, const std::filesystem::path& file);

// GSM8K on generations made elsewhere (read_gsm8k_responses' formats), matched to the suite's
// GSM8K items by question and judged as a model's answers are (the same records and metrics).
TaskResult score_gsm8k_responses(const PreparedSuite& suite, const std::filesystem::path& file);

// The baseline's greedy answers to the divergence prompts, and the comparison of a variant's.
std::vector<std::vector<backend::Token>> divergence_answers(backend::Model& model, const PreparedSuite& suite,
                                                            const SuiteOptions& options,
                                                            std::vector<double>* item_seconds);
TaskResult run_divergence(backend::Model& model, const PreparedSuite& suite, const SuiteOptions& options,
                          const std::vector<std::vector<backend::Token>>& baseline_answers);

// ---------------------------------------------------------------------------------------------
// Engines that answer with text (an OpenAI-compatible endpoint): the same prompts, the same judges.

// One answer made elsewhere.
struct TextAnswer {
  std::string text;           // the generation (cut at the first stop sequence here too)
  std::optional<int> tokens;  // generated tokens, when the engine said
  double seconds = 0;         // its share of the generation time
};
// One task's prompts, in item order, with what the answers must respect.
struct TextPrompts {
  std::string task;
  const std::vector<std::string>* prompts = nullptr;
  std::vector<std::string> stop_sequences;
  int max_new_tokens = 0;
  PromptFormat format = PromptFormat::kLmEval;  // lm-eval: the raw text; chat: one user message
};
// Greedy answers to every prompt (throws Error when one cannot be had).
using AnswerTextsFn = std::function<std::vector<TextAnswer>(const TextPrompts&)>;

// run_suite's generation tasks (GSM8K, IFEval) on an engine that answers with text, judged and
// recorded as a model's answers are; other tasks are left out (the caller says why). With
// options.journal, answers are looked up and recorded per item ({"text", "tokens", "seconds"}).
std::vector<TaskResult> run_text_generation_suite(const AnswerTextsFn& answer, const PreparedSuite& suite,
                                                  const SuiteOptions& options);
// Divergence on text answers: the baseline's answer (the text it adds after its prompt) and the variant's text are both
// tokenized with `vocabulary` (the baseline's, no special tokens), so that equal texts give equal
// tokens; the variant's own tokenizer is not seen.
TaskResult run_text_divergence(const AnswerTextsFn& answer, const PreparedSuite& suite, const SuiteOptions& options,
                               const backend::Vocabulary& vocabulary,
                               const std::vector<std::vector<backend::Token>>& baseline_answers);

}  // namespace uaqf::tasks
