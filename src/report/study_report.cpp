#include "report/study_report.h"

#include "report/calibration_report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"
#include "decide/model.h"
#include "results/study_record.h"
#include "stats/summary.h"

namespace uaqf::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json optional_number(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

// Unit and direction of a metric the catalog does not rank on but the study measures.
struct MetricMeta {
  std::string unit;
  std::optional<decide::Direction> direction;
};

MetricMeta metric_meta(const std::string& name) {
  if (const decide::MetricSpec* spec = decide::find_metric(name)) return {spec->unit, spec->direction};
  // Measured beside the ranking metrics (answer length of the prompt workload), never ranked on.
  if (name == "output_tokens") return {"tokens", std::nullopt};
  return {"", std::nullopt};
}

json direction_json(const std::optional<decide::Direction>& direction) {
  if (!direction) return nullptr;
  return *direction == decide::Direction::kHigherIsBetter ? "higher" : "lower";
}

// Win-probability wording, with the thresholds of the decision's own explanation (docs/decide.md).
std::string certainty(double win_probability) {
  if (win_probability >= 0.95) return "clear";
  if (win_probability >= 0.75) return "likely";
  return "uncertain";
}

// At most `max_bytes`, cut at a UTF-8 character boundary (never inside a multi-byte sequence).
std::string utf8_prefix(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// Whether a task record's answer was right: gsm8k's strict match, a multiple-choice "correct",
// or IFEval's prompt-level strict result (every instruction followed).
json answer_correct(const json& record) {
  if (record.contains("correct_strict") && record["correct_strict"].is_boolean()) return record["correct_strict"];
  if (record.contains("correct") && record["correct"].is_boolean()) return record["correct"];
  if (record.contains("strict") && record["strict"].is_array()) {
    bool all = true;
    for (const auto& x : record["strict"]) all = all && x.is_boolean() && x.get<bool>();
    return all;
  }
  return nullptr;
}

// The generated text of a task record: "generation" (gsm8k) or "response" (IFEval).
const json* answer_text(const json& record) {
  for (const char* key : {"generation", "response"}) {
    if (record.contains(key) && record[key].is_string()) return &record[key];
  }
  return nullptr;
}

json answers_of(const json& variant_entry) {
  json answers = json::array();
  if (!variant_entry.contains("tasks") || !variant_entry["tasks"].is_array()) return answers;
  for (const auto& task : variant_entry["tasks"]) {
    if (!task.contains("records") || !task["records"].is_array()) continue;
    std::size_t taken = 0;
    for (const auto& record : task["records"]) {
      if (taken == kAnswersPerTask) break;
      const json* text = answer_text(record);
      if (text == nullptr) continue;
      const auto& full = text->get_ref<const std::string&>();
      const std::string shown = utf8_prefix(full, kAnswerMaxBytes);
      // What was asked (gsm8k keeps the question, ifeval the prompt), cut like the answers.
      json question = nullptr;
      for (const char* key : {"question", "prompt"}) {
        if (record.contains(key) && record[key].is_string()) {
          question = utf8_prefix(record[key].get_ref<const std::string&>(), kAnswerMaxBytes);
          break;
        }
      }
      answers.push_back({{"variant", variant_entry.value("name", "")},
                         {"task", task.value("task", "")},
                         {"id", record.contains("id") ? record["id"] : json(nullptr)},
                         {"question", question},
                         {"text", shown},
                         {"truncated", shown.size() != full.size()},
                         {"correct", answer_correct(record)},
                         {"target", record.contains("target") ? record["target"] : json(nullptr)},
                         {"extracted", record.contains("strict_answer") ? record["strict_answer"] : json(nullptr)}});
      ++taken;
    }
  }
  return answers;
}

json summary_json(const std::string& label, const std::string& variant, const std::string& metric,
                  const decide::MetricValue& value, const MetricMeta& meta) {
  stats::Summary s;
  try {
    s = stats::summarize(value.samples);
  } catch (const std::invalid_argument&) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: variant \"{}\" has no finite samples of \"{}\"", label, variant, metric));
  }
  return json{{"unit", meta.unit},
              {"n", s.n},
              {"mean", s.mean},
              {"sd", optional_number(s.stddev)},
              {"ci_low", optional_number(s.ci95_low)},
              {"ci_high", optional_number(s.ci95_high)},
              {"min", s.min},
              {"median", s.median},
              {"max", s.max},
              {"unstable", value.unstable}};
}

