#include "decide/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <span>

#include <fmt/format.h>

#include "decide/significance.h"
#include "stats/summary.h"

namespace uaqf::decide {
namespace {

using Kind = MetricSource::Kind;

// How much wider than the plain bootstrap a resample of n values is drawn around the estimate:
// t(0.975, n-1) / z(0.975) * sqrt(n / (n-1)). The percentile bootstrap of a mean is the normal
// interval with the n-denominator spread, too narrow for a few values (5 repetitions cover the
// truth ~85% of the time instead of 95%); widened so, its 95% interval of a mean is Student's.
double widening(std::size_t n) {
  if (n < 2) return 1;
  const auto count = static_cast<double>(n);
  return stats::student_t_quantile(0.975, count - 1) / 1.959963984540054 * std::sqrt(count / (count - 1));
}

// `e` moved away from the point estimate `centre` by `scale` times its distance, kept within the
// observed samples (as the pessimistic rule is: with two or three repetitions the t quantile would
// reach far past them, even below 0 for a throughput); the pessimistic ends keep their distance
// from the central value.
Estimate widened(const Estimate& e, double centre, double scale, std::span<const double> samples) {
  const auto [low, high] = std::minmax_element(samples.begin(), samples.end());
  const double central = std::clamp(centre + scale * (e.central - centre), *low, *high);
  return {central, std::clamp(central + (e.for_higher - e.central), *low, *high),
          std::clamp(central + (e.for_lower - e.central), *low, *high)};
}

struct RecordSet {
  std::string name;
  std::size_t n = 0;
  bool paired = true;
};

// Which record sets the study has, and how each measurement varies.
class Plan {
 public:
  Plan(const Study& study, bool widen) : study_(study), widen_(widen) {
    const std::size_t raws = study.raw_names().size();
    sources.assign(study.size(), std::vector<MetricSource>(raws));
    std::map<std::string, std::size_t> by_name;
    for (std::size_t v = 0; v < study.size(); ++v) {
      for (std::size_t r = 0; r < raws; ++r) {
        MetricSource& s = sources[v][r];
        if (const MetricRecords* records = study.records(v, r)) {
          s = {Kind::kRecords, records->set, records->size(), true};
          const auto [it, added] = by_name.try_emplace(records->set, sets.size());
          if (added) sets.push_back({records->set, s.n, true});
          // Variants that hold different numbers of one set's records were not scored on the same
          // ones (e.g. a request that ended at once was dropped): each then draws its own.
          if (sets[it->second].n != s.n) sets[it->second].paired = false;
        } else if (study.measurement(v, r).samples.size() >= 2) {
          s = {Kind::kRepetitions, "", study.measurement(v, r).samples.size(), true};
        }
      }
    }
    set_of.assign(study.size(), std::vector<std::size_t>(raws, 0));
    for (std::size_t v = 0; v < study.size(); ++v) {
      for (std::size_t r = 0; r < raws; ++r) {
        MetricSource& s = sources[v][r];
        if (s.kind != Kind::kRecords) continue;
        set_of[v][r] = by_name.at(s.set);
        s.paired = sets[set_of[v][r]].paired;
      }
    }
    record_point.assign(study.size(), std::vector<double>(raws, 0));
    for (std::size_t v = 0; v < study.size(); ++v) {
      for (std::size_t r = 0; r < raws; ++r) {
        if (const MetricRecords* records = study.records(v, r))
          record_point[v][r] = record_statistic(*records, scratch);
      }
    }
    for (const auto& set : sets) {
      if (!set.paired) {
        notes.push_back(
            fmt::format("records \"{}\": the variants hold different numbers of them, so each variant's are "
                        "resampled on their own (unpaired)",
                        set.name));
      }
    }
  }

