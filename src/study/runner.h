#pragma once

// `uaqf run STUDY.toml`: plan the study (variants x units), refuse what the engine cannot do,
// quantize what is missing, run every unit (resumable through the results store), decide under
// the study's profile, and return the results record.

#include <ostream>

#include "backend/backend.h"
#include "core/clock.h"
#include "decide/decide.h"
#include "results/study_record.h"
#include "study/study.h"

namespace uaqf::study {

// The profile a study asks for: a built-in one, with the study's weights and constraints applied.
decide::Profile study_profile(const Study& study);

struct RunOutcome {
  results::StudyRecord record;  // everything measured, the inputs of the decision, the decision
  int failed_variants = 0;
};

// `clock` times every measurement (tests pass the fake engine's).
RunOutcome run_study(backend::Engine& engine, const Study& study, const Clock& clock);

// Human-readable ranking and recommendation.
void print_decision(std::ostream& out, const decide::Decision& decision);

}  // namespace uaqf::study