// A metric computed from records (task items, chunks, requests) is one value per variant, but not
// exact: its interval is the decision's paired bootstrap over those records, n the number of them.
void with_records_interval(json& summary, const decide::RankedVariant& ranked, const std::string& metric,
                           const decide::MetricValue& value) {
  const auto it = ranked.metric_intervals.find(metric);
  if (!value.records || it == ranked.metric_intervals.end() || it->second.resampled == "repetitions") return;
  summary["n"] = it->second.n;
  summary["ci_low"] = it->second.low;
  summary["ci_high"] = it->second.high;
  summary["resampled"] = it->second.resampled;
}

// Several manifests (variants measured on different machines or builds) are told apart by every
// field but the time they were written.
json environment_differences(const json& manifests) {
  json differences = json::array();
  if (manifests.size() < 2) return differences;
  std::set<std::string> keys;
  for (const auto& m : manifests) {
    for (const auto& [key, value] : m.items()) keys.insert(key);
  }
  for (const auto& key : keys) {
    if (key == "timestamp_utc") continue;
    json values = json::array();
    for (const auto& m : manifests) values.push_back(m.contains(key) ? m[key] : json(nullptr));
    const bool same = std::all_of(values.begin(), values.end(), [&](const json& v) { return v == values.front(); });
    if (!same) differences.push_back({{"key", key}, {"values", values}});
  }
  return differences;
}

// Metrics: weighted ones, then constrained ones, then everything else measured, by name.
json metrics_json(const StudyResults& study) {
  const decide::Profile& profile = study.profile;
  double weight_total = 0;
  for (const auto& [name, weight] : profile.weights) weight_total += weight > 0 ? weight : 0;
  std::map<std::string, std::vector<std::string>> constraints_of;
  for (const auto& c : profile.constraints) constraints_of[c.metric].push_back(c.text);
  std::vector<std::string> order;
  const auto add = [&](const std::string& name) {
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  };
  for (const auto& [name, weight] : profile.weights) {
    if (weight > 0) add(name);
  }
  for (const auto& c : profile.constraints) add(c.metric);
  std::set<std::string> measured;
  for (const auto& v : study.variants) {
    for (const auto& [name, value] : v.metrics) measured.insert(name);
  }
  for (const auto& name : measured) add(name);
  json metrics = json::array();
  for (const auto& name : order) {
    const MetricMeta meta = metric_meta(name);
    const auto w = profile.weights.find(name);
    const bool weighted = w != profile.weights.end() && w->second > 0;
    const auto c = constraints_of.find(name);
    const bool constrained = c != constraints_of.end();
    metrics.push_back({{"name", name},
                       {"unit", meta.unit},
                       {"direction", direction_json(meta.direction)},
                       {"weight", weighted ? json(w->second) : json(nullptr)},
                       {"weight_share", weighted ? json(w->second / weight_total) : json(nullptr)},
                       {"constraints", constrained ? json(c->second) : json::array()},
                       {"role", weighted      ? "weighted"
                                : constrained ? "constrained"
                                              : "measured"},
                       {"measured", measured.contains(name)}});
  }
  return metrics;
}

