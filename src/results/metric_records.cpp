#include "results/metric_records.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace uaqf::results {
namespace {

using nlohmann::json;
using Records = decide::MetricRecords;
using Statistic = decide::MetricRecords::Statistic;

void attach(decide::Variant& variant, const std::string& metric, Records records) {
  const auto it = variant.metrics.find(metric);
  if (it == variant.metrics.end() || records.size() == 0) return;
  it->second.records = std::move(records);
}

Records mean_of_values(const std::string& set, std::vector<double> values, Statistic statistic = Statistic::kMean) {
  Records r;
  r.set = set;
  r.statistic = statistic;
  r.values = std::move(values);
  return r;
}

Records percentile_of(const std::string& set, const std::vector<std::vector<double>>& per_record, double p) {
  Records r;
  r.set = set;
  r.statistic = Statistic::kPercentile;
  r.percentile = p;
  r.offsets.push_back(0);
  for (const auto& values : per_record) {
    r.values.insert(r.values.end(), values.begin(), values.end());
    r.offsets.push_back(r.values.size());
  }
  return r;
}

// The prompt workload's requests, in prompt order.
void attach_requests(decide::Variant& variant, const json& workload) {
  if (!workload.is_object() || !workload.contains("requests")) return;
  std::vector<double> ttft, e2e;
  std::vector<std::vector<double>> ttft_each, gaps;
  for (const auto& request : workload.at("requests")) {
    if (!request.contains("ttft_ms") || !request.contains("e2e_ms") || !request.contains("itl_ms")) return;
    ttft.push_back(request.at("ttft_ms").get<double>());
    e2e.push_back(request.at("e2e_ms").get<double>());
    ttft_each.push_back({ttft.back()});
    gaps.push_back(request.at("itl_ms").get<std::vector<double>>());
  }
  if (ttft.empty()) return;
  attach(variant, "ttft_ms", mean_of_values("requests", ttft));
  attach(variant, "e2e_ms", mean_of_values("requests", e2e));
  attach(variant, "ttft_p99_ms", percentile_of("requests", ttft_each, 99));
  // A tail over token gaps, resampled by request: the gaps of one request are not independent.
  if (std::any_of(gaps.begin(), gaps.end(), [](const auto& g) { return !g.empty(); })) {
    attach(variant, "itl_p50_ms", percentile_of("requests", gaps, 50));
    attach(variant, "itl_p99_ms", percentile_of("requests", gaps, 99));
  }
}

// Per-chunk series: equal-sized chunks, so the mean of per-chunk means is the per-token mean.
void attach_chunks(decide::Variant& variant, const json* kld, const decide::Variant* baseline) {
  const auto& chunks = variant.chunk_values;
  if (const auto nll = chunks.find("nll"); nll != chunks.end() && !nll->second.empty()) {
    attach(variant, "ppl", mean_of_values("chunks", nll->second, Statistic::kExpMean));
    const auto base = baseline ? baseline->chunk_values.find("nll") : chunks.end();
    if (baseline && base != baseline->chunk_values.end() && base->second.size() == nll->second.size()) {
      std::vector<double> difference(nll->second.size());
      for (std::size_t c = 0; c < difference.size(); ++c) difference[c] = nll->second[c] - base->second[c];
      attach(variant, "ln_ppl_ratio", mean_of_values("chunks", difference));
    }
  }
  if (const auto it = chunks.find("kld"); it != chunks.end())
    attach(variant, "kld_mean", mean_of_values("chunks", it->second));
  if (kld && kld->is_object() && kld->contains("same_top_chunks")) {
    attach(variant, "same_top_rate", mean_of_values("chunks", kld->at("same_top_chunks").get<std::vector<double>>()));
  }
}

double as_number(const json& value) {
  return value.is_boolean() ? (value.get<bool>() ? 1.0 : 0.0) : value.get<double>();
}

// A task metric's value for one item, and its weight (instructions of an IFEval prompt); nullopt
// when the record lacks what it needs.
using ItemValue = std::function<std::optional<std::pair<double, double>>(const json&)>;

ItemValue field(const char* name) {
  return [name](const json& r) -> std::optional<std::pair<double, double>> {
    if (!r.contains(name) || r.at(name).is_null()) return std::nullopt;
    return std::pair{as_number(r.at(name)), 1.0};
  };
}

// IFEval: a prompt passes when every instruction does; instruction level counts each instruction.
ItemValue verdicts(const char* name, bool per_instruction) {
  return [name, per_instruction](const json& r) -> std::optional<std::pair<double, double>> {
    if (!r.contains(name) || !r.at(name).is_array() || r.at(name).empty()) return std::nullopt;
    double passed = 0;
    for (const auto& verdict : r.at(name)) passed += verdict.get<bool>() ? 1 : 0;
    const auto count = static_cast<double>(r.at(name).size());
    if (per_instruction) return std::pair{passed / count, count};
    return std::pair{passed == count ? 1.0 : 0.0, 1.0};
  };
}

const std::map<std::string, ItemValue>& item_values() {
  static const std::map<std::string, ItemValue> table{
      {"acc", field("correct")},
      {"acc_norm", field("correct_norm")},
      {"exact_match_strict", field("correct_strict")},
      {"exact_match_flexible", field("correct_flexible")},
      {"prompt_level_strict_acc", verdicts("strict", false)},
      {"prompt_level_loose_acc", verdicts("loose", false)},
      {"inst_level_strict_acc", verdicts("strict", true)},
      {"inst_level_loose_acc", verdicts("loose", true)},
      {"identical_rate", field("identical")},
      {"normalized_edit_distance", field("normalized_edit_distance")},
      // An identical answer differs nowhere: its first difference is past its end.
      {"first_difference_position",
       [](const json& r) -> std::optional<std::pair<double, double>> {
         if (r.contains("first_difference") && !r.at("first_difference").is_null()) {
           return std::pair{r.at("first_difference").get<double>(), 1.0};
         }
         if (!r.contains("baseline_tokens")) return std::nullopt;
         return std::pair{r.at("baseline_tokens").get<double>(), 1.0};
       }},
  };
  return table;
}

void attach_task(decide::Variant& variant, const json& task) {
  if (!task.contains("task") || !task.contains("records") || !task.at("records").is_array()) return;
  const std::string name = task.at("task").get<std::string>();
  for (const auto& [metric, value_of] : item_values()) {
    if (!variant.metrics.contains(name + "." + metric)) continue;
    Records r = mean_of_values("task:" + name, {});
    bool weighted = false;
    bool complete = true;
    for (const auto& record : task.at("records")) {
      const auto item = value_of(record);
      if (!item) {
        complete = false;
        break;
      }
      r.values.push_back(item->first);
      r.weights.push_back(item->second);
      weighted = weighted || item->second != 1.0;
    }
    if (!complete) continue;
    if (!weighted) r.weights.clear();
    attach(variant, name + "." + metric, std::move(r));
  }
}

}  // namespace

