#pragma once

// `uaqf run STUDY.toml`: quantize what is missing, measure every variant (speed, memory, a prompt
// workload, quality), decide under the study's profile and write everything to the output folder.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "decide/decide.h"
#include "study/study.h"

namespace uaqf::study {

// The profile a study asks for: a built-in one, with the study's weights and constraints applied.
decide::Profile study_profile(const Study& study);

struct RunOutcome {
  nlohmann::json results;  // schema uaqf.study/1: everything measured, the inputs of the decision, the decision
  decide::Decision decision;
  int failed_variants = 0;
};

RunOutcome run_study(backend::Engine& engine, const Study& study);

// The decision inputs stored in a results file, for re-ranking without measuring again.
std::vector<decide::Variant> variants_from_results(const nlohmann::json& results);

// Human-readable ranking and recommendation.
void print_decision(std::ostream& out, const decide::Decision& decision, const std::vector<decide::Variant>& variants);

}  // namespace uaqf::study
