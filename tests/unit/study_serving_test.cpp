// A study's serving workload: [workload.serving] as the study file writes it, the decision metrics
// taken from a serving run, the serving profile and the plan's refusal of metrics no unit gives.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "decide/profile.h"
#include "report/serving_report.h"
#include "study/metric_table.h"
#include "study/plan.h"
#include "study/study.h"

namespace uaqf::study {
namespace {

namespace fs = std::filesystem;

class ServingStudyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("uaqf-serving-study-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A study file whose [workload.serving] table holds `serving` (its first key on line 6).
  fs::path write(const std::string& serving) const {
    const fs::path file = dir_ / "study.toml";
    std::ofstream(file) << "[model]\npath = \"m.gguf\"\ntypes = [\"Q8_0\"]\n\n[workload.serving]\n" << serving;
    return file;
  }

  std::string error_of(const std::string& serving) const {
    try {
      load_study(write(serving));
    } catch (const Error& error) {
      return error.what();
    }
    return "(accepted)";
  }

  fs::path dir_;
};

TEST_F(ServingStudyFile, ConcurrencySweepWithEveryKey) {
  const Study s = load_study(
      write("prompts = \"file\"\nfile = \"prompts.txt\"\nrequests = 12\nconcurrency = [1, 4]\nduration_s = 30\n"
            "max_new_tokens = 32\nignore_eos = false\nslos = [\"ttft_ms<=800\", \"tpot_ms <= 60\"]\n"
            "attainment = 0.95\nsearch_budget_s = 10\nwarmup_requests = 1\nctx_per_slot = 512\n"
            "prompt_cache_mib = 2048\nextra_body = { top_k = 1, logit_bias = { \"131\" = -100 } }\n"
            "service_level = 4\n"));
  ASSERT_TRUE(s.serving);
  const ServingWorkload& w = *s.serving;
  EXPECT_EQ(w.prompts, "file");
  EXPECT_EQ(*w.file, dir_ / "prompts.txt");
  EXPECT_EQ(w.requests, 12);
  EXPECT_EQ(w.concurrency, (std::vector<int>{1, 4}));
  EXPECT_FALSE(w.uses_rates());
  EXPECT_EQ(w.duration_s, 30);
  EXPECT_EQ(w.max_new_tokens, 32);
  EXPECT_FALSE(w.ignore_eos);
  EXPECT_EQ(w.slos, (std::vector<std::string>{"ttft_ms<=800", "tpot_ms <= 60"}));
  EXPECT_EQ(w.attainment, 0.95);
  EXPECT_EQ(w.search_budget_s, 10);
  EXPECT_EQ(w.warmup_requests, 1);
  EXPECT_EQ(w.prompt_cache_mib, 2048);
  EXPECT_EQ(w.service_level, 4.0);
  EXPECT_EQ(nlohmann::json::parse(w.extra_body), nlohmann::json::parse(R"({"top_k": 1, "logit_bias": {"131": -100}})"));
  // Slots default to the highest concurrency level; the server's context is slots x ctx_per_slot.
  EXPECT_EQ(w.slots(), 4);
  EXPECT_EQ(w.context_tokens(), 2048);
}

TEST_F(ServingStudyFile, DefaultsAndRates) {
  const Study defaults = load_study(write(""));
  ASSERT_TRUE(defaults.serving);
  EXPECT_EQ(defaults.serving->concurrency, (std::vector<int>{1, 4, 8}));
  EXPECT_TRUE(defaults.serving->ignore_eos);
  EXPECT_EQ(defaults.serving->slos, (std::vector<std::string>{"ttft_ms<=500", "tpot_ms<=50"}));
  EXPECT_EQ(defaults.serving->attainment, 0.99);
  EXPECT_EQ(defaults.serving->context_tokens(), 8 * 2048);
  EXPECT_EQ(defaults.serving->prompt_cache_mib, 0);  // off: saving a slot there delays TTFT

  const Study rates = load_study(write("rates = [0.5, 2, 4.5]\narrivals = \"constant\"\nparallel = 6\n"));
  EXPECT_TRUE(rates.serving->uses_rates());
  EXPECT_TRUE(rates.serving->concurrency.empty());
  EXPECT_EQ(rates.serving->rates, (std::vector<double>{0.5, 2, 4.5}));
  EXPECT_EQ(rates.serving->arrivals, "constant");
  EXPECT_EQ(rates.serving->slots(), 6);
  EXPECT_EQ(load_study(write("rates = [1]\n")).serving->slots(), 8);
  EXPECT_FALSE(load_study(write("")).prompts.has_value());
  EXPECT_FALSE(defaults.serving->service_level.has_value());
  EXPECT_EQ(load_study(write("rates = [1, 2.5]\nservice_level = 2.5\n")).serving->service_level, 2.5);
}

TEST_F(ServingStudyFile, UnknownKeysAndBadValuesNameTheKeyAndLine) {
  EXPECT_NE(
      error_of("requests = 4\ncolour = \"blue\"\n").find("study.toml:7: unknown key 'colour' in [workload.serving]"),
      std::string::npos);
  EXPECT_NE(error_of("concurrency = [1]\nrates = [2.0]\n").find("study.toml:7: give either 'concurrency'"),
            std::string::npos);
  EXPECT_NE(error_of("rates = [1, -2]\n").find("study.toml:6: 'rates' must be a list of numbers above 0"),
            std::string::npos);
  EXPECT_NE(error_of("concurrency = [0, 2]\n").find("study.toml:6: 'concurrency' levels must be at least 1"),
            std::string::npos);
  EXPECT_NE(error_of("arrivals = \"poisson\"\n").find("study.toml:6: 'arrivals' applies to 'rates'"),
            std::string::npos);
  EXPECT_NE(
      error_of("rates = [1]\narrivals = \"bursty\"\n").find("study.toml:7: 'arrivals' must be poisson or constant"),
      std::string::npos);
  const std::string slo = error_of("slos = [\"ttft_ms<=500\", \"latency<=3\"]\n");
  EXPECT_NE(slo.find("study.toml:6: 'slos':"), std::string::npos) << slo;
  EXPECT_NE(slo.find("latency<=3"), std::string::npos) << slo;
  EXPECT_NE(error_of("attainment = 1.5\n").find("study.toml:6: 'attainment' must be in (0, 1]"), std::string::npos);
  EXPECT_NE(error_of("prompts = \"books\"\n").find("study.toml:6: 'prompts' must be gsm8k, ifeval or file"),
            std::string::npos);
  EXPECT_NE(error_of("requests = 0\n").find("study.toml:6: 'requests' must be at least 1"), std::string::npos);
  EXPECT_NE(error_of("max_new_tokens = 600\nctx_per_slot = 512\n").find("study.toml:6: 'max_new_tokens' (600)"),
            std::string::npos);
  EXPECT_NE(error_of("prompt_cache_mib = -1\n").find("study.toml:6: 'prompt_cache_mib' must not be negative"),
            std::string::npos);
  EXPECT_NE(error_of("concurrency = [1, 4]\nservice_level = 2\n")
                .find("study.toml:7: 'service_level' 2 is not a level of the sweep (1, 4)"),
            std::string::npos);
  EXPECT_NE(error_of("extra_body = \"{}\"\n").find("study.toml:6: 'extra_body' must be a table"), std::string::npos);
  EXPECT_NE(error_of("ignore_eos = 1\n").find("study.toml:6: 'ignore_eos' must be true or false"), std::string::npos);
}

TEST(ServingExample, ParsesWithTheServingProfile) {
  const Study s = load_study(fs::path(UAQF_SOURCE_DIR) / "examples" / "serving.toml");
  ASSERT_TRUE(s.serving);
  EXPECT_EQ(s.serving->concurrency, (std::vector<int>{1, 4, 8}));
  EXPECT_EQ(s.serving->slots(), 8);
  EXPECT_EQ(s.serving->context_tokens(), 8 * 1024);
  EXPECT_EQ(s.profile, "serving");
  EXPECT_TRUE(s.kld);
}

perf::LevelResult level(perf::LoadMode mode, double value, double goodput, double attainment, bool searched = false) {
  perf::LevelResult l;
  l.level = {.mode = mode, .value = value};
  l.goodput_rps = goodput;
  l.slo_attainment = attainment;
  l.output_tps = 100 * value;
  l.ttft_ms.n = 10;
  l.ttft_ms.p99.value = 50 * value;
  l.tpot_ms.n = 10;
  l.tpot_ms.p99.value = 5 * value;
  l.searched = searched;
  return l;
}

TEST(ServingMetrics, TakenAtTheSweepsHighestLevelWithTheLevelAtSlo) {
  using perf::LoadMode;
  perf::ServingResult result;
  // The sweep 1, 8, 4 (as measured), then the search's level 6.
  result.levels = {level(LoadMode::kConcurrency, 1, 1.5, 1.0), level(LoadMode::kConcurrency, 8, 2.5, 0.5),
                   level(LoadMode::kConcurrency, 4, 3.0, 1.0), level(LoadMode::kConcurrency, 6, 3.2, 1.0, true)};
  result.at_slo = perf::LevelAtSlo{.mode = LoadMode::kConcurrency, .value = 6, .next_failing = 7};
  std::vector<std::string> notes;
  const auto metrics = decision_metrics(result, notes);
  EXPECT_EQ(metrics.at("goodput_rps").samples, std::vector<double>{2.5});
  EXPECT_EQ(metrics.at("slo_attainment").samples, std::vector<double>{0.5});
  EXPECT_EQ(metrics.at("serving_output_tps").samples, std::vector<double>{800});
  EXPECT_EQ(metrics.at("serving_ttft_p99_ms").samples, std::vector<double>{400});
  EXPECT_EQ(metrics.at("serving_tpot_p99_ms").samples, std::vector<double>{40});
  EXPECT_EQ(metrics.at("max_concurrency_at_slo").samples, std::vector<double>{6});
  EXPECT_FALSE(metrics.contains("max_rps_at_slo"));
  for (const auto& [name, value] : metrics) {
    EXPECT_EQ(value.samples.size(), 1U) << name << ": one run, one value";
    EXPECT_FALSE(value.unstable) << name;
  }
  EXPECT_TRUE(notes.empty());

  // The service's level instead of the highest: the numbers of concurrency 4.
  const auto at_four = decision_metrics(result, notes, 4.0);
  EXPECT_EQ(at_four.at("goodput_rps").samples, std::vector<double>{3.0});
  EXPECT_EQ(at_four.at("slo_attainment").samples, std::vector<double>{1.0});
  EXPECT_EQ(at_four.at("serving_ttft_p99_ms").samples, std::vector<double>{200});
  EXPECT_EQ(at_four.at("max_concurrency_at_slo").samples, std::vector<double>{6});
  EXPECT_THROW(decision_metrics(result, notes, 6.0), Error);  // a searched level is not the service's

  // A stored run (its JSON) judged again gives the same metrics as the run itself, at any service level.
  const auto stored = report::serving_summary_from_json(report::serving_to_json(perf::ServingPlan{}, result));
  for (const std::optional<double> service :
       {std::optional<double>(), std::optional<double>(1.0), std::optional<double>(4.0)}) {
    const auto fresh_metrics = decision_metrics(result, notes, service);
    const auto stored_metrics = decision_metrics(stored, notes, service);
    ASSERT_EQ(fresh_metrics.size(), stored_metrics.size());
    for (const auto& [name, value] : fresh_metrics) {
      EXPECT_EQ(stored_metrics.at(name).samples, value.samples) << name;
    }
  }
}

TEST(ServingMetrics, RateSweepLowerBoundAndNothingHeld) {
  using perf::LoadMode;
  perf::ServingResult result;
  result.levels = {level(LoadMode::kRate, 0.5, 0.5, 1.0), level(LoadMode::kRate, 2, 2, 1.0)};
  result.at_slo = perf::LevelAtSlo{.mode = LoadMode::kRate, .value = 2, .lower_bound = true};
  std::vector<std::string> notes;
  auto metrics = decision_metrics(result, notes);
  EXPECT_EQ(metrics.at("max_rps_at_slo").samples, std::vector<double>{2});
  EXPECT_FALSE(metrics.contains("max_concurrency_at_slo"));
  ASSERT_EQ(notes.size(), 1U);
  EXPECT_EQ(notes[0], "max_rps_at_slo = 2 is a lower bound: the highest level tried still met the SLOs");

  result.at_slo = perf::LevelAtSlo{.mode = LoadMode::kRate, .next_failing = 0.5};
  notes.clear();
  metrics = decision_metrics(result, notes);
  EXPECT_EQ(metrics.at("max_rps_at_slo").samples, std::vector<double>{0});
  EXPECT_TRUE(notes.empty());

  // No SLOs: no level at SLO, and no metric for it.
  result.at_slo.reset();
  EXPECT_FALSE(decision_metrics(result, notes).contains("max_rps_at_slo"));
  EXPECT_THROW(decision_metrics(perf::ServingResult{}, notes), Error);
}

TEST(ServingProfile, FollowsTheSweepAndTheAttainmentTarget) {
  const decide::Profile& serving = decide::builtin_profile("serving");
  EXPECT_EQ(serving.weights.at("goodput_rps"), 0.40);
  EXPECT_EQ(serving.weights.at("max_concurrency_at_slo"), 0.30);
  EXPECT_EQ(serving.weights.at("same_top_rate"), 0.30);
  const auto rates = decide::serving_profile_for(serving, true, 0.95);
  EXPECT_FALSE(rates.weights.contains("max_concurrency_at_slo"));
  EXPECT_EQ(rates.weights.at("max_rps_at_slo"), 0.30);
  ASSERT_EQ(rates.constraints.size(), 2U);
  EXPECT_EQ(rates.constraints[0].text, "slo_attainment >= 0.95");
  EXPECT_EQ(rates.constraints[0].threshold, 0.95);
  EXPECT_NO_THROW(decide::validate(rates));
  const auto same = decide::serving_profile_for(serving, false, 0.99);
  EXPECT_EQ(same.weights, serving.weights);
  EXPECT_EQ(same.constraints[0].text, "slo_attainment >= 0.99");
}

TEST(ServingPlanCheck, ProfileMetricsTheServingUnitDoesNotGiveAreRefused) {
  Study s;
  s.model = "m.gguf";
  s.perplexity = false;
  s.kld = true;
  s.serving = ServingWorkload{};
  const std::vector<VariantPlan> variants{{.name = "F16"}, {.name = "Q8_0"}};
  const decide::Profile& serving = decide::builtin_profile("serving");
  EXPECT_NO_THROW(check_profile_metrics(serving, variants, plan_units(s, false), false));

  const auto message = [&](const decide::Profile& profile, const Study& study, bool synthetic) -> std::string {
    try {
      check_profile_metrics(profile, variants, plan_units(study, synthetic), synthetic);
    } catch (const Error& error) {
      return error.what();
    }
    return "(accepted)";
  };
  Study no_slos = s;
  no_slos.serving->slos.clear();
  EXPECT_EQ(message(serving, no_slos, false),
            "variant 'F16' cannot give max_concurrency_at_slo, which profile \"serving\" needs: it comes from a "
            "concurrency sweep with slos, and [workload.serving] has no slos");
  Study rates = s;
  rates.serving->concurrency.clear();
  rates.serving->rates = {1, 2};
  EXPECT_NE(message(serving, rates, false)
                .find("max_concurrency_at_slo, which profile \"serving\" needs: it comes "
                      "from a concurrency sweep with slos, and [workload.serving] has rates"),
            std::string::npos);
  EXPECT_NO_THROW(check_profile_metrics(decide::serving_profile_for(serving, true, 0.99), variants,
                                        plan_units(rates, false), false));
  Study no_kld = s;
  no_kld.kld = false;
  EXPECT_NE(message(serving, no_kld, false)
                .find("cannot give kld_mean, which profile \"serving\" needs: it is "
                      "measured in-process only when the study has [quality] kld = true"),
            std::string::npos);
  // Synthetic weights have no quality: the profile drops those metrics, with a note, later.
  EXPECT_EQ(message(serving, no_kld, true), "(accepted)");
  const decide::Profile tasks = decide::profile_from_json({{"weights", {{"gsm8k.exact_match_strict.retention", 1}}}});
  EXPECT_NE(message(tasks, s, false).find("cannot give gsm8k.exact_match_strict, which profile \"custom\" needs"),
            std::string::npos);
}

}  // namespace
}  // namespace uaqf::study
