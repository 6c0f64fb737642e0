// Calibrations: the overlap check that keeps calibration text apart from what is evaluated, the
// variants types and calibrations make, the importance matrix's cache and resume, a study with
// calibrations on the fake engine, and the plain-against-calibrated comparison.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "backend/fake/fake_engine.h"
#include "core/error.h"
#include "core/files.h"
#include "core/paths.h"
#include "decide/calibration_effect.h"
#include "quant/imatrix.h"
#include "quant/quantize.h"
#include "report/study_report.h"
#include "results/study_record.h"
#include "study/calibrations.h"
#include "study/runner.h"
#include "tasks/calibration.h"

namespace uaqf {
namespace {

namespace fs = std::filesystem;

std::string words(int from, int count) {
  std::string text;
  for (int i = from; i < from + count; ++i) {
    text += "word" + std::to_string(i) + " ";
  }
  return text;
}

TEST(CalibrationOverlapTest, CountsSharedThirteenWordSequencesWhateverTheSpacingAndCase) {
  const tasks::NgramIndex calibration("Intro. " + words(0, 40) + " outro");
  // 20 words of the calibration, re-spaced and upper-cased: 8 shared 13-grams of 8.
  std::string shared = words(5, 20);
  for (auto& c : shared) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto overlap = tasks::measure_overlap(calibration, "task x", {shared, words(100, 20), "too short"});
  EXPECT_EQ(overlap.units, 3U);
  EXPECT_EQ(overlap.units_overlapping, 1U);
  EXPECT_EQ(overlap.ngrams, 16U);
  EXPECT_EQ(overlap.ngrams_shared, 8U);
  EXPECT_DOUBLE_EQ(overlap.shared_fraction(), 0.5);
  // Twelve shared words are not a 13-gram.
  EXPECT_EQ(tasks::measure_overlap(calibration, "task x", {words(0, 12) + words(200, 12)}).ngrams_shared, 0U);
}

TEST(CalibrationOverlapTest, WikiTextValidationDoesNotOverlapTheTestSplitWhichOverlapsItself) {
  const auto data = find_shared_file("data");
  ASSERT_TRUE(data.has_value()) << "set UAQF_SHARED_DIR";
  const auto valid = tasks::load_calibration("wiki", "wikitext-valid", *data);
  const auto test = tasks::load_calibration("test", "wikitext-test", *data);
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < test.text.size();) {
    const std::size_t end = std::min(test.text.find('\n', start), test.text.size());
    if (end > start) lines.push_back(test.text.substr(start, end - start));
    start = end + 1;
  }
  EXPECT_LT(tasks::measure_overlap(tasks::NgramIndex(valid.text), "corpus", lines).shared_fraction(), 0.001);
  EXPECT_DOUBLE_EQ(tasks::measure_overlap(tasks::NgramIndex(test.text), "corpus", lines).shared_fraction(), 1.0);
  // GSM8K's training problems share a few 13-grams with the test problems (near-duplicates), far
  // below the default limit of 1%.
  const auto train = tasks::load_calibration("chat", "gsm8k-train", *data);
  const auto gsm_test = tasks::load_calibration("t", "gsm8k-test", *data);
  const auto gsm = tasks::measure_overlap(tasks::NgramIndex(train.text), "task gsm8k", {gsm_test.text});
  EXPECT_GT(gsm.ngrams_shared, 0U);
  EXPECT_LT(gsm.shared_fraction(), 0.01);
}

TEST(CalibrationOverlapTest, UnknownSourcesAndEmptyTextsAreRefusedWithTheirName) {
  const fs::path dir = fs::temp_directory_path() / "uaqf-calibration-empty";
  fs::create_directories(dir);
  write_file_atomic(dir / "empty.txt", " \n\n");
  try {
    tasks::load_calibration("blank", (dir / "empty.txt").string(), dir);
    FAIL() << "an empty calibration text was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("'blank'"), std::string::npos) << error.what();
  }
  EXPECT_THROW(tasks::load_calibration("x", (dir / "missing.txt").string(), dir), Error);
  fs::remove_all(dir);
}

TEST(CalibrationVariantsTest, TypesAreCrossedWithCalibrationsAndPlainWhereAllowed) {
  study::Study s;
  s.file = "study.toml";
  s.model = "m-f16.gguf";
  s.calibrations = {{"wiki", "wikitext-valid"}, {"chat", "gsm8k-train"}};
  const auto needs = [](const std::string& type) { return type == "IQ2_XXS"; };
  const auto variants = study::weight_variants(s, {"Q4_K_M", "IQ2_XXS"}, needs);
  std::vector<std::string> names;
  for (const auto& v : variants) names.push_back(v.name());
  EXPECT_EQ(names, (std::vector<std::string>{"Q4_K_M", "Q4_K_M+wiki", "Q4_K_M+chat", "IQ2_XXS+wiki", "IQ2_XXS+chat"}));

  s.uncalibrated = false;
  EXPECT_EQ(study::weight_variants(s, {"Q4_K_M"}, needs).size(), 2U);

  // Without a calibration, a type that needs an importance matrix is refused with the hint.
  s.calibrations.clear();
  s.uncalibrated = true;
  try {
    study::weight_variants(s, {"Q4_K_M", "IQ2_XXS"}, needs);
    FAIL() << "IQ2_XXS without a matrix was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("calibrations = {"), std::string::npos) << error.what();
  }
}

TEST(CalibrationVariantsTest, CalibratedNamesPairWithTheirPlainTwin) {
  const auto parsed = decide::parse_calibrated_name("Q4_K_M+wiki_2 kv=q8_0");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->plain, "Q4_K_M kv=q8_0");
  EXPECT_EQ(parsed->calibration, "wiki_2");
  EXPECT_FALSE(decide::parse_calibrated_name("Q4_K_M").has_value());
  EXPECT_FALSE(decide::parse_calibrated_name("Q4_K_M kv=a+b").has_value());
}

decide::Variant with_kld(const std::string& name, double shift) {
  decide::Variant v;
  v.name = name;
  for (int i = 0; i < 30; ++i) {
    v.chunk_values["kld"].push_back(0.05 + 0.01 * (i % 7) + shift);
  }
  return v;
}

TEST(CalibrationEffectTest, PairedChunksGiveAVerdictEachWay) {
  const std::vector<decide::Variant> variants{with_kld("F16", -0.05),          with_kld("Q4_K_M", 0.0),
                                              with_kld("Q4_K_M+wiki", -0.002), with_kld("Q3_K_M", 0.0),
                                              with_kld("Q3_K_M+wiki", 0.001),  with_kld("Q2_K+wiki", 0.0)};
  auto noisy = variants;
  // Q3_K_M+wiki: better on half the chunks, worse on the other half.
  for (std::size_t i = 0; i < noisy[4].chunk_values["kld"].size(); ++i) {
    noisy[4].chunk_values["kld"][i] = noisy[3].chunk_values["kld"][i] + (i % 2 == 0 ? 0.01 : -0.01);
  }
  const auto comparisons = decide::compare_calibrations(noisy, 42, 500);
  ASSERT_EQ(comparisons.size(), 2U);  // Q2_K+wiki has no plain twin
  EXPECT_EQ(comparisons[0].calibrated, "Q4_K_M+wiki");
  EXPECT_EQ(comparisons[0].verdict, "helped");
  EXPECT_EQ(comparisons[0].measure, "kld");
  EXPECT_EQ(comparisons[1].verdict, "no clear difference");
  EXPECT_EQ(decide::compare_calibrations(variants, 42, 500)[1].verdict, "hurt");
}

class CalibrationStudyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("uaqf-calibration-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "variants");
    setenv("UAQF_CACHE_DIR", (dir_ / "cache").c_str(), 1);
    model_ = dir_ / "tiny-f16.gguf";
    write_file_atomic(model_, "GGUF fake baseline");
    std::string corpus, calibration;
    for (int i = 0; corpus.size() < 4000; ++i) {
      corpus += "The quick brown fox number " + std::to_string(i) + " jumps over the lazy dog again and again.\n";
      calibration += "A different text " + std::to_string(i) + " about calibration, which shares no passage.\n";
    }
    write_file_atomic(dir_ / "corpus.txt", corpus);
    write_file_atomic(dir_ / "calibration.txt", calibration);
    engine_.add_model(model_, backend::FakeModelSpec{.bits_per_weight = 16, .kv_bytes_per_token = 4096});
    for (const std::string name : {"Q8_0", "Q8_0+cal"}) {
      engine_.add_model(
          quant::output_path_for(model_, name, dir_ / "variants"),
          backend::FakeModelSpec{.bits_per_weight = 8.5, .logit_noise = 0.05, .kv_bytes_per_token = 4096});
    }
  }
  void TearDown() override {
    unsetenv("UAQF_CACHE_DIR");
    fs::remove_all(dir_);
  }

