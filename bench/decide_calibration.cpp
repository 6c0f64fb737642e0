// Calibration of the decision's bootstrap (issue 22): simulated studies with known true utilities
// and the noise a real study has — 5 speed repetitions, 20 requests (prompt lengths shared by every
// variant, 128 token gaps each, occasional stalls), 20 perplexity chunks (difficulty shared by
// every variant) — decided under the `interactive` weights. It reports how often the 95% utility
// interval covers the true utility, and a reliability table: among variants given P(best) in a
// bin, the share that truly is best.
//
//   uaqf_decide_calibration [--studies N] [--resamples R] [--seed S] [--method paired|plain|old]
//                           [--profile interactive|quality]
//
// quality: weights decode_tps 0.3, same_top_rate 0.3 and a 200-item task accuracy 0.4 (items whose
// difficulty every variant shares, 10% of answers drawn independently per variant), the case
// where holding record-based metrics fixed matters most.
// paired: this version (records resampled paired, speed repetitions widened to Student's interval);
// plain: the same without widening; old: what the decision did before issue 22 (only speed
// repetitions and per-request TTFT resampled, same-top rate and ITL p99 held fixed).
// bench/bench_calibration.sh runs it and writes docs/results/decide-calibration.md.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "decide/decide.h"
#include "decide/model.h"
#include "decide/profile.h"
#include "stats/summary.h"

