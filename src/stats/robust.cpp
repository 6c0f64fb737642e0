#include "stats/robust.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>

#include "stats/summary.h"

namespace uaqf::stats {

std::vector<double> modified_z_scores(std::span<const double> samples) {
  std::vector<double> scores(samples.size(), 0.0);
  if (samples.empty()) {
    return scores;
  }
  const double median = percentile(samples, 50);
  std::vector<double> deviations;
  deviations.reserve(samples.size());
  for (double x : samples) {
    deviations.push_back(std::abs(x - median));
  }
  const double mad = percentile(deviations, 50);
  if (mad == 0) {
    return scores;
  }
  for (std::size_t i = 0; i < samples.size(); ++i) {
    scores[i] = 0.6745 * (samples[i] - median) / mad;
  }
  return scores;
}

std::vector<std::size_t> mad_outliers(std::span<const double> samples, double threshold) {
  const auto scores = modified_z_scores(samples);
  std::vector<std::size_t> outliers;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (std::abs(scores[i]) > threshold) {
      outliers.push_back(i);
    }
  }
  return outliers;
}

std::size_t leading_warmup(std::span<const double> samples, double threshold) {
  const auto scores = modified_z_scores(samples);
  std::size_t n = 0;
  while (n < scores.size() / 2 && std::abs(scores[n]) > threshold && (n == 0 || (scores[n] > 0) == (scores[0] > 0))) {
    ++n;
  }
  return n;
}

Interval bootstrap_interval(std::span<const double> samples, Statistic statistic, int resamples, uint32_t seed) {
  if (samples.empty() || resamples < 1) {
    throw std::invalid_argument("bootstrap_interval: needs samples and at least one resample");
  }
  if (samples.size() == 1) {
    return {samples[0], samples[0]};
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, samples.size() - 1);
  std::vector<double> draw(samples.size());
  std::vector<double> estimates;
  estimates.reserve(static_cast<std::size_t>(resamples));
  for (int r = 0; r < resamples; ++r) {
    double sum = 0;
    for (auto& x : draw) {
      x = samples[pick(rng)];
      sum += x;
    }
    estimates.push_back(statistic == Statistic::kMean ? sum / static_cast<double>(draw.size()) : percentile(draw, 50));
  }
  return {percentile(estimates, 2.5), percentile(estimates, 97.5)};
}

}  // namespace uaqf::stats
