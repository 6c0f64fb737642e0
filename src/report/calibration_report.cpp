#include "report/calibration_report.h"

#include <sstream>

#include <fmt/format.h>

#include "decide/calibration_effect.h"
#include "report/html_report.h"

namespace uaqf::report {
namespace {

using nlohmann::json;

json metric_point(const decide::Variant& v, const char* name) {
  const auto it = v.metrics.find(name);
  if (it == v.metrics.end() || it->second.samples.empty()) return nullptr;
  return it->second.samples.front();
}

const decide::Variant* find_variant(const StudyResults& study, const std::string& name) {
  for (const auto& v : study.variants) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

std::string difference_text(const json& t) {
  if (t["test"] == "mcnemar") return fmt::format("{:+.1f} points", 100 * t["difference"].get<double>());
  std::string out = fmt::format("{:+.4g}", t["difference"].get<double>());
  if (t.contains("ci_low")) {
    out += fmt::format(" [{:+.4g}, {:+.4g}]", t["ci_low"].get<double>(), t["ci_high"].get<double>());
  }
  return out;
}

std::string size_text(const json& gib) {
  return gib.is_number() ? fmt::format("{:.1f} MiB", gib.get<double>() * 1024) : "–";
}

// A bootstrap p-value of 0 means no resample crossed 0: below 1 / resamples, not 0.
std::string p_text(const json& t, int resamples) {
  const double p = t["p_value"].get<double>();
  if (p == 0 && t["test"] == "paired_bootstrap" && resamples > 0) return fmt::format("< {:.2g}", 1.0 / resamples);
  return fmt::format("{:.3g}", p);
}

std::string sentence(const json& c, int resamples) {
  if (c["verdict"] == "not measured") {
    return "no per-chunk KLD or NLL was measured, so there is no verdict";
  }
  for (const auto& t : c["tests"]) {
    if (t["measure"] != c["measure"]) continue;
    const std::string p = p_text(t, resamples);
    const std::string how = c["verdict"] == "helped" ? "calibration helped"
                            : c["verdict"] == "hurt" ? "calibration hurt"
                                                     : "no clear difference";
    return fmt::format("{}: mean per-chunk {} {} (95% interval {}; p {}, paired bootstrap over {} chunks)", how,
                       c["measure"].get<std::string>(), fmt::format("{:+.4g}", t["difference"].get<double>()),
                       t.contains("ci_low")
                           ? fmt::format("{:+.4g} to {:+.4g}", t["ci_low"].get<double>(), t["ci_high"].get<double>())
                           : "–",
                       p.rfind('<', 0) == 0 ? p : "= " + p, t["n"].get<int>());
  }
  return c["verdict"].get<std::string>();
}

}  // namespace

json calibration_json(const StudyResults& study) {
  const auto& comparisons = study.calibration_comparisons;  // computed once, when the record was read
  if (comparisons.empty()) return nullptr;
  json out = json::array();
  for (const auto& c : comparisons) {
    json entry = decide::to_json(c);
    const auto* plain = find_variant(study, c.plain);
    const auto* calibrated = find_variant(study, c.calibrated);
    entry["plain_file_size_gib"] = plain ? metric_point(*plain, "file_size_gib") : json(nullptr);
    entry["calibrated_file_size_gib"] = calibrated ? metric_point(*calibrated, "file_size_gib") : json(nullptr);
    entry["calibration_s"] = calibrated ? metric_point(*calibrated, "calibration_s") : json(nullptr);
    entry["calibration_tokens"] = calibrated ? metric_point(*calibrated, "calibration_tokens") : json(nullptr);
    entry["summary"] = sentence(entry, study.decision.bootstrap_resamples);
    for (auto& t : entry["tests"]) t["p_text"] = p_text(t, study.decision.bootstrap_resamples);
    out.push_back(std::move(entry));
  }
  return {{"variants", std::move(out)}};
}

std::string calibration_markdown(const json& report) {
  if (!report.contains("calibration")) return "";
  std::ostringstream out;
  out << "## Calibration: plain against calibrated\n\n"
         "Each calibrated variant against the plain variant of the same type, on the items and chunks both were "
         "scored on (paired bootstrap on per-chunk values, McNemar on per-item correctness; calibrated minus "
         "plain, so a negative KLD or NLL difference means calibration helped).\n\n";
  out << "| type | calibration | sizes (plain / calibrated) | calibration cost | measure | difference [95% CI] | p "
         "|\n|---|---|---|---|---|---|---|\n";
  for (const auto& c : report["calibration"]["variants"]) {
    const std::string cost =
        c["calibration_s"].is_number()
            ? fmt::format("{:.1f} s, {:.0f} tokens", c["calibration_s"].get<double>(),
                          c["calibration_tokens"].is_number() ? c["calibration_tokens"].get<double>() : 0.0)
            : "–";
    for (const auto& t : c["tests"]) {
      out << fmt::format("| {} | {} | {} / {} | {} | {} | {} | {} |\n", c["plain"].get<std::string>(),
                         c["calibration"].get<std::string>(), size_text(c["plain_file_size_gib"]),
                         size_text(c["calibrated_file_size_gib"]), cost, t["measure"].get<std::string>(),
                         difference_text(t), t["p_text"].get<std::string>());
    }
  }
  out << '\n';
  for (const auto& c : report["calibration"]["variants"]) {
    out << fmt::format("- **{}** against {}: {}.\n", c["calibrated"].get<std::string>(), c["plain"].get<std::string>(),
                       c["summary"].get<std::string>());
  }
  out << '\n';
  return out.str();
}

std::string calibration_html(const json& report) {
  if (!report.contains("calibration")) return "";
  std::string out =
      "<section id=\"calibration-section\">\n<h2>Calibration: plain against calibrated</h2>\n"
      "<p>Each calibrated variant against the plain variant of the same type, on the items and chunks both were "
      "scored on (calibrated minus plain: a negative KLD or NLL difference means calibration helped).</p>\n"
      "<div class=\"scroll\"><table class=\"calibration\">\n<thead><tr><th>calibrated</th><th>plain</th>"
      "<th>sizes</th><th>cost</th><th>verdict</th></tr></thead>\n<tbody>\n";
  for (const auto& c : report["calibration"]["variants"]) {
    const std::string cost =
        c["calibration_s"].is_number() ? fmt::format("{:.1f} s", c["calibration_s"].get<double>()) : std::string("–");
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>\n",
                       html_escape(c["calibrated"].get<std::string>()), html_escape(c["plain"].get<std::string>()),
                       size_text(c["plain_file_size_gib"]), size_text(c["calibrated_file_size_gib"]), cost,
                       html_escape(c["summary"].get<std::string>()));
  }
  return out + "</tbody></table></div>\n</section>\n";
}

}  // namespace uaqf::report
