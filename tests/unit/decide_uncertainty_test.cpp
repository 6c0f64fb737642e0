// The decision's bootstrap: record-based metrics resampled paired across variants, and ratio
// normalization to the baseline's central estimate (issue 22).

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "decide/decide.h"
#include "decide/model.h"
#include "decide/profile.h"

namespace {

using namespace uaqf::decide;

MetricValue items(const std::string& task, const std::vector<double>& correct) {
  MetricValue m;
  double sum = 0;
  for (double c : correct) sum += c;
  m.samples = {sum / static_cast<double>(correct.size())};
  m.records = MetricRecords{};
  m.records->set = "task:" + task;
  m.records->values = correct;
  return m;
}

std::map<std::string, const RankedVariant*> by_name(const Decision& d) {
  std::map<std::string, const RankedVariant*> out;
  for (const auto& r : d.ranking) out[r.name] = &r;
  return out;
}

// 200 items, about 60% right, the same for every variant (they answer alike).
std::vector<double> answers(uint32_t seed, std::size_t n = 200) {
  std::mt19937 rng(seed);
  std::vector<double> out(n);
  for (auto& x : out) x = rng() % 10 < 6 ? 1.0 : 0.0;
  return out;
}

std::vector<double> speed_samples(uint32_t seed, double mean, double sd, std::size_t n = 5) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(mean, sd);
  std::vector<double> out(n);
  for (auto& x : out) x = noise(rng);
  return out;
}

Profile accuracy_and_speed() {
  Profile p;
  p.name = "mixed";
  p.weights = {{"hellaswag.acc", 0.5}, {"decode_tps", 0.5}};
  return p;
}

TEST(Uncertainty, TwoIdenticalVariantsSplitTheWins) {
  const auto correct = answers(1);
  const auto speed = speed_samples(2, 50, 2);
  std::vector<Variant> variants(3);
  variants[0].name = "F16";
  variants[0].is_baseline = true;
  variants[0].metrics = {{"hellaswag.acc", items("hellaswag", answers(9))}, {"decode_tps", {speed_samples(3, 20, 1)}}};
  for (const char* name : {"A", "B"}) {
    Variant v;
    v.name = name;
    v.metrics = {{"hellaswag.acc", items("hellaswag", correct)}, {"decode_tps", {speed}}};
    variants[name[0] == 'A' ? 1 : 2] = v;
  }
  const Decision d = decide(variants, accuracy_and_speed(), {4000, 7});
  const auto r = by_name(d);
  EXPECT_GE(r.at("A")->win_probability, 0.45);
  EXPECT_LE(r.at("A")->win_probability, 0.55);
  EXPECT_GE(r.at("B")->win_probability, 0.45);
  EXPECT_LE(r.at("B")->win_probability, 0.55);
  // The accuracy varies with the items drawn: it has an interval over the 200 items, paired.
  const auto& interval = r.at("A")->metric_intervals.at("hellaswag.acc");
  EXPECT_EQ(interval.n, 200u);
  EXPECT_TRUE(interval.paired);
  EXPECT_EQ(interval.resampled, "task:hellaswag");
  EXPECT_LT(interval.low, r.at("A")->values.at("hellaswag.acc"));
  EXPECT_GT(interval.high, r.at("A")->values.at("hellaswag.acc"));
}

TEST(Uncertainty, NoisierBaselineSpeedLeavesOtherVariantsAlone) {
  // Baseline speed samples with the same mean, once tight and once spread (flagged unstable).
  const std::vector<double> tight{99, 100, 101, 100, 100};
  const std::vector<double> spread{80, 120, 90, 110, 100};
  const auto run = [&](const std::vector<double>& baseline_speed) {
    std::vector<Variant> variants(4);
    const char* names[] = {"F16", "Q8", "Q4", "Q2"};
    const double speeds[] = {0, 150, 200, 260};
    const double accuracy[] = {0.62, 0.61, 0.58, 0.50};
    for (std::size_t i = 0; i < 4; ++i) {
      variants[i].name = names[i];
      variants[i].is_baseline = i == 0;
      variants[i].metrics["decode_tps"] = {i == 0 ? baseline_speed
                                                  : speed_samples(static_cast<uint32_t>(10 + i), speeds[i], 3)};
      variants[i].metrics["same_top_rate"] = {{accuracy[i]}};
    }
    variants[0].metrics["decode_tps"].unstable = baseline_speed == spread;
    Profile p;
    p.name = "interactive-like";
    p.weights = {{"decode_tps", 0.6}, {"same_top_rate", 0.4}};
    return decide(variants, p, {500, 3});
  };
  const Decision calm = run(tight);
  const Decision noisy = run(spread);
  const auto a = by_name(calm);
  const auto b = by_name(noisy);
  // The baseline's own value is judged pessimistically...
  EXPECT_LT(b.at("F16")->values.at("decode_tps"), 100.0);
  // ...but the scale of decode_tps is its central estimate, so no other variant moves.
  for (const char* name : {"Q8", "Q4", "Q2"}) {
    EXPECT_DOUBLE_EQ(a.at(name)->utility, b.at(name)->utility) << name;
  }
  EXPECT_DOUBLE_EQ(a.at("Q4")->utility / a.at("Q8")->utility, b.at("Q4")->utility / b.at("Q8")->utility);
  std::vector<std::string> order_calm, order_noisy;
  for (const auto& r : calm.ranking) {
    if (r.name != "F16") order_calm.push_back(r.name);
  }
  for (const auto& r : noisy.ranking) {
    if (r.name != "F16") order_noisy.push_back(r.name);
  }
  EXPECT_EQ(order_calm, order_noisy);
}

