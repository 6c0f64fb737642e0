#pragma once

// The recommendation: which variant best fits a deployment profile, how sure that is, and what
// would change it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "decide/model.h"
#include "decide/profile.h"

namespace uaqf::decide {

struct Violation {
  std::string constraint;  // as written
  double value;            // the variant's point estimate
  double threshold;
  double by;  // how far past the threshold, >= 0 (0 when a strict bound is met with equality)
};

// A paired quality test against the baseline, on the data both models were scored on.
struct BaselineTest {
  std::string measure;  // a task ("gsm8k", McNemar) or a per-chunk series ("nll", paired bootstrap)
  std::string test;     // "mcnemar" or "paired_bootstrap"
  int n;                // items or chunks
  // Variant - baseline: accuracy difference as a fraction of items, or mean per-chunk difference.
  double difference;
  std::optional<double> ci_low, ci_high;  // 95%, paired bootstrap only
  double p_value;                         // two-sided
};

// How sure one metric's estimate is: the 95% percentile interval of its central value over the
// bootstrap resamples, and what was resampled to get it.
struct MetricInterval {
  double low, high;
  std::string resampled;  // "repetitions", or the record set: "requests", "chunks", "task:hellaswag"
  std::size_t n;          // repetitions or records
  bool paired;            // records drawn with the same indices for every variant
};

struct RankedVariant {
  std::string name;
  bool feasible;
  std::vector<Violation> violations;
  double utility;                    // weighted mean of normalized metrics (weights / sum of weights)
  double utility_low, utility_high;  // 95% bootstrap interval of the utility
  double win_probability;            // share of bootstrap resamples in which it has the highest utility among feasible
                                     // variants (ties share the resample); 0 when infeasible
  std::vector<std::string> dominated_by;     // at least as good on every weighted metric, better on one
  bool on_pareto_front;                      // dominated by no variant
  std::vector<std::string> notes;            // e.g. "decode_tps unstable: pessimistic end of its interval used"
  std::map<std::string, double> values;      // point estimates of the weighted and constrained metrics
  std::map<std::string, double> normalized;  // normalized values of the weighted metrics
  std::vector<BaselineTest> vs_baseline;     // empty for the baseline itself
  // Every weighted or constrained measured metric that varies in the bootstrap (fixed ones have none).
  std::map<std::string, MetricInterval> metric_intervals;
};

struct Sensitivity {
  std::string winner;
  std::string runner_up;
  std::string from_metric;
  std::string to_metric;
  // Smallest transfer of normalized weight (weights summing to 1) from one metric to another that
  // makes runner_up's utility >= winner's; 0 with exists = false when no single transfer can.
  double weight_shift;
  bool exists;
};

struct Decision {
  std::string profile;
  std::vector<RankedVariant> ranking;  // feasible first by utility desc, then infeasible by utility desc
  std::optional<std::string> recommended;
  std::vector<Sensitivity> sensitivity;  // one per feasible runner-up, in rank order
  std::vector<std::string> notes;        // study-wide, e.g. a metric normalized min-max for lack of a ratio
  // Weighted metrics some variant has one value of (no repetitions, no records): the bootstrap holds
  // them fixed, so the intervals and win probabilities do not include their uncertainty.
  std::vector<std::string> fixed_metrics;
  int bootstrap_resamples = 0;
  std::string explanation;  // plain language, several lines
};

// The most bootstrap resamples a decision takes: its intervals are stable long before, and memory
// and time grow with the count (--bootstrap 2000000000 is a usage error, not bad_alloc).
inline constexpr int kMaxBootstrapResamples = 100000;

struct DecideOptions {
  int bootstrap_resamples = 1000;
  uint32_t seed = 42;
  // Widen each resample of n speed repetitions by t(0.975, n-1)/z(0.975)*sqrt(n/(n-1)) so that a mean of n
  // values gets Student's 95% interval (docs/decide.md); false: the plain percentile bootstrap,
  // for the calibration benchmark's comparison.
  bool widen_small_samples = true;
};

// Ranks `variants` under `profile`. At most one variant may be the baseline; one is required by
// ratio-to-baseline normalization and by ".retention" metrics. Throws Error(kInvalidArgument) on an
// invalid profile, no or duplicate variant names, a weighted or constrained metric a variant lacks
// (naming both), non-finite samples, or bootstrap_resamples outside [1, kMaxBootstrapResamples]. Deterministic for a
// given seed.
Decision decide(const std::vector<Variant>& variants, const Profile& profile, const DecideOptions& options);

// For variants with synthetic (random) weights, whose quality is never measured: the profile
// without the weights and constraints on metrics some variant lacks, each dropped one named in
// `notes`. Throws Error when no weight is left to rank on.
Profile without_unmeasured_metrics(const Profile& profile, const std::vector<Variant>& variants,
                                   std::vector<std::string>& notes);

// Study-wide notes found before deciding: first in `notes`, and told in the explanation.
void add_notes(Decision& decision, const std::vector<std::string>& notes);

// JSON for reports: every field above; NaN becomes null.
nlohmann::json to_json(const Decision& decision);

}  // namespace uaqf::decide
