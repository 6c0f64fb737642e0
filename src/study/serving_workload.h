#pragma once

// A serving workload ([workload.serving], or `uaqf serve-bench`'s flags) turned into what the load
// generator and a managed llama-server take: one mapping for studies and the command.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/llama_server/managed_server.h"
#include "perf/serving.h"
#include "study/study.h"

namespace uaqf::study {

// The load generator's plan (chat API; SLO texts parsed, throwing Error on a bad one).
perf::ServingPlan serving_plan(const ServingWorkload& w, const std::vector<std::string>& prompts, uint32_t seed);
// The levels in increasing order: concurrency levels, or rates when the workload has them.
std::vector<perf::LoadLevel> serving_levels(const ServingWorkload& w);
// llama-server for `model` with these runtime settings, w.slots() slots of w.ctx_per_slot tokens.
backend::ServerLaunch server_launch(const std::filesystem::path& model, const backend::RuntimeOptions& runtime,
                                    const ServingWorkload& w);

}  // namespace uaqf::study
