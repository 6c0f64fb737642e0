#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "decide/decide.h"
#include "decide/model.h"
#include "decide/normalize.h"
#include "decide/profile.h"
#include "decide/significance.h"

namespace {

using namespace uaqf::decide;
using uaqf::Error;
using uaqf::ErrorCode;

// Runs `f` and returns the Error's message; fails the test when nothing or something else is thrown.
template <typename F>
std::string error_message(F&& f, ErrorCode expected = ErrorCode::kInvalidArgument) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), expected);
    return e.what();
  }
  ADD_FAILURE() << "no uaqf::Error thrown";
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------------------------
// Catalog

TEST(Catalog, FixedMetrics) {
  const MetricSpec* decode = find_metric("decode_tps");
  ASSERT_NE(decode, nullptr);
  EXPECT_EQ(decode->unit, "tokens/s");
  EXPECT_EQ(decode->direction, Direction::kHigherIsBetter);
  for (const char* lower :
       {"ttft_ms", "itl_p50_ms", "itl_p99_ms", "e2e_ms", "ttft_p99_ms", "load_ms", "peak_memory_gib", "file_size_gib",
        "ppl", "ln_ppl_ratio", "kld_mean", "kld_p99", "energy_j_per_token"}) {
    ASSERT_NE(find_metric(lower), nullptr) << lower;
    EXPECT_EQ(find_metric(lower)->direction, Direction::kLowerIsBetter) << lower;
  }
  for (const char* higher : {"prefill_tps", "same_top_rate"}) {
    ASSERT_NE(find_metric(higher), nullptr) << higher;
    EXPECT_EQ(find_metric(higher)->direction, Direction::kHigherIsBetter) << higher;
  }
  EXPECT_EQ(find_metric("ttft_ms")->unit, "ms");
  EXPECT_EQ(find_metric("peak_memory_gib")->unit, "GiB");
}

