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
#include "decide/bootstrap.h"
#include "decide/calibration_effect.h"
#include "decide/normalize.h"
#include "decide/scoring.h"
#include "decide/significance.h"
#include "stats/summary.h"

namespace uaqf::decide {
namespace {

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
    if (!d.fixed_metrics.empty()) {
      lines.push_back("Held fixed by the bootstrap (measured once, no records to resample): " +
                      join(d.fixed_metrics, ", ", " and ") + ".");
    }

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
  return paired_quality_tests(variant, baseline, seed, resamples, "the baseline ");
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
  a.scores = study.score(a.values, study.point());
  a.violations = constraint_violations(study, profile);
  a.feasible.resize(study.size());
  for (std::size_t v = 0; v < study.size(); ++v) a.feasible[v] = a.violations[v].empty();
  a.dominance = find_dominance(study, a.values);
  a.bootstrap = bootstrap_utilities(study, a.feasible, options);
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
                                  name, number(used), with_unit(e.central, spec->unit)));
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
  for (std::size_t raw = 0; raw < study.raw_names().size(); ++raw) {
    const auto& interval = a.bootstrap.intervals[v][raw];
    if (!interval) continue;
    const MetricSource& source = a.bootstrap.sources[v][raw];
    r.metric_intervals[study.raw_names()[raw]] = {
        interval->first, interval->second, source.kind == MetricSource::Kind::kRecords ? source.set : "repetitions",
        source.n, source.kind == MetricSource::Kind::kRecords && source.paired};
  }
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
  d.notes.insert(d.notes.end(), a.bootstrap.notes.begin(), a.bootstrap.notes.end());
  for (const auto& m : study.weighted()) {
    for (std::size_t v = 0; v < study.size(); ++v) {
      if (a.bootstrap.sources[v][m.raw].kind != MetricSource::Kind::kFixed) continue;
      d.fixed_metrics.push_back(m.name);
      break;
    }
  }
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
    json intervals = json::object();
    for (const auto& [name, m] : r.metric_intervals) {
      intervals[name] = {
          {"low", m.low}, {"high", m.high}, {"resampled", m.resampled}, {"n", m.n}, {"paired", m.paired}};
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
                       {"vs_baseline", tests},
                       {"metric_intervals", intervals}});
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
              {"fixed_metrics", decision.fixed_metrics},
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
