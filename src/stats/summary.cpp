#include "stats/summary.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/students_t.hpp>

namespace uaqf::stats {
namespace {

// Expects non-empty, sorted input and p already validated.
double sorted_percentile(std::span<const double> sorted, double p) {
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lower = static_cast<std::size_t>(std::floor(rank));
  const std::size_t upper = std::min(lower + 1, sorted.size() - 1);
  const double fraction = rank - static_cast<double>(lower);
  return sorted[lower] + fraction * (sorted[upper] - sorted[lower]);
}

std::vector<double> sorted_copy(std::span<const double> samples) {
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

std::string format_percent(double fraction) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << fraction * 100.0 << '%';
  return out.str();
}

}  // namespace

Summary summarize(std::span<const double> samples) {
  if (samples.empty()) throw std::invalid_argument("summarize: no samples");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (!std::isfinite(samples[i]))
      throw std::invalid_argument("summarize: sample " + std::to_string(i) + " is not finite");
  }

  const std::vector<double> sorted = sorted_copy(samples);
  const auto count = static_cast<double>(sorted.size());

  // Shifting by the first sample keeps the sum small and makes constant input exact.
  const double shift = samples.front();
  double shifted_sum = 0;
  for (double x : samples) shifted_sum += x - shift;
  const double mean = shift + shifted_sum / count;

  Summary s;
  s.n = sorted.size();
  s.mean = mean;
  s.min = sorted.front();
  s.max = sorted.back();
  s.median = sorted_percentile(sorted, 50);
  s.p90 = sorted_percentile(sorted, 90);
  s.p99 = sorted_percentile(sorted, 99);
  if (s.n < 2) return s;

  // Corrected two-pass: the second term cancels the rounding error left in the mean.
  double squared_deviations = 0, deviations = 0;
  for (double x : samples) {
    squared_deviations += (x - mean) * (x - mean);
    deviations += x - mean;
  }
  const double variance = std::max(0.0, (squared_deviations - deviations * deviations / count) / (count - 1));
  const double stddev = std::sqrt(variance);
  const double sem = stddev / std::sqrt(count);
  const double half_width = student_t_quantile(0.975, count - 1) * sem;

  s.stddev = stddev;
  s.sem = sem;
  if (mean != 0) s.cv = stddev / std::abs(mean);
  s.ci95_low = mean - half_width;
  s.ci95_high = mean + half_width;
  return s;
}

double percentile(std::span<const double> samples, double p) {
  if (samples.empty()) throw std::invalid_argument("percentile: no samples");
  if (!(p >= 0 && p <= 100)) throw std::invalid_argument("percentile: p must be in [0, 100]");
  return sorted_percentile(sorted_copy(samples), p);
}

double student_t_quantile(double p, double dof) {
  if (!(dof > 0)) throw std::invalid_argument("student_t_quantile: dof must be > 0");
  if (!(p > 0 && p < 1)) throw std::invalid_argument("student_t_quantile: p must be in (0, 1)");
  return boost::math::quantile(boost::math::students_t_distribution<double>(dof), p);
}

std::vector<std::string> stability_warnings(const Summary& s, double max_cv) {
  std::vector<std::string> warnings;
  if (s.n < 3) {
    warnings.push_back("only " + std::to_string(s.n) + " samples: too few for a reliable spread; use more repetitions");
  }
  if (s.cv && *s.cv > max_cv) {
    warnings.push_back("CV " + format_percent(*s.cv) + " exceeds " + format_percent(max_cv) +
                       ": measurement unstable (quiet the machine or add repetitions)");
  }
  return warnings;
}

PercentileInterval percentile_interval(std::span<const double> samples, double p) {
  if (samples.empty()) throw std::invalid_argument("percentile_interval: no samples");
  if (!(p >= 0 && p <= 100)) throw std::invalid_argument("percentile_interval: p must be in [0, 100]");
  const auto sorted = sorted_copy(samples);  // one sort for the value and both bounds
  const double value = sorted_percentile(sorted, p);
  const auto n = static_cast<double>(sorted.size());
  const boost::math::binomial_distribution<double> below(n, p / 100.0);  // samples below the true percentile
  // Lower bound: the largest rank l (1-based) with P(B <= l - 1) <= 2.5 %; upper: the smallest rank u
  // with P(B <= u - 1) >= 97.5 %. Then P(x_l <= true percentile <= x_u) >= 95 %.
  PercentileInterval interval{.value = value};
  for (std::size_t rank = sorted.size(); rank >= 1; --rank) {
    if (boost::math::cdf(below, static_cast<double>(rank - 1)) <= 0.025) {
      interval.low = sorted[rank - 1];
      break;
    }
  }
  for (std::size_t rank = 1; rank <= sorted.size(); ++rank) {
    if (boost::math::cdf(below, static_cast<double>(rank - 1)) >= 0.975) {
      interval.high = sorted[rank - 1];
      break;
    }
  }
  return interval;
}

}  // namespace uaqf::stats