namespace {

const decide::Variant* baseline_of(const std::vector<decide::Variant>& inputs) {
  for (const auto& input : inputs) {
    if (input.is_baseline) return &input;
  }
  return nullptr;
}

void attach_units(decide::Variant& input, const json* workload, const json* kld, const json* tasks,
                  const decide::Variant* baseline) {
  if (workload != nullptr) attach_requests(input, *workload);
  attach_chunks(input, kld, baseline);
  if (tasks != nullptr && tasks->is_array()) {
    for (const auto& task : *tasks) attach_task(input, task);
  }
}

}  // namespace

void attach_records(std::vector<decide::Variant>& inputs, const std::vector<VariantRecord>& variants) {
  const decide::Variant* baseline = baseline_of(inputs);
  for (auto& input : inputs) {
    const auto stored =
        std::find_if(variants.begin(), variants.end(), [&](const VariantRecord& v) { return v.name == input.name; });
    if (stored == variants.end()) continue;
    attach_units(input, stored->prompt_workload ? &*stored->prompt_workload : nullptr,
                 stored->kld ? &*stored->kld : nullptr, stored->tasks ? &*stored->tasks : nullptr, baseline);
  }
}

void attach_records(std::vector<decide::Variant>& inputs, const json& variants) {
  const decide::Variant* baseline = baseline_of(inputs);
  if (!variants.is_array()) return;
  for (auto& input : inputs) {
    for (const auto& stored : variants) {
      if (!stored.is_object() || stored.value("name", std::string()) != input.name) continue;
      const auto field = [&](const char* key) { return stored.contains(key) ? &stored.at(key) : nullptr; };
      attach_units(input, field("prompt_workload"), field("kld"), field("tasks"), baseline);
      break;
    }
  }
}

}  // namespace uaqf::results