// The decision's ranking (as decide::to_json writes it), each entry with its rank and whether
// it is the baseline.
json ranking_json(const StudyResults& study, const json& decision_json) {
  std::map<std::string, bool> baseline_of;
  for (const auto& v : study.variants) baseline_of[v.name] = v.is_baseline;
  const decide::Decision& d = study.decision;
  json ranking = json::array();
  for (std::size_t i = 0; i < d.ranking.size(); ++i) {
    json entry = decision_json["ranking"][i];
    entry["rank"] = i + 1;
    entry["is_baseline"] = baseline_of[d.ranking[i].name];
    ranking.push_back(entry);
  }
  return ranking;
}

// Environment manifests: the study's, or a variant's own where the results carry one (results
// merged from several runs), each kept once, in the order first met.
struct Manifests {
  json list = json::array();

  std::size_t index(const json& manifest) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i] == manifest) return i;
    }
    list.push_back(manifest);
    return list.size() - 1;
  }
};

// Results from the results store name the runs that measured each variant; a study resumed on
// another machine or build has several manifests.
std::map<int64_t, json> run_manifests(const json& results) {
  std::map<int64_t, json> manifests;
  for (const auto& run : results.value("runs", json::array())) {
    if (run.contains("id") && run.contains("environment") && run["environment"].is_object()) {
      manifests[run["id"].get<int64_t>()] = run["environment"];
    }
  }
  return manifests;
}

// The variants section, with the environment manifests it points into and the sample answers,
// gathered in one pass over the results' variant entries.
struct VariantsSection {
  json variants = json::array();
  json answers = json::array();
  Manifests manifests;
};

VariantsSection variants_section(const StudyResults& study) {
  const json& r = study.results;
  VariantsSection section;
  const json study_manifest = r.value("environment", json::object());
  const std::map<int64_t, json> by_run = run_manifests(r);
  std::map<std::string, const decide::Variant*> by_name;
  for (const auto& v : study.variants) by_name[v.name] = &v;
  const json entries = r.value("variants", json::array());
  for (const auto& entry : entries) {
    const std::string name = entry.value("name", "");
    json manifest =
        entry.contains("environment") && entry["environment"].is_object() ? entry["environment"] : study_manifest;
    bool from_runs = false;
    for (const auto& id : entry.value("runs", json::array())) {
      const auto it = by_run.find(id.get<int64_t>());
      if (it == by_run.end()) continue;
      if (!from_runs) manifest = it->second;  // the variant's first run stands for it in the table
      from_runs = true;
      section.manifests.index(it->second);  // every run's manifest is compared
    }
    json v{{"name", name},
           {"is_baseline", entry.value("is_baseline", false)},
           {"status", entry.value("status", "ok")},
           {"error", entry.contains("error") ? entry["error"] : json(nullptr)},
           {"file", entry.value("file", "")},
           {"environment", section.manifests.index(manifest)},
           {"metrics", json::object()}};
    if (entry.contains("engines")) v["engines"] = entry["engines"];  // which engine made each unit's numbers
    if (const auto it = by_name.find(name); it != by_name.end()) {
      const decide::RankedVariant* ranked = nullptr;
      for (const auto& entry_rank : study.decision.ranking) {
        if (entry_rank.name == name) ranked = &entry_rank;
      }
      for (const auto& [metric, value] : it->second->metrics) {
        v["metrics"][metric] = summary_json(study.label, name, metric, value, metric_meta(metric));
        if (ranked != nullptr) with_records_interval(v["metrics"][metric], *ranked, metric, value);
      }
    }
    section.variants.push_back(v);
    for (auto& a : answers_of(entry)) section.answers.push_back(std::move(a));
  }
  if (section.manifests.list.empty()) section.manifests.index(study_manifest);
  return section;
}

