#include "decide/decide.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <span>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "decide/normalize.h"
#include "decide/significance.h"
#include "stats/summary.h"

namespace uaqf::decide {
namespace {

// A metric's estimate for one variant: the mean, and the value to use when more is better or when
// less is better (the same as the mean unless the pessimistic rule applies).
struct Estimate {
  double mean;
  double for_higher;
  double for_lower;
};

double mean_of(std::span<const double> samples) {
  // Shifting by the first sample makes the mean of equal samples exact.
  const double shift = samples.front();
  double sum = 0;
  for (double x : samples) sum += x - shift;
  return shift + sum / static_cast<double>(samples.size());
}

// With `pessimistic`, the unfavourable end of the Student-t 95% interval, kept within the observed
// samples: with two or three samples the t interval can reach far past them (even below 0 for a
// throughput), which says more about the t quantile than about the model.
Estimate estimate(std::span<const double> samples, bool pessimistic) {
  const double mean = mean_of(samples);
  if (!pessimistic || samples.size() < 2) return {mean, mean, mean};
  const stats::Summary s = stats::summarize(samples);
  return {mean, std::max(*s.ci95_low, s.min), std::min(*s.ci95_high, s.max)};
}

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
  Study(const std::vector<Variant>& variants, const Profile& profile) : variants_(variants), profile_(profile) {
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
    choose_methods();
  }

  std::size_t size() const { return variants_.size(); }
  const Variant& variant(std::size_t v) const { return variants_[v]; }
  std::optional<std::size_t> baseline() const { return baseline_; }
  const std::vector<StudyMetric>& weighted() const { return weighted_; }
  const std::vector<StudyMetric>& constrained() const { return constrained_; }
  const std::vector<double>& weights() const { return weights_; }
  const std::vector<std::string>& raw_names() const { return raw_; }
  const Estimates& point() const { return point_; }
  const std::vector<std::string>& notes() const { return notes_; }
  const MetricValue& measurement(std::size_t v, std::size_t r) const { return variants_[v].metrics.at(raw_[r]); }

  double value(const Estimates& est, std::size_t v, const StudyMetric& m) const {
    if (m.retention) {
      if (v == *baseline_) return 1.0;
      // Both by the same rule, so that a copy of the baseline retains exactly 1, as the baseline does.
      return est[v][m.raw].for_higher / est[*baseline_][m.raw].for_higher;
    }
    const Estimate& e = est[v][m.raw];
    return m.spec->direction == Direction::kHigherIsBetter ? e.for_higher : e.for_lower;
  }

  Matrix weighted_values(const Estimates& est) const {
    Matrix values(size(), std::vector<double>(weighted_.size()));
    for (std::size_t v = 0; v < size(); ++v) {
      for (std::size_t k = 0; k < weighted_.size(); ++k) values[v][k] = value(est, v, weighted_[k]);
    }
    return values;
  }

  Scores score(const Matrix& values) const {
    Scores s{Matrix(size(), std::vector<double>(weighted_.size())), std::vector<double>(size(), 0.0)};
    std::vector<double> column(size());
    for (std::size_t k = 0; k < weighted_.size(); ++k) {
      for (std::size_t v = 0; v < size(); ++v) column[v] = values[v][k];
      const auto normalized = normalize(column, weighted_[k].spec->direction, methods_[k], baseline_);
      for (std::size_t v = 0; v < size(); ++v) s.normalized[v][k] = normalized[v];
    }
    // Summed in metric order for every variant, so that a variant at least as good on every
    // metric gets a utility at least as high, rounding included.
    for (std::size_t v = 0; v < size(); ++v) {
      for (std::size_t k = 0; k < weighted_.size(); ++k) s.utility[v] += weights_[k] * s.normalized[v][k];
    }
    return s;
  }

