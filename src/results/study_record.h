#pragma once

// The results record of a study: what `uaqf run` writes (results.json), and what `rank`,
// `report` and the HTML page read. One type with one to_json and one from_json, below the study
// runner and the reporters, so that neither needs the other. Versioned: schema uaqf.study/1.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "decide/calibration_effect.h"
#include "decide/decide.h"
#include "decide/model.h"
#include "decide/profile.h"

namespace uaqf::results {

inline constexpr const char* kStudyResultsSchema = "uaqf.study/1";

// One variant as measured: what it is, whether it could be measured, and each unit's record as
// stored in the study's results store (absent when the study did not ask for that unit).
struct VariantRecord {
  std::string name;
  std::string file;
  bool is_baseline = false;
  std::string kv_cache_type;
  std::string flash_attention;
  int threads = 0;
  // Where its layers were asked to go, as llama.cpp flags ("" for the default); what they got (the
  // resolved layer count, the devices and where the memory went) is in its bench record.
  std::string placement;
  bool ok = true;
  std::string error;          // why it failed, when !ok
  std::vector<int64_t> runs;  // the runs (machines, builds) its results come from
  std::optional<nlohmann::json> bench, prompt_workload, perplexity, kld, tasks;
  // [workload.serving]: the whole serving record (plan, every level, every request, the level at
  // SLO, the server's command line), measured through llama-server rather than in-process.
  std::optional<nlohmann::json> serving;
  // [model] calibrations: the calibration its importance matrix came from (name, source, matrix
  // file, chunks, tokens, engine seconds); absent for plain variants.
  std::optional<nlohmann::json> calibration;
  // Which engine produced each unit's numbers ("bench" -> "llama.cpp in-process", "serving" ->
  // "llama-server (managed by uaqf)", "tasks" -> "endpoint (vLLM) http://host:8000/v1 model m").
  std::map<std::string, std::string> engines;
  // An endpoint variant's server: URL, served model, key variable's name, what its probe found.
  std::optional<nlohmann::json> endpoint;
};

// A run of the study: when, and the manifest of the machine and build it ran on.
struct RunRecord {
  int64_t id = 0;
  std::string started_utc;
  std::optional<std::string> finished_utc;
  nlohmann::json environment;
};

struct StudyRecord {
  std::string study_file;
  std::string study_name;
  uint32_t seed = 0;
  nlohmann::json environment;
  std::vector<RunRecord> runs;
  bool synthetic_weights = false;
  std::string store;  // the results store (study.db) the record was made from
  decide::Profile profile;
  std::vector<VariantRecord> variants;
  std::vector<decide::Variant> decision_inputs;  // every metric's raw samples, per measured variant
  decide::Decision decision;
  // Each calibrated variant against its plain twin (computed from decision_inputs, like decision).
  std::vector<decide::CalibrationComparison> calibration_comparisons;
};

nlohmann::json to_json(const StudyRecord& record);
// A variant's metrics as stored: {"name": {"samples": [...], "unstable": bool}}.
nlohmann::json metrics_to_json(const std::map<std::string, decide::MetricValue>& metrics);
std::map<std::string, decide::MetricValue> metrics_from_json(const nlohmann::json& stored);
nlohmann::json to_json(const decide::Variant& variant);

// Reads a record written by this or an earlier version of schema uaqf.study/1. The decision is
// recomputed from the stored inputs under the stored profile, seed and number of bootstrap
// resamples, which reproduces the run's decision exactly (decide is deterministic). Throws
// Error(kInvalidArgument) naming what is wrong: another schema, or a missing or malformed field.
StudyRecord study_record_from_json(const nlohmann::json& json);

// The decision inputs alone, for re-ranking under another profile without measuring again.
std::vector<decide::Variant> decision_inputs_from_json(const nlohmann::json& json);

}  // namespace uaqf::results