json notes_json(const StudyResults& study) {
  const json& r = study.results;
  const decide::Decision& d = study.decision;
  json notes = d.notes;
  // Results written by another version of the decision engine may rank differently; say so
  // rather than show a ranking the results file does not contain.
  if (r.contains("decision") && r["decision"].contains("ranking")) {
    std::vector<std::string> stored, now;
    for (const auto& x : r["decision"]["ranking"]) stored.push_back(x.value("name", ""));
    for (const auto& x : d.ranking) now.push_back(x.name);
    if (stored != now) {
      notes.push_back(
          "the ranking stored in the results file differs from the one recomputed here from its decision "
          "inputs (results written by another uaqf version?); this report shows the recomputed one");
    }
  }
  return notes;
}

// Where a served variant stops meeting the SLOs, in words, from its level at SLO.
std::string slo_limit_text(const json& serving) {
  const json slos = serving.at("plan").value("slos", json::array());
  if (slos.empty() || !serving.contains("at_slo")) return "no SLOs were given";
  const json& at = serving["at_slo"];
  const std::string mode = at.value("mode", "concurrency");
  const auto level = [&](const json& value) {
    return fmt::format("{} {:.4g}{}", mode, value.get<double>(), mode == "rate" ? "/s" : "");
  };
  const std::string target = fmt::format("{:g}%", 100 * at.value("attainment_target", 0.0));
  if (at["value"].is_null()) {
    return fmt::format("misses {} attainment already at the lowest level tried", target);
  }
  if (at.value("lower_bound", false)) {
    return fmt::format("meets {} attainment at every level tried, up to {} (a lower bound: higher was not tried)",
                       target, level(at["value"]));
  }
  return fmt::format("meets {} attainment up to {}; misses it at {}", target, level(at["value"]),
                     level(at["next_failing"]));
}

json serving_variant_json(const std::string& name, const json& serving) {
  std::vector<json> levels;
  for (const auto& l : serving.at("levels")) {
    levels.push_back({{"mode", l.at("mode")},
                      {"value", l.at("value")},
                      {"searched", l.value("searched", false)},
                      {"request_rps", l.at("request_rps")},
                      {"output_tps", l.at("output_tps")},
                      {"ttft_p99_ms", l.at("ttft_ms").at("n") == 0 ? json(nullptr) : l["ttft_ms"]["p99"]["value"]},
                      {"tpot_p99_ms", l.at("tpot_ms").at("n") == 0 ? json(nullptr) : l["tpot_ms"]["p99"]["value"]},
                      {"slo_attainment", l.at("slo_attainment")},
                      {"goodput_rps", l.at("goodput_rps")}});
  }
  // The curve in load order, the search's levels among the sweep's.
  std::stable_sort(levels.begin(), levels.end(),
                   [](const json& a, const json& b) { return a["value"].get<double>() < b["value"].get<double>(); });
  const json server = serving.value("server", json::object());
  return json{{"variant", name},
              {"engine", server.value("engine", std::string("llama-server"))},
              {"slos", serving.at("plan").value("slos", json::array())},
              {"attainment_target", serving.at("plan").value("attainment_target", 0.0)},
              {"at_slo", serving.contains("at_slo") ? serving["at_slo"] : json(nullptr)},
              {"slo_limit", slo_limit_text(serving)},
              {"parallel", server.value("parallel", json(nullptr))},
              {"levels", levels},
              {"notes", serving.value("notes", json::array())}};
}

// The served variants' latency-throughput curves; null when no variant was served.
json serving_json(const StudyResults& study) {
  json variants = json::array();
  for (const auto& entry : study.results.value("variants", json::array())) {
    if (entry.contains("serving") && entry["serving"].is_object()) {
      variants.push_back(serving_variant_json(entry.value("name", ""), entry["serving"]));
    }
  }
  if (variants.empty()) return nullptr;
  const bool endpoints = std::any_of(variants.begin(), variants.end(),
                                     [](const json& v) { return v.value("engine", "") != "llama-server"; });
  std::string source =
      "goodput_rps, slo_attainment, serving_output_tps, serving_ttft_p99_ms, serving_tpot_p99_ms and "
      "max_concurrency_at_slo / max_rps_at_slo were measured through llama-server (the pinned build, over "
      "HTTP, one server per variant started with its runtime settings); every other metric, quality "
      "included, comes from the in-process engine on the same GGUF files";
  if (endpoints) {
    source +=
        ". Endpoint variants were measured through their own servers (each variant's engine is named), "
        "and their tasks were answered there over HTTP";
  }
  return json{{"engine", "llama-server"}, {"source", source}, {"variants", variants}};
}

