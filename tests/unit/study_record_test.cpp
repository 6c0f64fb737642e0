// The results record: results written by earlier versions of schema uaqf.study/1 load, keep every
// field, and rank exactly as the version that wrote them did.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "results/metric_records.h"
#include "results/study_record.h"

namespace uaqf::results {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json fixture() {
  std::ifstream in(fs::path(UAQF_SOURCE_DIR) / "tests/data/report/results.json");
  std::ostringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

TEST(StudyRecord, AnOlderResultsFileKeepsEveryFieldThroughTheRecord) {
  const json original = fixture();
  const json written = to_json(study_record_from_json(original));
  for (const auto& key : {"schema", "study", "environment", "profile", "decision_inputs"}) {
    EXPECT_EQ(written.at(key), original.at(key)) << key;
  }
  ASSERT_EQ(written.at("variants").size(), original.at("variants").size());
  for (std::size_t i = 0; i < original.at("variants").size(); ++i) {
    for (const auto& [key, value] : original.at("variants")[i].items()) {
      EXPECT_EQ(written.at("variants")[i].at(key), value) << "variant " << i << ": " << key;
    }
  }
}

TEST(StudyRecord, AnOlderResultsFileRanksAsTheVersionThatWroteIt) {
  const json original = fixture();
  const auto record = study_record_from_json(original);
  // The decision is recomputed from the stored inputs, profile, seed and resamples; the stored
  // one was computed by the version that ran the study.
  EXPECT_EQ(decide::to_json(record.decision), original.at("decision"));
  ASSERT_TRUE(record.decision.recommended.has_value());
}

TEST(StudyRecord, StoredRecordsBecomeTheMetricsRecords) {
  // Two variants as results.json keeps them: requests of the prompt workload, per-chunk values,
  // task items (a multiple-choice task and IFEval with several instructions per prompt).
  std::vector<VariantRecord> stored(2);
  std::vector<decide::Variant> inputs(2);
  const double top[2] = {1.0, 0.9};
  for (int v = 0; v < 2; ++v) {
    stored[v].name = inputs[v].name = v == 0 ? "F16" : "Q4";
    inputs[v].is_baseline = v == 0;
    stored[v].prompt_workload = json{{"requests",
                                      {{{"ttft_ms", 10.0 + v}, {"e2e_ms", 100.0}, {"itl_ms", {1.0, 2.0, 3.0}}},
                                       {{"ttft_ms", 20.0 + v}, {"e2e_ms", 200.0}, {"itl_ms", {4.0}}}}}};
    stored[v].kld = json{{"same_top_chunks", {top[v], top[v] - 0.1}}};
    stored[v].tasks = json::array(
        {{{"task", "hellaswag"}, {"records", {{{"correct", true}}, {{"correct", v == 0}}, {{"correct", false}}}}},
         {{"task", "ifeval"}, {"records", {{{"strict", {true, false, true}}}, {{"strict", {true}}}}}}});
    inputs[v].chunk_values = {{"nll", {2.0 + 0.1 * v, 2.2 + 0.1 * v}}, {"kld", {0.1 * v, 0.2 * v}}};
    for (const char* m : {"ttft_ms", "itl_p99_ms", "same_top_rate", "ppl", "kld_mean", "ln_ppl_ratio", "hellaswag.acc",
                          "ifeval.inst_level_strict_acc", "ifeval.prompt_level_strict_acc"}) {
      inputs[v].metrics[m].samples = {1.0};
    }
  }
  attach_records(inputs, stored);
  const auto& q4 = inputs[1].metrics;
  for (const auto& [name, value] : q4) EXPECT_TRUE(value.records.has_value()) << name;
  EXPECT_EQ(q4.at("ttft_ms").records->values, (std::vector<double>{11, 21}));
  EXPECT_EQ(q4.at("ttft_ms").records->set, "requests");
  EXPECT_EQ(q4.at("itl_p99_ms").records->offsets, (std::vector<std::size_t>{0, 3, 4}));
  EXPECT_EQ(q4.at("itl_p99_ms").records->percentile, 99);
  EXPECT_EQ(q4.at("same_top_rate").records->values, (std::vector<double>{0.9, 0.8}));
  EXPECT_EQ(q4.at("ppl").records->statistic, decide::MetricRecords::Statistic::kExpMean);
  EXPECT_NEAR(q4.at("ln_ppl_ratio").records->values[0], 0.1, 1e-12);  // its NLL minus the baseline's, per chunk
  EXPECT_EQ(q4.at("hellaswag.acc").records->values, (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(q4.at("hellaswag.acc").records->set, "task:hellaswag");
  // Instruction level: each prompt's share, weighted by its instructions (2 of 3, then 1 of 1).
  EXPECT_EQ(q4.at("ifeval.inst_level_strict_acc").records->weights, (std::vector<double>{3, 1}));
  EXPECT_EQ(q4.at("ifeval.prompt_level_strict_acc").records->values, (std::vector<double>{0, 1}));
  // Old results have no per-chunk same-top rates: that metric keeps its value alone.
  stored[1].kld = json::object();
  inputs[1].metrics["same_top_rate"].records.reset();
  attach_records(inputs, stored);
  EXPECT_FALSE(inputs[1].metrics.at("same_top_rate").records.has_value());
}

TEST(StudyRecord, AnotherSchemaIsRefusedNamingIt) {
  json other = fixture();
  other["schema"] = "uaqf.bench/1";
  try {
    study_record_from_json(other);
    FAIL() << "accepted another schema";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("schema \"uaqf.bench/1\""), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace uaqf::results
