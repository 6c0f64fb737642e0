#pragma once

// The data `uaqf decide` ranks: each variant's measurements by metric name, and the catalog that
// says what each metric name means (unit, and whether more is better).

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace uaqf::decide {

enum class Direction { kHigherIsBetter, kLowerIsBetter };

struct MetricSpec {
  std::string name;
  std::string unit;  // "" for dimensionless numbers such as perplexity
  Direction direction;
};

// What a metric is computed from, so that the bootstrap can recompute it from resampled records:
// task items, text chunks or requests. Every variant of a study was scored on the same records,
// in the same order, so one draw of record indices serves them all (paired resampling).
struct MetricRecords {
  enum class Statistic {
    kMean,        // sum(w * v) / sum(w) over the records (w = 1 when `weights` is empty)
    kExpMean,     // exp of that mean (perplexity from per-chunk mean NLL)
    kPercentile,  // the `percentile` of every value the drawn records hold (token gaps of requests)
  };
  std::string set;  // which records: "task:hellaswag", "chunks", "requests"; one index set per name
  Statistic statistic = Statistic::kMean;
  std::vector<double> values;        // kMean, kExpMean: one per record; kPercentile: all, record by record
  std::vector<double> weights;       // kMean, kExpMean: one per record, or empty
  std::vector<std::size_t> offsets;  // kPercentile: record r holds values[offsets[r] .. offsets[r+1])
  double percentile = 0;             // kPercentile: in [0, 100]
  std::size_t size() const { return statistic == Statistic::kPercentile ? offsets.size() - 1 : values.size(); }
};

// A variant's measurements of one metric: raw samples (repeated trials), or one value.
struct MetricValue {
  std::vector<double> samples;
  // Set by the producer when the samples are too spread to trust (e.g. CV over --max-cv); with a
  // pessimistic profile the ranking then uses the unfavourable end of the interval.
  bool unstable = false;
  // When set, the bootstrap recomputes the metric from these records instead of resampling
  // `samples` (which then hold the value the records give, or the records' values themselves).
  std::optional<MetricRecords> records;
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
