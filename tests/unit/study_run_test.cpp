// A study run end to end on the fake engine: shared weight loads, and studies refused before any
// work when the engine lacks what they need.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "backend/fake/fake_engine.h"
#include "core/error.h"
#include "core/files.h"
#include "quant/quantize.h"
#include "study/plan.h"
#include "study/runner.h"

namespace uaqf::study {
namespace {

namespace fs = std::filesystem;

class StudyRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("uaqf-study-run-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // The baseline cache of KLD goes where the test says, not into the user's cache.
    setenv("UAQF_CACHE_DIR", (dir_ / "cache").c_str(), 1);
    model_ = dir_ / "tiny-f16.gguf";
    write_file_atomic(model_, "GGUF fake baseline");
    std::string text;
    for (int i = 0; text.size() < 4000; ++i) {
      text += "The quick brown fox " + std::to_string(i) + " jumps over the lazy dog.\n";
    }
    write_file_atomic(dir_ / "corpus.txt", text);
    write_file_atomic(dir_ / "prompts.txt", "What is two plus two?\nName a colour.\nCount to three.\n");
    engine_.add_model(model_, backend::FakeModelSpec{.bits_per_weight = 16, .kv_bytes_per_token = 4096});
    engine_.add_model(quant::output_path_for(model_, "Q8_0", dir_ / "variants"),
                      backend::FakeModelSpec{.bits_per_weight = 8.5, .logit_noise = 0.05, .kv_bytes_per_token = 4096});
  }
  void TearDown() override {
    unsetenv("UAQF_CACHE_DIR");
    fs::remove_all(dir_);
  }

  Study study(const std::vector<std::string>& kv_types, const std::string& output) const {
    Study s;
    s.file = dir_ / "study.toml";
    s.name = "fake";
    s.output_dir = dir_ / output;
    s.model = model_;
    s.types = {"Q8_0"};
    s.variants_dir = dir_ / "variants";
    s.threads = 1;
    s.kv_types = kv_types;
    s.prompt_tokens = {16};
    s.gen_tokens = 8;
    s.reps = 2;
    s.warmup = 1;
    s.prompts = PromptWorkload{.source = "file",
                               .file = dir_ / "prompts.txt",
                               .count = 3,
                               .max_new_tokens = 6,
                               .parallel = 1,
                               .chat_template = false};
    s.ctx = 32;
    s.perplexity_chunks = 3;
    s.corpus = dir_ / "corpus.txt";
    s.bootstrap_resamples = 50;
    return s;
  }

  static const decide::Variant& variant_named(const RunOutcome& outcome, const std::string& name) {
    for (const auto& v : outcome.record.decision_inputs) {
      if (v.name == name) {
        return v;
      }
    }
    throw std::runtime_error("no variant " + name);
  }

