#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace uaqf::stats {

struct Summary {
  std::size_t n = 0;
  double mean = 0, median = 0, min = 0, max = 0;
  double p90 = 0, p99 = 0;                    // linear interpolation (numpy default, "type 7")
  std::optional<double> stddev;               // sample standard deviation (n-1); nullopt when n < 2
  std::optional<double> sem;                  // stddev / sqrt(n); nullopt when n < 2
  std::optional<double> cv;                   // stddev / |mean|; nullopt when n < 2 or mean == 0
  std::optional<double> ci95_low, ci95_high;  // Student-t 95% CI of the mean; nullopt when n < 2
};

// Throws std::invalid_argument on an empty span or any non-finite sample.
Summary summarize(std::span<const double> samples);

// p in [0, 100]; linear interpolation between closest ranks (numpy.percentile default).
// Throws std::invalid_argument on empty input or p outside [0, 100].
double percentile(std::span<const double> samples, double p);

// A percentile with its distribution-free 95% confidence interval from order statistics (the
// ranks whose binomial probabilities bracket p): valid for any distribution, so for latency tails.
// A bound is nullopt when n is too small to reach it (e.g. p99 with fewer than ~300 samples has no
// finite upper bound). Throws std::invalid_argument as percentile() does.
struct PercentileInterval {
  double value = 0;
  std::optional<double> low, high;
};
PercentileInterval percentile_interval(std::span<const double> samples, double p);

// Student-t quantile at probability p in (0, 1) for dof > 0 degrees of freedom
// (p = 0.975 gives the two-sided 95% critical value). Throws std::invalid_argument otherwise.
double student_t_quantile(double p, double dof);

// Human-readable warnings about the trustworthiness of `s`; empty when fine.
std::vector<std::string> stability_warnings(const Summary& s, double max_cv = 0.05);

}  // namespace uaqf::stats
