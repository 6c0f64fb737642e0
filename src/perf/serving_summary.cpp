// Per-request latencies, SLO checks and per-level summaries of the serving load generator.

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <regex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "perf/serving.h"
#include "stats/summary.h"

namespace uaqf::perf {
namespace {

constexpr std::array kSloMetrics{"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"};

bool meets(const RequestRecord& request, const Slo& slo) {
  if (!request.ok) {
    return false;
  }
  if (slo.metric == "ttft_ms") {
    return request.ttft_ms >= 0 && request.ttft_ms <= slo.limit_ms;
  }
  if (slo.metric == "tpot_ms") {
    // One token has no time per output token: nothing to miss.
    return request.tpot_ms <= slo.limit_ms;
  }
  if (slo.metric == "itl_ms") {
    return std::all_of(request.itl_ms.begin(), request.itl_ms.end(), [&](double gap) { return gap <= slo.limit_ms; });
  }
  return request.e2e_ms <= slo.limit_ms;
}

PercentileEstimate estimate(std::span<const double> samples, double p) {
  const auto interval = stats::percentile_interval(samples, p);
  return {.value = interval.value, .low = interval.low, .high = interval.high};
}

LatencySummary summarize_latency(const std::vector<double>& samples) {
  LatencySummary summary;
  summary.n = samples.size();
  if (samples.empty()) {
    return summary;
  }
  double total = 0;
  for (const double sample : samples) {
    total += sample;
  }
  summary.mean = total / static_cast<double>(samples.size());
  summary.p50 = estimate(samples, 50);
  summary.p90 = estimate(samples, 90);
  summary.p99 = estimate(samples, 99);
  return summary;
}

}  // namespace

std::vector<std::string> slo_metric_names() { return {kSloMetrics.begin(), kSloMetrics.end()}; }

Slo parse_slo(const std::string& text) {
  static const std::regex pattern(R"(^\s*([a-z0-9_]+)\s*<=\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*$)");
  std::smatch match;
  if (!std::regex_match(text, match, pattern)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("bad SLO '{}': write metric<=milliseconds, e.g. 'ttft_ms<=500' (metrics: {})", text,
                            fmt::join(kSloMetrics, ", ")));
  }
  Slo slo{.metric = match[1].str(), .limit_ms = std::stod(match[2].str())};
  if (std::find(kSloMetrics.begin(), kSloMetrics.end(), slo.metric) == kSloMetrics.end()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown SLO metric '{}' in '{}' (known: {})", slo.metric,
                                                         text, fmt::join(kSloMetrics, ", ")));
  }
  if (!(slo.limit_ms > 0)) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("SLO '{}': the limit must be above 0 ms", text));
  }
  return slo;
}

std::string to_string(const Slo& slo) { return fmt::format("{}<={:g}", slo.metric, slo.limit_ms); }

std::string to_string(LoadMode mode) { return mode == LoadMode::kConcurrency ? "concurrency" : "rate"; }

std::string to_string(Arrivals arrivals) { return arrivals == Arrivals::kPoisson ? "poisson" : "constant"; }

Arrivals parse_arrivals(const std::string& text) {
  if (text == "poisson") {
    return Arrivals::kPoisson;
  }
  if (text == "constant") {
    return Arrivals::kConstant;
  }
  throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown arrivals '{}' (poisson or constant)", text));
}

std::string to_string(const LoadLevel& level) {
  return level.mode == LoadMode::kConcurrency ? fmt::format("concurrency {:g}", level.value)
                                              : fmt::format("rate {:g}/s", level.value);
}

