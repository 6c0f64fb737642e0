#include "decide/model.h"

#include <algorithm>
#include <mutex>
#include <optional>

namespace uaqf::decide {
namespace {

constexpr const char* kRetentionSuffix = ".retention";

bool is_identifier(const std::string& text) {
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

const MetricSpec* find_fixed(const std::string& name) {
  for (const auto& spec : fixed_metrics()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// "<task>.<task metric>": any task name (tasks are added over time), but only metric names that
// tasks report, so that a typo in the metric part is caught.
std::optional<MetricSpec> task_metric(const std::string& name) {
  const auto dot = name.find('.');
  if (dot == std::string::npos || name.find('.', dot + 1) != std::string::npos) return std::nullopt;
  const std::string task = name.substr(0, dot);
  const std::string metric = name.substr(dot + 1);
  if (!is_identifier(task) || find_fixed(task) != nullptr) return std::nullopt;
  const auto& known = task_metric_names();
  if (std::find(known.begin(), known.end(), metric) == known.end()) return std::nullopt;
  // Divergence from the baseline's greedy answers: distance is lower-better, and the first
  // differing position is a token count.
  if (metric == "normalized_edit_distance") return MetricSpec{name, "fraction", Direction::kLowerIsBetter};
  if (metric == "first_difference_position") return MetricSpec{name, "tokens", Direction::kHigherIsBetter};
  return MetricSpec{name, "fraction", Direction::kHigherIsBetter};
}

std::optional<MetricSpec> derived_metric(const std::string& name) {
  if (auto task = task_metric(name)) return task;
  const std::string base = retention_base(name);
  if (base.empty()) return std::nullopt;
  const MetricSpec* base_spec = find_fixed(base);
  std::optional<MetricSpec> task_base;
  if (base_spec == nullptr) {
    task_base = task_metric(base);
    if (task_base) base_spec = &*task_base;
  }
  // Retention of a lower-is-better metric would read backwards (less latency retained is good).
  if (base_spec == nullptr || base_spec->direction != Direction::kHigherIsBetter) return std::nullopt;
  return MetricSpec{name, "ratio", Direction::kHigherIsBetter};
}

}  // namespace

const std::vector<MetricSpec>& fixed_metrics() {
  static const std::vector<MetricSpec> metrics = {
      {"prefill_tps", "tokens/s", Direction::kHigherIsBetter},
      {"decode_tps", "tokens/s", Direction::kHigherIsBetter},
      // Aggregate decode of the study's highest concurrency level, and each sequence's step time.
      {"parallel_decode_tps", "tokens/s", Direction::kHigherIsBetter},
      {"parallel_itl_ms", "ms", Direction::kLowerIsBetter},
      {"ttft_ms", "ms", Direction::kLowerIsBetter},
      {"ttft_p99_ms", "ms", Direction::kLowerIsBetter},
      {"itl_p50_ms", "ms", Direction::kLowerIsBetter},
      {"itl_p99_ms", "ms", Direction::kLowerIsBetter},
      {"e2e_ms", "ms", Direction::kLowerIsBetter},
      {"load_ms", "ms", Direction::kLowerIsBetter},
      {"peak_memory_gib", "GiB", Direction::kLowerIsBetter},
      // Accelerator memory the variant added at its peak (weights, KV cache, compute buffers).
      {"device_memory_gib", "GiB", Direction::kLowerIsBetter},
      {"file_size_gib", "GiB", Direction::kLowerIsBetter},
      // Devices as a cost: how many devices hold a part of the weights (the host counts as one
      // when nothing is offloaded), decode tokens/s per such device, and the memory the placement
      // took on all of them together (weights, KV cache and compute buffers, llama.cpp's breakdown).
      {"devices_used", "devices", Direction::kLowerIsBetter},
      {"tokens_per_s_per_device", "tokens/s", Direction::kHigherIsBetter},
      {"device_memory_gib_total", "GiB", Direction::kLowerIsBetter},
      {"energy_j_per_token", "J/token", Direction::kLowerIsBetter},
      {"ppl", "", Direction::kLowerIsBetter},
      {"ln_ppl_ratio", "nats", Direction::kLowerIsBetter},
      {"kld_mean", "nats", Direction::kLowerIsBetter},
      {"kld_p99", "nats", Direction::kLowerIsBetter},
      {"same_top_rate", "fraction", Direction::kHigherIsBetter},
      // The serving workload ([workload.serving]: llama-server over HTTP), at the sweep's highest
      // level: requests/s meeting every SLO, the share of requests that did, generated tokens/s,
      // and the 99th percentiles of time to first token and time per output token.
      {"goodput_rps", "requests/s", Direction::kHigherIsBetter},
      {"slo_attainment", "fraction", Direction::kHigherIsBetter},
      {"serving_output_tps", "tokens/s", Direction::kHigherIsBetter},
      {"serving_ttft_p99_ms", "ms", Direction::kLowerIsBetter},
      {"serving_tpot_p99_ms", "ms", Direction::kLowerIsBetter},
      // The highest load that keeps attainment at the target (sweep and bisection): requests in
      // flight for concurrency sweeps, requests/s for rate sweeps; 0 when not even the lowest held.
      {"max_concurrency_at_slo", "requests", Direction::kHigherIsBetter},
      {"max_rps_at_slo", "requests/s", Direction::kHigherIsBetter},
      // [model] calibrations: what a variant's importance matrix cost (0 for plain variants, so
      // weigh them under min-max or z-score normalization, not ratio).
      {"calibration_s", "s", Direction::kLowerIsBetter},
      {"calibration_tokens", "tokens", Direction::kLowerIsBetter},
  };
  return metrics;
}

const std::vector<std::string>& task_metric_names() {
  static const std::vector<std::string> names = {"acc",
                                                 "acc_norm",
                                                 "exact_match_strict",
                                                 "exact_match_flexible",
                                                 "prompt_level_strict_acc",
                                                 "inst_level_strict_acc",
                                                 "prompt_level_loose_acc",
                                                 "inst_level_loose_acc",
                                                 "identical_rate",
                                                 "first_difference_position",
                                                 "normalized_edit_distance"};
  return names;
}

std::string retention_base(const std::string& name) {
  const std::string suffix = kRetentionSuffix;
  if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return "";
  }
  std::string base = name.substr(0, name.size() - suffix.size());
  // "x.retention.retention" is not a metric: retention of a ratio that is 1 by construction.
  if (base.size() >= suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return "";
  }
  return base;
}

const MetricSpec* find_metric(const std::string& name) {
  if (const MetricSpec* fixed = find_fixed(name)) return fixed;
  // Derived names are built on first use and kept, so the returned pointer stays valid (std::map
  // nodes never move).
  static std::mutex mutex;
  static std::map<std::string, MetricSpec> derived;
  const std::lock_guard<std::mutex> lock(mutex);
  if (auto it = derived.find(name); it != derived.end()) return &it->second;
  auto spec = derived_metric(name);
  if (!spec) return nullptr;
  return &derived.emplace(name, std::move(*spec)).first->second;
}

std::string to_string(Direction direction) {
  return direction == Direction::kHigherIsBetter ? "higher is better" : "lower is better";
}

}  // namespace uaqf::decide
