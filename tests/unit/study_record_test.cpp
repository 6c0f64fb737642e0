// The results record: results written by earlier versions of schema uaqf.study/1 load, keep every
// field, and rank exactly as the version that wrote them did.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
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
