// The study report of a study with [workload.serving]: each served variant's latency-throughput
// curve and where it stops meeting the SLOs, in the report model, Markdown and HTML; a study
// without serving data keeps its report unchanged (the goldens of study_report_test.cpp).

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "perf/serving.h"
#include "report/html_report.h"
#include "report/serving_report.h"
#include "report/study_report.h"

namespace uaqf::report {
namespace {

using nlohmann::json;
using perf::LoadMode;

const std::filesystem::path kFixture = std::filesystem::path(UAQF_SOURCE_DIR) / "tests/data/report/results.json";

perf::LevelResult level(double concurrency, double rps, double attainment, bool searched = false) {
  perf::LevelResult l;
  l.level = {.mode = LoadMode::kConcurrency, .value = concurrency};
  l.n_requests = l.n_ok = 8;
  l.request_rps = rps;
  l.output_tps = 32 * rps;
  l.ttft_ms.n = l.tpot_ms.n = 8;
  l.ttft_ms.p99.value = 100 * concurrency;
  l.tpot_ms.p99.value = 10 * concurrency;
  l.slo_attainment = attainment;
  l.goodput_rps = rps * attainment;
  l.searched = searched;
  return l;
}

// A served variant's record as the study stores it under the variant.
json served(const std::vector<perf::LevelResult>& levels, perf::LevelAtSlo at_slo, std::vector<std::string> notes) {
  perf::ServingPlan plan;
  plan.prompts = {"a"};
  plan.slos = {perf::parse_slo("ttft_ms<=500"), perf::parse_slo("tpot_ms<=50")};
  perf::ServingResult result;
  result.levels = levels;
  result.at_slo = at_slo;
  json out = serving_to_json(plan, result);
  out["server"] = {{"engine", "llama-server"}, {"parallel", 8}};
  out["notes"] = notes;
  return out;
}

StudyResults fixture_with_serving() {
  auto study = load_study_results(kFixture);
  study.label = "tests/data/report/results.json";
  // F16: holds up to 4 (the search tried 6, which missed), misses at 8.
  study.results["variants"][0]["serving"] =
      served({level(1, 2, 1), level(4, 6, 1), level(8, 7, 0.5), level(6, 6.5, 0.75, true)},
             {.mode = LoadMode::kConcurrency, .value = 4, .next_failing = 6}, {});
  // Q8_0: every level held.
  study.results["variants"][1]["serving"] =
      served({level(1, 3, 1), level(8, 12, 1)}, {.mode = LoadMode::kConcurrency, .value = 8, .lower_bound = true},
             {"max_concurrency_at_slo = 8 is a lower bound: the highest level tried still met the SLOs"});
  return study;
}

TEST(StudyServingReport, CurvePerVariantAndWhereItStopsMeetingTheSlo) {
  const json report = build_study_report(fixture_with_serving());
  ASSERT_TRUE(report.contains("serving"));
  const json& serving = report["serving"];
  EXPECT_EQ(serving["engine"], "llama-server");
  ASSERT_EQ(serving["variants"].size(), 2U);
  const json& f16 = serving["variants"][0];
  EXPECT_EQ(f16["variant"], "F16");
  // In load order, the search's level among the sweep's.
  ASSERT_EQ(f16["levels"].size(), 4U);
  EXPECT_EQ(f16["levels"][2]["value"], 6);
  EXPECT_TRUE(f16["levels"][2]["searched"].get<bool>());
  EXPECT_EQ(f16["levels"][3]["ttft_p99_ms"], 800);
  EXPECT_EQ(f16["slo_limit"], "meets 99% attainment up to concurrency 4; misses it at concurrency 6");
  EXPECT_EQ(serving["variants"][1]["slo_limit"],
            "meets 99% attainment at every level tried, up to concurrency 8 (a lower bound: higher was not tried)");

  const std::string md = study_report_markdown(report);
  const std::string expected_f16 =
      "### F16\n\n8 slots; SLOs: `ttft_ms<=500`, `tpot_ms<=50`. It meets 99% attainment up to concurrency 4; "
      "misses it at concurrency 6.\n\n"
      "| level | req/s | output tok/s | ttft p99 (ms) | tpot p99 (ms) | SLO attainment | goodput (req/s) |\n"
      "|---|---|---|---|---|---|---|\n"
      "| concurrency 1 | 2 | 64 | 100 | 10 | 100% | 2 |\n"
      "| concurrency 4 | 6 | 192 | 400 | 40 | 100% | 6 |\n"
      "| concurrency 6 (search) | 6.5 | 208 | 600 | 60 | 75% | 4.875 |\n"
      "| concurrency 8 | 7 | 224 | 800 | 80 | 50% | 3.5 |\n\n";
  EXPECT_NE(md.find("## Serving (llama-server)\n\n"), std::string::npos) << md;
  EXPECT_NE(md.find(expected_f16), std::string::npos) << md;
  EXPECT_NE(md.find("measured through llama-server"), std::string::npos);
  EXPECT_NE(md.find("comes from the in-process engine"), std::string::npos);
  EXPECT_NE(
      md.find("\n\n- max_concurrency_at_slo = 8 is a lower bound: the highest level tried still met the SLOs\n\n"),
      std::string::npos)
      << md;
  // After the metrics, before the environment.
  EXPECT_LT(md.find("## Metrics"), md.find("## Serving"));
  EXPECT_LT(md.find("## Serving"), md.find("## Environment"));

  const std::string html = study_report_html(report);
  EXPECT_NE(html.find("<section id=\"serving-section\">"), std::string::npos);
  EXPECT_NE(html.find("<td>concurrency 6 (search)</td><td>6.5</td>"), std::string::npos);
  EXPECT_NE(html.find("id=\"serving-chart\""), std::string::npos);
}

TEST(StudyServingReport, NoServingDataNoSection) {
  auto study = load_study_results(kFixture);
  const json report = build_study_report(study);
  EXPECT_FALSE(report.contains("serving"));
  EXPECT_EQ(study_report_markdown(report).find("Serving"), std::string::npos);
  EXPECT_EQ(study_report_html(report).find("serving-section"), std::string::npos);
}

}  // namespace
}  // namespace uaqf::report