 private:
  StudyMetric add_metric(const std::string& name) {
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

  void check_measurements() const {
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

  // Retention divides by the baseline's value: every resample of it must stay above 0.
  void check_retention(const StudyMetric& m) const {
    if (!m.retention) return;
    const auto& samples = variants_[*baseline_].metrics.at(raw_[m.raw]).samples;
    if (!std::all_of(samples.begin(), samples.end(), [](double x) { return x > 0; })) {
      throw Error(ErrorCode::kInvalidArgument, "decide: \"" + m.name + "\" is undefined: the baseline \"" +
                                                   variants_[*baseline_].name + "\" has a value <= 0 of \"" +
                                                   raw_[m.raw] + "\"");
    }
  }

  // The profile's method, except where a ratio to the baseline means nothing (e.g. kld_mean, whose
  // baseline value is 0): min-max there, with a note. Decided on the raw samples, so that every
  // bootstrap resample can use the same method (estimates stay within the samples' range).
  void choose_methods() {
    if (profile_.normalization == NormalizationMethod::kRatioToBaseline && !baseline_) {
      throw Error(ErrorCode::kInvalidArgument, "decide: normalization \"ratio\" (profile \"" + profile_.name +
                                                   "\") needs a baseline variant; mark one, or use min-max or z-score");
    }
    for (const auto& m : weighted_) {
      NormalizationMethod method = profile_.normalization;
      if (method == NormalizationMethod::kRatioToBaseline && !m.retention) {
        const auto positive = [&](std::size_t v) {
          const auto& samples = measurement(v, m.raw).samples;
          return std::all_of(samples.begin(), samples.end(), [](double x) { return x > 0; });
        };
        bool defined = positive(*baseline_);
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

  const std::vector<Variant>& variants_;
  const Profile& profile_;
  std::optional<std::size_t> baseline_;
  std::vector<std::string> raw_;
  std::vector<StudyMetric> weighted_, constrained_;
  std::vector<double> weights_;  // sum to 1
  std::vector<NormalizationMethod> methods_;
  Estimates point_;
  std::vector<std::string> notes_;
};

std::string number(double x) { return fmt::format("{:.4g}", x); }

// Fractions and ratios read better bare ("0.84", not "0.84 fraction").
std::string with_unit(double x, const std::string& unit) {
  return unit.empty() || unit == "fraction" || unit == "ratio" ? number(x) : number(x) + " " + unit;
}

std::string p_text(double p, int resamples) {
  // A bootstrap p of 0 only says "below the resolution 1 / resamples".
  return p == 0 ? fmt::format("p < {}", number(1.0 / resamples)) : "p = " + number(p);
}

std::string percent_change(double a, double b) {
  if (b == 0 || a == 0) return "";
  const double change = (a / b - 1) * 100;
  return std::abs(change) < 10 ? fmt::format(", {:+.1f}%", change) : fmt::format(", {:+.0f}%", change);
}

// a is at least as good as b on every weighted metric and better on one, on point estimates.
bool dominates(const Matrix& values, const std::vector<StudyMetric>& metrics, std::size_t a, std::size_t b) {
  bool strictly = false;
  for (std::size_t k = 0; k < metrics.size(); ++k) {
    const bool higher = metrics[k].spec->direction == Direction::kHigherIsBetter;
    const double x = values[a][k], y = values[b][k];
    if (higher ? x < y : x > y) return false;
    if (x != y) strictly = true;
  }
  return strictly;
}

// The smallest transfer of normalized weight from metric i to metric j that closes the utility gap.
// U is linear in the weights: moving t from i to j changes U(w) - U(r) by -t (d_i - d_j).
Sensitivity sensitivity(const Study& study, const Scores& scores, std::size_t w, std::size_t r) {
  Sensitivity s{study.variant(w).name, study.variant(r).name, "", "", 0.0, false};
  const double gap = scores.utility[w] - scores.utility[r];
  const auto& weights = study.weights();
  const std::size_t n = weights.size();
  if (gap <= 0) {
    s.exists = true;  // already tied
    return s;
  }
  double best = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < n; ++i) {
    const double d_i = scores.normalized[w][i] - scores.normalized[r][i];
    for (std::size_t j = 0; j < n; ++j) {
      const double d_j = scores.normalized[w][j] - scores.normalized[r][j];
      if (i == j || !(d_i > d_j)) continue;
      const double t = gap / (d_i - d_j);
      // A relative tolerance: a transfer of exactly all of i's weight must count.
      if (t <= weights[i] * (1 + 1e-12) && t < best) {
        best = t;
        s.from_metric = study.weighted()[i].name;
        s.to_metric = study.weighted()[j].name;
      }
    }
  }
  if (std::isfinite(best)) {
    s.weight_shift = best;
    s.exists = true;
  }
  return s;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator, const std::string& last) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? last : separator;
    out += parts[i];
  }
  return out;
}

// "better decode_tps (52.1 vs 44 tokens/s, +18%); worse same_top_rate (...)": the metrics that
// contribute most to the utility difference between a and b.
std::string comparison(const Study& study, const Matrix& values, const Scores& scores, std::size_t a, std::size_t b) {
  std::vector<std::pair<double, std::size_t>> contributions;
  for (std::size_t k = 0; k < study.weighted().size(); ++k) {
    if (values[a][k] == values[b][k]) continue;
    contributions.emplace_back(study.weights()[k] * (scores.normalized[a][k] - scores.normalized[b][k]), k);
  }
  std::sort(contributions.begin(), contributions.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  const auto describe = [&](std::size_t k) {
    const auto& m = study.weighted()[k];
    return fmt::format("{} ({} vs {}{})", m.name, number(values[a][k]), with_unit(values[b][k], m.spec->unit),
                       percent_change(values[a][k], values[b][k]));
  };
  std::vector<std::string> better, worse;
  for (const auto& [c, k] : contributions) {
    const auto& m = study.weighted()[k];
    const bool higher = m.spec->direction == Direction::kHigherIsBetter;
    const bool is_better = higher ? values[a][k] > values[b][k] : values[a][k] < values[b][k];
    if (is_better && better.size() < 3) better.push_back(describe(k));
  }
  for (auto it = contributions.rbegin(); it != contributions.rend(); ++it) {
    const auto& m = study.weighted()[it->second];
    const bool higher = m.spec->direction == Direction::kHigherIsBetter;
    const bool is_worse =
        higher ? values[a][it->second] < values[b][it->second] : values[a][it->second] > values[b][it->second];
    if (is_worse && worse.size() < 2) worse.push_back(describe(it->second));
  }
  std::string text;
  if (!better.empty()) text += "better " + join(better, ", ", " and ");
  if (!worse.empty()) text += (text.empty() ? "" : "; ") + std::string("worse ") + join(worse, ", ", " and ");
  return text.empty() ? "equal on every weighted metric" : text;
}

std::string violations_text(const RankedVariant& r) {
  std::vector<std::string> parts;
  for (const auto& v : r.violations) {
    std::string metric = v.constraint.substr(0, v.constraint.find_first_of("<>"));
    while (!metric.empty() && metric.back() == ' ') metric.pop_back();
    parts.push_back(fmt::format("{} = {} misses \"{}\" by {}", metric, number(v.value), v.constraint, number(v.by)));
  }
  return join(parts, "; ", "; ");
}

std::string explain(const Study& study, const Profile& profile, const Decision& d, const Matrix& values,
                    const Scores& scores, const std::vector<std::size_t>& order, int resamples) {
  std::vector<std::string> lines;
  std::vector<const RankedVariant*> infeasible;
  for (const auto& r : d.ranking) {
    if (!r.feasible) infeasible.push_back(&r);
  }

  if (!d.recommended) {
    lines.push_back(
        fmt::format("No variant meets the constraints of profile \"{}\", so none is recommended.", profile.name));
  } else {
    const RankedVariant& top = d.ranking.front();
    const std::size_t w = order.front();
    lines.push_back(fmt::format("Recommended for profile \"{}\": {} (utility {}, 95% interval {} to {}).", profile.name,
                                top.name, number(top.utility), number(top.utility_low), number(top.utility_high)));
    const bool has_runner_up = d.ranking.size() > 1 && d.ranking[1].feasible;
    if (has_runner_up) {
      const std::size_t r = order[1];
      lines.push_back(fmt::format("Against the runner-up {} (utility {}): {}.", d.ranking[1].name,
                                  number(d.ranking[1].utility), comparison(study, values, scores, w, r)));
    } else {
      lines.push_back("It is the only variant that meets the constraints.");
    }
    if (const auto b = study.baseline()) {
      if (*b == w) {
        lines.push_back("It is the baseline itself: no variant beats it under this profile.");
      } else if (!has_runner_up || order[1] != *b) {
        lines.push_back(fmt::format("Against the baseline {}: {}.", study.variant(*b).name,
                                    comparison(study, values, scores, w, *b)));
      }
    }

    std::string sure = fmt::format("How sure: it has the highest utility in {:.0f}% of {} bootstrap resamples",
                                   top.win_probability * 100, resamples);
    if (top.win_probability >= 0.95) {
      sure += ", a clear choice.";
    } else if (top.win_probability >= 0.75) {
      sure += ", a likely choice; more repetitions would make it firmer.";
    } else if (has_runner_up) {
      sure += fmt::format(", too close to call from these measurements ({} wins {:.0f}%).", d.ranking[1].name,
                          d.ranking[1].win_probability * 100);
    } else {
      sure += ".";
    }
    lines.push_back(sure);

    if (!d.sensitivity.empty()) {
      // The runner-up, unless another variant is closer in weight space.
      const Sensitivity* closest = &d.sensitivity.front();
      for (const auto& candidate : d.sensitivity) {
        if (candidate.exists && (!closest->exists || candidate.weight_shift < closest->weight_shift)) {
          closest = &candidate;
        }
      }
      const Sensitivity& s = *closest;
      if (s.exists && s.from_metric.empty()) {
        lines.push_back(fmt::format("What would change it: {} already ties with it.", s.runner_up));
      } else if (s.exists) {
        lines.push_back(fmt::format(
            "What would change it: moving {} of the weight (weights summing to 1) from {} to {} would make {} tie "
            "with it.",
            number(s.weight_shift), s.from_metric, s.to_metric, s.runner_up));
      } else {
        lines.push_back(
            fmt::format("What would change it: no transfer of weight from one metric to another (up to "
                        "all of that metric's weight) lets {} catch up.",
                        s.runner_up));
      }
    }

    std::vector<std::string> tests;
    for (const auto& t : top.vs_baseline) {
      const std::string verdict = t.p_value < 0.05 ? "significant at 5%" : "not significant at 5%";
      if (t.test == "mcnemar") {
        tests.push_back(fmt::format("{} accuracy {:+.1f} points over {} items (McNemar p = {}, {})", t.measure,
                                    t.difference * 100, t.n, number(t.p_value), verdict));
      } else {
        tests.push_back(fmt::format("{} per chunk {:+.4g} (95% CI {} to {}, {}, {})", t.measure, t.difference,
                                    number(t.ci_low.value_or(NAN)), number(t.ci_high.value_or(NAN)),
                                    p_text(t.p_value, resamples), verdict));
      }
    }
    if (!tests.empty()) lines.push_back("Against the baseline's own outputs: " + join(tests, "; ", "; ") + ".");
    for (const auto& note : top.notes) lines.push_back("Note: " + note + ".");
  }

  std::vector<std::string> dominated;
  for (const auto& r : d.ranking) {
    if (!r.dominated_by.empty() && r.feasible)
      dominated.push_back(r.name + " (by " + join(r.dominated_by, ", ", ", ") + ")");
  }
  if (!dominated.empty()) {
    lines.push_back("Dominated (another variant is at least as good on every weighted metric): " +
                    join(dominated, "; ", "; ") + ".");
  }
  if (!infeasible.empty()) {
    std::vector<std::string> parts;
    for (const auto* r : infeasible) parts.push_back(r->name + " (" + violations_text(*r) + ")");
    lines.push_back("Infeasible: " + join(parts, "; ", "; ") + ".");
  }
  for (const auto& note : d.notes) lines.push_back("Note: " + note + ".");
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

std::vector<BaselineTest> baseline_tests(const Variant& variant, const Variant& baseline, uint32_t seed,
                                         int resamples) {
  std::vector<BaselineTest> tests;
  for (const auto& [task, correct] : variant.item_correct) {
    const auto it = baseline.item_correct.find(task);
    if (it == baseline.item_correct.end()) continue;
    if (it->second.size() != correct.size()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("decide: task \"{}\" has {} items for \"{}\" and {} for the baseline \"{}\"", task,
                              correct.size(), variant.name, it->second.size(), baseline.name));
    }
    if (correct.empty()) continue;
    const McNemarResult m = mcnemar(it->second, correct);
    const int n = static_cast<int>(correct.size());
    tests.push_back({task, "mcnemar", n, static_cast<double>(m.variant_only - m.baseline_only) / n, std::nullopt,
                     std::nullopt, m.p_value});
  }
  uint32_t stream = 0;
  for (const auto& [measure, chunks] : variant.chunk_values) {
    ++stream;
    const auto it = baseline.chunk_values.find(measure);
    if (it == baseline.chunk_values.end()) continue;
    if (it->second.size() != chunks.size()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("decide: \"{}\" has {} chunks for \"{}\" and {} for the baseline \"{}\"", measure,
                              chunks.size(), variant.name, it->second.size(), baseline.name));
    }
    if (chunks.empty()) continue;
    const auto r = paired_bootstrap(it->second, chunks, resamples, seed + stream * 7919u);
    tests.push_back({measure, "paired_bootstrap", static_cast<int>(chunks.size()), r.mean_difference, r.ci_low,
                     r.ci_high, r.p_value});
  }
  return tests;
}

// Constraints, on point estimates: what each variant violates, by how much.
std::vector<std::vector<Violation>> constraint_violations(const Study& study, const Profile& profile) {
  std::vector<std::vector<Violation>> violations(study.size());
  for (std::size_t v = 0; v < study.size(); ++v) {
    for (std::size_t c = 0; c < profile.constraints.size(); ++c) {
      const Constraint& constraint = profile.constraints[c];
      const double x = study.value(study.point(), v, study.constrained()[c]);
      if (satisfies(x, constraint.op, constraint.threshold)) continue;
      const bool upper = constraint.op == Comparison::kLessEqual || constraint.op == Comparison::kLess;
      violations[v].push_back(
          {constraint.text, x, constraint.threshold, upper ? x - constraint.threshold : constraint.threshold - x});
    }
  }
  return violations;
}

// Dominance on the weighted metrics' point estimates.
struct Dominance {
  std::vector<std::vector<std::string>> dominated_by;  // [variant]: names of the variants that dominate it
  std::vector<int> dominates_count;                    // [variant]: how many variants it dominates
};

Dominance find_dominance(const Study& study, const Matrix& values) {
  const std::size_t n = study.size();
  Dominance d{std::vector<std::vector<std::string>>(n), std::vector<int>(n, 0)};
  for (std::size_t a = 0; a < n; ++a) {
    for (std::size_t b = 0; b < n; ++b) {
      if (a != b && dominates(values, study.weighted(), a, b)) {
        d.dominated_by[b].push_back(study.variant(a).name);
        ++d.dominates_count[a];
      }
    }
  }
  return d;
}

struct BootstrapUtilities {
  std::vector<std::vector<double>> utility;  // [variant][resample]
  std::vector<double> wins;                  // [variant]: resamples with the highest feasible utility
};

// Bootstrap: every multi-sample measurement resampled with replacement, in a fixed order from one
// seeded generator, then the whole scoring redone.
BootstrapUtilities bootstrap_utilities(const Study& study, const Profile& profile, const std::vector<bool>& feasible,
                                       const DecideOptions& options) {
  const std::size_t n = study.size();
  const auto resamples = static_cast<std::size_t>(options.bootstrap_resamples);
  std::mt19937 rng(options.seed);
  BootstrapUtilities boot{std::vector<std::vector<double>>(n, std::vector<double>(resamples)),
                          std::vector<double>(n, 0.0)};
  Estimates est = study.point();
  std::vector<double> draw;
  for (std::size_t b = 0; b < resamples; ++b) {
    for (std::size_t v = 0; v < n; ++v) {
      for (std::size_t r = 0; r < study.raw_names().size(); ++r) {
        const MetricValue& m = study.measurement(v, r);
        if (m.samples.size() < 2) continue;
        draw.resize(m.samples.size());
        for (auto& x : draw) x = m.samples[uniform_index(rng, m.samples.size())];
        est[v][r] = estimate(draw, profile.pessimistic && m.unstable);
      }
    }
    const Scores s = study.score(study.weighted_values(est));
    double best = -std::numeric_limits<double>::infinity();
    for (std::size_t v = 0; v < n; ++v) {
      boot.utility[v][b] = s.utility[v];
      if (feasible[v]) best = std::max(best, s.utility[v]);
    }
    // Ties share the resample, so that win probabilities sum to 1.
    double tied = 0;
    for (std::size_t v = 0; v < n; ++v) tied += feasible[v] && s.utility[v] == best ? 1 : 0;
    for (std::size_t v = 0; v < n; ++v) {
      if (feasible[v] && s.utility[v] == best) boot.wins[v] += 1 / tied;
    }
  }
  return boot;
}

// Everything the ranking is built from.
struct Assessment {
  Matrix values;  // [variant][weighted metric], point estimates
  Scores scores;
  std::vector<std::vector<Violation>> violations;
  std::vector<bool> feasible;
  Dominance dominance;
  BootstrapUtilities bootstrap;
};

Assessment assess(const Study& study, const Profile& profile, const DecideOptions& options) {
  Assessment a;
  a.values = study.weighted_values(study.point());
  a.scores = study.score(a.values);
  a.violations = constraint_violations(study, profile);
  a.feasible.resize(study.size());
  for (std::size_t v = 0; v < study.size(); ++v) a.feasible[v] = a.violations[v].empty();
  a.dominance = find_dominance(study, a.values);
  a.bootstrap = bootstrap_utilities(study, profile, a.feasible, options);
  return a;
}

// Order: feasible first; then utility; equal utilities put a dominating variant first (it
// dominates strictly more variants than any variant it dominates); then name, for determinism.
std::vector<std::size_t> ranking_order(const Study& study, const Assessment& a) {
  std::vector<std::size_t> order(study.size());
  for (std::size_t v = 0; v < study.size(); ++v) order[v] = v;
  const auto& dominates_count = a.dominance.dominates_count;
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    if (a.feasible[x] != a.feasible[y]) return static_cast<bool>(a.feasible[x]);
    if (a.scores.utility[x] != a.scores.utility[y]) return a.scores.utility[x] > a.scores.utility[y];
    if (dominates_count[x] != dominates_count[y]) return dominates_count[x] > dominates_count[y];
    return study.variant(x).name < study.variant(y).name;
  });
  return order;
}

// How each unstable measurement of variant `v` entered its estimate.
std::vector<std::string> unstable_notes(const Study& study, const Profile& profile, std::size_t v) {
  std::vector<std::string> notes;
  for (std::size_t raw = 0; raw < study.raw_names().size(); ++raw) {
    const MetricValue& m = study.measurement(v, raw);
    const std::string& name = study.raw_names()[raw];
    if (!m.unstable) continue;
    if (!profile.pessimistic) {
      notes.push_back(name + " unstable: its mean is used (the profile is not pessimistic)");
    } else if (m.samples.size() < 2) {
      notes.push_back(name + " unstable but measured once: no interval, its value is used");
    } else {
      const Estimate& e = study.point()[v][raw];
      const MetricSpec* spec = find_metric(name);
      const double used = spec->direction == Direction::kHigherIsBetter ? e.for_higher : e.for_lower;
      notes.push_back(fmt::format("{} unstable: pessimistic end of its 95% interval used ({} instead of the mean {})",
                                  name, number(used), with_unit(e.mean, spec->unit)));
    }
  }
  return notes;
}

RankedVariant ranked_variant(const Study& study, const Profile& profile, const DecideOptions& options,
                             const Assessment& a, std::size_t v) {
  RankedVariant r;
  r.name = study.variant(v).name;
  r.feasible = a.feasible[v];
  r.violations = a.violations[v];
  r.utility = a.scores.utility[v];
  r.utility_low = stats::percentile(a.bootstrap.utility[v], 2.5);
  r.utility_high = stats::percentile(a.bootstrap.utility[v], 97.5);
  r.win_probability = a.bootstrap.wins[v] / static_cast<double>(options.bootstrap_resamples);
  r.dominated_by = a.dominance.dominated_by[v];
  r.on_pareto_front = a.dominance.dominated_by[v].empty();
  for (std::size_t k = 0; k < study.weighted().size(); ++k) {
    r.values[study.weighted()[k].name] = a.values[v][k];
    r.normalized[study.weighted()[k].name] = a.scores.normalized[v][k];
  }
  for (const auto& m : study.constrained()) r.values[m.name] = study.value(study.point(), v, m);
  r.notes = unstable_notes(study, profile, v);
  if (const auto b = study.baseline(); b && *b != v) {
    r.vs_baseline = baseline_tests(study.variant(v), study.variant(*b),
                                   options.seed + static_cast<uint32_t>(v) * 104729u, options.bootstrap_resamples);
  }
  return r;
}

}  // namespace

