#pragma once

// `uaqf report`: one model of a study's results (schema uaqf.study/1) — the decision recomputed
// from its stored inputs, every metric summarized from its raw samples, the environment
// manifests — rendered as Markdown, long-form CSV, JSON (schema uaqf.report/1) or one
// self-contained HTML page (html_report.h). Formats and schema: docs/report.md.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "decide/calibration_effect.h"
#include "decide/decide.h"
#include "decide/profile.h"
#include "report/table.h"

namespace uaqf::report {

inline constexpr const char* kStudyReportSchema = "uaqf.report/1";

// A loaded results file and the decision recomputed from it.
struct StudyResults {
  std::filesystem::path file;  // the results.json that was read
  std::string label;           // how the report names it (the path as the user gave it)
  nlohmann::json results;
  decide::Profile profile;
  std::vector<decide::Variant> variants;
  decide::Decision decision;
  std::vector<decide::CalibrationComparison> calibration_comparisons;  // as the results record computes them
};

// `path` is a results.json or the study output folder holding one. The decision is recomputed
// from the stored decision inputs under the stored profile, seed and number of bootstrap
// resamples, which reproduces the run's decision exactly (decide is deterministic). Throws
// Error naming the file: kNotFound when there is no such file (or the folder holds no
// results.json), kInvalidArgument when it is not JSON, not schema uaqf.study/1, or lacks a field
// the report needs.
StudyResults load_study_results(const std::filesystem::path& path);

// The report model, schema uaqf.report/1: what every format shows. Deterministic: the same
// results give the same bytes (no clock, no absolute paths beyond those stored in the results).
nlohmann::json build_study_report(const StudyResults& study);

// Sample answers kept per variant and task (the first items, the same ones for every variant).
inline constexpr std::size_t kAnswersPerTask = 3;
// Longer answers are cut (at a UTF-8 character boundary) and marked as cut.
inline constexpr std::size_t kAnswerMaxBytes = 2000;

std::string study_report_markdown(const nlohmann::json& report);
// Long form: variant,metric,unit,statistic,value — one row per variant x metric x statistic.
std::string study_report_csv(const nlohmann::json& report);

// Markdown text with the characters that would start markup escaped (`*`, `[`, `<`, `|`, ...;
// `_` only where it could start or end emphasis), and line breaks turned into spaces, so that
// text from models and files shows as written and cannot break a table.
std::string markdown_escape(const std::string& text);

}  // namespace uaqf::report
