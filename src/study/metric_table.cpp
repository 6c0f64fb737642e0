#include "study/metric_table.h"

#include <set>
#include <string_view>

#include <fmt/format.h>

#include "core/error.h"

namespace uaqf::study {
namespace {

constexpr double kBytesPerGib = 1024.0 * 1024.0 * 1024.0;

bool test_matches(const perf::Metric& metric, BenchTest test, const BenchShape& shape) {
  switch (test) {
    case BenchTest::kAny:
      return true;
    case BenchTest::kFirstPrefill:
      return metric.test == perf::test_name_prefill(shape.first_prompt_tokens, 0);
    case BenchTest::kDepthZero:
      return metric.depth == 0;
    case BenchTest::kTopParallel:
      return shape.top_parallel > 0 && metric.test == perf::test_name_parallel(shape.gen_tokens, shape.top_parallel);
    case BenchTest::kDecodeDepthZero:
      return metric.test == perf::test_name_decode(shape.gen_tokens, 0);
  }
  return false;
}

std::vector<double> statistic_of(const perf::Metric& metric, Statistic statistic) {
  switch (statistic) {
    case Statistic::kMedian:
      return {metric.summary.median};
    case Statistic::kP99:
      return {metric.summary.p99};
    case Statistic::kSamples:
      break;
  }
  // The decision sees the samples the summary used: late warm-up runs stay out.
  return {metric.samples.begin() + static_cast<std::ptrdiff_t>(metric.warmup_dropped), metric.samples.end()};
}

// Which task record field says the item was answered correctly.
std::string correctness_field(const std::string& task) { return task == "gsm8k" ? "correct_strict" : "correct"; }

// devices_used, tokens_per_s_per_device and device_memory_gib_total from where the memory went.
void add_device_metrics(const perf::ModelResult& bench, std::map<std::string, decide::MetricValue>& metrics) {
  if (bench.memory_placement.empty()) {
    return;  // an engine that cannot say where its memory is
  }
  std::set<std::string> devices;
  uint64_t total_bytes = 0;
  for (const auto& placed : bench.memory_placement) {
    if (!placed.host && placed.weights_bytes > 0) {
      // "CUDA0+CUDA1": a buffer split over several devices (llama.cpp's split mode tensor).
      std::string_view names = placed.device;
      for (auto plus = names.find('+'); !names.empty(); plus = names.find('+')) {
        devices.emplace(names.substr(0, plus));
        names = plus == std::string_view::npos ? std::string_view() : names.substr(plus + 1);
      }
    }
    total_bytes += placed.weights_bytes + placed.kv_bytes + placed.compute_bytes;
  }
  const double n_devices = devices.empty() ? 1.0 : static_cast<double>(devices.size());
  metrics["devices_used"] = {{n_devices}, false};
  metrics["device_memory_gib_total"] = {{static_cast<double>(total_bytes) / kBytesPerGib}, false};
  if (const auto decode = metrics.find("decode_tps"); decode != metrics.end()) {
    decide::MetricValue per_device = decode->second;
    for (double& value : per_device.samples) {
      value /= n_devices;
    }
    metrics["tokens_per_s_per_device"] = per_device;
  }
}

}  // namespace

const std::vector<BenchRoute>& bench_routes() {
  static const std::vector<BenchRoute> routes{
      {"prefill_tps", BenchTest::kFirstPrefill, "prefill_tps", Statistic::kSamples, true},
      {"decode_tps", BenchTest::kDepthZero, "decode_tps", Statistic::kSamples, true},
      {"load_ms", BenchTest::kAny, "load_ms", Statistic::kSamples, false},
      {"ttft_ms", BenchTest::kAny, "ttft_ms", Statistic::kSamples, true},
      {"ttft_ms", BenchTest::kAny, "ttft_p99_ms", Statistic::kP99, false},
      {"e2e_ms", BenchTest::kAny, "e2e_ms", Statistic::kSamples, true},
      {"itl_ms", BenchTest::kAny, "itl_p50_ms", Statistic::kMedian, false},
      {"itl_ms", BenchTest::kAny, "itl_p99_ms", Statistic::kP99, false},
      {"parallel_decode_tps", BenchTest::kTopParallel, "parallel_decode_tps", Statistic::kSamples, true},
      {"parallel_itl_ms", BenchTest::kTopParallel, "parallel_itl_ms", Statistic::kSamples, true},
      {"decode_j_per_token", BenchTest::kDecodeDepthZero, "energy_j_per_token", Statistic::kSamples, true},
  };
  return routes;
}

std::map<std::string, decide::MetricValue> decision_metrics(const perf::ModelResult& bench, const BenchShape& shape) {
  std::map<std::string, decide::MetricValue> metrics;
  for (const auto& metric : bench.metrics) {
    for (const auto& route : bench_routes()) {
      if (metric.name != route.bench_metric || !test_matches(metric, route.test, shape)) {
        continue;
      }
      const bool unstable = route.may_be_unstable && !metric.warnings.empty() && !metric.is_distribution;
      metrics[route.decision_metric] = {statistic_of(metric, route.statistic), unstable};
    }
  }
  if (bench.peak_rss_bytes) {
    metrics["peak_memory_gib"] = {{static_cast<double>(*bench.peak_rss_bytes) / kBytesPerGib}, false};
  }
  if (bench.peak_device_memory_bytes) {
    metrics["device_memory_gib"] = {{static_cast<double>(*bench.peak_device_memory_bytes) / kBytesPerGib}, false};
  }
  metrics["file_size_gib"] = {{static_cast<double>(bench.info.file_size_bytes) / kBytesPerGib}, false};
  add_device_metrics(bench, metrics);
  return metrics;
}

std::map<std::string, decide::MetricValue> decision_metrics(const tasks::PerplexityResult& quality,
                                                            std::map<std::string, std::vector<double>>& chunk_values) {
  std::map<std::string, decide::MetricValue> metrics;
  metrics["ppl"] = {{quality.ppl}, false};
  std::vector<double> chunk_nll, chunk_kld;
  for (const auto& chunk : quality.chunks) {
    chunk_nll.push_back(chunk.nll_sum / chunk.n_scored);
    if (chunk.kld_sum) {
      chunk_kld.push_back(*chunk.kld_sum / chunk.n_scored);
    }
  }
  chunk_values["nll"] = chunk_nll;
  if (quality.kld) {
    metrics["kld_mean"] = {{quality.kld->mean}, false};
    metrics["kld_p99"] = {{quality.kld->p99}, false};
    metrics["same_top_rate"] = {{quality.kld->same_top_rate}, false};
    metrics["ln_ppl_ratio"] = {{quality.kld->ln_ppl_ratio}, false};
    chunk_values["kld"] = chunk_kld;
  }
  return metrics;
}

std::map<std::string, decide::MetricValue> decision_metrics(const perf::ServingResult& serving,
                                                            std::vector<std::string>& notes,
                                                            std::optional<double> service_level) {
  const perf::LevelResult* top = nullptr;
  for (const auto& level : serving.levels) {
    if (level.searched) {
      continue;
    }
    const bool better =
        service_level ? level.level.value == *service_level : top == nullptr || level.level.value > top->level.value;
    if (better) {
      top = &level;
    }
  }
  if (top == nullptr) {
    throw Error(ErrorCode::kEngine,
                service_level ? fmt::format("serving: the sweep did not measure service_level {:g}", *service_level)
                              : std::string("serving: the sweep measured no level"));
  }
  std::map<std::string, decide::MetricValue> metrics;
  metrics["goodput_rps"] = {{top->goodput_rps}, false};
  metrics["slo_attainment"] = {{top->slo_attainment}, false};
  metrics["serving_output_tps"] = {{top->output_tps}, false};
  if (top->ttft_ms.n > 0) {
    metrics["serving_ttft_p99_ms"] = {{top->ttft_ms.p99.value}, false};
  }
  if (top->tpot_ms.n > 0) {
    metrics["serving_tpot_p99_ms"] = {{top->tpot_ms.p99.value}, false};
  }
  if (serving.at_slo) {
    const bool rates = serving.at_slo->mode == perf::LoadMode::kRate;
    const char* name = rates ? "max_rps_at_slo" : "max_concurrency_at_slo";
    const double value = serving.at_slo->value.value_or(0);
    metrics[name] = {{value}, false};
    if (serving.at_slo->lower_bound) {
      notes.push_back(
          fmt::format("{} = {:g} is a lower bound: the highest level tried still met the SLOs", name, value));
    }
  }
  return metrics;
}

void add_task_metrics(const tasks::TaskResult& task, decide::Variant& variant) {
  for (const auto& metric : task.metrics) {
    variant.metrics[task.task + "." + metric.name] = {{metric.value}, false};
  }
  std::vector<bool> correct;
  const std::string field = correctness_field(task.task);
  for (const auto& record : task.records) {
    if (record.contains(field)) {
      correct.push_back(record.at(field).get<bool>());
    }
  }
  if (!correct.empty()) {
    variant.item_correct[task.task] = correct;
  }
}

}  // namespace uaqf::study
