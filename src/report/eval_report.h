#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "core/environment.h"
#include "tasks/perplexity.h"
#include "tasks/registry.h"

namespace uaqf::report {

inline constexpr const char* kEvalSchema = "uaqf.eval/1";

struct EvalModelResult {
  std::filesystem::path path;
  std::string sha256;
  backend::ModelInfo info;
  bool ok = false;
  std::string error;
  std::optional<tasks::PerplexityResult> perplexity;
  std::vector<tasks::TaskResult> tasks;
  // Whether this model's engine gives each sequence the same logits in any batch (known once loaded).
  std::optional<bool> batch_invariant_kernels;
};

struct EvalReport {
  Environment environment;
  backend::EngineInfo engine;
  std::vector<std::string> tasks;
  tasks::PerplexityOptions options;
  tasks::SuiteOptions suite_options;
  std::filesystem::path corpus_path;
  std::string corpus_sha256;
  std::size_t corpus_tokens = 0;  // 0 when only the needed prefix was tokenized
  std::optional<std::filesystem::path> baseline_path;
  std::string baseline_sha256;
  std::optional<double> baseline_ppl;
  std::string baseline_cache_file;
  std::string baseline_cache_status;  // "built" or "reused"
  std::vector<EvalModelResult> models;
  bool complete() const;
};

void print_eval_table(std::ostream& out, const EvalReport& report);
nlohmann::json eval_to_json(const EvalReport& report);
// Long form: one row per model x measure x metric (value, stderr, n), the environment manifest as
// leading '#' comment lines.
std::string eval_to_csv(const EvalReport& report);

}  // namespace uaqf::report
