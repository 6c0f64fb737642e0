#include "results/study_record.h"

#include <fmt/format.h>

#include "core/error.h"
#include "results/metric_records.h"

namespace uaqf::results {
namespace {

using nlohmann::json;

json variant_to_json(const VariantRecord& v) {
  json out{{"name", v.name},
           {"file", v.file},
           {"is_baseline", v.is_baseline},
           {"kv_cache_type", v.kv_cache_type},
           {"flash_attention", v.flash_attention},
           {"threads", v.threads},
           {"status", v.ok ? "ok" : "failed"},
           {"runs", v.runs}};
  if (!v.placement.empty()) {
    out["placement"] = v.placement;
  }
  if (!v.ok) {
    out["error"] = v.error;
  }
  const std::pair<const char*, const std::optional<json>*> units[] = {{"bench", &v.bench},
                                                                      {"prompt_workload", &v.prompt_workload},
                                                                      {"perplexity", &v.perplexity},
                                                                      {"kld", &v.kld},
                                                                      {"tasks", &v.tasks},
                                                                      {"serving", &v.serving},
                                                                      {"calibration", &v.calibration},
                                                                      {"endpoint", &v.endpoint}};
  for (const auto& [key, unit] : units) {
    if (unit->has_value()) {
      out[key] = **unit;
    }
  }
  if (!v.engines.empty()) {
    out["engines"] = v.engines;
  }
  return out;
}

std::optional<json> optional_field(const json& object, const char* key) {
  return object.contains(key) ? std::optional<json>(object.at(key)) : std::nullopt;
}

VariantRecord variant_from_json(const json& v) {
  VariantRecord out;
  out.name = v.at("name").get<std::string>();
  out.file = v.at("file").get<std::string>();
  out.is_baseline = v.at("is_baseline").get<bool>();
  out.kv_cache_type = v.value("kv_cache_type", std::string("f16"));
  out.flash_attention = v.value("flash_attention", std::string("auto"));
  out.threads = v.value("threads", 0);
  out.placement = v.value("placement", std::string());
  out.ok = v.value("status", std::string("ok")) == "ok";
  out.error = v.value("error", std::string());
  out.runs = v.value("runs", std::vector<int64_t>{});
  out.bench = optional_field(v, "bench");
  out.prompt_workload = optional_field(v, "prompt_workload");
  out.perplexity = optional_field(v, "perplexity");
  out.kld = optional_field(v, "kld");
  out.tasks = optional_field(v, "tasks");
  out.serving = optional_field(v, "serving");
  out.calibration = optional_field(v, "calibration");
  out.endpoint = optional_field(v, "endpoint");
  out.engines = v.value("engines", std::map<std::string, std::string>{});
  return out;
}

json run_to_json(const RunRecord& run) {
  return {{"id", run.id},
          {"started_utc", run.started_utc},
          {"finished_utc", run.finished_utc ? json(*run.finished_utc) : json(nullptr)},
          {"environment", run.environment}};
}

RunRecord run_from_json(const json& run) {
  RunRecord out;
  out.id = run.at("id").get<int64_t>();
  out.started_utc = run.value("started_utc", std::string());
  if (run.contains("finished_utc") && !run.at("finished_utc").is_null()) {
    out.finished_utc = run.at("finished_utc").get<std::string>();
  }
  out.environment = run.value("environment", json::object());
  return out;
}

}  // namespace

json metrics_to_json(const std::map<std::string, decide::MetricValue>& metrics) {
  json out = json::object();
  for (const auto& [name, value] : metrics) {
    out[name] = {{"samples", value.samples}, {"unstable", value.unstable}};
  }
  return out;
}

std::map<std::string, decide::MetricValue> metrics_from_json(const json& stored) {
  std::map<std::string, decide::MetricValue> metrics;
  for (const auto& [name, metric] : stored.items()) {
    metrics[name] = {metric.at("samples").get<std::vector<double>>(), metric.at("unstable").get<bool>()};
  }
  return metrics;
}

json to_json(const decide::Variant& variant) {
  return {{"name", variant.name},
          {"is_baseline", variant.is_baseline},
          {"metrics", metrics_to_json(variant.metrics)},
          {"item_correct", variant.item_correct},
          {"chunk_values", variant.chunk_values}};
}

json to_json(const StudyRecord& record) {
  json variants = json::array();
  for (const auto& v : record.variants) {
    variants.push_back(variant_to_json(v));
  }
  json inputs = json::array();
  for (const auto& v : record.decision_inputs) {
    inputs.push_back(to_json(v));
  }
  json runs = json::array();
  for (const auto& run : record.runs) {
    runs.push_back(run_to_json(run));
  }
  json comparisons = json::array();
  for (const auto& c : record.calibration_comparisons) {
    comparisons.push_back(decide::to_json(c));
  }
  return {{"schema", kStudyResultsSchema},
          {"study", {{"file", record.study_file}, {"name", record.study_name}, {"seed", record.seed}}},
          {"calibration_comparisons", comparisons},
          {"environment", record.environment},
          {"runs", runs},
          {"synthetic_weights", record.synthetic_weights},
          {"store", record.store},
          {"profile", decide::to_json(record.profile)},
          {"variants", variants},
          {"decision_inputs", inputs},
          {"decision", decide::to_json(record.decision)}};
}

std::vector<decide::Variant> decision_inputs_from_json(const json& json_record) {
  std::vector<decide::Variant> variants;
  for (const auto& v : json_record.at("decision_inputs")) {
    decide::Variant variant;
    variant.name = v.at("name");
    variant.is_baseline = v.at("is_baseline");
    variant.metrics = metrics_from_json(v.at("metrics"));
    for (const auto& [task, correct] : v.at("item_correct").items()) {
      variant.item_correct[task] = correct.get<std::vector<bool>>();
    }
    for (const auto& [series, values] : v.at("chunk_values").items()) {
      variant.chunk_values[series] = values.get<std::vector<double>>();
    }
    variants.push_back(std::move(variant));
  }
  // The records the bootstrap resamples are those of the variants' units, stored beside the inputs.
  if (json_record.contains("variants")) attach_records(variants, json_record.at("variants"));
  return variants;
}

StudyRecord study_record_from_json(const json& r) {
  if (!r.is_object() || !r.contains("schema") || r["schema"] != kStudyResultsSchema) {
    const std::string found = r.is_object() && r.contains("schema") ? r["schema"].dump() : "none";
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("not a uaqf study results file (schema {}, expected \"{}\")", found, kStudyResultsSchema));
  }
  try {
    StudyRecord record;
    const auto& study = r.at("study");
    record.study_file = study.value("file", std::string());
    record.study_name = study.value("name", std::string());
    record.seed = study.at("seed").get<uint32_t>();
    record.environment = r.value("environment", json::object());
    for (const auto& run : r.value("runs", json::array())) {
      record.runs.push_back(run_from_json(run));
    }
    record.synthetic_weights = r.value("synthetic_weights", false);
    record.store = r.value("store", std::string());
    record.profile = decide::profile_from_json(r.at("profile"));
    for (const auto& v : r.at("variants")) {
      record.variants.push_back(variant_from_json(v));
    }
    record.decision_inputs = decision_inputs_from_json(r);
    // The run's own seed and resample count, so that the decision comes out as the run's did.
    const decide::DecideOptions options{.bootstrap_resamples = r.at("decision").at("bootstrap_resamples").get<int>(),
                                        .seed = record.seed};
    record.decision = decide::decide(record.decision_inputs, record.profile, options);
    record.calibration_comparisons =
        decide::compare_calibrations(record.decision_inputs, record.seed, options.bootstrap_resamples);
    return record;
  } catch (const json::exception& error) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("a field the report needs is missing or malformed ({})", error.what()));
  }
}

}  // namespace uaqf::results