Decision decide(const std::vector<Variant>& variants, const Profile& profile, const DecideOptions& options) {
  if (options.bootstrap_resamples < 1 || options.bootstrap_resamples > kMaxBootstrapResamples) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("bootstrap resamples must be between 1 and {}, got {}",
                                                         kMaxBootstrapResamples, options.bootstrap_resamples));
  }
  const Study study(variants, profile);
  const Assessment a = assess(study, profile, options);
  const std::vector<std::size_t> order = ranking_order(study, a);

  Decision d;
  d.profile = profile.name;
  d.notes = study.notes();
  d.bootstrap_resamples = options.bootstrap_resamples;
  for (std::size_t v : order) d.ranking.push_back(ranked_variant(study, profile, options, a, v));
  if (a.feasible[order.front()]) {
    d.recommended = d.ranking.front().name;
    for (std::size_t i = 1; i < study.size() && a.feasible[order[i]]; ++i) {
      d.sensitivity.push_back(sensitivity(study, a.scores, order.front(), order[i]));
    }
  }
  d.explanation = explain(study, profile, d, a.values, a.scores, order, options.bootstrap_resamples);
  return d;
}

nlohmann::json to_json(const Decision& decision) {
  using nlohmann::json;
  json ranking = json::array();
  for (const auto& r : decision.ranking) {
    json violations = json::array();
    for (const auto& v : r.violations) {
      violations.push_back(
          {{"constraint", v.constraint}, {"value", v.value}, {"threshold", v.threshold}, {"by", v.by}});
    }
    json tests = json::array();
    for (const auto& t : r.vs_baseline) {
      tests.push_back({{"measure", t.measure},
                       {"test", t.test},
                       {"n", t.n},
                       {"difference", t.difference},
                       {"ci_low", t.ci_low ? json(*t.ci_low) : json(nullptr)},
                       {"ci_high", t.ci_high ? json(*t.ci_high) : json(nullptr)},
                       {"p_value", t.p_value}});
    }
    ranking.push_back({{"name", r.name},
                       {"feasible", r.feasible},
                       {"violations", violations},
                       {"utility", r.utility},
                       {"utility_low", r.utility_low},
                       {"utility_high", r.utility_high},
                       {"win_probability", r.win_probability},
                       {"dominated_by", r.dominated_by},
                       {"on_pareto_front", r.on_pareto_front},
                       {"notes", r.notes},
                       {"values", r.values},
                       {"normalized", r.normalized},
                       {"vs_baseline", tests}});
  }
  json sensitivity = json::array();
  for (const auto& s : decision.sensitivity) {
    sensitivity.push_back({{"winner", s.winner},
                           {"runner_up", s.runner_up},
                           {"from_metric", s.from_metric},
                           {"to_metric", s.to_metric},
                           {"weight_shift", s.weight_shift},
                           {"exists", s.exists}});
  }
  return json{{"profile", decision.profile},
              {"recommended", decision.recommended ? json(*decision.recommended) : json(nullptr)},
              {"ranking", ranking},
              {"sensitivity", sensitivity},
              {"notes", decision.notes},
              {"bootstrap_resamples", decision.bootstrap_resamples},
              {"explanation", decision.explanation}};
}