TEST(Uncertainty, PairedResamplingSeesAOneItemDifference) {
  // A and B answer 400 items alike but for one, which A gets right and B wrong. Paired, B can
  // never come out ahead: it ties when that item is not drawn (~37% of resamples, shared) and
  // loses otherwise. Unpaired, A's one-item edge drowns in the items' sampling noise.
  const auto correct = answers(5, 400);
  std::vector<double> better = correct, worse = correct;
  std::size_t differing = 0;
  while (correct[differing] != 0) ++differing;
  better[differing] = 1;
  const auto make = [&](const std::string& set_b) {
    std::vector<Variant> variants(3);
    variants[0].name = "F16";
    variants[0].is_baseline = true;
    std::vector<double> baseline(400, 0.0);
    std::fill(baseline.begin(), baseline.begin() + 100, 1.0);  // 25%: below the constraint
    variants[0].metrics["hellaswag.acc"] = items("hellaswag", baseline);
    variants[1].name = "A";
    variants[1].metrics["hellaswag.acc"] = items("hellaswag", better);
    variants[2].name = "B";
    variants[2].metrics["hellaswag.acc"] = items("hellaswag", worse);
    variants[2].metrics["hellaswag.acc"].records->set = set_b;  // another set name: drawn on its own
    Profile p;
    p.name = "quality";
    p.weights = {{"hellaswag.acc", 1}};
    p.constraints = {parse_constraint("hellaswag.acc >= 0.55")};  // the baseline out of the race
    return decide(variants, p, {2000, 13});
  };
  const Decision paired = make("task:hellaswag");
  const auto p = by_name(paired);
  ASSERT_TRUE(p.at("A")->feasible && p.at("B")->feasible);
  // P(the item is drawn at least once) = 1 - (1 - 1/400)^400 = 0.632; A wins those, ties share the rest.
  EXPECT_NEAR(p.at("A")->win_probability, 0.632 + 0.368 / 2, 0.04);
  EXPECT_NEAR(p.at("B")->win_probability, 0.368 / 2, 0.04);
  EXPECT_GE(p.at("A")->utility_low - p.at("B")->utility_low, 0.0);

  const Decision unpaired = make("task:hellaswag-elsewhere");
  const auto u = by_name(unpaired);
  EXPECT_LT(u.at("A")->win_probability, 0.6);
  EXPECT_GT(u.at("B")->win_probability, 0.4);
}

