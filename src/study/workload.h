#pragma once

// The prompt workload of a study: real prompts (GSM8K questions, IFEval prompts or a file), each
// generated to its end, with time to first token and per-token times as a user sees them.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "core/clock.h"
#include "decide/model.h"
#include "study/study.h"
#include "tasks/registry.h"

namespace uaqf::study {

// The workload's prompts, as the study names them. Throws Error when a prompt file is missing, and
// naming the file and line when it has no prompt, a line that is not UTF-8, or a prompt longer than
// `max_prompt_bytes` (an empty workload would leave TTFT to the fixed-shape benchmark unsaid).
std::vector<std::string> workload_prompts(const PromptWorkload& workload, const std::filesystem::path& data_dir,
                                          std::size_t max_prompt_bytes = tasks::kDefaultMaxItemBytes);

// Serves the prompts `workload.parallel` at a time and returns the per-request records; the
// latency metrics (ttft_ms, ttft_p99_ms, e2e_ms, itl_p50_ms, itl_p99_ms, output_tokens) go into
// `metrics`.
nlohmann::json run_prompt_workload(backend::Model& model, const std::vector<std::string>& prompts,
                                   const PromptWorkload& workload, std::map<std::string, decide::MetricValue>& metrics,
                                   const Clock& clock);

}  // namespace uaqf::study