  fs::path dir_;
  fs::path model_;
  ManualClock clock_;
  backend::FakeEngine engine_{clock_};
};

TEST_F(StudyRunTest, TheDecisionResamplesTheRunsRecordsPaired) {
  const auto outcome = run_study(engine_, study({"f16"}, "records"), engine_.clock());
  ASSERT_EQ(outcome.failed_variants, 0);
  // The quality unit keeps each chunk's same-top rate; the decision resamples chunks and requests.
  for (const auto& v : outcome.record.variants) {
    ASSERT_TRUE(v.kld.has_value()) << v.name;
    EXPECT_EQ(v.kld->at("same_top_chunks").size(), 3U) << v.name;
  }
  EXPECT_TRUE(outcome.record.decision.fixed_metrics.empty());
  for (const auto& r : outcome.record.decision.ranking) {
    const auto& intervals = r.metric_intervals;
    ASSERT_TRUE(intervals.contains("same_top_rate")) << r.name;
    EXPECT_EQ(intervals.at("same_top_rate").resampled, "chunks");
    EXPECT_EQ(intervals.at("same_top_rate").n, 3U);
    EXPECT_TRUE(intervals.at("same_top_rate").paired);
    for (const char* latency : {"ttft_ms", "itl_p99_ms"}) {
      ASSERT_TRUE(intervals.contains(latency)) << r.name << " " << latency;
      EXPECT_EQ(intervals.at(latency).resampled, "requests") << latency;
    }
    EXPECT_EQ(intervals.at("decode_tps").resampled, "repetitions");
  }
}

TEST_F(StudyRunTest, VariantsThatDifferOnlyInContextSettingsShareOneLoad) {
  const std::vector<std::string> kv_types{"f16", "q8_0", "q4_0"};
  const auto crossed = run_study(engine_, study(kv_types, "crossed"), engine_.clock());
  ASSERT_EQ(crossed.record.variants.size(), 6U);
  EXPECT_EQ(crossed.failed_variants, 0);
  const fs::path quantized = quant::output_path_for(model_, "Q8_0", dir_ / "variants");
  EXPECT_EQ(engine_.loads_of(model_), 1);
  EXPECT_EQ(engine_.loads_of(quantized), 1);

  // The KV-cache type reached the contexts through the shared load: a quantized cache is faster
  // and less exact on the fake engine.
  const auto& f16 = variant_named(crossed, "Q8_0 kv=f16");
  const auto& q4 = variant_named(crossed, "Q8_0 kv=q4_0");
  EXPECT_GT(q4.metrics.at("decode_tps").samples.front(), f16.metrics.at("decode_tps").samples.front());
  EXPECT_GT(q4.metrics.at("kld_mean").samples.front(), f16.metrics.at("kld_mean").samples.front());

  // A study per KV type loads the weights again each time and measures the same numbers.
  for (const auto& kv : kv_types) {
    const int loads_before = engine_.loads_of(model_);
    const auto single = run_study(engine_, study({kv}, "single-" + kv), engine_.clock());
    EXPECT_EQ(engine_.loads_of(model_), loads_before + 1);
    for (const std::string weights : {"16-bit", "Q8_0"}) {
      const auto& shared = variant_named(crossed, weights + " kv=" + kv);
      const auto& reloaded = variant_named(single, weights);
      ASSERT_EQ(shared.metrics.size(), reloaded.metrics.size()) << weights << " kv=" << kv;
      for (const auto& [name, value] : reloaded.metrics) {
        if (name == "peak_memory_gib") {
          continue;  // the test process's own resident memory
        }
        ASSERT_TRUE(shared.metrics.contains(name)) << name;
        EXPECT_EQ(shared.metrics.at(name).samples, value.samples) << weights << " kv=" << kv << ": " << name;
      }
      EXPECT_EQ(shared.chunk_values, reloaded.chunk_values) << weights << " kv=" << kv;
    }
  }
}

// Runs `s` and returns the one-line error it is refused with.
std::string refusal(backend::FakeEngine& engine, const Study& s) {
  try {
    run_study(engine, s, engine.clock());
  } catch (const Error& error) {
    return error.what();
  }
  return "(not refused)";
}

TEST_F(StudyRunTest, KldOnAnEngineWithoutFullLogitsIsRefusedBeforeAnyWork) {
  engine_.set_capabilities({.supported = {backend::Capability::kTokenDecode, backend::Capability::kGenerate,
                                          backend::Capability::kStreaming, backend::Capability::kQuantize}});
  const auto s = study({"f16"}, "no-logits");
  const std::string message = refusal(engine_, s);
  EXPECT_NE(message.find("needs full logits for kld"), std::string::npos) << message;
  EXPECT_NE(message.find("engine 'fake'"), std::string::npos) << message;
  EXPECT_NE(message.find("variant '16-bit'"), std::string::npos) << message;
  EXPECT_EQ(engine_.quantize_calls(), 0);
  EXPECT_EQ(engine_.load_calls(), 0);
  EXPECT_FALSE(fs::exists(s.output_dir / "study.db"));
}

TEST_F(StudyRunTest, StreamingWorkloadOnAnEngineWithoutStreamingIsRefusedBeforeAnyWork) {
  engine_.set_capabilities({.supported = {backend::Capability::kTokenDecode, backend::Capability::kGenerate,
                                          backend::Capability::kFullLogits, backend::Capability::kPromptLogprobs,
                                          backend::Capability::kQuantize}});
  auto s = study({"f16"}, "no-streaming");
  const std::string message = refusal(engine_, s);
  EXPECT_NE(message.find("needs streamed tokens with per-token times for the prompt workload"), std::string::npos)
      << message;
  EXPECT_EQ(engine_.quantize_calls(), 0);
  EXPECT_EQ(engine_.load_calls(), 0);
  // Without the workload the same engine can run the study.
  s.prompts.reset();
  s.output_dir = dir_ / "no-workload";
  EXPECT_EQ(run_study(engine_, s, engine_.clock()).failed_variants, 0);
}

TEST_F(StudyRunTest, ServingProfileWithoutAServingWorkloadIsRefusedBeforeAnyWork) {
  auto s = study({"f16"}, "no-serving");
  s.profile = "serving";
  const std::string message = refusal(engine_, s);
  EXPECT_EQ(message, (dir_ / "study.toml").string() +
                         ":0: variant '16-bit' cannot give goodput_rps, which profile \"serving\" needs: it is "
                         "measured by serving the "
                         "variant with llama-server, and the study has no [workload.serving]");
  EXPECT_EQ(engine_.quantize_calls(), 0);
  EXPECT_EQ(engine_.load_calls(), 0);
  EXPECT_FALSE(fs::exists(s.output_dir / "study.db"));
}

TEST_F(StudyRunTest, ServingMetricInAConstraintIsRefusedToo) {
  auto s = study({"f16"}, "no-serving-constraint");
  s.constraints = {"serving_ttft_p99_ms <= 300"};
  const std::string message = refusal(engine_, s);
  EXPECT_NE(message.find("cannot give serving_ttft_p99_ms, which profile \"interactive\" needs"), std::string::npos)
      << message;
  EXPECT_EQ(engine_.load_calls(), 0);
}

TEST_F(StudyRunTest, UnknownKvCacheTypeIsRefusedBeforeAnyWork) {
  const std::string message = refusal(engine_, study({"f16", "q3_x"}, "bad-kv"));
  EXPECT_NE(message.find("unknown KV-cache type 'q3_x'"), std::string::npos) << message;
  EXPECT_EQ(engine_.quantize_calls(), 0);
  EXPECT_EQ(engine_.load_calls(), 0);
}

TEST_F(StudyRunTest, NonFiniteMeasurementsFailTheirVariantWithTheReason) {
  engine_.add_model(quant::output_path_for(model_, "Q8_0", dir_ / "variants"),
                    backend::FakeModelSpec{.bits_per_weight = 8.5, .kv_bytes_per_token = 4096, .nan_logits = true});
  const auto outcome = run_study(engine_, study({"f16"}, "nan-variant"), engine_.clock());
  EXPECT_EQ(outcome.failed_variants, 1);
  ASSERT_EQ(outcome.record.variants.size(), 2U);
  const auto& failed = outcome.record.variants[1];
  EXPECT_EQ(failed.name, "Q8_0");
  EXPECT_FALSE(failed.ok);
  EXPECT_NE(failed.error.find("not a finite number"), std::string::npos) << failed.error;
  // Only the baseline reaches the decision.
  ASSERT_EQ(outcome.record.decision_inputs.size(), 1U);
  EXPECT_TRUE(outcome.record.decision_inputs[0].is_baseline);
}

TEST_F(StudyRunTest, AFailedBaselineStopsTheStudyAtOnce) {
  engine_.add_model(model_,
                    backend::FakeModelSpec{.bits_per_weight = 16, .kv_bytes_per_token = 4096, .nan_logits = true});
  const auto s = study({"f16"}, "nan-baseline");
  const std::string message = refusal(engine_, s);
  EXPECT_NE(message.find("the baseline 16-bit failed, so no variant can be compared with it"), std::string::npos)
      << message;
  EXPECT_NE(message.find("not a finite number"), std::string::npos) << message;
  // Stopped before the quantized variant was loaded.
  EXPECT_EQ(engine_.loads_of(quant::output_path_for(model_, "Q8_0", dir_ / "variants")), 0);
}

TEST_F(StudyRunTest, ParallelMetricWithoutParallelLevelsIsRefusedBeforeAnyWork) {
  auto s = study({"f16"}, "no-parallel");
  s.profile_line = 30;
  s.constraints = {"parallel_decode_tps >= 10"};
  const std::string message = refusal(engine_, s);
  EXPECT_NE(message.find("study.toml:30: variant '16-bit' cannot give parallel_decode_tps"), std::string::npos)
      << message;
  EXPECT_NE(message.find("[workload] parallel = [N, ...]"), std::string::npos) << message;
  EXPECT_EQ(engine_.load_calls(), 0);
  EXPECT_FALSE(fs::exists(s.output_dir / "study.db"));
}

TEST_F(StudyRunTest, ContextsAboveTheTrainingContextAreWarnedAtPlanTime) {
  auto s = study({"f16"}, "long-context");
  s.lines = {{"quality.ctx", 12}, {"workload.prompt_tokens", 7}};
  std::ostringstream warnings;
  check_study_settings(engine_, s, engine_.inspect(model_), warnings);
  EXPECT_EQ(warnings.str(), "");
  s.ctx = 8192;  // the fake model was trained on 4096
  s.prompt_tokens = {4090};
  check_study_settings(engine_, s, engine_.inspect(model_), warnings);
  EXPECT_NE(warnings.str().find("study.toml:12: ctx = 8192 is longer than the 4096 tokens"), std::string::npos)
      << warnings.str();
  EXPECT_NE(warnings.str().find("study.toml:7: prompt_tokens 4090 + gen_tokens 8 + depth 0 is longer"),
            std::string::npos)
      << warnings.str();
}

}  // namespace
}  // namespace uaqf::study
