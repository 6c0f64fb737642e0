#include "report/study_report.h"

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
    if (const auto it = by_name.find(name); it != by_name.end()) {
      for (const auto& [metric, value] : it->second->metrics) {
        v["metrics"][metric] = summary_json(study.label, name, metric, value, metric_meta(metric));
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
  } catch (const Error& error) {
    throw Error(error.code(), fmt::format("{}: {}", study.label, error.what()));
  }
  return study;
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
  return json{{"schema", kStudyReportSchema},
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
}

// ---------------------------------------------------------------------------------------------
// Markdown

std::string markdown_escape(const std::string& text) {
  const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    switch (c) {
      case '\\':
      case '`':
      case '*':
      case '[':
      case ']':
      case '|':
      case '~':
      case '#':
      case '!':
        out += '\\';
        out += c;
        break;
      case '_':
        // snake_case names stay readable: an underscore inside a word never starts emphasis.
        if (i > 0 && i + 1 < text.size() && word(text[i - 1]) && word(text[i + 1])) {
          out += c;
        } else {
          out += "\\_";
        }
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '\r':
        break;
      case '\n':
        out += ' ';
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::string num(const json& x) {
  if (!x.is_number()) return "–";
  return fmt::format("{:.4g}", x.get<double>());
}

std::string percent(const json& x) {
  if (!x.is_number()) return "–";
  return fmt::format("{:.0f}%", 100 * x.get<double>());
}

std::string str(const json& x) { return x.is_string() ? x.get<std::string>() : x.is_null() ? "" : x.dump(); }

std::string md(const json& x) { return markdown_escape(str(x)); }

void table(std::ostringstream& out, const std::vector<std::string>& head,
           const std::vector<std::vector<std::string>>& rows) {
  out << '|';
  for (const auto& h : head) out << ' ' << h << " |";
  out << "\n|";
  for (std::size_t i = 0; i < head.size(); ++i) out << "---|";
  out << '\n';
  for (const auto& row : rows) {
    out << '|';
    for (const auto& cell : row) out << ' ' << cell << " |";
    out << '\n';
  }
}

std::string interval(const json& low, const json& high) {
  if (!low.is_number() || !high.is_number()) return "–";
  return num(low) + " – " + num(high);
}

// A bootstrap p of 0 only says "below the resolution 1 / resamples", as the explanation puts it.
std::string p_text(const json& test, const json& resamples) {
  if (test["test"] == "paired_bootstrap" && test["p_value"] == 0 && resamples.is_number()) {
    return "< " + num(json(1.0 / resamples.get<double>()));
  }
  return num(test["p_value"]);
}

std::string certainty_words(const std::string& certainty) {
  if (certainty == "clear") return "a clear choice";
  if (certainty == "likely") return "a likely choice; more repetitions would make it firmer";
  return "too close to call from these measurements";
}

using Rows = std::vector<std::vector<std::string>>;

void markdown_title(std::ostringstream& out, const json& report) {
  const json& source = report["source"];
  const json& profile = report["profile"];
  const json& rec = report["recommendation"];
  out << "# uaqf report: " << md(source["study"]) << "\n\n";
  out << "Results " << md(source["results"]) << " (" << md(source["schema"]) << "), profile **" << md(profile["name"])
      << "** (" << md(profile["description"]) << "), " << str(rec["bootstrap_resamples"])
      << " bootstrap resamples, seed " << str(source["seed"]) << ".\n\n";
}

void markdown_recommendation(std::ostringstream& out, const json& report) {
  const json& rec = report["recommendation"];
  out << "## Recommendation\n\n";
  if (rec["variant"].is_string()) {
    out << "**" << md(rec["variant"]) << "**: utility " << num(rec["utility"]) << " (95% interval "
        << interval(rec["utility_low"], rec["utility_high"]) << "); the highest utility in "
        << percent(rec["win_probability"]) << " of the bootstrap resamples, "
        << certainty_words(rec["certainty"].get<std::string>()) << ".\n\n";
  } else {
    out << "**None**: no variant meets every constraint of the profile.\n\n";
  }
  std::istringstream explanation(str(rec["explanation"]));
  for (std::string line; std::getline(explanation, line);) {
    if (!line.empty()) out << "> " << markdown_escape(line) << "\n>\n";
  }
  out << '\n';
}

// The "why" cell of a ranking row: violated constraints, dominating variants, the decision's notes.
std::string ranking_reasons(const json& v) {
  std::vector<std::string> reasons;
  for (const auto& violation : v["violations"]) {
    reasons.push_back(fmt::format("violates {} (value {}, misses by {})", md(violation["constraint"]),
                                  num(violation["value"]), num(violation["by"])));
  }
  if (!v["dominated_by"].empty()) {
    std::string by;
    for (const auto& name : v["dominated_by"]) by += (by.empty() ? "" : ", ") + md(name);
    reasons.push_back("dominated by " + by);
  }
  for (const auto& note : v["notes"]) reasons.push_back(md(note));
  std::string joined;
  for (const auto& reason : reasons) joined += (joined.empty() ? "" : "; ") + reason;
  return joined;
}

void markdown_ranking(std::ostringstream& out, const json& report) {
  const json& profile = report["profile"];
  out << "## Ranking\n\n";
  Rows rows;
  for (const auto& v : report["ranking"]) {
    const std::string joined = ranking_reasons(v);
    rows.push_back({str(v["rank"]), md(v["name"]) + (v["is_baseline"].get<bool>() ? " (baseline)" : ""),
                    v["feasible"].get<bool>() ? "yes" : "**no**", num(v["utility"]),
                    interval(v["utility_low"], v["utility_high"]), percent(v["win_probability"]),
                    v["on_pareto_front"].get<bool>() ? "yes" : "no", joined.empty() ? "–" : joined});
  }
  table(out, {"rank", "variant", "feasible", "utility", "95% interval", "P(best)", "Pareto front", "why"}, rows);
  out << "\nUtility: weighted mean of the normalized weighted metrics (profile weights ";
  std::string weights;
  for (const auto& m : report["metrics"]) {
    if (m["weight"].is_number()) {
      weights += (weights.empty() ? "" : ", ") + md(m["name"]) + " " + num(m["weight"]);
    }
  }
  out << weights << "; normalization " << md(profile["normalization"]) << ").";
  if (!profile["constraints"].empty()) {
    std::string constraints;
    for (const auto& c : profile["constraints"]) constraints += (constraints.empty() ? "" : ", ") + md(c);
    out << " Constraints: " << constraints << '.';
  }
  out << "\n\n";
}

void markdown_pareto_front(std::ostringstream& out, const json& report) {
  out << "## Pareto front\n\n";
  std::string front, dominated;
  for (const auto& v : report["ranking"]) {
    if (v["on_pareto_front"].get<bool>()) {
      front += (front.empty() ? "" : ", ") + md(v["name"]);
    } else {
      std::string by;
      for (const auto& name : v["dominated_by"]) by += (by.empty() ? "" : ", ") + md(name);
      dominated += (dominated.empty() ? "" : "; ") + md(v["name"]) + " (by " + by + ")";
    }
  }
  out << "On the front (no variant is at least as good on every weighted metric and better on one): "
      << (front.empty() ? "none" : front) << ".";
  if (!dominated.empty()) out << " Dominated: " << dominated << '.';
  out << "\n\n";
}

void markdown_sensitivity(std::ostringstream& out, const json& report) {
  out << "## Sensitivity\n\n";
  if (report["sensitivity"].empty()) {
    out << "No feasible runner-up, so no weight change can alter the recommendation.\n\n";
    return;
  }
  std::map<std::string, double> share;
  for (const auto& m : report["metrics"]) {
    if (m["weight_share"].is_number()) share[m["name"].get<std::string>()] = m["weight_share"].get<double>();
  }
  Rows rows;
  for (const auto& s : report["sensitivity"]) {
    std::string change;
    if (!s["exists"].get<bool>()) {
      change = "no single transfer of weight lets it catch up";
    } else if (str(s["from_metric"]).empty()) {
      change = "already ties";
    } else {
      const std::string from = str(s["from_metric"]);
      change = fmt::format("move {} of the weight from {} (weight {}) to {}", num(s["weight_shift"]),
                           markdown_escape(from), num(json(share[from])), md(s["to_metric"]));
    }
    rows.push_back({md(s["runner_up"]), change});
  }
  table(out, {"runner-up", "what makes it tie with " + md(report["recommendation"]["variant"])}, rows);
  out << "\nWeights here sum to 1; a shift close to the whole weight of its metric (or none) means the choice "
         "does not hinge on how the weights are set.\n\n";
}

// One cell of the metrics table: mean, interval when there is one, sample count, instability.
std::string metric_cell(const json& s) {
  std::string cell = num(s["mean"]);
  if (s["ci_low"].is_number()) cell += " (" + interval(s["ci_low"], s["ci_high"]) + ")";
  cell += fmt::format(" n={}", s["n"].get<int>());
  if (s["unstable"].get<bool>()) cell += " unstable";
  return cell;
}

void markdown_metrics(std::ostringstream& out, const json& report) {
  out << "## Metrics\n\n";
  out << "Mean of the stored samples, with the Student-t 95% interval of the mean when there are two or more "
         "(n = samples).\n\n";
  std::vector<std::string> head{"metric", "unit", "better", "role"};
  for (const auto& v : report["variants"]) {
    if (v["status"] == "ok") head.push_back(md(v["name"]));
  }
  Rows rows;
  for (const auto& m : report["metrics"]) {
    if (!m["measured"].get<bool>()) continue;
    const std::string name = str(m["name"]);
    std::vector<std::string> row{md(m["name"]), md(m["unit"]), m["direction"].is_null() ? "–" : md(m["direction"]),
                                 md(m["role"])};
    for (const auto& v : report["variants"]) {
      if (v["status"] != "ok") continue;
      row.push_back(v["metrics"].contains(name) ? metric_cell(v["metrics"][name]) : "–");
    }
    rows.push_back(row);
  }
  table(out, head, rows);
  out << '\n';
}

// Shown only when some variant was tested against the baseline.
void markdown_against_baseline(std::ostringstream& out, const json& report) {
  const json& resamples = report["recommendation"]["bootstrap_resamples"];
  Rows rows;
  for (const auto& v : report["ranking"]) {
    for (const auto& t : v["vs_baseline"]) {
      const bool mcnemar = t["test"] == "mcnemar";
      rows.push_back({md(v["name"]), md(t["measure"]), md(t["test"]), str(t["n"]),
                      mcnemar ? fmt::format("{:+.1f} points", 100 * t["difference"].get<double>())
                              : fmt::format("{:+.4g}", t["difference"].get<double>()),
                      interval(t["ci_low"], t["ci_high"]), p_text(t, resamples),
                      t["p_value"].get<double>() < 0.05 ? "yes" : "no"});
    }
  }
  if (rows.empty()) return;
  out << "## Against the baseline\n\n";
  out << "Paired tests on the items and chunks both models were scored on (McNemar on per-item correctness; "
         "paired bootstrap on per-chunk values).\n\n";
  table(out, {"variant", "measure", "test", "n", "difference", "95% CI", "p", "significant at 5%"}, rows);
  out << '\n';
}

// Shown only when some variant failed.
void markdown_failed_variants(std::ostringstream& out, const json& report) {
  bool failed = false;
  for (const auto& v : report["variants"]) failed = failed || v["status"] != "ok";
  if (!failed) return;
  out << "## Failed variants\n\n";
  for (const auto& v : report["variants"]) {
    if (v["status"] != "ok") out << "- " << md(v["name"]) << ": " << md(v["error"]) << '\n';
  }
  out << '\n';
}

// Ends right after its last table row: the Notes section that may follow starts with a blank line.
void markdown_environment(std::ostringstream& out, const json& report) {
  out << "## Environment\n\n";
  const json& manifests = report["environments"];
  if (!report["environment_differences"].empty()) {
    std::string keys;
    for (const auto& diff : report["environment_differences"]) keys += (keys.empty() ? "" : ", ") + md(diff["key"]);
    out << "**Warning: the variants were measured on " << manifests.size()
        << " different machines or builds** (they differ in " << keys
        << "); their speed and memory are not directly comparable.\n\n";
    Rows rows;
    for (const auto& v : report["variants"]) {
      rows.push_back({md(v["name"]), fmt::format("{}", v["environment"].get<int>() + 1)});
    }
    table(out, {"variant", "environment"}, rows);
    out << '\n';
  }
  std::vector<std::string> head{"key"};
  for (std::size_t i = 0; i < manifests.size(); ++i) {
    head.push_back(manifests.size() == 1 ? std::string("value") : fmt::format("environment {}", i + 1));
  }
  std::set<std::string> keys;
  for (const auto& m : manifests) {
    for (const auto& [key, value] : m.items()) keys.insert(key);
  }
  Rows rows;
  for (const auto& key : keys) {
    std::vector<std::string> row{markdown_escape(key)};
    for (const auto& m : manifests) row.push_back(m.contains(key) ? md(m[key]) : "–");
    rows.push_back(row);
  }
  table(out, head, rows);
}

void markdown_notes(std::ostringstream& out, const json& report) {
  if (report["notes"].empty()) return;
  out << "\n## Notes\n\n";
  for (const auto& note : report["notes"]) out << "- " << md(note) << '\n';
}

}  // namespace

std::string study_report_markdown(const json& report) {
  std::ostringstream out;
  markdown_title(out, report);
  markdown_recommendation(out, report);
  markdown_ranking(out, report);
  markdown_pareto_front(out, report);
  markdown_sensitivity(out, report);
  markdown_metrics(out, report);
  markdown_against_baseline(out, report);
  markdown_failed_variants(out, report);
  markdown_environment(out, report);
  markdown_notes(out, report);
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// CSV

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