  // One resample's estimates, drawn from `rng` in a fixed order: the paired sets' indices first
  // (in order of first appearance), then each variant's unpaired records and repetitions.
  void draw(std::mt19937& rng, Estimates& est) {
    indices.resize(sets.size());
    for (std::size_t k = 0; k < sets.size(); ++k) {
      if (!sets[k].paired) continue;
      indices[k].resize(sets[k].n);
      for (auto& i : indices[k]) i = uniform_index(rng, sets[k].n);
    }
    const bool pessimistic = study_.profile().pessimistic;
    for (std::size_t v = 0; v < study_.size(); ++v) {
      for (std::size_t r = 0; r < study_.raw_names().size(); ++r) {
        const MetricSource& s = sources[v][r];
        const MetricValue& m = study_.measurement(v, r);
        if (s.kind == Kind::kRepetitions) {
          scratch.resize(m.samples.size());
          for (auto& x : scratch) x = m.samples[uniform_index(rng, m.samples.size())];
          est[v][r] = widened(estimate(scratch, pessimistic && m.unstable), study_.point()[v][r].central,
                              widen_ ? widening(s.n) : 1.0, m.samples);
        } else if (s.kind == Kind::kRecords) {
          est[v][r] = from_records(rng, v, r, pessimistic && m.unstable);
        }
      }
    }
  }

  std::vector<std::vector<MetricSource>> sources;
  std::vector<std::string> notes;

 private:
  Estimate from_records(std::mt19937& rng, std::size_t v, std::size_t r, bool pessimistic) {
    const MetricRecords& records = *study_.records(v, r);
    const RecordSet& set = sets[set_of[v][r]];
    const std::vector<std::size_t>* drawn = &indices[set_of[v][r]];
    if (!set.paired) {
      own.resize(records.size());
      for (auto& i : own) i = uniform_index(rng, own.size());
      drawn = &own;
    }
    const double value = record_statistic(records, *drawn, scratch);
    // Centred on the stored estimate (records and samples agree to rounding: Study checks it).
    // Not widened (as repetitions are): a scaled deviation would break the pairing, letting a
    // variant worse on one item come out ahead in resamples that never drew it.
    const double shift = study_.point()[v][r].central - record_point[v][r];
    if (pessimistic && records.statistic == MetricRecords::Statistic::kMean && records.weights.empty()) {
      const Estimate e = estimate(scratch, true);  // scratch holds the drawn values
      return {e.central + shift, e.for_higher + shift, e.for_lower + shift};
    }
    return {value + shift, value + shift, value + shift};
  }

  const Study& study_;
  bool widen_;
  std::vector<RecordSet> sets;
  std::vector<std::vector<std::size_t>> set_of;   // [variant][raw metric] -> index in sets
  std::vector<std::vector<double>> record_point;  // [variant][raw metric]: what all records give
  std::vector<std::vector<std::size_t>> indices;  // [set]: this resample's draw
  std::vector<std::size_t> own;
  std::vector<double> scratch;
};

}  // namespace

BootstrapUtilities bootstrap_utilities(const Study& study, const std::vector<bool>& feasible,
                                       const DecideOptions& options) {
  const std::size_t n = study.size();
  const std::size_t raws = study.raw_names().size();
  const auto resamples = static_cast<std::size_t>(options.bootstrap_resamples);
  std::mt19937 rng(options.seed);
  Plan plan(study, options.widen_small_samples);
  BootstrapUtilities boot{std::vector<std::vector<double>>(n, std::vector<double>(resamples)),
                          std::vector<double>(n, 0.0),
                          plan.sources,
                          {},
                          plan.notes};
  // [variant][raw metric][resample]: the central estimates, for each metric's interval.
  std::vector<std::vector<std::vector<double>>> central(n, std::vector<std::vector<double>>(raws));
  Estimates est = study.point();
  for (std::size_t b = 0; b < resamples; ++b) {
    plan.draw(rng, est);
    for (std::size_t v = 0; v < n; ++v) {
      for (std::size_t r = 0; r < raws; ++r) {
        if (plan.sources[v][r].kind != Kind::kFixed) central[v][r].push_back(est[v][r].central);
      }
    }
    const Scores s = study.score(study.weighted_values(est), est);
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
  boot.intervals.assign(n, std::vector<std::optional<std::pair<double, double>>>(raws));
  for (std::size_t v = 0; v < n; ++v) {
    for (std::size_t r = 0; r < raws; ++r) {
      if (central[v][r].empty()) continue;
      boot.intervals[v][r] = {stats::percentile(central[v][r], 2.5), stats::percentile(central[v][r], 97.5)};
    }
  }
  return boot;
}

}  // namespace uaqf::decide