TEST(Uncertainty, RecordsRecomputePercentilesAndPerplexity) {
  // Two requests per variant; p99 over their token gaps, and perplexity from per-chunk NLL.
  const auto variant = [](const std::string& name, bool baseline, std::vector<std::vector<double>> gaps,
                          std::vector<double> nll) {
    Variant v;
    v.name = name;
    v.is_baseline = baseline;
    MetricRecords itl;
    itl.set = "requests";
    itl.statistic = MetricRecords::Statistic::kPercentile;
    itl.percentile = 99;
    itl.offsets = {0};
    std::vector<double> all;
    for (const auto& g : gaps) {
      itl.values.insert(itl.values.end(), g.begin(), g.end());
      itl.offsets.push_back(itl.values.size());
    }
    std::vector<double> sorted = itl.values;
    std::sort(sorted.begin(), sorted.end());
    const double rank = 0.99 * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<std::size_t>(rank);
    const double p99 = sorted[lo] + (rank - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
    v.metrics["itl_p99_ms"] = {{p99}, false, itl};
    MetricRecords chunks;
    chunks.set = "chunks";
    chunks.statistic = MetricRecords::Statistic::kExpMean;
    chunks.values = nll;
    double mean = 0;
    for (double x : nll) mean += x / static_cast<double>(nll.size());
    v.metrics["ppl"] = {{std::exp(mean)}, false, chunks};
    return v;
  };
  std::vector<Variant> variants{variant("F16", true, {{10, 11, 12}, {10, 30}}, {2.0, 2.2, 2.1}),
                                variant("Q4", false, {{8, 9, 9}, {8, 25}}, {2.1, 2.3, 2.2})};
  Profile p;
  p.name = "p";
  p.weights = {{"itl_p99_ms", 1}, {"ppl", 1}};
  const Decision d = decide(variants, p, {300, 1});
  EXPECT_TRUE(d.fixed_metrics.empty());
  const auto r = by_name(d);
  const auto& itl = r.at("Q4")->metric_intervals.at("itl_p99_ms");
  EXPECT_EQ(itl.n, 2u);
  EXPECT_EQ(itl.resampled, "requests");
  EXPECT_GE(itl.low, 9.0);  // both drawn requests could be the first one
  EXPECT_LE(itl.high, 25.0);
  EXPECT_LT(itl.low, itl.high);
  const auto& ppl = r.at("Q4")->metric_intervals.at("ppl");
  // The lowest resampled means are 2.1 (1 draw in 27) and 2.1333 (3 in 27); the highest, mirrored.
  EXPECT_GE(ppl.low, std::exp(2.1) - 1e-9);
  EXPECT_LE(ppl.low, std::exp(2.1333333334));
  EXPECT_GE(ppl.high, std::exp(2.2666666666));
  EXPECT_LE(ppl.high, std::exp(2.3) + 1e-9);
}

TEST(Uncertainty, RepetitionsAreWidenedToStudentsInterval) {
  // Samples 8..12: Student's 95% interval of the mean is 10 -+ 2.776 * sqrt(2.5 / 5) = 8.04 .. 11.96.
  // The plain bootstrap gives about 10 -+ 1.96 * sqrt(2 / 5) = 8.76 .. 11.24.
  std::vector<Variant> variants(2);
  variants[0].name = "F16";
  variants[0].is_baseline = true;
  variants[0].metrics["decode_tps"] = {{5}};
  variants[1].name = "Q4";
  variants[1].metrics["decode_tps"] = {{8, 9, 10, 11, 12}};
  Profile p;
  p.name = "speed";
  p.weights = {{"decode_tps", 1}};
  const auto interval = [&](bool widen) {
    const Decision d = decide(variants, p, {.bootstrap_resamples = 20000, .seed = 3, .widen_small_samples = widen});
    return by_name(d).at("Q4")->metric_intervals.at("decode_tps");
  };
  const auto widened = interval(true);
  EXPECT_NEAR(widened.low, 8.04, 0.25);
  EXPECT_NEAR(widened.high, 11.96, 0.25);
  EXPECT_GE(widened.low, 8.0);  // kept within the samples
  const auto plain = interval(false);
  EXPECT_NEAR(plain.low, 8.76, 0.25);
  EXPECT_NEAR(plain.high, 11.24, 0.25);
}

TEST(Uncertainty, SingleValuesAreHeldFixedAndNamed) {
  std::vector<Variant> variants(2);
  variants[0].name = "F16";
  variants[0].is_baseline = true;
  variants[0].metrics = {{"decode_tps", {{10, 11, 12}}}, {"file_size_gib", {{2.0}}}};
  variants[1].name = "Q4";
  variants[1].metrics = {{"decode_tps", {{20, 21, 19}}}, {"file_size_gib", {{0.6}}}};
  Profile p;
  p.name = "edge-like";
  p.weights = {{"decode_tps", 1}, {"file_size_gib", 1}};
  const Decision d = decide(variants, p, {100, 1});
  EXPECT_EQ(d.fixed_metrics, std::vector<std::string>{"file_size_gib"});
  EXPECT_NE(d.explanation.find("Held fixed by the bootstrap (measured once, no records to resample): file_size_gib"),
            std::string::npos)
      << d.explanation;
  EXPECT_FALSE(by_name(d).at("Q4")->metric_intervals.contains("file_size_gib"));
  EXPECT_EQ(by_name(d).at("Q4")->metric_intervals.at("decode_tps").resampled, "repetitions");
}

TEST(Uncertainty, RecordsThatDisagreeWithTheValueAreNotUsed) {
  std::vector<Variant> variants(2);
  variants[0].name = "F16";
  variants[0].is_baseline = true;
  variants[0].metrics["arc_easy.acc"] = items("arc_easy", {1, 1, 0, 1});
  variants[1].name = "Q4";
  variants[1].metrics["arc_easy.acc"] = items("arc_easy", {1, 0, 0, 1});
  variants[1].metrics["arc_easy.acc"].samples = {0.75};  // not what its records give (0.5)
  Profile p;
  p.name = "q";
  p.weights = {{"arc_easy.acc", 1}};
  const Decision d = decide(variants, p, {100, 1});
  EXPECT_EQ(d.fixed_metrics, std::vector<std::string>{"arc_easy.acc"});
  bool noted = false;
  for (const auto& note : d.notes) noted = noted || note.find("arc_easy.acc of Q4: its records give 0.5") == 0;
  EXPECT_TRUE(noted);
}

}  // namespace
