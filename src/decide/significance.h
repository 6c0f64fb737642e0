#pragma once

// Is a variant's quality different from the baseline's, or could the difference be noise? Both
// tests are paired: the same items / chunks are scored by both models, so the pairing removes the
// items' own difficulty from the comparison.

#include <cstdint>
#include <random>
#include <vector>

namespace uaqf::decide {

struct McNemarResult {
  int baseline_only;  // b: items the baseline got right and the variant wrong
  int variant_only;   // c: the reverse
  // Exact test: min(b, c), the binomial count tested. Otherwise the chi-square statistic with
  // continuity correction, (|b - c| - 1)^2 / (b + c).
  double statistic;
  double p_value;  // two-sided
  bool exact;      // exact binomial test (b + c < 25)
};

// Paired 0/1 outcomes. Exact two-sided binomial test (p = min(1, 2 P[X <= min(b,c)]), X ~ Bin(b+c,
// 1/2)) when b + c < 25, else chi-square with continuity correction and p = erfc(sqrt(stat / 2)).
// b + c == 0 gives p = 1; so does b == c, where (as in R's mcnemar.test) no correction is applied.
// Throws Error(kInvalidArgument) on a length mismatch.
McNemarResult mcnemar(const std::vector<bool>& baseline, const std::vector<bool>& variant);

struct PairedBootstrapResult {
  double mean_difference;  // mean of variant - baseline
  double ci_low, ci_high;  // 95% percentile interval of the resampled means
  double p_value;          // two-sided: 2 * min(share of resampled means <= 0, share >= 0), at most 1
};

// Paired differences variant - baseline per unit (e.g. per chunk), resampled `resamples` times
// with std::mt19937(seed). Throws Error(kInvalidArgument) on empty input, a length mismatch,
// non-finite values or resamples < 1.
PairedBootstrapResult paired_bootstrap(const std::vector<double>& baseline, const std::vector<double>& variant,
                                       int resamples, uint32_t seed);

// A uniform index in [0, n), n > 0, by rejection, so that the sequence drawn from a seed is the
// same with every standard library (std::uniform_int_distribution is implementation-defined).
std::size_t uniform_index(std::mt19937& rng, std::size_t n);

}  // namespace uaqf::decide
