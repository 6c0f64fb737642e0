#pragma once

// The data `uaqf decide` ranks: each variant's measurements by metric name, and the catalog that
// says what each metric name means (unit, and whether more is better).

#include <map>
#include <string>
#include <vector>

namespace uaqf::decide {

enum class Direction { kHigherIsBetter, kLowerIsBetter };

struct MetricSpec {
  std::string name;
  std::string unit;  // "" for dimensionless numbers such as perplexity
  Direction direction;
};

// A variant's measurements of one metric: raw samples (repeated trials), or one value.
struct MetricValue {
  std::vector<double> samples;
  // Set by the producer when the samples are too spread to trust (e.g. CV over --max-cv); with a
  // pessimistic profile the ranking then uses the unfavourable end of the interval.
  bool unstable = false;
};

struct Variant {
  std::string name;  // e.g. "Q4_K_M"
  bool is_baseline = false;
  std::map<std::string, MetricValue> metrics;  // by metric name
  // task -> per-item correctness, same item order for every variant (for McNemar's test)
  std::map<std::string, std::vector<bool>> item_correct;
  // e.g. "nll" -> per-chunk mean NLL, "kld" -> per-chunk mean KLD (for the paired bootstrap)
  std::map<std::string, std::vector<double>> chunk_values;
};

// The metric a name denotes, or nullptr when the name is not in the catalog. Besides the fixed
// names (fixed_metrics()), it knows "<task>.<task metric>" (e.g. "gsm8k.exact_match_strict") and
// "<higher-is-better metric>.retention" (value / baseline's value). Thread-safe; the pointer stays
// valid for the life of the program.
const MetricSpec* find_metric(const std::string& name);

// The fixed part of the catalog, in documentation order.
const std::vector<MetricSpec>& fixed_metrics();

// Metric names a task reports ("acc", "exact_match_strict", ...), as "<task>.<name>" takes them.
const std::vector<std::string>& task_metric_names();

// "decode_tps" for "decode_tps.retention"; "" when `name` is not a retention metric.
std::string retention_base(const std::string& name);

std::string to_string(Direction direction);

}  // namespace uaqf::decide