  study::Study study(const fs::path& calibration) const {
    study::Study s;
    s.file = dir_ / "study.toml";
    s.name = "fake";
    s.output_dir = dir_ / "out";
    s.model = model_;
    s.types = {"Q8_0"};
    s.calibrations = {{"cal", calibration.string()}};
    s.calibration_ctx = 64;
    s.variants_dir = dir_ / "variants";
    s.threads = 1;
    s.prompt_tokens = {16};
    s.gen_tokens = 8;
    s.reps = 2;
    s.ctx = 32;
    s.perplexity_chunks = 3;
    s.corpus = dir_ / "corpus.txt";
    s.bootstrap_resamples = 50;
    return s;
  }

  fs::path dir_;
  fs::path model_;
  ManualClock clock_;
  backend::FakeEngine engine_{clock_};
};

TEST_F(CalibrationStudyTest, CalibratedVariantsAreMeasuredBesideThePlainOnesWithTheirCost) {
  const auto outcome = study::run_study(engine_, study(dir_ / "calibration.txt"), engine_.clock());
  ASSERT_EQ(outcome.record.variants.size(), 3U);
  EXPECT_EQ(outcome.record.variants[1].name, "Q8_0");
  EXPECT_EQ(outcome.record.variants[2].name, "Q8_0+cal");
  EXPECT_FALSE(outcome.record.variants[1].calibration.has_value());
  ASSERT_TRUE(outcome.record.variants[2].calibration.has_value());
  const auto& record = *outcome.record.variants[2].calibration;
  EXPECT_EQ(record.at("name"), "cal");
  EXPECT_GT(record.at("n_tokens").get<int64_t>(), 0);
  EXPECT_EQ(engine_.imatrix_calls(), 1);
  for (const auto& v : outcome.record.decision_inputs) {
    const double tokens = v.metrics.at("calibration_tokens").samples.front();
    EXPECT_EQ(tokens > 0, v.name == "Q8_0+cal") << v.name;
  }
  ASSERT_EQ(outcome.record.calibration_comparisons.size(), 1U);
  EXPECT_EQ(outcome.record.calibration_comparisons[0].plain, "Q8_0");

  // The report puts the calibrated variant beside its plain twin, with its cost and a verdict.
  write_file_atomic(dir_ / "results.json", results::to_json(outcome.record).dump());
  const auto report = report::build_study_report(report::load_study_results(dir_ / "results.json"));
  ASSERT_TRUE(report.contains("calibration"));
  const std::string markdown = report::study_report_markdown(report);
  EXPECT_NE(markdown.find("## Calibration: plain against calibrated"), std::string::npos);
  EXPECT_NE(markdown.find("**Q8_0+cal** against Q8_0: "), std::string::npos) << markdown;

  // Run again: the matrix is up to date and not computed again.
  const auto again = study::run_study(engine_, study(dir_ / "calibration.txt"), engine_.clock());
  EXPECT_EQ(engine_.imatrix_calls(), 1);
  EXPECT_EQ(again.record.variants[2].calibration->at("reused"), true);
}