Profile without_unmeasured_metrics(const Profile& profile, const std::vector<Variant>& variants,
                                   std::vector<std::string>& notes) {
  auto measured = [&](const std::string& name) {
    std::string raw = name;
    if (raw.size() > 10 && raw.ends_with(".retention")) raw.resize(raw.size() - 10);
    return std::all_of(variants.begin(), variants.end(), [&](const Variant& v) {
      const auto it = v.metrics.find(raw);
      return it != v.metrics.end() && !it->second.samples.empty();
    });
  };
  Profile adapted = profile;
  adapted.weights.clear();
  adapted.constraints.clear();
  for (const auto& [name, weight] : profile.weights) {
    if (measured(name)) {
      adapted.weights[name] = weight;
    } else {
      notes.push_back("weight on " + name + " dropped: not measured (synthetic weights)");
    }
  }
  for (const auto& constraint : profile.constraints) {
    if (measured(constraint.metric)) {
      adapted.constraints.push_back(constraint);
    } else {
      notes.push_back("constraint " + constraint.text + " dropped: not measured (synthetic weights)");
    }
  }
  if (adapted.weights.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "profile \"" + profile.name + "\" weighs only metrics that synthetic weights cannot measure");
  }
  if (adapted.weights.size() < profile.weights.size()) {
    adapted.name += " (speed and memory only)";
  }
  return adapted;
}

void add_notes(Decision& decision, const std::vector<std::string>& notes) {
  decision.notes.insert(decision.notes.begin(), notes.begin(), notes.end());
  while (!notes.empty() && !decision.explanation.empty() && decision.explanation.back() == '\n') {
    decision.explanation.pop_back();
  }
  for (const auto& note : notes) decision.explanation += "\nNote: " + note + ".";
}

}  // namespace uaqf::decide
