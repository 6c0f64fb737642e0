#pragma once

// Every output of a serving run (`uaqf serve-bench`, a study's serving workload) is read from the
// same ServingResult.

#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

#include "perf/serving.h"

namespace uaqf::report {

inline constexpr const char* kServingSchema = "uaqf.serving/1";

// The plan (prompts counted, not copied), every level's summary and every request's record.
nlohmann::json serving_to_json(const perf::ServingPlan& plan, const perf::ServingResult& result);
nlohmann::json level_to_json(const perf::LevelResult& level);
nlohmann::json at_slo_to_json(const perf::LevelAtSlo& at_slo, double attainment_target);
// Back from serving_to_json: every level's summary numbers (counts, rates, attainment, goodput,
// TTFT/TPOT n and percentile values) and the level at SLO; requests are left out. What a stored
// serving run needs to be judged again (e.g. at another service level) without serving it again.
perf::ServingResult serving_summary_from_json(const nlohmann::json& serving);

// One row per level: throughput, percentiles with their intervals, attainment and goodput.
std::string serving_levels_to_csv(const perf::ServingResult& result);

// The levels as an aligned table, then the highest level at SLO and any interruption.
void print_serving_table(std::ostream& out, const perf::ServingPlan& plan, const perf::ServingResult& result);

}  // namespace uaqf::report
