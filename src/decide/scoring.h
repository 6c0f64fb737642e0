#pragma once

// Inside decide: the study as the decision sees it (the weighted and constrained metrics, each
// variant's estimate of them) and how estimates become normalized values and utilities. Shared by
// the ranking (decide.cpp) and the bootstrap (bootstrap.cpp).

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "decide/model.h"
#include "decide/normalize.h"
#include "decide/profile.h"

namespace uaqf::decide {

// A metric's estimate for one variant: the central value (mean, or the statistic its records
// give), and the value to use when more is better or when less is better (the same as the central
// value unless the pessimistic rule applies).
struct Estimate {
  double central;
  double for_higher;
  double for_lower;
};

double mean_of(std::span<const double> samples);

// With `pessimistic`, the unfavourable end of the Student-t 95% interval, kept within the observed
// samples: with two or three samples the t interval can reach far past them (even below 0 for a
// throughput), which says more about the t quantile than about the model.
Estimate estimate(std::span<const double> samples, bool pessimistic);

// A weighted or constrained metric as the study computes it.
struct StudyMetric {
  std::string name;
  const MetricSpec* spec;
  std::size_t raw;  // index of the measured metric (the base of a retention metric)
  bool retention;
};

using Estimates = std::vector<std::vector<Estimate>>;  // [variant][raw metric]
using Matrix = std::vector<std::vector<double>>;       // [variant][metric]

struct Scores {
  Matrix normalized;
  std::vector<double> utility;
};

class Study {
 public:
  Study(const std::vector<Variant>& variants, const Profile& profile);

  std::size_t size() const { return variants_.size(); }
  const Variant& variant(std::size_t v) const { return variants_[v]; }
  const Profile& profile() const { return profile_; }
  std::optional<std::size_t> baseline() const { return baseline_; }
  const std::vector<StudyMetric>& weighted() const { return weighted_; }
  const std::vector<StudyMetric>& constrained() const { return constrained_; }
  const std::vector<double>& weights() const { return weights_; }
  const std::vector<std::string>& raw_names() const { return raw_; }
  const Estimates& point() const { return point_; }
  const std::vector<std::string>& notes() const { return notes_; }
  const MetricValue& measurement(std::size_t v, std::size_t r) const { return variants_[v].metrics.at(raw_[r]); }
  // The measurement's records when the bootstrap can use them (consistent with its samples).
  const MetricRecords* records(std::size_t v, std::size_t r) const { return usable_records_[v][r]; }

  // A variant's value of a metric: its own estimate by the pessimistic rule; a retention metric
  // divides it by the baseline's central estimate (never by its pessimistic end).
  double value(const Estimates& est, std::size_t v, const StudyMetric& m) const;
  Matrix weighted_values(const Estimates& est) const;
  // Ratio normalization divides by the baseline's central estimate in `est`, so that the baseline's
  // spread cannot rescale a metric (which would re-weight the profile).
  Scores score(const Matrix& values, const Estimates& est) const;

 private:
  StudyMetric add_metric(const std::string& name);
  void check_measurements() const;
  void check_retention(const StudyMetric& m) const;
  void choose_methods();
  void check_records();

  const std::vector<Variant>& variants_;
  const Profile& profile_;
  std::optional<std::size_t> baseline_;
  std::vector<std::string> raw_;
  std::vector<StudyMetric> weighted_, constrained_;
  std::vector<double> weights_;  // sum to 1
  std::vector<NormalizationMethod> methods_;
  Estimates point_;
  std::vector<std::vector<const MetricRecords*>> usable_records_;  // [variant][raw metric]
  std::vector<std::string> notes_;
};

// The statistic a metric's records give over the drawn records (`indices`, with repeats); `scratch`
// is reused between calls and, for an unweighted kMean, holds the drawn values afterwards.
double record_statistic(const MetricRecords& records, std::span<const std::size_t> indices,
                        std::vector<double>& scratch);
// The same over every record once: the value the records give.
double record_statistic(const MetricRecords& records, std::vector<double>& scratch);

}  // namespace uaqf::decide