namespace {

using namespace uaqf::decide;

constexpr int kReps = 5, kRequests = 20, kGaps = 128, kChunks = 20, kTokensPerChunk = 255;
constexpr double kPromptSd = 0.3, kTtftNoiseSd = 0.05, kDecodeCv = 0.03;
constexpr double kRequestSd = 0.1, kGapSd = 0.1, kStallProbability = 0.02, kStall = 3.0;

// One variant's true parameters.
struct Truth {
  double decode_tps, ttft_scale_ms, gap_scale_ms, same_top, accuracy;
};

constexpr int kItems = 200;
constexpr double kOwnAnswer = 0.1;  // share of items a variant answers independently of the others

double gap_factor(std::mt19937& rng) {
  std::normal_distribution<double> gap(0, kGapSd);
  std::bernoulli_distribution stall(kStallProbability);
  return std::exp(gap(rng)) * (stall(rng) ? kStall : 1.0);
}

// The population 99th percentile of gap / gap_scale (request factor times gap factor): the true
// ITL p99 of a variant is its gap scale times this.
double itl_p99_factor() {
  std::mt19937 rng(12345);
  std::normal_distribution<double> request(0, kRequestSd);
  std::vector<double> gaps;
  for (int i = 0; i < 20000; ++i) {
    const double r = std::exp(request(rng));
    for (int g = 0; g < 100; ++g) gaps.push_back(r * gap_factor(rng));
  }
  return uaqf::stats::percentile(gaps, 99);
}

std::vector<Truth> draw_truth(std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Truth> t{{600, 50, 10, 1.0, 0.6}};
  // A middle variant and two close contenders, so that P(best) takes every value across studies.
  const double mid = 1.3 + 0.3 * u(rng), top = 1.7 + 0.3 * u(rng);
  for (double speed : {mid, top, top * (0.94 + 0.12 * u(rng))}) {
    const double same_top = 0.98 - (speed - 1.3) * (0.15 + 0.1 * u(rng));
    const double accuracy = 0.6 - (speed - 1.3) * (0.02 + 0.05 * u(rng));
    t.push_back({600 * speed, 50 / (0.8 + 0.5 * speed + 0.1 * u(rng)), 10 / (speed * (0.95 + 0.1 * u(rng))), same_top,
                 accuracy});
  }
  return t;
}

double true_utility(const std::vector<Truth>& t, std::size_t v, double p99_factor, bool quality) {
  // True values: mean decode, mean TTFT over the prompt population, population ITL p99, same-top rate.
  const double ttft_factor = std::exp(kPromptSd * kPromptSd / 2 + kTtftNoiseSd * kTtftNoiseSd / 2);
  const double delta_mean = 0.05;  // chunks' mean difficulty, below
  const double top_v = v == 0 ? 1.0 : t[v].same_top - delta_mean;
  if (quality) {
    return 0.3 * t[v].decode_tps / t[0].decode_tps + 0.3 * top_v + 0.4 * t[v].accuracy / t[0].accuracy;
  }
  return 0.35 * t[v].decode_tps / t[0].decode_tps +
         0.25 * (t[0].ttft_scale_ms * ttft_factor) / (t[v].ttft_scale_ms * ttft_factor) +
         0.20 * (t[0].gap_scale_ms * p99_factor) / (t[v].gap_scale_ms * p99_factor) + 0.20 * top_v;
}

MetricRecords mean_records(const std::string& set, std::vector<double> values) {
  MetricRecords r;
  r.set = set;
  r.values = std::move(values);
  return r;
}

std::vector<Variant> simulate(const std::vector<Truth>& t, std::mt19937& rng, const std::string& method) {
  std::normal_distribution<double> normal(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> prompt(kRequests), request(kRequests), difficulty(kChunks), item(kItems);
  for (auto& i : item) i = u(rng);
  for (auto& p : prompt) p = std::exp(kPromptSd * normal(rng));
  for (auto& r : request) r = std::exp(kRequestSd * normal(rng));
  for (auto& d : difficulty) d = 0.1 * u(rng);
  std::vector<Variant> variants(t.size());
  for (std::size_t v = 0; v < t.size(); ++v) {
    Variant& out = variants[v];
    out.name = v == 0 ? "F16" : "V" + std::to_string(v);
    out.is_baseline = v == 0;
    std::vector<double> decode(kReps), ttft(kRequests), gaps, rates(kChunks);
    for (auto& x : decode) x = t[v].decode_tps * (1 + kDecodeCv * normal(rng));
    MetricRecords itl;
    itl.set = "requests";
    itl.statistic = MetricRecords::Statistic::kPercentile;
    itl.percentile = 99;
    itl.offsets = {0};
    for (int i = 0; i < kRequests; ++i) {
      ttft[i] = t[v].ttft_scale_ms * prompt[i] * std::exp(kTtftNoiseSd * normal(rng));
      for (int g = 0; g < kGaps; ++g) itl.values.push_back(t[v].gap_scale_ms * request[i] * gap_factor(rng));
      itl.offsets.push_back(itl.values.size());
    }
    for (int c = 0; c < kChunks; ++c) {
      std::binomial_distribution<int> same(kTokensPerChunk, v == 0 ? 1.0 : t[v].same_top - difficulty[c]);
      rates[c] = static_cast<double>(same(rng)) / kTokensPerChunk;
    }
    out.metrics["decode_tps"] = {decode};
    out.metrics["ttft_ms"] = {ttft};
    out.metrics["itl_p99_ms"] = {{uaqf::stats::percentile(itl.values, 99)}};
    double rate = 0;
    for (double x : rates) rate += x / kChunks;
    out.metrics["same_top_rate"] = {{rate}};
    // An item is answered right when its shared difficulty is below the variant's accuracy, except
    // for the share the variant answers on its own; either way P(right) is the accuracy.
    std::vector<double> correct(kItems);
    double right = 0;
    for (int i = 0; i < kItems; ++i) {
      const double draw = u(rng) < kOwnAnswer ? u(rng) : item[i];
      correct[i] = draw < t[v].accuracy ? 1.0 : 0.0;
      right += correct[i];
    }
    out.metrics["hellaswag.acc"] = {{right / kItems}};
    if (method != "old") out.metrics["hellaswag.acc"].records = mean_records("task:hellaswag", correct);
    if (method != "old") {
      out.metrics["ttft_ms"].records = mean_records("requests", ttft);
      out.metrics["itl_p99_ms"].records = itl;
      out.metrics["same_top_rate"].records = mean_records("chunks", rates);
    }
  }
  return variants;
}

struct Bin {
  double low, high;
  int count = 0, best = 0;
  double predicted = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int studies = 1000, resamples = 500;
  uint32_t seed = 1;
  std::string method = "paired", profile_name = "interactive";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--studies")
      studies = std::atoi(argv[i + 1]);
    else if (flag == "--resamples")
      resamples = std::atoi(argv[i + 1]);
    else if (flag == "--seed")
      seed = static_cast<uint32_t>(std::atoi(argv[i + 1]));
    else if (flag == "--method")
      method = argv[i + 1];
    else if (flag == "--profile")
      profile_name = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  const bool quality = profile_name == "quality";
  Profile profile = builtin_profile("interactive");
  profile.constraints.clear();  // no KLD in the simulation: every variant competes
  if (quality) {
    profile.name = "quality";
    profile.weights = {{"decode_tps", 0.3}, {"same_top_rate", 0.3}, {"hellaswag.acc", 0.4}};
  }
  const double p99_factor = itl_p99_factor();
  std::vector<Bin> bins{{0, 0.05},  {0.05, 0.2}, {0.2, 0.35}, {0.35, 0.5}, {0.5, 0.6},
                        {0.6, 0.7}, {0.7, 0.8},  {0.8, 0.9},  {0.9, 0.95}, {0.95, 1.0001}};
  int covered = 0, intervals = 0, recommended_best = 0;
  double width = 0;
  std::mt19937 rng(seed);
  for (int s = 0; s < studies; ++s) {
    const auto truth = draw_truth(rng);
    const auto variants = simulate(truth, rng, method);
    const Decision d = decide(variants, profile,
                              {.bootstrap_resamples = resamples,
                               .seed = static_cast<uint32_t>(s + 1),
                               .widen_small_samples = method == "paired"});
    std::size_t best = 0;
    for (std::size_t v = 1; v < truth.size(); ++v) {
      if (true_utility(truth, v, p99_factor, quality) > true_utility(truth, best, p99_factor, quality)) best = v;
    }
    for (const auto& r : d.ranking) {
      const std::size_t v = r.name == "F16" ? 0 : static_cast<std::size_t>(r.name[1] - '0');
      const double u = true_utility(truth, v, p99_factor, quality);
      if (v != 0) {  // the baseline's utility is 1 in every resample: nothing to cover
        ++intervals;
        covered += r.utility_low <= u && u <= r.utility_high ? 1 : 0;
        width += r.utility_high - r.utility_low;
      }
      for (auto& bin : bins) {
        if (r.win_probability >= bin.low && r.win_probability < bin.high) {
          ++bin.count;
          bin.best += v == best ? 1 : 0;
          bin.predicted += r.win_probability;
        }
      }
    }
    recommended_best += d.recommended && *d.recommended == variants[best].name ? 1 : 0;
  }
  std::printf("method %s, profile %s: %d studies, %d resamples, seed %u\n", method.c_str(), profile.name.c_str(),
              studies, resamples, seed);
  std::printf("95%% utility intervals covering the true utility: %.1f%% of %d (mean width %.4f)\n",
              100.0 * covered / intervals, intervals, width / intervals);
  std::printf("recommended variant truly best: %.1f%% of studies\n\n", 100.0 * recommended_best / studies);
  std::printf("| P(best) | variants | mean P(best) | truly best |\n|---|---|---|---|\n");
  for (const auto& bin : bins) {
    if (bin.count == 0) continue;
    std::printf("| [%.2f, %.2f%s | %d | %.3f | %.1f%% |\n", bin.low, std::min(bin.high, 1.0), bin.high > 1 ? "]" : ")",
                bin.count, bin.predicted / bin.count, 100.0 * bin.best / bin.count);
  }
  return 0;
}
