// `uaqf report`: golden files for the Markdown, CSV and JSON outputs of a small committed study
// (tests/data/report/results.json), the escaping of text from models and files, and the errors
// on bad input. Regenerate the goldens after an intended change with
//   UAQF_UPDATE_GOLDEN=1 ctest --test-dir build/ci -R StudyReportGolden
// and review the diff of tests/golden/ before committing it.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "report/html_report.h"
#include "report/study_report.h"

namespace uaqf::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSource = UAQF_SOURCE_DIR;
const fs::path kFixture = kSource / "tests/data/report/results.json";
// How the report names the fixture: the path relative to the checkout, so that the goldens do not
// depend on where it is.
const std::string kFixtureLabel = "tests/data/report/results.json";

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

StudyResults fixture() {
  auto study = load_study_results(kFixture);
  study.label = kFixtureLabel;
  return study;
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// Compares with tests/golden/<name>, or rewrites it when UAQF_UPDATE_GOLDEN=1.
void expect_golden(const std::string& name, const std::string& actual) {
  const fs::path golden = kSource / "tests/golden" / name;
  const char* update = std::getenv("UAQF_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    fs::create_directories(golden.parent_path());
    std::ofstream(golden, std::ios::binary) << actual;
    return;
  }
  ASSERT_TRUE(fs::exists(golden)) << golden << " is missing; write it with UAQF_UPDATE_GOLDEN=1";
  const std::string expected = slurp(golden);
  if (actual == expected) return;
  // The first differing line, which says more than two long strings.
  std::istringstream a(actual), e(expected);
  std::string line_a, line_e;
  int line = 0;
  while (true) {
    ++line;
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_e = static_cast<bool>(std::getline(e, line_e));
    if (!more_a && !more_e) break;
    if (line_a != line_e || more_a != more_e) {
      ADD_FAILURE() << golden << " differs at line " << line << "\n  expected: " << line_e << "\n  actual:   " << line_a
                    << "\nIf the change is intended: UAQF_UPDATE_GOLDEN=1, then review the diff.";
      return;
    }
  }
  ADD_FAILURE() << golden << " differs (line endings?)";
}

TEST(StudyReportGolden, Markdown) { expect_golden("report.md", study_report_markdown(build_study_report(fixture()))); }

TEST(StudyReportGolden, Csv) { expect_golden("report.csv", study_report_csv(build_study_report(fixture()))); }

TEST(StudyReportGolden, Json) { expect_golden("report.json", build_study_report(fixture()).dump(2) + "\n"); }

TEST(StudyReport, ReproducesTheStoredDecision) {
  const auto study = fixture();
  const json report = build_study_report(study);
  EXPECT_EQ(report["schema"], kStudyReportSchema);
  const json& stored = study.results["decision"];
  ASSERT_EQ(report["ranking"].size(), stored["ranking"].size());
  for (std::size_t i = 0; i < stored["ranking"].size(); ++i) {
    EXPECT_EQ(report["ranking"][i]["name"], stored["ranking"][i]["name"]);
    EXPECT_EQ(report["ranking"][i]["utility"], stored["ranking"][i]["utility"]);
    EXPECT_EQ(report["ranking"][i]["win_probability"], stored["ranking"][i]["win_probability"]);
  }
  EXPECT_EQ(report["recommendation"]["variant"], stored["recommended"]);
  EXPECT_EQ(report["recommendation"]["certainty"], "uncertain");  // Q4_K_M wins 51% of the resamples
  EXPECT_EQ(report["ranking"][2]["dominated_by"], json::array({"Q4_K_M"}));
  for (const auto& note : report["notes"]) EXPECT_EQ(note.get<std::string>().find("differs"), std::string::npos);
}

TEST(StudyReport, SummariesComeFromTheSamples) {
  const json report = build_study_report(fixture());
  const json& f16 = report["variants"][0];
  ASSERT_EQ(f16["name"], "F16");
  const json& ttft = f16["metrics"]["ttft_ms"];
  EXPECT_EQ(ttft["n"], 6);
  EXPECT_EQ(ttft["unit"], "ms");
  EXPECT_LT(ttft["ci_low"].get<double>(), ttft["mean"].get<double>());
  EXPECT_GT(ttft["ci_high"].get<double>(), ttft["mean"].get<double>());
  // One sample and no records: no spread, no interval.
  EXPECT_TRUE(f16["metrics"]["peak_memory_gib"]["sd"].is_null());
  EXPECT_TRUE(f16["metrics"]["peak_memory_gib"]["ci_low"].is_null());
  // One value computed from records (4 chunks): the decision's paired-bootstrap interval, n = chunks.
  const json& kld = report["variants"][1]["metrics"]["kld_mean"];
  ASSERT_EQ(report["variants"][1]["name"], "Q8_0");
  EXPECT_EQ(kld["n"], 4);
  EXPECT_EQ(kld["resampled"], "chunks");
  EXPECT_LT(kld["ci_low"].get<double>(), kld["mean"].get<double>());
  EXPECT_GT(kld["ci_high"].get<double>(), kld["mean"].get<double>());
  const json& failed = report["variants"].back();
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_TRUE(failed["metrics"].empty());
}

TEST(StudyReport, FolderHoldingResultsIsAccepted) {
  const auto study = load_study_results(kFixture.parent_path());
  EXPECT_EQ(study.file, kFixture.parent_path() / "results.json");
  EXPECT_EQ(study.decision.recommended, study.results["decision"]["recommended"].get<std::string>());
}

TEST(StudyReport, SeveralEnvironmentsAreFlagged) {
  auto study = fixture();
  json other = study.results["environment"];
  other["hostname"] = "gpu-box";
  other["llama_commit"] = "0000000000000000000000000000000000000000";
  other["timestamp_utc"] = "2026-02-03T04:05:06Z";
  study.results["variants"][2]["environment"] = other;
  // Same machine and build, another time: not a difference.
  json later = study.results["environment"];
  later["timestamp_utc"] = "2026-05-05T00:00:00Z";
  study.results["variants"][3]["environment"] = later;
  const json report = build_study_report(study);
  ASSERT_EQ(report["environments"].size(), 3U);
  EXPECT_EQ(report["variants"][2]["environment"], 1);
  EXPECT_EQ(report["variants"][3]["environment"], 2);
  ASSERT_EQ(report["environment_differences"].size(), 2U);
  EXPECT_EQ(report["environment_differences"][0]["key"], "hostname");
  EXPECT_EQ(report["environment_differences"][1]["key"], "llama_commit");
  const std::string md = study_report_markdown(report);
  EXPECT_NE(md.find("**Warning: the variants were measured on 3 different machines or builds** (they differ in "
                    "hostname, llama_commit)"),
            std::string::npos)
      << md;
  EXPECT_NE(study_report_html(report).find("id=\"environment-warning\""), std::string::npos);
  // One manifest: no warning.
  EXPECT_TRUE(build_study_report(fixture())["environment_differences"].empty());
}

// Results that record their generation tasks' prompt format say so in the report; results from
// before (the fixture) have no such line.
TEST(StudyReport, GenerationPromptFormatsAreShown) {
  EXPECT_FALSE(build_study_report(fixture()).contains("task_prompts"));
  auto study = fixture();
  for (auto& variant : study.results["variants"]) {
    for (auto& task : variant["tasks"]) {
      task["prompt_format"] = task["task"] == "gsm8k" ? "lm-eval" : "chat";
    }
  }
  const json report = build_study_report(study);
  ASSERT_EQ(report["task_prompts"].size(), 2U);
  EXPECT_EQ(report["task_prompts"][0], (json{{"task", "gsm8k"}, {"prompt_format", "lm-eval"}}));
  const std::string md = study_report_markdown(report);
  EXPECT_NE(md.find("Generation prompts: gsm8k lm-eval (the task's text, no chat template), ifeval chat (through "
                    "the model's chat template)."),
            std::string::npos)
      << md;
}

// As `uaqf run` writes them from its results store: the runs (with their manifests) and, per
// variant, the runs that measured it. A study resumed on another machine is flagged.
TEST(StudyReport, RunsFromTheResultsStoreAreCompared) {
  auto study = fixture();
  json first = study.results["environment"];
  json second = first;
  second["hostname"] = "resumed-elsewhere";
  second["timestamp_utc"] = "2026-06-01T00:00:00Z";
  study.results["runs"] =
      json::array({json{{"id", 1}, {"environment", first}}, json{{"id", 2}, {"environment", second}}});
  for (auto& variant : study.results["variants"]) {
    variant["runs"] = json::array({1});
  }
  study.results["variants"][1]["runs"] = json::array({1, 2});  // half measured before, half after
  const json report = build_study_report(study);
  ASSERT_EQ(report["environments"].size(), 2U);
  ASSERT_EQ(report["environment_differences"].size(), 1U);
  EXPECT_EQ(report["environment_differences"][0]["key"], "hostname");
  // All measured in one run: nothing to flag.
  study.results["variants"][1]["runs"] = json::array({1});
  EXPECT_TRUE(build_study_report(study)["environment_differences"].empty());
}

TEST(StudyReport, NoFeasibleVariant) {
  auto study = fixture();
  study.profile.constraints.push_back(decide::parse_constraint("decode_tps >= 1000"));
  study.decision = decide::decide(study.variants, study.profile, {.bootstrap_resamples = 50, .seed = 7});
  const json report = build_study_report(study);
  EXPECT_TRUE(report["recommendation"]["variant"].is_null());
  EXPECT_EQ(report["recommendation"]["certainty"], "none");
  EXPECT_TRUE(report["sensitivity"].empty());
  for (const auto& r : report["ranking"]) EXPECT_FALSE(r["feasible"].get<bool>());
  const std::string md = study_report_markdown(report);
  EXPECT_NE(md.find("**None**: no variant meets every constraint of the profile."), std::string::npos);
  EXPECT_NE(md.find("violates decode_tps &gt;= 1000"), std::string::npos);
  EXPECT_NE(study_report_html(report).find("<span class=\"winner none\">None</span>"), std::string::npos);
}

TEST(StudyReportHtml, ModelAnswerIsTextNotMarkup) {
  auto study = fixture();
  // Dataset text is escaped as well: a question with markup, shown above the answers to it.
  for (auto& variant : study.results["variants"]) {
    for (auto& task : variant["tasks"]) {
      for (auto& record : task["records"]) {
        if (record.contains("generation")) record["question"] = "How much is <b>2 & 2</b>?";
      }
    }
  }
  const json report = build_study_report(study);
  const std::string html = study_report_html(report);
  // The fixture's Q4_0 answers "<script>alert(1)</script> The answer is 71.".
  EXPECT_EQ(html.find("<script>alert(1)</script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt; The answer is 71."), std::string::npos);
  EXPECT_NE(html.find("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e The answer is 71."), std::string::npos);
  EXPECT_EQ(html.find("</p><b>Q4_0"), std::string::npos);
  EXPECT_NE(html.find("No commas here &lt;/p&gt;&lt;b&gt;Q4_0&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(html.find("<pre class=\"question\">How much is &lt;b&gt;2 &amp; 2&lt;/b&gt;?</pre>"), std::string::npos);
  EXPECT_EQ(html.find("<b>2 & 2</b>"), std::string::npos);
  // Exactly the page's own script elements: the data block and three scripts.
  EXPECT_EQ(count(html, "<script"), 4U);
  EXPECT_EQ(count(html, "</script>"), 4U);
  // Markup in the profile and study texts is escaped too.
  EXPECT_NE(html.find("chat | *fast* &lt;first&gt; token &amp; steady"), std::string::npos);
  EXPECT_NE(html.find("<title>uaqf report: fixture &lt;study&gt;</title>"), std::string::npos);
  // U+2028 inside the embedded JSON is escaped; the answer in the page keeps the character.
  EXPECT_NE(html.find("$10 \\u2028 (line separator)"), std::string::npos);
}

TEST(StudyReportHtml, SelfContained) {
  const std::string html = study_report_html(build_study_report(fixture()));
  // Nothing that loads: no src or href other than the empty data: icon, no source maps.
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(count(html, "href="), 1U);
  EXPECT_NE(html.find("<link rel=\"icon\" href=\"data:,\">"), std::string::npos);
  EXPECT_EQ(html.find("sourceMappingURL"), std::string::npos);
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
  // The chart library is inside, with its licence.
  EXPECT_NE(html.find("Chart.js v4"), std::string::npos);
  EXPECT_NE(html.find("scatterWithErrorBars"), std::string::npos);
  EXPECT_NE(html.find("Samuel Gratzl"), std::string::npos);
}

TEST(StudyReportHtml, JsonForScriptCannotEndTheBlock) {
  const json value{{"text", "</script><!-- & \xE2\x80\xA8 \xE2\x80\xA9 é"}};
  const std::string text = json_for_script(value);
  EXPECT_EQ(text.find('<'), std::string::npos);
  EXPECT_EQ(text.find('>'), std::string::npos);
  EXPECT_EQ(text.find('&'), std::string::npos);
  EXPECT_EQ(text.find("\xE2\x80\xA8"), std::string::npos);
  EXPECT_NE(text.find("\\u003c/script\\u003e\\u003c!-- \\u0026 \\u2028 \\u2029 é"), std::string::npos);
  EXPECT_EQ(json::parse(text), value);
}

TEST(StudyReportHtml, HtmlEscape) {
  EXPECT_EQ(html_escape("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
}

TEST(StudyReportText, MarkdownEscape) {
  EXPECT_EQ(markdown_escape("decode_tps | *fast* <b>[x](y)</b> _a_ `c`\nnext"),
            "decode_tps \\| \\*fast\\* &lt;b&gt;\\[x\\](y)&lt;/b&gt; \\_a\\_ \\`c\\` next");
  EXPECT_EQ(markdown_escape("Q4_K_M"), "Q4_K_M");
}

TEST(StudyReportText, CsvField) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
}

// Runs `f` and returns the Error's message; fails the test when nothing or something else is thrown.
template <typename F>
std::string error_message(F&& f, ErrorCode expected) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), expected) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no uaqf::Error thrown";
  return "";
}

class StudyReportErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("uaqf-report-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

TEST_F(StudyReportErrors, MissingFileOrFolderWithoutResults) {
  const auto missing = dir_ / "nope.json";
  EXPECT_NE(error_message([&] { load_study_results(missing); }, ErrorCode::kNotFound).find(missing.string()),
            std::string::npos);
  const std::string message = error_message([&] { load_study_results(dir_); }, ErrorCode::kNotFound);
  EXPECT_NE(message.find(dir_.string() + ": no results.json"), std::string::npos) << message;
}

TEST_F(StudyReportErrors, NotJsonWrongSchemaMissingField) {
  const auto bad = write("bad.json", "{ not json");
  std::string message = error_message([&] { load_study_results(bad); }, ErrorCode::kInvalidArgument);
  EXPECT_EQ(message.rfind(bad.string() + ": not a results file", 0), 0U) << message;

  const auto bench = write("bench.json", R"({"schema": "uaqf.bench/1"})");
  message = error_message([&] { load_study_results(bench); }, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("not a uaqf study results file (schema \"uaqf.bench/1\""), std::string::npos) << message;

  json results = json::parse(slurp(kFixture));
  results.erase("decision_inputs");
  const auto partial = write("partial.json", results.dump());
  message = error_message([&] { load_study_results(partial); }, ErrorCode::kInvalidArgument);
  EXPECT_EQ(message.rfind(partial.string() + ": a field the report needs is missing", 0), 0U) << message;

  // An error from the decision names the file too.
  results = json::parse(slurp(kFixture));
  results["decision_inputs"][1]["metrics"].erase("decode_tps");
  const auto lacking = write("lacking.json", results.dump());
  message = error_message([&] { load_study_results(lacking); }, ErrorCode::kInvalidArgument);
  EXPECT_EQ(message.rfind(lacking.string() + ": decide: variant \"Q8_0\" has no measurement of \"decode_tps\"", 0), 0U)
      << message;
}

}  // namespace
}  // namespace uaqf::report
