#pragma once

// Stability-aware aggregation of repeated trials: outliers by the median absolute deviation,
// warm-up runs that slipped past the fixed warm-up, and seeded bootstrap intervals.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace uaqf::stats {

// Modified z-scores 0.6745 (x - median) / MAD (Iglewicz and Hoaglin, 1993). All zero when the
// MAD is zero (at least half the samples are equal).
std::vector<double> modified_z_scores(std::span<const double> samples);

// Indices of samples whose |modified z| exceeds `threshold` (3.5 is the usual cut-off).
std::vector<std::size_t> mad_outliers(std::span<const double> samples, double threshold = 3.5);

// How many leading samples look like warm-up: a run of outliers at the start, all on the same
// side of the median (caches and clocks still settling). At most half the samples.
std::size_t leading_warmup(std::span<const double> samples, double threshold = 3.5);

struct Interval {
  double low = 0;
  double high = 0;
};

enum class Statistic { kMean, kMedian };

// Percentile bootstrap 95% interval of the mean or median; resamples drawn from a std::mt19937
// seeded with `seed`, so the same inputs give the same interval. n = 1 gives [x, x].
Interval bootstrap_interval(std::span<const double> samples, Statistic statistic, int resamples, uint32_t seed);

}  // namespace uaqf::stats
