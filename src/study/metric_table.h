#pragma once

// Which measurement feeds which decision metric: one table for the benchmark's metrics, and the
// rules for quality and task results. A new decision metric is a row in decide's catalog and a
// row here.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "decide/model.h"
#include "perf/bench.h"
#include "perf/serving.h"
#include "tasks/perplexity.h"
#include "tasks/suite.h"

namespace uaqf::study {

// The benchmark test a decision metric is taken from.
enum class BenchTest {
  kAny,              // the metric's only test (load, the request test)
  kFirstPrefill,     // pp<first prompt length> at depth 0
  kDepthZero,        // any test at depth 0
  kTopParallel,      // the highest concurrency level
  kDecodeDepthZero,  // tg<gen tokens> at depth 0
};

enum class Statistic { kSamples, kMedian, kP99 };

struct BenchRoute {
  const char* bench_metric;
  BenchTest test;
  const char* decision_metric;
  Statistic statistic;
  bool may_be_unstable;  // false: marked stable whatever the spread (single values, distributions)
};

const std::vector<BenchRoute>& bench_routes();

// The shape of the benchmark, to tell its tests apart.
struct BenchShape {
  int first_prompt_tokens = 512;
  int gen_tokens = 128;
  int top_parallel = 0;  // 0: no concurrency sweep
};

// The decision metrics of one benchmarked variant (speed, energy, memory, file size).
std::map<std::string, decide::MetricValue> decision_metrics(const perf::ModelResult& bench, const BenchShape& shape);

// Perplexity and, against a baseline, KL-divergence metrics; per-chunk series go to `chunk_values`.
std::map<std::string, decide::MetricValue> decision_metrics(const tasks::PerplexityResult& quality,
                                                            std::map<std::string, std::vector<double>>& chunk_values);

// The serving workload's metrics, served by llama-server: at the sweep's highest level (searched
// levels aside) goodput_rps, slo_attainment, serving_output_tps (one value each: a single run has
// no spread), serving_ttft_p99_ms and serving_tpot_p99_ms (one value each: the level's 99th
// percentile over its requests; its order-statistic interval stays in the serving record); with
// SLOs, max_concurrency_at_slo or max_rps_at_slo (0 when not even the lowest level held). When that
// level is only a lower bound (the highest level tried still held), `notes` gets a line saying so.
// Throws Error when the sweep measured no level.
// `service_level`: the sweep level whose numbers enter the decision (the load the service must carry);
// nullopt: the highest level of the sweep. Throws Error when it was not measured.
std::map<std::string, decide::MetricValue> decision_metrics(const perf::ServingResult& serving,
                                                            std::vector<std::string>& notes,
                                                            std::optional<double> service_level = std::nullopt);

// "<task>.<metric>" for every metric of a task, and its per-item correctness (for McNemar's test).
void add_task_metrics(const tasks::TaskResult& task, decide::Variant& variant);

}  // namespace uaqf::study
