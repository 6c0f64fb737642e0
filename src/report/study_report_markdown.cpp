// The Markdown form of a study report (uaqf.report/1): recommendation, ranking, Pareto front,
// sensitivity, metrics, paired tests against the baseline, failures, environment, notes.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "report/calibration_report.h"
#include "report/study_report.h"

namespace uaqf::report {

using nlohmann::json;

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
  if (s.contains("resampled")) {
    const std::string set = s["resampled"].get<std::string>();
    cell += set.starts_with("task:") ? " items" : " " + md(set);
  }
  if (s["unstable"].get<bool>()) cell += " unstable";
  return cell;
}

void markdown_metrics(std::ostringstream& out, const json& report) {
  out << "## Metrics\n\n";
  out << "Mean of the stored samples, with the Student-t 95% interval of the mean when there are two or more "
         "(n = samples). A metric computed from records (task items, perplexity chunks, requests) shows the "
         "decision's paired-bootstrap 95% interval and the number of records.\n\n";
  if (report.contains("task_prompts")) {
    // Chat-templated and plain prompts give different scores: say which each task used.
    std::string list;
    for (const auto& t : report["task_prompts"]) {
      list += (list.empty() ? "" : ", ") + md(t["task"]) + " " +
              (t["prompt_format"] == "chat" ? std::string("chat (through the model's chat template)")
                                            : std::string("lm-eval (the task's text, no chat template)"));
    }
    out << "Generation prompts: " << list << ".\n\n";
  }
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

// Shown only for studies with [workload.serving]: each served variant's latency-throughput curve
// and where it stops meeting the SLOs.
void markdown_serving(std::ostringstream& out, const json& report) {
  if (!report.contains("serving")) return;
  const json& serving = report["serving"];
  out << "## Serving (llama-server)\n\n" << md(serving["source"]) << ".\n\n";
  for (const auto& v : serving["variants"]) {
    std::string slos;
    for (const auto& slo : v["slos"]) slos += (slos.empty() ? "`" : ", `") + str(slo) + "`";  // parse_slo's form
    out << "### " << md(v["variant"]) << "\n\n";
    // An endpoint's slots are its own server's business: its engine is named instead.
    const std::string server =
        v["parallel"].is_null() ? md(v.value("engine", json(""))) : str(v["parallel"]) + " slots";
    out << fmt::format("{}; SLOs: {}. It {}.\n\n", server, slos.empty() ? "none" : slos, md(v["slo_limit"]));
    Rows rows;
    for (const auto& l : v["levels"]) {
      rows.push_back({md(fmt::format("{} {:.4g}{}{}", str(l["mode"]), l["value"].get<double>(),
                                     l["mode"] == "rate" ? "/s" : "", l["searched"].get<bool>() ? " (search)" : "")),
                      num(l["request_rps"]), num(l["output_tps"]), num(l["ttft_p99_ms"]), num(l["tpot_p99_ms"]),
                      percent(l["slo_attainment"]), num(l["goodput_rps"])});
    }
    table(out,
          {"level", "req/s", "output tok/s", "ttft p99 (ms)", "tpot p99 (ms)", "SLO attainment", "goodput (req/s)"},
          rows);
    if (!v["notes"].empty()) out << '\n';
    for (const auto& note : v["notes"]) out << "- " << md(note) << '\n';
    out << '\n';
  }
}

// Shown only when some variant is an endpoint: which engine made each unit's numbers.
void markdown_engines(std::ostringstream& out, const json& report) {
  Rows rows;
  bool endpoints = false;
  for (const auto& v : report["variants"]) {
    if (!v.contains("engines") || !v["engines"].is_object()) continue;
    const json& engines = v["engines"];
    for (auto it = engines.begin(); it != engines.end(); ++it) {
      endpoints = endpoints || str(it.value()).starts_with("endpoint");
      rows.push_back({md(v["name"]), markdown_escape(it.key()), md(it.value())});
    }
  }
  if (!endpoints) return;
  out << "## Engines\n\nWhich engine measured each variant's units (endpoint variants: a server uaqf does not run, "
         "reached over HTTP).\n\n";
  table(out, {"variant", "unit", "engine"}, rows);
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
  markdown_serving(out, report);
  markdown_engines(out, report);
  out << calibration_markdown(report);
  markdown_against_baseline(out, report);
  markdown_failed_variants(out, report);
  markdown_environment(out, report);
  markdown_notes(out, report);
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// CSV

}  // namespace uaqf::report
