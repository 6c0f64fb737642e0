#include "decide/scoring.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "stats/summary.h"

namespace uaqf::decide {
namespace {

using Statistic = MetricRecords::Statistic;

// Linear interpolation between closest ranks, as stats::percentile, by selection rather than a
// full sort (the bootstrap takes it of thousands of token gaps per resample).
double select_percentile(std::vector<double>& values, double p) {
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto lower = static_cast<std::size_t>(std::floor(rank));
  const auto at = values.begin() + static_cast<std::ptrdiff_t>(lower);
  std::nth_element(values.begin(), at, values.end());
  const double low = *at;
  if (lower + 1 >= values.size()) return low;
  const double high = *std::min_element(at + 1, values.end());
  return low + (rank - static_cast<double>(lower)) * (high - low);
}

void check_shape(const MetricRecords& r) {
  const bool ok = r.statistic == Statistic::kPercentile
                      ? !r.offsets.empty() && r.offsets.front() == 0 && r.offsets.back() == r.values.size() &&
                            std::is_sorted(r.offsets.begin(), r.offsets.end()) && r.values.size() > 0 &&
                            r.percentile >= 0 && r.percentile <= 100
                      : !r.values.empty() && (r.weights.empty() || r.weights.size() == r.values.size());
  if (!ok) throw Error(ErrorCode::kInvalidArgument, "decide: records of set \"" + r.set + "\" are malformed");
}

bool all_positive(std::span<const double> xs) {
  return std::all_of(xs.begin(), xs.end(), [](double x) { return x > 0; });
}

}  // namespace

double mean_of(std::span<const double> samples) {
  // Shifting by the first sample makes the mean of equal samples exact.
  const double shift = samples.front();
  double sum = 0;
  for (double x : samples) sum += x - shift;
  return shift + sum / static_cast<double>(samples.size());
}

Estimate estimate(std::span<const double> samples, bool pessimistic) {
  const double mean = mean_of(samples);
  if (!pessimistic || samples.size() < 2) return {mean, mean, mean};
  const stats::Summary s = stats::summarize(samples);
  return {mean, std::max(*s.ci95_low, s.min), std::min(*s.ci95_high, s.max)};
}

double record_statistic(const MetricRecords& records, std::span<const std::size_t> indices,
                        std::vector<double>& scratch) {
  if (records.statistic == Statistic::kPercentile) {
    scratch.clear();
    for (std::size_t r : indices) {
      scratch.insert(scratch.end(), records.values.begin() + static_cast<std::ptrdiff_t>(records.offsets[r]),
                     records.values.begin() + static_cast<std::ptrdiff_t>(records.offsets[r + 1]));
    }
    if (scratch.empty()) return 0;  // every drawn record empty: no value (the producer never stores such sets)
    return select_percentile(scratch, records.percentile);
  }
  double mean = 0;
  if (records.weights.empty()) {
    scratch.clear();
    for (std::size_t r : indices) scratch.push_back(records.values[r]);
    mean = mean_of(scratch);
  } else {
    double sum = 0, total = 0;
    for (std::size_t r : indices) {
      sum += records.weights[r] * records.values[r];
      total += records.weights[r];
    }
    mean = total > 0 ? sum / total : 0;
  }
  return records.statistic == Statistic::kExpMean ? std::exp(mean) : mean;
}

double record_statistic(const MetricRecords& records, std::vector<double>& scratch) {
  std::vector<std::size_t> all(records.size());
  for (std::size_t r = 0; r < all.size(); ++r) all[r] = r;
  return record_statistic(records, all, scratch);
}

Study::Study(const std::vector<Variant>& variants, const Profile& profile) : variants_(variants), profile_(profile) {
  validate(profile);
  if (variants.empty()) throw Error(ErrorCode::kInvalidArgument, "decide: no variants to rank");
  std::set<std::string> names;
  for (std::size_t v = 0; v < variants.size(); ++v) {
    const auto& name = variants[v].name;
    if (name.empty()) throw Error(ErrorCode::kInvalidArgument, "decide: a variant has no name");
    if (!names.insert(name).second) {
      throw Error(ErrorCode::kInvalidArgument, "decide: two variants are named \"" + name + "\"");
    }
    if (variants[v].is_baseline) {
      if (baseline_) {
        throw Error(ErrorCode::kInvalidArgument, "decide: both \"" + variants[*baseline_].name + "\" and \"" + name +
                                                     "\" are marked as the baseline");
      }
      baseline_ = v;
    }
  }

  // Only positively weighted metrics count: a zero weight says the metric does not matter.
  double total = 0;
  for (const auto& [name, weight] : profile.weights) total += weight > 0 ? weight : 0;
  for (const auto& [name, weight] : profile.weights) {
    if (weight <= 0) continue;
    weighted_.push_back(add_metric(name));
    weights_.push_back(weight / total);
  }
  for (const auto& c : profile.constraints) constrained_.push_back(add_metric(c.metric));
  check_measurements();

  point_.assign(variants.size(), std::vector<Estimate>(raw_.size()));
  for (std::size_t v = 0; v < variants.size(); ++v) {
    for (std::size_t r = 0; r < raw_.size(); ++r) {
      const MetricValue& m = measurement(v, r);
      point_[v][r] = estimate(m.samples, profile.pessimistic && m.unstable);
    }
  }
  check_records();
  choose_methods();
}

double Study::value(const Estimates& est, std::size_t v, const StudyMetric& m) const {
  if (m.retention) {
    // The variant's own value by the pessimistic rule over the baseline's central estimate: a copy
    // of the baseline retains what the baseline does (exactly 1 when stable).
    return est[v][m.raw].for_higher / est[*baseline_][m.raw].central;
  }
  const Estimate& e = est[v][m.raw];
  return m.spec->direction == Direction::kHigherIsBetter ? e.for_higher : e.for_lower;
}

Matrix Study::weighted_values(const Estimates& est) const {
  Matrix values(size(), std::vector<double>(weighted_.size()));
  for (std::size_t v = 0; v < size(); ++v) {
    for (std::size_t k = 0; k < weighted_.size(); ++k) values[v][k] = value(est, v, weighted_[k]);
  }
  return values;
}

Scores Study::score(const Matrix& values, const Estimates& est) const {
  Scores s{Matrix(size(), std::vector<double>(weighted_.size())), std::vector<double>(size(), 0.0)};
  std::vector<double> column(size());
  for (std::size_t k = 0; k < weighted_.size(); ++k) {
    for (std::size_t v = 0; v < size(); ++v) column[v] = values[v][k];
    std::optional<double> reference;
    if (methods_[k] == NormalizationMethod::kRatioToBaseline) {
      const std::size_t raw = weighted_[k].raw;
      // A retention's central value at the baseline is 1 by construction.
      reference = weighted_[k].retention ? 1.0 : est[*baseline_][raw].central;
      // A resample can leave the baseline with nothing (every drawn item wrong): its point estimate then.
      if (!(*reference > 0)) reference = point_[*baseline_][raw].central;
    }
    const auto normalized = normalize(column, weighted_[k].spec->direction, methods_[k], baseline_, reference);
    for (std::size_t v = 0; v < size(); ++v) s.normalized[v][k] = normalized[v];
  }
  // Summed in metric order for every variant, so that a variant at least as good on every
  // metric gets a utility at least as high, rounding included.
  for (std::size_t v = 0; v < size(); ++v) {
    for (std::size_t k = 0; k < weighted_.size(); ++k) s.utility[v] += weights_[k] * s.normalized[v][k];
  }
  return s;
}

StudyMetric Study::add_metric(const std::string& name) {
  StudyMetric m{name, find_metric(name), 0, false};
  if (m.spec == nullptr) throw Error(ErrorCode::kInvalidArgument, "decide: unknown metric \"" + name + "\"");
  std::string raw = retention_base(name);
  m.retention = !raw.empty();
  if (m.retention && !baseline_) {
    throw Error(ErrorCode::kInvalidArgument, "decide: \"" + name + "\" (profile \"" + profile_.name +
                                                 "\") is relative to the baseline, and no variant is the baseline");
  }
  if (raw.empty()) raw = name;
  auto it = std::find(raw_.begin(), raw_.end(), raw);
  m.raw = static_cast<std::size_t>(it - raw_.begin());
  if (it == raw_.end()) raw_.push_back(raw);
  return m;
}

void Study::check_measurements() const {
  for (const auto& variant : variants_) {
    for (const auto& raw : raw_) {
      const auto it = variant.metrics.find(raw);
      if (it == variant.metrics.end() || it->second.samples.empty()) {
        throw Error(ErrorCode::kInvalidArgument, "decide: variant \"" + variant.name + "\" has no measurement of \"" +
                                                     raw + "\", which profile \"" + profile_.name + "\" needs");
      }
      for (double x : it->second.samples) {
        if (!std::isfinite(x)) {
          throw Error(ErrorCode::kInvalidArgument,
                      "decide: variant \"" + variant.name + "\" has a non-finite sample of \"" + raw + "\"");
        }
      }
    }
  }
  for (const auto& m : weighted_) check_retention(m);
  for (const auto& m : constrained_) check_retention(m);
}

// Retention divides by the baseline's central value: it must be above 0.
void Study::check_retention(const StudyMetric& m) const {
  if (!m.retention) return;
  const auto& samples = variants_[*baseline_].metrics.at(raw_[m.raw]).samples;
  if (!std::all_of(samples.begin(), samples.end(), [](double x) { return x > 0; })) {
    throw Error(ErrorCode::kInvalidArgument, "decide: \"" + m.name + "\" is undefined: the baseline \"" +
                                                 variants_[*baseline_].name + "\" has a value <= 0 of \"" +
                                                 raw_[m.raw] + "\"");
  }
}

// Records are used when they give the value the samples do (the same statistic of the same
// data); otherwise the metric is held fixed, with a note, rather than resampled around another value.
void Study::check_records() {
  usable_records_.assign(size(), std::vector<const MetricRecords*>(raw_.size(), nullptr));
  std::vector<double> scratch;
  for (std::size_t v = 0; v < size(); ++v) {
    for (std::size_t r = 0; r < raw_.size(); ++r) {
      const MetricValue& m = measurement(v, r);
      if (!m.records) continue;
      check_shape(*m.records);
      const double given = record_statistic(*m.records, scratch);
      const double central = point_[v][r].central;
      if (std::isfinite(given) && std::abs(given - central) <= 1e-6 * std::max(1.0, std::abs(central))) {
        usable_records_[v][r] = &*m.records;
        // The records' own value, to the last bit: variants whose drawn records agree then tie exactly.
        if (!(profile_.pessimistic && m.unstable)) point_[v][r] = {given, given, given};
      } else {
        notes_.push_back(fmt::format("{} of {}: its records give {:.6g}, not the stored {:.6g}, so it is held fixed",
                                     raw_[r], variants_[v].name, given, central));
      }
    }
  }
}

// The profile's method, except where a ratio to the baseline means nothing (e.g. kld_mean, whose
// baseline value is 0): min-max there, with a note. Decided on the raw samples and records, so
// that every bootstrap resample can use the same method.
void Study::choose_methods() {
  if (profile_.normalization == NormalizationMethod::kRatioToBaseline && !baseline_) {
    throw Error(ErrorCode::kInvalidArgument, "decide: normalization \"ratio\" (profile \"" + profile_.name +
                                                 "\") needs a baseline variant; mark one, or use min-max or z-score");
  }
  for (const auto& m : weighted_) {
    NormalizationMethod method = profile_.normalization;
    if (method == NormalizationMethod::kRatioToBaseline && !m.retention) {
      const auto positive = [&](std::size_t v) {
        const MetricRecords* records = usable_records_[v][m.raw];
        // A percentile or mean of positive values stays positive in every resample.
        const bool records_positive = records == nullptr || records->statistic == MetricRecords::Statistic::kExpMean ||
                                      all_positive(records->values);
        return all_positive(measurement(v, m.raw).samples) && records_positive;
      };
      bool defined = all_positive(measurement(*baseline_, m.raw).samples);
      if (m.spec->direction == Direction::kLowerIsBetter) {
        for (std::size_t v = 0; v < size(); ++v) defined = defined && positive(v);
      }
      if (!defined) {
        method = NormalizationMethod::kMinMax;
        notes_.push_back(fmt::format(
            "{}: a ratio to the baseline is undefined ({} value <= 0), so it is normalized min-max over the study",
            m.name, m.spec->direction == Direction::kHigherIsBetter ? "the baseline has a" : "some variant has a"));
      }
    }
    methods_.push_back(method);
  }
}

}  // namespace uaqf::decide