json recommendation_json(const decide::Decision& d) {
  json recommendation{{"variant", d.recommended ? json(*d.recommended) : json(nullptr)},
                      {"utility", nullptr},
                      {"utility_low", nullptr},
                      {"utility_high", nullptr},
                      {"win_probability", nullptr},
                      {"certainty", "none"},
                      {"runner_up", nullptr},
                      {"bootstrap_resamples", d.bootstrap_resamples},
                      {"explanation", d.explanation}};
  if (d.recommended) {
    const auto& top = d.ranking.front();
    recommendation["utility"] = top.utility;
    recommendation["utility_low"] = top.utility_low;
    recommendation["utility_high"] = top.utility_high;
    recommendation["win_probability"] = top.win_probability;
    recommendation["certainty"] = certainty(top.win_probability);
    if (d.ranking.size() > 1 && d.ranking[1].feasible) recommendation["runner_up"] = d.ranking[1].name;
  }
  return recommendation;
}

json source_json(const StudyResults& study) {
  const json study_info = study.results.value("study", json::object());
  return json{{"results", study.label},
              {"schema", results::kStudyResultsSchema},
              {"study", study_info.value("name", "")},
              {"study_file", study_info.value("file", "")},
              {"seed", study_info.value("seed", 0)}};
}

}  // namespace

StudyResults load_study_results(const fs::path& path) {
  std::error_code ec;
  const bool folder = fs::is_directory(path, ec);
  StudyResults study;
  study.file = folder ? path / "results.json" : path;
  study.label = study.file.string();
  if (!fs::exists(study.file, ec)) {
    throw Error(ErrorCode::kNotFound, folder ? fmt::format("{}: no results.json in this study folder", path.string())
                                             : fmt::format("{}: no such results file", path.string()));
  }
  require_readable_file(study.file, "results");
  try {
    study.results = json::parse(read_text_file(study.file));
  } catch (const json::exception& error) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: not a results file ({})", study.label, error.what()));
  }
  try {
    auto record = results::study_record_from_json(study.results);
    study.profile = std::move(record.profile);
    study.variants = std::move(record.decision_inputs);
    study.decision = std::move(record.decision);
    study.calibration_comparisons = std::move(record.calibration_comparisons);
  } catch (const Error& error) {
    throw Error(error.code(), fmt::format("{}: {}", study.label, error.what()));
  }
  return study;
}

// Each generation task's prompt format ("lm-eval" or "chat"), as its variants' results record it;
// null for studies without generation tasks (and results from before formats were recorded).
json task_prompts_json(const StudyResults& study) {
  std::map<std::string, std::string> formats;
  for (const auto& entry : study.results.value("variants", json::array())) {
    for (const auto& task : entry.value("tasks", json::array())) {
      if (task.is_object() && task.contains("prompt_format") && task["prompt_format"].is_string()) {
        formats[task.value("task", "")] = task["prompt_format"].get<std::string>();
      }
    }
  }
  if (formats.empty()) return nullptr;
  json list = json::array();
  for (const auto& [task, format] : formats) {
    list.push_back({{"task", task}, {"prompt_format", format}});
  }
  return list;
}

