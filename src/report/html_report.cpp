#include "report/html_report.h"

#include "report/calibration_report.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "report/report_assets.h"

namespace uaqf::report {
namespace {

using nlohmann::json;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A script for a <script> element: its source-map comment removed (the map is not shipped, and
// a browser with developer tools open would try to fetch it). A script holding "</script" or
// "<!--" would end or change the element early; the pinned assets hold neither, and a changed
// asset that does must fail loudly rather than produce a broken page.
std::string inline_script(std::string_view name, std::string_view source) {
  std::string out;
  std::size_t start = 0;
  while (start < source.size()) {
    std::size_t end = source.find('\n', start);
    if (end == std::string_view::npos) end = source.size();
    const std::string_view line = source.substr(start, end - start);
    if (line.rfind("//# sourceMappingURL=", 0) != 0) {
      out.append(line);
      out += '\n';
    }
    start = end + 1;
  }
  const std::string folded = lower(out);
  if (folded.find("</script") != std::string::npos || folded.find("<!--") != std::string::npos) {
    throw Error(ErrorCode::kInternal,
                fmt::format("report asset {} contains \"</script\" or \"<!--\" and cannot be inlined", name));
  }
  return out;
}

std::string text(const json& x) { return x.is_string() ? x.get<std::string>() : x.is_null() ? "" : x.dump(); }
std::string h(const json& x) { return html_escape(text(x)); }

std::string num(const json& x) { return x.is_number() ? fmt::format("{:.4g}", x.get<double>()) : "–"; }

std::string certainty_words(const std::string& certainty) {
  if (certainty == "clear") return "a clear choice";
  if (certainty == "likely") return "a likely choice; more repetitions would make it firmer";
  return "too close to call from these measurements";
}

// The parts that need no script: what was studied, the recommendation and its explanation, the
// environment and the sample answers. Everything in them that comes from data is escaped.
std::string header_html(const json& report) {
  const json& source = report["source"];
  const json& profile = report["profile"];
  return fmt::format(
      "<header>\n<h1>uaqf report: {}</h1>\n<p class=\"sub\">Results <code>{}</code> ({}), profile <b>{}</b>: {}. "
      "{} bootstrap resamples, seed {}.</p>\n</header>\n",
      h(source["study"]), h(source["results"]), h(source["schema"]), h(profile["name"]), h(profile["description"]),
      h(report["recommendation"]["bootstrap_resamples"]), h(source["seed"]));
}

std::string recommendation_html(const json& report) {
  const json& rec = report["recommendation"];
  std::string out = "<section id=\"recommendation\">\n<h2>Recommendation</h2>\n";
  if (rec["variant"].is_string()) {
    out += fmt::format(
        "<p class=\"verdict\"><span class=\"winner\">{}</span> utility {} (95% interval {} – {}); the highest utility "
        "in <b id=\"win-probability\">{:.0f}%</b> of the bootstrap resamples: <span class=\"certainty {}\">{}</span>."
        "</p>\n",
        h(rec["variant"]), num(rec["utility"]), num(rec["utility_low"]), num(rec["utility_high"]),
        100 * rec["win_probability"].get<double>(), h(rec["certainty"]),
        html_escape(certainty_words(rec["certainty"].get<std::string>())));
  } else {
    out +=
        "<p class=\"verdict\"><span class=\"winner none\">None</span>: no variant meets every constraint of the "
        "profile.</p>\n";
  }
  out += "<div class=\"explanation\">\n";
  const std::string explanation = text(rec["explanation"]);
  std::size_t start = 0;
  while (start < explanation.size()) {
    std::size_t end = explanation.find('\n', start);
    if (end == std::string::npos) end = explanation.size();
    if (end > start) out += "<p>" + html_escape(explanation.substr(start, end - start)) + "</p>\n";
    start = end + 1;
  }
  out += "</div>\n</section>\n";
  return out;
}

std::string environment_html(const json& report) {
  const json& manifests = report["environments"];
  std::string out = "<section id=\"environment\">\n<h2>Environment</h2>\n";
  if (!report["environment_differences"].empty()) {
    std::string keys;
    for (const auto& diff : report["environment_differences"]) keys += (keys.empty() ? "" : ", ") + h(diff["key"]);
    out += fmt::format(
        "<p class=\"warning\" id=\"environment-warning\">The variants were measured on {} different machines or "
        "builds (they differ in {}); their speed and memory are not directly comparable.</p>\n<table>\n"
        "<thead><tr><th>variant</th><th>environment</th></tr></thead>\n<tbody>\n",
        manifests.size(), keys);
    for (const auto& v : report["variants"]) {
      out += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", h(v["name"]), v["environment"].get<int>() + 1);
    }
    out += "</tbody>\n</table>\n";
  }
  std::set<std::string> keys;
  for (const auto& m : manifests) {
    for (const auto& [key, value] : m.items()) keys.insert(key);
  }
  out += "<table class=\"manifest\">\n<thead><tr><th>key</th>";
  for (std::size_t i = 0; i < manifests.size(); ++i) {
    out += manifests.size() == 1 ? std::string("<th>value</th>") : fmt::format("<th>environment {}</th>", i + 1);
  }
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& key : keys) {
    out += "<tr><td>" + html_escape(key) + "</td>";
    for (const auto& m : manifests) out += "<td>" + (m.contains(key) ? h(m[key]) : std::string("–")) + "</td>";
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n</section>\n";
  return out;
}

std::string answers_html(const json& report) {
  std::string out = "<section id=\"answers\">\n<h2>Sample answers</h2>\n";
  if (report["answers"].empty()) {
    return out + "<p>The results hold no generated answers (only the gsm8k and ifeval tasks generate text).</p>\n" +
           "</section>\n";
  }
  out += "<p>The first items of each generating task, as each variant answered them.</p>\n";
  // Grouped by task, then item, so that the variants' answers to one item stand side by side.
  std::vector<std::string> tasks;
  std::map<std::string, std::vector<std::string>> items;
  std::map<std::pair<std::string, std::string>, std::vector<const json*>> answers;
  for (const auto& a : report["answers"]) {
    const std::string task = text(a["task"]), id = text(a["id"]);
    if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) tasks.push_back(task);
    auto& ids = items[task];
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    answers[{task, id}].push_back(&a);
  }
  for (const auto& task : tasks) {
    for (const auto& id : items[task]) {
      out += fmt::format("<div class=\"item\">\n<h3>{} <code>{}</code></h3>\n", html_escape(task), html_escape(id));
      const json& question = (*answers[{task, id}].front())["question"];
      if (question.is_string()) {
        out += fmt::format("<pre class=\"question\">{}</pre>\n", h(question));
      }
      for (const json* a : answers[{task, id}]) {
        const json& correct = (*a)["correct"];
        const std::string mark = correct.is_boolean() ? (correct.get<bool>() ? "correct" : "wrong") : "";
        std::string facts;
        if (!(*a)["target"].is_null()) facts += " target " + h((*a)["target"]);
        if (!(*a)["extracted"].is_null()) facts += ", extracted " + h((*a)["extracted"]);
        out += fmt::format(
            "<div class=\"answer\"><div class=\"answer-head\"><b>{}</b> <span class=\"mark {}\">{}</span>{}{}</div>"
            "<pre class=\"answer-text\">{}</pre></div>\n",
            h((*a)["variant"]), mark, mark, facts, (*a)["truncated"].get<bool>() ? " (cut)" : "", h((*a)["text"]));
      }
      out += "</div>\n";
    }
  }
  return out + "</section>\n";
}

std::string percent(const json& x) { return x.is_number() ? fmt::format("{:.0f}%", 100 * x.get<double>()) : "–"; }

// The served variants' latency-throughput curves (tables and one chart); empty without [workload.serving].
std::string serving_html(const json& report) {
  if (!report.contains("serving")) return "";
  const json& serving = report["serving"];
  std::string out = fmt::format(
      "<section id=\"serving-section\">\n<h2>Serving (llama-server)</h2>\n<p>{}.</p>\n"
      "<div class=\"chart-box wide\"><canvas id=\"serving-chart\" aria-label=\"Goodput by load level\" "
      "role=\"img\"></canvas></div>\n",
      h(serving["source"]));
  for (const auto& v : serving["variants"]) {
    std::string slos;
    for (const auto& slo : v["slos"]) slos += (slos.empty() ? "" : ", ") + text(slo);
    // An endpoint's slots are its own server's business: its engine is named instead.
    const std::string server = v["parallel"].is_null() ? h(v.value("engine", json(""))) : h(v["parallel"]) + " slots";
    out += fmt::format("<h3>{}</h3>\n<p class=\"serving-limit\">{}; SLOs: {}. It {}.</p>\n", h(v["variant"]), server,
                       html_escape(slos.empty() ? "none" : slos), h(v["slo_limit"]));
    out +=
        "<div class=\"scroll\"><table class=\"serving\">\n<thead><tr><th>level</th><th>req/s</th><th>output tok/s</th>"
        "<th>ttft p99 (ms)</th><th>tpot p99 (ms)</th><th>SLO attainment</th><th>goodput (req/s)</th></tr></thead>\n"
        "<tbody>\n";
    for (const auto& l : v["levels"]) {
      out += fmt::format(
          "<tr><td>{} {}{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
          h(l["mode"]), num(l["value"]), l["mode"] == "rate" ? "/s" : "", l["searched"].get<bool>() ? " (search)" : "",
          num(l["request_rps"]), num(l["output_tps"]), num(l["ttft_p99_ms"]), num(l["tpot_p99_ms"]),
          percent(l["slo_attainment"]), num(l["goodput_rps"]));
    }
    out += "</tbody>\n</table></div>\n";
    for (const auto& note : v["notes"]) out += "<p class=\"note\">" + h(note) + "</p>\n";
  }
  return out + "</section>\n";
}

std::string licenses_html() {
  return fmt::format(
      "<footer>\n<details><summary>Chart library: {}</summary>\n<pre>{}</pre>\n<pre>{}</pre>\n</details>\n"
      "</footer>\n",
      html_escape(assets::versions()), html_escape(assets::chart_js_license()),
      html_escape(assets::error_bars_license()));
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string json_for_script(const json& value) {
  // Outside strings JSON has none of these characters, so escaping them everywhere only ever
  // touches string contents, where \uXXXX means the same character.
  const std::string dumped = value.dump();
  std::string out;
  out.reserve(dumped.size());
  for (std::size_t i = 0; i < dumped.size(); ++i) {
    const char c = dumped[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < dumped.size() && dumped[i + 1] == '\x80' &&
               (dumped[i + 2] == '\xA8' || dumped[i + 2] == '\xA9')) {
      out += dumped[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string study_report_html(const json& report) {
  const std::map<std::string, std::string> parts{
      {"TITLE", html_escape("uaqf report: " + text(report["source"]["study"]))},
      {"STYLE", std::string(assets::report_css())},
      {"HEADER", header_html(report)},
      {"RECOMMENDATION", recommendation_html(report)},
      {"ENVIRONMENT", environment_html(report)},
      {"ANSWERS", answers_html(report)},
      {"SERVING", serving_html(report)},
      {"CALIBRATION", calibration_html(report)},
      {"LICENSES", licenses_html()},
      {"DATA", json_for_script(report)},
      {"CHART_JS", inline_script("chart.js", assets::chart_js())},
      {"ERROR_BARS_JS", inline_script("chartjs-chart-error-bars", assets::error_bars_js())},
      {"APP_JS", inline_script("report.js", assets::report_js())},
  };
  // One pass over the template: a replacement is never scanned again, so data that happens to
  // read "{{DATA}}" stays text.
  const std::string_view tpl = assets::report_template();
  std::string out;
  out.reserve(tpl.size() + 400000);
  std::size_t at = 0;
  std::set<std::string> used;
  while (true) {
    const std::size_t open = tpl.find("{{", at);
    if (open == std::string_view::npos) break;
    const std::size_t close = tpl.find("}}", open);
    if (close == std::string_view::npos) break;
    const std::string key(tpl.substr(open + 2, close - open - 2));
    const auto it = parts.find(key);
    if (it == parts.end()) {
      throw Error(ErrorCode::kInternal, fmt::format("report template: unknown placeholder {{{{{}}}}}", key));
    }
    out.append(tpl.substr(at, open - at));
    out += it->second;
    used.insert(key);
    at = close + 2;
  }
  out.append(tpl.substr(at));
  if (used.size() != parts.size()) {
    throw Error(ErrorCode::kInternal, "report template: a placeholder is missing");
  }
  return out;
}

}  // namespace uaqf::report
