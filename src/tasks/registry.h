#pragma once

// The named tasks of `uaqf eval` beyond perplexity/kld: their data, versions and runners. Data is
// loaded and checked for every task before any model runs.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "tasks/datasets.h"
#include "tasks/suite.h"

namespace uaqf::tasks {

struct SuiteOptions {
  std::filesystem::path data_dir;
  std::optional<std::size_t> limit;  // items per task (seeded subset)
  uint32_t seed = 1234;
  int gsm8k_shots = 5;
  int mmlu_shots = 5;
  McOptions mc;
  GenerationOptions generation;
  // Applies to both: each prompt or choice in a cache stream of its own, no flash attention (see
  // GenerationOptions::batch_invariant). The runners below set it in the options they pass on.
  bool batch_invariant = false;
  int divergence_max_new_tokens = 64;
  const ItemJournal* journal = nullptr;  // per-item results kept across runs (studies)
};

// Every task name `uaqf eval --tasks` accepts besides perplexity and kld.
const std::vector<std::string>& suite_task_names();
bool is_suite_task(const std::string& name);
// Whether the task is scored on generated answers (else on log-likelihoods of given text).
bool task_generates(const std::string& name);
int task_version(const std::string& name);

struct PreparedSuite {
  std::vector<std::string> tasks;
  std::map<std::string, std::vector<McItem>> multiple_choice;
  std::vector<QaItem> gsm8k_exemplars;
  std::vector<QaItem> gsm8k_items;
  std::vector<std::string> ifeval_lines;  // raw JSON lines of the selected prompts
  std::vector<std::string> divergence_ids;
  std::vector<std::string> divergence_prompts;
};

PreparedSuite prepare_suite(const std::vector<std::string>& tasks, const SuiteOptions& options);

// Runs every task except divergence, which needs the baseline's answers (run_divergence).
std::vector<TaskResult> run_suite(backend::Model& model, const PreparedSuite& suite, const SuiteOptions& options);

// The baseline's greedy answers to the divergence prompts, and the comparison of a variant's.
std::vector<std::vector<backend::Token>> divergence_answers(backend::Model& model, const PreparedSuite& suite,
                                                            const SuiteOptions& options,
                                                            std::vector<double>* item_seconds);
TaskResult run_divergence(backend::Model& model, const PreparedSuite& suite, const SuiteOptions& options,
                          const std::vector<std::vector<backend::Token>>& baseline_answers);

}  // namespace uaqf::tasks