json build_study_report(const StudyResults& study) {
  // Sections in the order the original single pass built them, so that a malformed results file
  // still fails on the same field first.
  const json decision_json = decide::to_json(study.decision);
  json metrics = metrics_json(study);
  json ranking = ranking_json(study, decision_json);
  VariantsSection variants = variants_section(study);
  json notes = notes_json(study);
  json recommendation = recommendation_json(study.decision);
  json source = source_json(study);
  json differences = environment_differences(variants.manifests.list);
  json serving = serving_json(study);
  json report{{"schema", kStudyReportSchema},
              {"source", std::move(source)},
              {"profile", decide::to_json(study.profile)},
              {"recommendation", std::move(recommendation)},
              {"metrics", std::move(metrics)},
              {"ranking", std::move(ranking)},
              {"sensitivity", decision_json["sensitivity"]},
              {"notes", std::move(notes)},
              {"variants", std::move(variants.variants)},
              {"environments", std::move(variants.manifests.list)},
              {"environment_differences", std::move(differences)},
              {"answers", std::move(variants.answers)}};
  if (!serving.is_null()) report["serving"] = std::move(serving);  // only for studies with [workload.serving]
  json calibration = calibration_json(study);
  if (!calibration.is_null()) report["calibration"] = std::move(calibration);  // only with [model] calibrations
  if (json prompts = task_prompts_json(study); !prompts.is_null()) report["task_prompts"] = std::move(prompts);
  return report;
}

// ---------------------------------------------------------------------------------------------
// CSV (the Markdown form is in study_report_markdown.cpp)

std::string study_report_csv(const json& report) {
  std::ostringstream out;
  out << "variant,metric,unit,statistic,value\n";
  const auto row = [&](const std::string& variant, const std::string& metric, const std::string& unit,
                       const std::string& statistic, const json& value) {
    if (value.is_null()) return;  // e.g. no interval from one sample: no row rather than an empty value
    std::string text;
    if (value.is_boolean()) {
      text = value.get<bool>() ? "1" : "0";
    } else if (value.is_number_float()) {
      text = fmt::format("{}", value.get<double>());  // shortest text that reads back as the same double
    } else {
      text = value.is_string() ? value.get<std::string>() : value.dump();
    }
    out << csv_field(variant) << ',' << csv_field(metric) << ',' << csv_field(unit) << ',' << csv_field(statistic)
        << ',' << csv_field(text) << '\n';
  };
  std::map<std::string, const json*> ranked;
  for (const auto& r : report["ranking"]) ranked[r["name"].get<std::string>()] = &r;
  std::map<std::string, std::string> units;
  for (const auto& m : report["metrics"]) units[m["name"].get<std::string>()] = m["unit"].get<std::string>();
  for (const auto& v : report["variants"]) {
    const std::string name = v["name"].get<std::string>();
    for (const auto& [metric, s] : v["metrics"].items()) {
      const std::string unit = s["unit"].get<std::string>();
      for (const char* statistic : {"n", "mean", "sd", "ci_low", "ci_high", "min", "median", "max", "unstable"}) {
        row(name, metric, unit, statistic, s[statistic]);
      }
    }
    const auto it = ranked.find(name);
    if (it == ranked.end()) continue;
    const json& r = *it->second;
    // The values the decision used (point estimates, or the pessimistic end of an interval), and
    // derived ones such as retention that have no samples of their own.
    for (const auto& [metric, value] : r["values"].items()) row(name, metric, units[metric], "decision_value", value);
    for (const auto& [metric, value] : r["normalized"].items()) row(name, metric, "", "normalized", value);
    row(name, "decision", "", "rank", r["rank"]);
    row(name, "decision", "", "feasible", r["feasible"]);
    row(name, "decision", "", "on_pareto_front", r["on_pareto_front"]);
    row(name, "decision", "", "win_probability", r["win_probability"]);
    row(name, "utility", "", "value", r["utility"]);
    row(name, "utility", "", "ci_low", r["utility_low"]);
    row(name, "utility", "", "ci_high", r["utility_high"]);
  }
  return out.str();
}

}  // namespace uaqf::report