TEST_F(CalibrationStudyTest, CalibratingOnTheEvaluatedCorpusIsRefusedBeforeAnyWork) {
  try {
    study::run_study(engine_, study(dir_ / "corpus.txt"), engine_.clock());
    FAIL() << "calibrating on the corpus was accepted";
  } catch (const Error& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("calibration 'cal'"), std::string::npos) << what;
    EXPECT_NE(what.find("corpus.txt"), std::string::npos) << what;
    EXPECT_NE(what.find("100.00%"), std::string::npos) << what;
  }
  EXPECT_EQ(engine_.imatrix_calls(), 0);
  EXPECT_EQ(engine_.quantize_calls(), 0);
  EXPECT_FALSE(fs::exists(dir_ / "out" / "study.db"));
}

TEST_F(CalibrationStudyTest, AnInterruptedMatrixResumesWhereItStopped) {
  const std::string text = read_text_file(dir_ / "calibration.txt");
  const quant::ImatrixOptions options{.model = model_,
                                      .calibration_name = "cal",
                                      .calibration_text = text,
                                      .output = dir_ / "m.imatrix.gguf",
                                      .n_ctx = 64};
  const int total = static_cast<int>((text.size() + 1) / 64);
  engine_.fail_imatrix_after_chunks(5);
  EXPECT_THROW(quant::make_imatrix(engine_, options, nullptr), Error);
  EXPECT_FALSE(fs::exists(options.output));
  EXPECT_EQ(engine_.imatrix_chunks_computed(), 5);
  const auto result = quant::make_imatrix(engine_, options, nullptr);
  EXPECT_EQ(result.n_chunks_resumed, 5);
  EXPECT_EQ(result.n_chunks, total);
  EXPECT_EQ(engine_.imatrix_chunks_computed(), total);  // no chunk twice
  EXPECT_TRUE(quant::make_imatrix(engine_, options, nullptr).up_to_date);
  // Another text is another matrix: computed again from the start.
  auto other = options;
  other.calibration_text += "more text";
  EXPECT_FALSE(quant::make_imatrix(engine_, other, nullptr).up_to_date);
}

}  // namespace
}  // namespace uaqf