std::vector<double> arrival_times(double rate_rps, Arrivals arrivals, int max_requests, double duration_s,
                                  uint32_t seed) {
  if (!(rate_rps > 0)) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("request rate must be above 0, not {}", rate_rps));
  }
  std::vector<double> times;
  std::mt19937_64 generator(seed);
  std::exponential_distribution<double> gap(rate_rps);
  double t_s = 0;
  for (int i = 0; i < max_requests; ++i) {
    // The first request goes at once; every later one after a gap.
    if (i > 0) {
      t_s += arrivals == Arrivals::kPoisson ? gap(generator) : 1.0 / rate_rps;
    }
    if (t_s >= duration_s) {
      break;
    }
    times.push_back(t_s);
  }
  return times;
}

RequestRecord to_request_record(const backend::openai::GenerationRecord& record, double scheduled_s, std::size_t level,
                                const std::vector<Slo>& slos) {
  RequestRecord request;
  request.id = record.id;
  request.level = level;
  request.ok = record.ok;
  request.error = record.error;
  request.scheduled_s = scheduled_s;
  request.sent_s = record.sent_s;
  request.done_s = record.done_s;
  request.e2e_ms = (record.done_s - record.sent_s) * 1e3;
  if (record.first_token_s >= 0) {
    request.ttft_ms = (record.first_token_s - record.sent_s) * 1e3;
  }
  for (std::size_t i = 1; i < record.token_arrival_s.size(); ++i) {
    request.itl_ms.push_back((record.token_arrival_s[i] - record.token_arrival_s[i - 1]) * 1e3);
  }
  request.input_tokens = record.prompt_tokens.value_or(-1);
  request.output_tokens = record.output_tokens();
  request.output_tokens_counted = !record.completion_tokens.has_value();
  if (request.ttft_ms >= 0 && request.output_tokens >= 2) {
    request.tpot_ms = (request.e2e_ms - request.ttft_ms) / static_cast<double>(request.output_tokens - 1);
  }
  request.server_timings = record.server_timings;
  request.meets_slos =
      request.ok && std::all_of(slos.begin(), slos.end(), [&](const Slo& slo) { return meets(request, slo); });
  return request;
}

LevelResult summarize_level(const LoadLevel& level, const std::vector<RequestRecord>& requests) {
  LevelResult result{.level = level};
  if (requests.empty()) {
    return result;
  }
  double first_sent_s = requests.front().sent_s;
  double last_done_s = requests.front().done_s;
  double output_tokens = 0, input_tokens = 0;
  int good = 0;
  std::vector<double> ttft, tpot, itl, e2e;
  for (const auto& request : requests) {
    ++result.n_requests;
    first_sent_s = std::min(first_sent_s, request.sent_s);
    last_done_s = std::max(last_done_s, request.done_s);
    result.max_send_lag_ms = std::max(result.max_send_lag_ms, (request.sent_s - request.scheduled_s) * 1e3);
    good += request.meets_slos ? 1 : 0;
    if (!request.ok) {
      ++result.n_failed;
      ++result.errors[request.error];
      continue;
    }
    ++result.n_ok;
    output_tokens += request.output_tokens;
    input_tokens += std::max(request.input_tokens, 0);
    if (request.ttft_ms >= 0) {
      ttft.push_back(request.ttft_ms);
    }
    if (request.tpot_ms >= 0) {
      tpot.push_back(request.tpot_ms);
    }
    itl.insert(itl.end(), request.itl_ms.begin(), request.itl_ms.end());
    e2e.push_back(request.e2e_ms);
  }
  result.duration_s = std::max(last_done_s - first_sent_s, 1e-9);
  result.request_rps = result.n_ok / result.duration_s;
  result.output_tps = output_tokens / result.duration_s;
  result.input_tps = input_tokens / result.duration_s;
  result.slo_attainment = static_cast<double>(good) / result.n_requests;
  result.goodput_rps = good / result.duration_s;
  result.ttft_ms = summarize_latency(ttft);
  result.tpot_ms = summarize_latency(tpot);
  result.itl_ms = summarize_latency(itl);
  result.e2e_ms = summarize_latency(e2e);
  return result;
}

}  // namespace uaqf::perf
