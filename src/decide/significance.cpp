#include "decide/significance.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "stats/summary.h"

namespace uaqf::decide {

std::size_t uniform_index(std::mt19937& rng, std::size_t n) {
  const uint64_t range = 1ull << 32;  // mt19937 yields 32-bit values
  const uint64_t count = n;
  // Draws at or above `limit` would favour the low indices; they are redrawn.
  const uint64_t limit = range - range % count;
  uint64_t draw = 0;
  do {
    draw = rng();
  } while (draw >= limit);
  return static_cast<std::size_t>(draw % count);
}

McNemarResult mcnemar(const std::vector<bool>& baseline, const std::vector<bool>& variant) {
  if (baseline.size() != variant.size()) {
    throw Error(ErrorCode::kInvalidArgument, "McNemar's test: the baseline has " + std::to_string(baseline.size()) +
                                                 " items and the variant " + std::to_string(variant.size()));
  }
  McNemarResult r{0, 0, 0.0, 1.0, true};
  for (std::size_t i = 0; i < baseline.size(); ++i) {
    if (baseline[i] && !variant[i]) ++r.baseline_only;
    if (!baseline[i] && variant[i]) ++r.variant_only;
  }
  const int b = r.baseline_only, c = r.variant_only, n = b + c;
  if (n == 0) return r;  // no discordant pair: no evidence of any difference
  if (n < 25) {
    // P[X <= k] for X ~ Binomial(n, 1/2), from C(n, j) built up exactly in doubles (n < 25).
    const int k = std::min(b, c);
    double coefficient = 1, tail = 0;
    for (int j = 0; j <= k; ++j) {
      tail += coefficient;
      coefficient = coefficient * (n - j) / (j + 1);
    }
    r.statistic = k;
    r.p_value = std::min(1.0, 2.0 * tail / std::ldexp(1.0, n));
    return r;
  }
  r.exact = false;
  const double diff = std::abs(b - c);
  // When b == c there is nothing to correct; R's mcnemar.test drops the correction there too,
  // rather than report a spurious difference of 1 / (b + c).
  r.statistic = b == c ? 0.0 : (diff - 1) * (diff - 1) / n;
  r.p_value = std::erfc(std::sqrt(r.statistic / 2));  // chi-square, 1 degree of freedom
  return r;
}

PairedBootstrapResult paired_bootstrap(const std::vector<double>& baseline, const std::vector<double>& variant,
                                       int resamples, uint32_t seed) {
  if (baseline.size() != variant.size()) {
    throw Error(ErrorCode::kInvalidArgument, "paired bootstrap: the baseline has " + std::to_string(baseline.size()) +
                                                 " values and the variant " + std::to_string(variant.size()));
  }
  if (baseline.empty()) throw Error(ErrorCode::kInvalidArgument, "paired bootstrap: no values");
  if (resamples < 1) throw Error(ErrorCode::kInvalidArgument, "paired bootstrap: resamples must be >= 1");
  std::vector<double> diffs(baseline.size());
  for (std::size_t i = 0; i < diffs.size(); ++i) {
    diffs[i] = variant[i] - baseline[i];
    if (!std::isfinite(diffs[i])) {
      throw Error(ErrorCode::kInvalidArgument, "paired bootstrap: value " + std::to_string(i) + " is not finite");
    }
  }
  const auto n = static_cast<double>(diffs.size());
  double sum = 0;
  for (double d : diffs) sum += d;

  PairedBootstrapResult r{};
  r.mean_difference = sum / n;
  std::mt19937 rng(seed);
  std::vector<double> means(static_cast<std::size_t>(resamples));
  int at_most_zero = 0, at_least_zero = 0;
  for (auto& mean : means) {
    double resum = 0;
    for (std::size_t i = 0; i < diffs.size(); ++i) resum += diffs[uniform_index(rng, diffs.size())];
    mean = resum / n;
    if (mean <= 0) ++at_most_zero;
    if (mean >= 0) ++at_least_zero;
  }
  r.ci_low = stats::percentile(means, 2.5);
  r.ci_high = stats::percentile(means, 97.5);
  const double share = static_cast<double>(std::min(at_most_zero, at_least_zero)) / resamples;
  r.p_value = std::min(1.0, 2.0 * share);
  return r;
}

}  // namespace uaqf::decide