TEST(Catalog, TaskAndRetentionMetrics) {
  const MetricSpec* gsm = find_metric("gsm8k.exact_match_strict");
  ASSERT_NE(gsm, nullptr);
  EXPECT_EQ(gsm->unit, "fraction");
  EXPECT_EQ(gsm->direction, Direction::kHigherIsBetter);
  ASSERT_NE(find_metric("hellaswag.acc"), nullptr);
  EXPECT_EQ(find_metric("divergence.normalized_edit_distance")->direction, Direction::kLowerIsBetter);

  const MetricSpec* retention = find_metric("gsm8k.exact_match_strict.retention");
  ASSERT_NE(retention, nullptr);
  EXPECT_EQ(retention->unit, "ratio");
  EXPECT_EQ(retention->direction, Direction::kHigherIsBetter);
  EXPECT_NE(find_metric("decode_tps.retention"), nullptr);
  EXPECT_EQ(find_metric("decode_tps.retention"), find_metric("decode_tps.retention"));  // stable pointer
  EXPECT_EQ(retention_base("decode_tps.retention"), "decode_tps");

  EXPECT_EQ(find_metric("bogus"), nullptr);
  EXPECT_EQ(find_metric("gsm8k.bogus"), nullptr);        // unknown task metric
  EXPECT_EQ(find_metric("ttft_ms.retention"), nullptr);  // lower-is-better base
  EXPECT_EQ(find_metric("decode_tps.retention.retention"), nullptr);
  EXPECT_EQ(find_metric("decode_tps.acc"), nullptr);  // a fixed metric is not a task
  EXPECT_EQ(find_metric(""), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Normalization, on values {2, 4, 8} with the baseline at 4

TEST(Normalize, RatioToBaseline) {
  const std::vector<double> v{2, 4, 8};
  const auto higher = normalize(v, Direction::kHigherIsBetter, NormalizationMethod::kRatioToBaseline, 1);
  EXPECT_DOUBLE_EQ(higher[0], 0.5);  // 2 / 4
  EXPECT_DOUBLE_EQ(higher[1], 1.0);
  EXPECT_DOUBLE_EQ(higher[2], 2.0);  // 8 / 4
  const auto lower = normalize(v, Direction::kLowerIsBetter, NormalizationMethod::kRatioToBaseline, 1);
  EXPECT_DOUBLE_EQ(lower[0], 2.0);  // 4 / 2
  EXPECT_DOUBLE_EQ(lower[1], 1.0);
  EXPECT_DOUBLE_EQ(lower[2], 0.5);  // 4 / 8
}

TEST(Normalize, MinMax) {
  const std::vector<double> v{2, 4, 8};
  const auto higher = normalize(v, Direction::kHigherIsBetter, NormalizationMethod::kMinMax);
  EXPECT_DOUBLE_EQ(higher[0], 0.0);
  EXPECT_DOUBLE_EQ(higher[1], 1.0 / 3);  // (4 - 2) / (8 - 2)
  EXPECT_DOUBLE_EQ(higher[2], 1.0);
  const auto lower = normalize(v, Direction::kLowerIsBetter, NormalizationMethod::kMinMax);
  EXPECT_DOUBLE_EQ(lower[0], 1.0);
  EXPECT_DOUBLE_EQ(lower[1], 2.0 / 3);  // (8 - 4) / (8 - 2)
  EXPECT_DOUBLE_EQ(lower[2], 0.0);
  const std::vector<double> equal{3, 3, 3};
  for (double x : normalize(equal, Direction::kLowerIsBetter, NormalizationMethod::kMinMax)) EXPECT_EQ(x, 1.0);
}

TEST(Normalize, ZScore) {
  // mean 14/3; deviations -8/3, -2/3, 10/3; population variance (64+4+100)/9/3 = 56/9, sd = sqrt(56)/3
  // z = deviation / sd = -8/sqrt(56), -2/sqrt(56), 10/sqrt(56)
  const std::vector<double> v{2, 4, 8};
  const auto higher = normalize(v, Direction::kHigherIsBetter, NormalizationMethod::kZScore);
  EXPECT_NEAR(higher[0], -1.0690449676496976, 1e-12);
  EXPECT_NEAR(higher[1], -0.2672612419124244, 1e-12);
  EXPECT_NEAR(higher[2], 1.3363062095621219, 1e-12);
  const auto lower = normalize(v, Direction::kLowerIsBetter, NormalizationMethod::kZScore);
  EXPECT_NEAR(lower[0], 1.0690449676496976, 1e-12);
  EXPECT_NEAR(lower[1], 0.2672612419124244, 1e-12);
  EXPECT_NEAR(lower[2], -1.3363062095621219, 1e-12);
  const std::vector<double> equal{0.1, 0.1, 0.1};
  for (double x : normalize(equal, Direction::kHigherIsBetter, NormalizationMethod::kZScore)) EXPECT_EQ(x, 0.0);
}

TEST(Normalize, UnitScaleDoesNotMatter) {
  const std::vector<double> v{2, 4, 8, 5.5};
  for (auto method :
       {NormalizationMethod::kRatioToBaseline, NormalizationMethod::kMinMax, NormalizationMethod::kZScore}) {
    for (auto direction : {Direction::kHigherIsBetter, Direction::kLowerIsBetter}) {
      const auto base = normalize(v, direction, method, 1);
      for (double c : {0.001, 7.0, 1e6}) {
        std::vector<double> scaled = v;
        for (double& x : scaled) x *= c;
        const auto out = normalize(scaled, direction, method, 1);
        for (std::size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(out[i], base[i], 1e-12);
      }
    }
  }
}

TEST(Normalize, Errors) {
  const std::vector<double> v{0, 4, 8};
  EXPECT_FALSE(ratio_defined(v, Direction::kLowerIsBetter, 1));  // 4 / 0
  EXPECT_TRUE(ratio_defined(v, Direction::kHigherIsBetter, 1));
  EXPECT_FALSE(ratio_defined(v, Direction::kHigherIsBetter, 0));  // x / 0
  error_message([&] { normalize(v, Direction::kLowerIsBetter, NormalizationMethod::kRatioToBaseline, 1); });
  error_message([&] { normalize(v, Direction::kHigherIsBetter, NormalizationMethod::kRatioToBaseline); });
  error_message([] { normalize(std::vector<double>{}, Direction::kHigherIsBetter, NormalizationMethod::kMinMax); });
  EXPECT_EQ(parse_normalization("zscore"), NormalizationMethod::kZScore);
  for (auto method :
       {NormalizationMethod::kRatioToBaseline, NormalizationMethod::kMinMax, NormalizationMethod::kZScore}) {
    EXPECT_EQ(parse_normalization(to_string(method)), method);
  }
  EXPECT_EQ(parse_normalization("min-max"), NormalizationMethod::kMinMax);
  EXPECT_TRUE(contains(error_message([] { parse_normalization("log"); }), "ratio, min-max, z-score"));
}

// ---------------------------------------------------------------------------------------------
// McNemar

// Paired outcomes with b items right only for the baseline, c right only for the variant, and
// `both` right for both (concordant pairs do not enter the test).
void outcomes(int b, int c, int both, std::vector<bool>& baseline, std::vector<bool>& variant) {
  baseline.clear();
  variant.clear();
  for (int i = 0; i < b; ++i) baseline.push_back(true), variant.push_back(false);
  for (int i = 0; i < c; ++i) baseline.push_back(false), variant.push_back(true);
  for (int i = 0; i < both; ++i) baseline.push_back(true), variant.push_back(true);
  baseline.push_back(false), variant.push_back(false);
}

TEST(McNemar, ExactSmall) {
  std::vector<bool> base, var;
  outcomes(3, 0, 5, base, var);
  const auto r = mcnemar(base, var);
  EXPECT_EQ(r.baseline_only, 3);
  EXPECT_EQ(r.variant_only, 0);
  EXPECT_TRUE(r.exact);
  EXPECT_NEAR(r.p_value, 0.25, 1e-15);  // 2 * (1/2)^3
}

TEST(McNemar, ExactTwelve) {
  std::vector<bool> base, var;
  outcomes(10, 2, 20, base, var);
  const auto r = mcnemar(base, var);
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(r.statistic, 2);
  // 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * (1 + 12 + 66) / 4096 = 158 / 4096
  EXPECT_NEAR(r.p_value, 0.03857421875, 1e-15);
  // Symmetric in b and c.
  EXPECT_NEAR(mcnemar(var, base).p_value, 0.03857421875, 1e-15);
}

TEST(McNemar, ExactCappedAtOne) {
  std::vector<bool> base, var;
  outcomes(5, 5, 0, base, var);
  // 2 * P[X <= 5], X ~ Bin(10, 1/2) = 2 * 638/1024 > 1 -> 1
  EXPECT_EQ(mcnemar(base, var).p_value, 1.0);
}

TEST(McNemar, ChiSquareLarge) {
  std::vector<bool> base, var;
  outcomes(30, 15, 100, base, var);
  const auto r = mcnemar(base, var);
  EXPECT_FALSE(r.exact);
  // (|30 - 15| - 1)^2 / 45 = 196 / 45 = 4.3555...; p = erfc(sqrt(4.3555.../2)) = 0.036888425707...
  EXPECT_NEAR(r.statistic, 196.0 / 45.0, 1e-12);
  EXPECT_NEAR(r.p_value, 0.03688842570704985, 1e-12);
}

TEST(McNemar, ChiSquareAtTheBoundary) {
  std::vector<bool> base, var;
  outcomes(20, 5, 0, base, var);  // b + c = 25: no longer exact
  const auto r = mcnemar(base, var);
  EXPECT_FALSE(r.exact);
  // (15 - 1)^2 / 25 = 7.84; erfc(sqrt(3.92)) = 0.0051102606608...
  EXPECT_NEAR(r.statistic, 7.84, 1e-12);
  EXPECT_NEAR(r.p_value, 0.005110260660855864, 1e-12);
}

TEST(McNemar, EqualDiscordantCountsGiveOne) {
  std::vector<bool> base, var;
  outcomes(15, 15, 3, base, var);
  EXPECT_EQ(mcnemar(base, var).p_value, 1.0);  // no correction when b == c, as R does
}

TEST(McNemar, NoDiscordantPairs) {
  const std::vector<bool> same{true, false, true};
  const auto r = mcnemar(same, same);
  EXPECT_EQ(r.p_value, 1.0);
  EXPECT_EQ(r.baseline_only + r.variant_only, 0);
  EXPECT_EQ(mcnemar({}, {}).p_value, 1.0);
}

TEST(McNemar, LengthMismatchThrows) {
  const auto message = error_message([] { mcnemar({true, false}, {true}); });
  EXPECT_TRUE(contains(message, "2")) << message;
}

// ---------------------------------------------------------------------------------------------
// Paired bootstrap

TEST(PairedBootstrap, ConstantDifference) {
  const std::vector<double> base{1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<double> var = base;
  for (double& x : var) x += 0.5;
  const auto r = paired_bootstrap(base, var, 500, 1);
  EXPECT_DOUBLE_EQ(r.mean_difference, 0.5);
  EXPECT_DOUBLE_EQ(r.ci_low, 0.5);
  EXPECT_DOUBLE_EQ(r.ci_high, 0.5);
  EXPECT_EQ(r.p_value, 0.0);  // no resampled mean <= 0
}

TEST(PairedBootstrap, IdenticalInputs) {
  const std::vector<double> base{1.5, 2.25, 3, 0.75};
  const auto r = paired_bootstrap(base, base, 300, 9);
  EXPECT_EQ(r.mean_difference, 0.0);
  EXPECT_EQ(r.ci_low, 0.0);
  EXPECT_EQ(r.ci_high, 0.0);
  EXPECT_EQ(r.p_value, 1.0);  // 2 * min(1, 1), capped
}

TEST(PairedBootstrap, HandMean) {
  // differences 0.5, 0, 1 -> mean 0.5; every resampled mean lies within [0, 1]
  const auto r = paired_bootstrap({1, 2, 3}, {1.5, 2, 4}, 2000, 3);
  EXPECT_DOUBLE_EQ(r.mean_difference, 0.5);
  EXPECT_GE(r.ci_low, 0.0);
  EXPECT_LE(r.ci_high, 1.0);
  EXPECT_LT(r.ci_low, 0.5);
  EXPECT_GT(r.ci_high, 0.5);
  // A resampled mean is <= 0 only when all three draws hit the 0: (1/3)^3 = 1/27, so p is about 2/27.
  EXPECT_NEAR(r.p_value, 2.0 / 27, 0.03);
}

TEST(PairedBootstrap, SeededReproducible) {
  std::mt19937 gen(5);
  std::normal_distribution<double> noise(0, 1);
  std::vector<double> base(50), var(50);
  for (std::size_t i = 0; i < base.size(); ++i) base[i] = noise(gen), var[i] = base[i] + 0.1 + noise(gen);
  const auto a = paired_bootstrap(base, var, 400, 77);
  const auto b = paired_bootstrap(base, var, 400, 77);
  EXPECT_EQ(a.ci_low, b.ci_low);
  EXPECT_EQ(a.ci_high, b.ci_high);
  EXPECT_EQ(a.p_value, b.p_value);
  const auto c = paired_bootstrap(base, var, 400, 78);
  EXPECT_TRUE(a.ci_low != c.ci_low || a.ci_high != c.ci_high);
}

TEST(PairedBootstrap, Errors) {
  error_message([] { paired_bootstrap({1, 2}, {1}, 10, 1); });
  error_message([] { paired_bootstrap({}, {}, 10, 1); });
  error_message([] { paired_bootstrap({1}, {2}, 0, 1); });
}

// ---------------------------------------------------------------------------------------------
// Profiles

TEST(Profile, ParseConstraint) {
  const auto c = parse_constraint("ttft_p99_ms <= 200");
  EXPECT_EQ(c.metric, "ttft_p99_ms");
  EXPECT_EQ(c.op, Comparison::kLessEqual);
  EXPECT_EQ(c.threshold, 200);
  EXPECT_EQ(c.text, "ttft_p99_ms <= 200");

  const auto r = parse_constraint("gsm8k.exact_match_strict.retention >= 0.99");
  EXPECT_EQ(r.metric, "gsm8k.exact_match_strict.retention");
  EXPECT_EQ(r.op, Comparison::kGreaterEqual);
  EXPECT_DOUBLE_EQ(r.threshold, 0.99);

  const auto k = parse_constraint("kld_mean<0.05");
  EXPECT_EQ(k.op, Comparison::kLess);
  EXPECT_DOUBLE_EQ(k.threshold, 0.05);
  EXPECT_EQ(parse_constraint(" decode_tps > 1e2 ").op, Comparison::kGreater);
  EXPECT_EQ(parse_constraint("decode_tps > 1e2").threshold, 100);
  EXPECT_EQ(parse_constraint("ln_ppl_ratio <= -0.5").threshold, -0.5);
}

TEST(Profile, ParseConstraintErrors) {
  const auto unknown = error_message([] { parse_constraint("ttft_p98_ms <= 200"); });
  EXPECT_TRUE(contains(unknown, "ttft_p98_ms <= 200")) << unknown;
  EXPECT_TRUE(contains(unknown, "unknown metric")) << unknown;

  for (const char* bad_op : {"ttft_ms == 200", "ttft_ms = 200", "ttft_ms => 200", "ttft_ms << 200", "ttft_ms <> 200",
                             "ttft_ms < = 200", "ttft_ms != 200"}) {
    const auto message = error_message([&] { parse_constraint(bad_op); });
    EXPECT_TRUE(contains(message, bad_op)) << message;
    EXPECT_TRUE(contains(message, "operator")) << message;
  }
  for (const char* bad_number :
       {"ttft_ms <= 2OO", "ttft_ms <= ", "ttft_ms <= 200ms", "ttft_ms <= nan", "ttft_ms <= inf"}) {
    const auto message = error_message([&] { parse_constraint(bad_number); });
    EXPECT_TRUE(contains(message, bad_number)) << message;
  }
  EXPECT_TRUE(contains(error_message([] { parse_constraint("ttft_ms <= 2OO"); }), "not a number"));
  error_message([] { parse_constraint("<= 5"); });
}

TEST(Profile, Validate) {
  Profile p;
  p.name = "mine";
  p.weights = {{"decode_tps", 1}, {"no_such_metric", 1}};
  auto message = error_message([&] { validate(p); });
  EXPECT_TRUE(contains(message, "no_such_metric")) << message;

  p.weights = {{"decode_tps", 1}, {"ttft_ms", -0.5}};
  message = error_message([&] { validate(p); });
  EXPECT_TRUE(contains(message, "ttft_ms")) << message;

  p.weights = {{"decode_tps", 0}, {"ttft_ms", 0}};
  message = error_message([&] { validate(p); });
  EXPECT_TRUE(contains(message, "mine")) << message;
  EXPECT_TRUE(contains(message, "sum")) << message;

  p.weights = {{"decode_tps", 1}};
  EXPECT_NO_THROW(validate(p));
}

TEST(Profile, Builtins) {
  const auto names = builtin_profile_names();
  EXPECT_EQ(names, (std::vector<std::string>{"interactive", "batch-throughput", "edge", "quality-critical", "serving",
                                             "throughput-per-device"}));
  for (const auto& name : names) {
    const Profile& p = builtin_profile(name);
    EXPECT_EQ(p.name, name);
    EXPECT_NO_THROW(validate(p));
    double sum = 0;
    for (const auto& [metric, weight] : p.weights) sum += weight;
    EXPECT_NEAR(sum, 1.0, 1e-12) << name;
  }
  EXPECT_EQ(builtin_profile("quality-critical").constraints.at(0).text, "kld_mean <= 0.05");
  const auto message = error_message([] { builtin_profile("fastest"); });
  for (const auto& name : names) EXPECT_TRUE(contains(message, name)) << message;
  EXPECT_TRUE(contains(message, "fastest")) << message;
}

TEST(Profile, FromJson) {
  const auto p = profile_from_json(nlohmann::json::parse(
      R"({"name": "phone", "base": "edge", "constraints": ["peak_memory_gib <= 4"], "normalization": "minmax"})"));
  EXPECT_EQ(p.name, "phone");
  EXPECT_EQ(p.weights, builtin_profile("edge").weights);
  EXPECT_EQ(p.constraints.size(), builtin_profile("edge").constraints.size() + 1);
  EXPECT_EQ(p.normalization, NormalizationMethod::kMinMax);
  EXPECT_EQ(profile_from_json(to_json(p)).weights, p.weights);
  error_message([] { profile_from_json(nlohmann::json::parse(R"({"weights": {"speed": 1}})")); });
  error_message([] { profile_from_json(nlohmann::json::parse(R"({"weights": {"decode_tps": "a lot"}})")); });
}

// ---------------------------------------------------------------------------------------------
// decide() on hand examples

Variant make_variant(const std::string& name, std::map<std::string, std::vector<double>> metrics,
                     bool baseline = false) {
  Variant v;
  v.name = name;
  v.is_baseline = baseline;
  for (auto& [metric, samples] : metrics) v.metrics[metric].samples = samples;
  return v;
}

Profile two_metric_profile() {
  Profile p;
  p.name = "two";
  p.weights = {{"decode_tps", 0.5}, {"same_top_rate", 0.5}};
  return p;
}

// A (baseline): decode 10, top 1.0 -> normalized (1, 1), U = 1
// B:            decode 20, top 0.8 -> (2, 0.8),  U = 1.4
// C:            decode 15, top 0.95 -> (1.5, 0.95), U = 1.225
std::vector<Variant> three_variants() {
  return {make_variant("A", {{"decode_tps", {10}}, {"same_top_rate", {1.0}}}, true),
          make_variant("B", {{"decode_tps", {20}}, {"same_top_rate", {0.8}}}),
          make_variant("C", {{"decode_tps", {15}}, {"same_top_rate", {0.95}}})};
}

TEST(Decide, UtilitiesOnHandExample) {
  const Decision d = decide(three_variants(), two_metric_profile(), {100, 1});
  ASSERT_EQ(d.ranking.size(), 3u);
  EXPECT_EQ(d.ranking[0].name, "B");
  EXPECT_EQ(d.ranking[1].name, "C");
  EXPECT_EQ(d.ranking[2].name, "A");
  EXPECT_NEAR(d.ranking[0].utility, 1.4, 1e-12);
  EXPECT_NEAR(d.ranking[1].utility, 1.225, 1e-12);
  EXPECT_NEAR(d.ranking[2].utility, 1.0, 1e-12);
  // One value per metric: every resample is the same, so B always wins and the interval is a point.
  EXPECT_EQ(d.ranking[0].win_probability, 1.0);
  EXPECT_NEAR(d.ranking[0].utility_low, 1.4, 1e-12);
  EXPECT_NEAR(d.ranking[0].utility_high, 1.4, 1e-12);
  EXPECT_EQ(d.recommended, "B");
  // Nobody dominates: B is fastest, A most faithful, C between on both.
  for (const auto& r : d.ranking) EXPECT_TRUE(r.on_pareto_front) << r.name;
  EXPECT_TRUE(contains(d.explanation, "B")) << d.explanation;
}

TEST(Decide, SensitivityMakesTheRunnerUpTie) {
  const Decision d = decide(three_variants(), two_metric_profile(), {50, 1});
  ASSERT_EQ(d.sensitivity.size(), 2u);
  const Sensitivity& s = d.sensitivity[0];
  EXPECT_EQ(s.winner, "B");
  EXPECT_EQ(s.runner_up, "C");
  EXPECT_TRUE(s.exists);
  EXPECT_EQ(s.from_metric, "decode_tps");
  EXPECT_EQ(s.to_metric, "same_top_rate");
  // gap 1.4 - 1.225 = 0.175; d = (2 - 1.5, 0.8 - 0.95) = (0.5, -0.15); t = 0.175 / 0.65
  EXPECT_NEAR(s.weight_shift, 0.175 / 0.65, 1e-12);
  // Against A: gap 0.4, d = (1, -0.2), t = 0.4 / 1.2
  EXPECT_EQ(d.sensitivity[1].runner_up, "A");
  EXPECT_NEAR(d.sensitivity[1].weight_shift, 0.4 / 1.2, 1e-12);

  // Apply the shift (weights already sum to 1): C then ties with B.
  Profile shifted = two_metric_profile();
  shifted.weights["decode_tps"] -= s.weight_shift;
  shifted.weights["same_top_rate"] += s.weight_shift;
  const Decision after = decide(three_variants(), shifted, {50, 1});
  std::map<std::string, double> utility;
  for (const auto& r : after.ranking) utility[r.name] = r.utility;
  EXPECT_NEAR(utility["C"], utility["B"], 1e-12);  // both 1.0769...
  EXPECT_NEAR(utility["B"], 14.0 / 13, 1e-12);     // (0.5 - 0.175/0.65) * 2 + (0.5 + 0.175/0.65) * 0.8
  // A shift a little larger makes C win outright.
  shifted.weights["decode_tps"] -= 0.01;
  shifted.weights["same_top_rate"] += 0.01;
  EXPECT_EQ(decide(three_variants(), shifted, {50, 1}).recommended, "C");
}

TEST(Decide, SensitivityLimitedByTheWeightAvailable) {
  // Winner W is better on x only; runner-up R on y only. Gap needs more weight moved than x has.
  Profile p;
  p.name = "p";
  p.weights = {{"decode_tps", 0.9}, {"same_top_rate", 0.1}};
  p.normalization = NormalizationMethod::kMinMax;
  const std::vector<Variant> variants = {make_variant("W", {{"decode_tps", {10}}, {"same_top_rate", {0.5}}}),
                                         make_variant("R", {{"decode_tps", {8}}, {"same_top_rate", {0.6}}}),
                                         make_variant("Z", {{"decode_tps", {0}}, {"same_top_rate", {0.0}}})};
  // Normalized (min-max): W (1, 5/6), R (0.8, 1), Z (0, 0); U_W = 0.9 + 0.1 * 5/6, U_R = 0.72 + 0.1
  const Decision d = decide(variants, p, {20, 1});
  EXPECT_EQ(d.recommended, "W");
  ASSERT_GE(d.sensitivity.size(), 2u);
  EXPECT_TRUE(d.sensitivity[0].exists);
  // gap 0.98333 - 0.82 = 0.163333; d = (0.2, -1/6); t = 0.163333 / (0.2 + 1/6) = 0.445454...
  EXPECT_NEAR(d.sensitivity[0].weight_shift, (0.9 + 0.1 * 5 / 6 - 0.82) / (0.2 + 1.0 / 6), 1e-12);
  EXPECT_LE(d.sensitivity[0].weight_shift, 0.9);
  // Z is worse on both metrics: no transfer between them can lift it.
  EXPECT_EQ(d.sensitivity[1].runner_up, "Z");
  EXPECT_FALSE(d.sensitivity[1].exists);
  EXPECT_EQ(d.ranking[2].dominated_by, (std::vector<std::string>{"W", "R"}));
  EXPECT_FALSE(d.ranking[2].on_pareto_front);
}

TEST(Decide, InfeasibleListedLastWithViolations) {
  Profile p = two_metric_profile();
  p.constraints = {parse_constraint("same_top_rate >= 0.9"), parse_constraint("decode_tps <= 18")};
  const Decision d = decide(three_variants(), p, {50, 1});
  ASSERT_EQ(d.ranking.size(), 3u);
  EXPECT_EQ(d.ranking[0].name, "C");
  EXPECT_EQ(d.ranking[1].name, "A");
  EXPECT_EQ(d.ranking[2].name, "B");
  EXPECT_TRUE(d.ranking[0].feasible);
  EXPECT_TRUE(d.ranking[1].feasible);
  EXPECT_FALSE(d.ranking[2].feasible);
  EXPECT_EQ(d.recommended, "C");
  const auto& v = d.ranking[2].violations;
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].constraint, "same_top_rate >= 0.9");
  EXPECT_DOUBLE_EQ(v[0].value, 0.8);
  EXPECT_DOUBLE_EQ(v[0].threshold, 0.9);
  EXPECT_NEAR(v[0].by, 0.1, 1e-12);
  EXPECT_EQ(v[1].constraint, "decode_tps <= 18");
  EXPECT_NEAR(v[1].by, 2, 1e-12);
  EXPECT_EQ(d.ranking[2].win_probability, 0.0);
  EXPECT_EQ(d.ranking[0].win_probability, 1.0);
  // Sensitivity only among feasible variants.
  ASSERT_EQ(d.sensitivity.size(), 1u);
  EXPECT_EQ(d.sensitivity[0].runner_up, "A");
  EXPECT_TRUE(contains(d.explanation, "Recommended for profile \"two\": C")) << d.explanation;
  EXPECT_TRUE(contains(d.explanation, "Infeasible: B")) << d.explanation;
  EXPECT_TRUE(contains(d.explanation, "same_top_rate >= 0.9")) << d.explanation;
}

TEST(Decide, NoFeasibleVariant) {
  Profile p = two_metric_profile();
  p.constraints = {parse_constraint("decode_tps > 100")};
  const Decision d = decide(three_variants(), p, {20, 1});
  EXPECT_FALSE(d.recommended);
  EXPECT_TRUE(d.sensitivity.empty());
  for (const auto& r : d.ranking) {
    EXPECT_FALSE(r.feasible);
    EXPECT_EQ(r.win_probability, 0.0);
  }
  EXPECT_TRUE(contains(d.explanation, "none is recommended")) << d.explanation;
}

TEST(Decide, PessimisticEndForUnstableMetrics) {
  // Samples 8..12: mean 10, sd sqrt(2.5), sem sqrt(0.5); t(0.975, 4) = 2.776445105
  // lower end 10 - 2.776445105 * 0.707106781 = 8.036756
  std::vector<Variant> variants = {make_variant("base", {{"decode_tps", {10}}}, true),
                                   make_variant("noisy", {{"decode_tps", {8, 9, 10, 11, 12}}})};
  variants[1].metrics["decode_tps"].unstable = true;
  Profile p;
  p.name = "speed";
  p.weights = {{"decode_tps", 1}};
  Decision d = decide(variants, p, {200, 4});
  std::map<std::string, const RankedVariant*> by_name;
  for (const auto& r : d.ranking) by_name[r.name] = &r;
  EXPECT_NEAR(by_name["noisy"]->values.at("decode_tps"), 8.036756, 1e-5);
  EXPECT_NEAR(by_name["noisy"]->utility, 0.8036756, 1e-6);
  ASSERT_EQ(by_name["noisy"]->notes.size(), 1u);
  EXPECT_TRUE(contains(by_name["noisy"]->notes[0], "decode_tps unstable")) << by_name["noisy"]->notes[0];
  EXPECT_EQ(d.recommended, "base");

  p.pessimistic = false;
  d = decide(variants, p, {200, 4});
  for (const auto& r : d.ranking) by_name[r.name] = &r;
  EXPECT_NEAR(by_name["noisy"]->values.at("decode_tps"), 10.0, 1e-12);

  // Two samples: the t interval reaches below 0; the estimate stays at the smallest sample.
  variants[1].metrics["decode_tps"].samples = {5, 15};
  p.pessimistic = true;
  d = decide(variants, p, {200, 4});
  for (const auto& r : d.ranking) by_name[r.name] = &r;
  EXPECT_EQ(by_name["noisy"]->values.at("decode_tps"), 5.0);
}

TEST(Decide, UnstableLatencyUsesUpperEnd) {
  std::vector<Variant> variants = {make_variant("base", {{"ttft_ms", {100}}}, true),
                                   make_variant("noisy", {{"ttft_ms", {80, 90, 100, 110, 120}}})};
  variants[1].metrics["ttft_ms"].unstable = true;
  Profile p;
  p.name = "latency";
  p.weights = {{"ttft_ms", 1}};
  const Decision d = decide(variants, p, {100, 4});
  for (const auto& r : d.ranking) {
    // 100 + 2.776445105 * sqrt(250/5) = 119.632439
    if (r.name == "noisy") {
      EXPECT_NEAR(r.values.at("ttft_ms"), 119.632439, 1e-5);
    }
  }
}

TEST(Decide, RetentionAndFallbackNormalization) {
  std::vector<Variant> variants = {
      make_variant("F16", {{"gsm8k.exact_match_strict", {0.5}}, {"kld_mean", {0}}, {"decode_tps", {10}}}, true),
      make_variant("Q8", {{"gsm8k.exact_match_strict", {0.49}}, {"kld_mean", {0.01}}, {"decode_tps", {18}}}),
      make_variant("Q4", {{"gsm8k.exact_match_strict", {0.45}}, {"kld_mean", {0.05}}, {"decode_tps", {30}}})};
  Profile p;
  p.name = "q";
  p.weights = {{"kld_mean", 1}, {"decode_tps", 1}};
  p.constraints = {parse_constraint("gsm8k.exact_match_strict.retention >= 0.95")};
  const Decision d = decide(variants, p, {50, 1});
  // kld_mean's baseline is 0: min-max instead of a ratio, with a note.
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_TRUE(contains(d.notes[0], "kld_mean")) << d.notes[0];
  const RankedVariant& last = d.ranking.back();
  EXPECT_EQ(last.name, "Q4");
  EXPECT_FALSE(last.feasible);
  ASSERT_EQ(last.violations.size(), 1u);
  EXPECT_NEAR(last.violations[0].value, 0.9, 1e-12);  // 0.45 / 0.5
  EXPECT_NEAR(last.violations[0].by, 0.05, 1e-12);
  // Q8: kld min-max (0.05 - 0.01) / 0.05 = 0.8, decode 18 / 10 = 1.8 -> U = 1.3
  EXPECT_EQ(d.ranking[0].name, "Q8");
  EXPECT_NEAR(d.ranking[0].utility, 1.3, 1e-12);
  EXPECT_NEAR(d.ranking[0].normalized.at("kld_mean"), 0.8, 1e-12);
}

TEST(Decide, SignificanceAgainstTheBaseline) {
  std::vector<Variant> variants = three_variants();
  variants[0].item_correct["gsm8k"] = {true, true, true, true, false};
  variants[1].item_correct["gsm8k"] = {false, false, false, true, false};
  variants[0].chunk_values["nll"] = {2.0, 2.1, 2.2, 2.3};
  variants[1].chunk_values["nll"] = {2.5, 2.6, 2.7, 2.8};
  const Decision d = decide(variants, two_metric_profile(), {200, 1});
  const RankedVariant& b = d.ranking[0];
  ASSERT_EQ(b.name, "B");
  ASSERT_EQ(b.vs_baseline.size(), 2u);
  EXPECT_EQ(b.vs_baseline[0].test, "mcnemar");
  EXPECT_NEAR(b.vs_baseline[0].difference, -0.6, 1e-12);  // 3 of 5 items lost
  EXPECT_NEAR(b.vs_baseline[0].p_value, 0.25, 1e-12);     // b = 3, c = 0
  EXPECT_EQ(b.vs_baseline[1].test, "paired_bootstrap");
  EXPECT_NEAR(b.vs_baseline[1].difference, 0.5, 1e-12);
  EXPECT_EQ(b.vs_baseline[1].p_value, 0.0);
  EXPECT_TRUE(contains(d.explanation, "McNemar")) << d.explanation;
  EXPECT_TRUE(d.ranking[2].vs_baseline.empty());  // A is the baseline

  variants[1].item_correct["gsm8k"].pop_back();
  const auto message = error_message([&] { decide(variants, two_metric_profile(), {20, 1}); });
  EXPECT_TRUE(contains(message, "gsm8k")) << message;
}

TEST(Decide, Errors) {
  const Profile p = two_metric_profile();
  auto variants = three_variants();
  variants[2].metrics.erase("same_top_rate");
  auto message = error_message([&] { decide(variants, p, {}); });
  EXPECT_TRUE(contains(message, "\"C\"")) << message;
  EXPECT_TRUE(contains(message, "same_top_rate")) << message;

  variants = three_variants();
  variants[1].is_baseline = true;
  EXPECT_TRUE(contains(error_message([&] { decide(variants, p, {}); }), "baseline"));

  variants = three_variants();
  variants[0].is_baseline = false;
  message = error_message([&] { decide(variants, p, {}); });
  EXPECT_TRUE(contains(message, "ratio")) << message;
  Profile minmax = p;
  minmax.normalization = NormalizationMethod::kMinMax;
  EXPECT_NO_THROW(decide(variants, minmax, {20, 1}));

  variants = three_variants();
  variants[2].name = "B";
  EXPECT_TRUE(contains(error_message([&] { decide(variants, p, {}); }), "\"B\""));
  error_message([&] { decide({}, p, {}); });
  error_message([&] { decide(three_variants(), p, {0, 1}); });
  variants = three_variants();
  variants[1].metrics["decode_tps"].samples = {NAN};
  error_message([&] { decide(variants, p, {}); });
}

TEST(Decide, BuiltinProfilesRunOnACompleteStudy) {
  std::vector<Variant> variants;
  const std::vector<std::string> names = {"F16", "Q8_0", "Q4_K_M", "Q2_K"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double f = static_cast<double>(i);
    Variant v = make_variant(names[i],
                             {{"prefill_tps", {500 + 100 * f, 510 + 100 * f, 490 + 100 * f}},
                              {"decode_tps", {20 + 10 * f, 21 + 10 * f, 19 + 10 * f}},
                              {"ttft_ms", {200 - 30 * f, 205 - 30 * f}},
                              {"itl_p99_ms", {60 - 10 * f}},
                              {"peak_memory_gib", {14 / (1 + f)}},
                              {"file_size_gib", {13 / (1 + f)}},
                              {"same_top_rate", {1 - 0.04 * f * f}},
                              {"kld_mean", {0.01 * f * f * f}},
                              {"ppl", {6 + 0.1 * f * f}},
                              {"gsm8k.exact_match_strict", {0.5 - 0.02 * f * f}},
                              {"hellaswag.acc", {0.7 - 0.01 * f * f}},
                              {"goodput_rps", {2 + 0.5 * f}},
                              {"slo_attainment", {1.0}},
                              {"max_concurrency_at_slo", {4 + 2 * f}},
                              {"tokens_per_s_per_device", {20 + 10 * f, 21 + 10 * f, 19 + 10 * f}},
                              {"device_memory_gib_total", {14 / (1 + f)}}},
                             i == 0);
    variants.push_back(v);
  }
  for (const auto& name : builtin_profile_names()) {
    const Decision d = decide(variants, builtin_profile(name), {200, 42});
    ASSERT_TRUE(d.recommended) << name;
    EXPECT_TRUE(contains(d.explanation, *d.recommended)) << d.explanation;
    // Q2_K: kld 0.27 breaks every profile's KLD ceiling.
    EXPECT_EQ(d.ranking.back().name, "Q2_K") << name;
    EXPECT_FALSE(d.ranking.back().feasible) << name;
    double total = 0;
    for (const auto& r : d.ranking) total += r.win_probability;
    EXPECT_NEAR(total, 1.0, 1e-9) << name;
    const auto json = to_json(d);
    EXPECT_EQ(json.at("recommended"), *d.recommended);
    EXPECT_EQ(json.at("ranking").size(), names.size());
  }
}

// ---------------------------------------------------------------------------------------------
// Properties over random studies

struct RandomStudy {
  std::vector<Variant> variants;
  Profile profile;
  std::vector<std::string> raw;  // measured metric names
};

const std::vector<std::string> kPool = {"decode_tps",
                                        "prefill_tps",
                                        "ttft_ms",
                                        "peak_memory_gib",
                                        "kld_mean",
                                        "same_top_rate",
                                        "gsm8k.exact_match_strict",
                                        "decode_tps.retention"};

double uniform(std::mt19937& rng, double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(rng()) / 4294967296.0;
}

int uniform_int(std::mt19937& rng, int lo, int hi) {
  return lo + static_cast<int>(rng() % static_cast<uint32_t>(hi - lo + 1));
}

std::string raw_of(const std::string& metric) {
  const std::string base = retention_base(metric);
  return base.empty() ? metric : base;
}

// Direction-consistent constraints ("at least" for higher-is-better) unless `any_direction`.
RandomStudy random_study(std::mt19937& rng, NormalizationMethod method, bool any_direction = false) {
  RandomStudy s;
  const int n_variants = uniform_int(rng, 3, 6);
  std::vector<std::string> pool = kPool;
  std::shuffle(pool.begin(), pool.end(), rng);
  const int n_metrics = uniform_int(rng, 2, 5);
  s.profile.name = "random";
  s.profile.normalization = method;
  s.profile.pessimistic = rng() % 2 == 0;
  for (int k = 0; k < n_metrics; ++k) {
    s.profile.weights[pool[static_cast<std::size_t>(k)]] = uniform(rng, 0.05, 1.0);
    const std::string raw = raw_of(pool[static_cast<std::size_t>(k)]);
    if (std::find(s.raw.begin(), s.raw.end(), raw) == s.raw.end()) s.raw.push_back(raw);
  }
  const bool zero_kld_baseline = rng() % 2 == 0;
  for (int v = 0; v < n_variants; ++v) {
    Variant variant;
    variant.name = "V" + std::to_string(v);
    variant.is_baseline = v == 0;
    for (const auto& raw : s.raw) {
      MetricValue m;
      const double centre = uniform(rng, 0.5, 100);
      const int n = uniform_int(rng, 1, 6);
      for (int i = 0; i < n; ++i) m.samples.push_back(centre * uniform(rng, 0.9, 1.1));
      if (raw == "kld_mean" && v == 0 && zero_kld_baseline) m.samples.assign(m.samples.size(), 0.0);
      m.unstable = rng() % 3 == 0;
      variant.metrics[raw] = m;
    }
    s.variants.push_back(variant);
  }
  const int n_constraints = uniform_int(rng, 0, 2);
  for (int c = 0; c < n_constraints; ++c) {
    const std::string& metric = pool[static_cast<std::size_t>(uniform_int(rng, 0, n_metrics - 1))];
    const bool higher = find_metric(metric)->direction == Direction::kHigherIsBetter;
    const bool at_least = any_direction ? rng() % 2 == 0 : higher;
    const double threshold = retention_base(metric).empty() ? uniform(rng, 10, 90) : uniform(rng, 0.2, 2.0);
    Constraint constraint{metric, at_least ? Comparison::kGreaterEqual : Comparison::kLessEqual, threshold,
                          metric + (at_least ? " >= " : " <= ") + std::to_string(threshold)};
    s.profile.constraints.push_back(constraint);
  }
  return s;
}

std::vector<std::string> order_of(const Decision& d) {
  std::vector<std::string> names;
  for (const auto& r : d.ranking) names.push_back(r.name);
  return names;
}

constexpr NormalizationMethod kMethods[] = {NormalizationMethod::kRatioToBaseline, NormalizationMethod::kMinMax,
                                            NormalizationMethod::kZScore};

TEST(Properties, UnitScaleDoesNotChangeTheRanking) {
  std::mt19937 rng(2024);
  for (int study = 0; study < 200; ++study) {
    for (auto method : kMethods) {
      const RandomStudy s = random_study(rng, method);
      const Decision base = decide(s.variants, s.profile, {30, 7});
      for (double c : {0.001, 7.0, 1e6}) {
        const std::string& scaled_metric = s.raw[static_cast<std::size_t>(rng() % s.raw.size())];
        RandomStudy t = s;
        for (auto& v : t.variants) {
          for (double& x : v.metrics[scaled_metric].samples) x *= c;
        }
        // Constraints are written in the metric's unit, so they change unit with it.
        for (auto& constraint : t.profile.constraints) {
          if (constraint.metric == scaled_metric) constraint.threshold *= c;
        }
        const Decision scaled = decide(t.variants, t.profile, {30, 7});
        ASSERT_EQ(order_of(scaled), order_of(base))
            << "study " << study << ", " << to_string(method) << ", " << scaled_metric << " x " << c;
        ASSERT_EQ(scaled.recommended, base.recommended);
        for (std::size_t i = 0; i < base.ranking.size(); ++i) {
          EXPECT_NEAR(scaled.ranking[i].utility, base.ranking[i].utility,
                      1e-9 * (1 + std::abs(base.ranking[i].utility)));
        }
      }
    }
  }
}

TEST(Properties, ADominatingVariantIsNeverRankedBelow) {
  std::mt19937 rng(99);
  for (int study = 0; study < 200; ++study) {
    for (auto method : kMethods) {
      RandomStudy s = random_study(rng, method);
      const std::size_t pick = rng() % s.variants.size();
      Variant better = s.variants[pick];
      better.name += "+";
      better.is_baseline = false;
      std::vector<std::string> weighted;
      for (const auto& [metric, weight] : s.profile.weights) weighted.push_back(metric);
      const std::string raw = raw_of(weighted[rng() % weighted.size()]);
      const bool higher = find_metric(raw)->direction == Direction::kHigherIsBetter;
      for (double& x : better.metrics[raw].samples) x = higher ? x * 1.1 + 0.01 : x * 0.9 - 0.01;
      s.variants.push_back(better);
      const Decision d = decide(s.variants, s.profile, {30, 3});
      const auto order = order_of(d);
      const auto at = [&](const std::string& name) {
        return std::find(order.begin(), order.end(), name) - order.begin();
      };
      ASSERT_LT(at(better.name), at(s.variants[pick].name))
          << "study " << study << ", " << to_string(method) << ", " << raw << "\n"
          << d.explanation;
      for (const auto& r : d.ranking) {
        if (r.name == s.variants[pick].name) {
          EXPECT_NE(std::find(r.dominated_by.begin(), r.dominated_by.end(), better.name), r.dominated_by.end());
          EXPECT_FALSE(r.on_pareto_front);
        }
      }
    }
  }
}

TEST(Properties, TighteningAConstraintNeverAddsFeasibleVariants) {
  std::mt19937 rng(7);
  int tested = 0;
  for (int study = 0; study < 200; ++study) {
    for (auto method : kMethods) {
      const RandomStudy s = random_study(rng, method, /*any_direction=*/true);
      if (s.profile.constraints.empty()) continue;
      const Decision loose = decide(s.variants, s.profile, {10, 1});
      RandomStudy t = s;
      Constraint& c = t.profile.constraints[rng() % t.profile.constraints.size()];
      const double step = std::abs(c.threshold) * uniform(rng, 0.01, 0.5);
      c.threshold += c.op == Comparison::kGreaterEqual || c.op == Comparison::kGreater ? step : -step;
      const Decision tight = decide(t.variants, t.profile, {10, 1});
      std::map<std::string, bool> feasible_tight;
      for (const auto& r : tight.ranking) feasible_tight[r.name] = r.feasible;
      for (const auto& r : loose.ranking) {
        if (!r.feasible) {
          EXPECT_FALSE(feasible_tight[r.name]) << "study " << study << ": " << r.name;
        }
        ++tested;
      }
    }
  }
  EXPECT_GT(tested, 100);
}

TEST(Properties, SameSeedSameDecision) {
  std::mt19937 rng(11);
  for (int study = 0; study < 50; ++study) {
    for (auto method : kMethods) {
      const RandomStudy s = random_study(rng, method);
      const Decision a = decide(s.variants, s.profile, {100, 1234});
      const Decision b = decide(s.variants, s.profile, {100, 1234});
      ASSERT_EQ(a.ranking.size(), b.ranking.size());
      for (std::size_t i = 0; i < a.ranking.size(); ++i) {
        EXPECT_EQ(a.ranking[i].name, b.ranking[i].name);
        EXPECT_EQ(a.ranking[i].utility, b.ranking[i].utility);
        EXPECT_EQ(a.ranking[i].utility_low, b.ranking[i].utility_low);
        EXPECT_EQ(a.ranking[i].utility_high, b.ranking[i].utility_high);
        EXPECT_EQ(a.ranking[i].win_probability, b.ranking[i].win_probability);
      }
      EXPECT_EQ(a.explanation, b.explanation);
      EXPECT_EQ(to_json(a), to_json(b));
    }
  }
}

TEST(Properties, WinProbabilitiesAndIntervalsAreConsistent) {
  std::mt19937 rng(5);
  for (int study = 0; study < 100; ++study) {
    const RandomStudy s = random_study(rng, kMethods[study % 3]);
    const Decision d = decide(s.variants, s.profile, {50, 9});
    double total = 0;
    bool any_feasible = false;
    for (const auto& r : d.ranking) {
      EXPECT_LE(r.utility_low, r.utility_high);
      EXPECT_GE(r.win_probability, 0.0);
      if (!r.feasible) {
        EXPECT_EQ(r.win_probability, 0.0);
      }
      any_feasible = any_feasible || r.feasible;
      total += r.win_probability;
    }
    EXPECT_NEAR(total, any_feasible ? 1.0 : 0.0, 1e-9);
    // Feasible variants come first.
    bool seen_infeasible = false;
    for (const auto& r : d.ranking) {
      if (!r.feasible) seen_infeasible = true;
      EXPECT_FALSE(seen_infeasible && r.feasible);
    }
  }
}

}  // namespace
