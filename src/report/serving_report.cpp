#include "report/serving_report.h"

#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include "report/table.h"

namespace uaqf::report {
namespace {

using nlohmann::json;
using perf::LatencySummary;
using perf::PercentileEstimate;

json optional_number(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

json estimate_to_json(const PercentileEstimate& estimate) {
  return {{"value", estimate.value},
          {"ci95_low", optional_number(estimate.low)},
          {"ci95_high", optional_number(estimate.high)}};
}

json latency_to_json(const LatencySummary& summary) {
  return {{"n", summary.n},
          {"mean", summary.mean},
          {"p50", estimate_to_json(summary.p50)},
          {"p90", estimate_to_json(summary.p90)},
          {"p99", estimate_to_json(summary.p99)}};
}

json request_to_json(const perf::RequestRecord& request) {
  json record{{"id", request.id},
              {"level", request.level},
              {"ok", request.ok},
              {"scheduled_s", request.scheduled_s},
              {"sent_s", request.sent_s},
              {"done_s", request.done_s},
              {"ttft_ms", request.ttft_ms},
              {"tpot_ms", request.tpot_ms},
              {"e2e_ms", request.e2e_ms},
              {"itl_ms", request.itl_ms},
              {"input_tokens", request.input_tokens},
              {"output_tokens", request.output_tokens},
              {"output_tokens_counted", request.output_tokens_counted},
              {"meets_slos", request.meets_slos}};
  if (!request.ok) {
    record["error"] = request.error;
  }
  if (request.server_timings) {
    const auto& timings = *request.server_timings;
    record["server_timings"] = {{"prompt_ms", timings.prompt_ms},
                                {"prompt_n", timings.prompt_n},
                                {"predicted_ms", timings.predicted_ms},
                                {"predicted_n", timings.predicted_n}};
  }
  return record;
}

std::string format_estimate(const PercentileEstimate& estimate, std::size_t n) {
  if (n == 0) {
    return "-";
  }
  return fmt::format("{:.1f}", estimate.value);
}

std::string interval_text(const std::optional<double>& bound) { return bound ? fmt::format("{:.3f}", *bound) : ""; }

}  // namespace

json level_to_json(const perf::LevelResult& level) {
  json errors = json::object();
  for (const auto& [reason, count] : level.errors) {
    errors[reason] = count;
  }
  return {{"mode", perf::to_string(level.level.mode)},
          {"value", level.level.value},
          {"searched", level.searched},
          {"requests", level.n_requests},
          {"ok", level.n_ok},
          {"failed", level.n_failed},
          {"duration_s", level.duration_s},
          {"request_rps", level.request_rps},
          {"output_tps", level.output_tps},
          {"input_tps", level.input_tps},
          {"ttft_ms", latency_to_json(level.ttft_ms)},
          {"tpot_ms", latency_to_json(level.tpot_ms)},
          {"itl_ms", latency_to_json(level.itl_ms)},
          {"e2e_ms", latency_to_json(level.e2e_ms)},
          {"slo_attainment", level.slo_attainment},
          {"goodput_rps", level.goodput_rps},
          {"max_send_lag_ms", level.max_send_lag_ms},
          {"errors", errors}};
}

json at_slo_to_json(const perf::LevelAtSlo& at_slo, double attainment_target) {
  return {{"mode", perf::to_string(at_slo.mode)},
          {"attainment_target", attainment_target},
          {"value", optional_number(at_slo.value)},
          {"lower_bound", at_slo.lower_bound},
          {"next_failing", at_slo.next_failing == 0 ? json(nullptr) : json(at_slo.next_failing)}};
}

namespace {

perf::LoadMode load_mode_from(const json& text) {
  return text.get<std::string>() == "rate" ? perf::LoadMode::kRate : perf::LoadMode::kConcurrency;
}

LatencySummary latency_from_json(const json& j) {
  LatencySummary summary;
  summary.n = j.at("n").get<std::size_t>();
  summary.mean = j.at("mean").get<double>();
  summary.p50.value = j.at("p50").at("value").get<double>();
  summary.p90.value = j.at("p90").at("value").get<double>();
  summary.p99.value = j.at("p99").at("value").get<double>();
  return summary;
}

}  // namespace

perf::ServingResult serving_summary_from_json(const json& serving) {
  perf::ServingResult result;
  for (const auto& j : serving.at("levels")) {
    perf::LevelResult& level = result.levels.emplace_back();
    level.level = {.mode = load_mode_from(j.at("mode")), .value = j.at("value").get<double>()};
    level.searched = j.at("searched").get<bool>();
    level.n_requests = j.at("requests").get<int>();
    level.n_ok = j.at("ok").get<int>();
    level.n_failed = j.at("failed").get<int>();
    level.request_rps = j.at("request_rps").get<double>();
    level.output_tps = j.at("output_tps").get<double>();
    level.ttft_ms = latency_from_json(j.at("ttft_ms"));
    level.tpot_ms = latency_from_json(j.at("tpot_ms"));
    level.slo_attainment = j.at("slo_attainment").get<double>();
    level.goodput_rps = j.at("goodput_rps").get<double>();
  }
  if (const auto at = serving.find("at_slo"); at != serving.end() && !at->is_null()) {
    perf::LevelAtSlo at_slo{.mode = load_mode_from(at->at("mode")), .lower_bound = at->at("lower_bound").get<bool>()};
    if (!at->at("value").is_null()) at_slo.value = at->at("value").get<double>();
    if (!at->at("next_failing").is_null()) at_slo.next_failing = at->at("next_failing").get<double>();
    result.at_slo = at_slo;
  }
  return result;
}

json serving_to_json(const perf::ServingPlan& plan, const perf::ServingResult& result) {
  json slos = json::array();
  for (const auto& slo : plan.slos) {
    slos.push_back(perf::to_string(slo));
  }
  json out{{"schema", kServingSchema},
           {"plan",
            {{"prompts", plan.prompts.size()},
             {"api", plan.api == backend::openai::Api::kChat ? "chat" : "completions"},
             {"max_new_tokens", plan.max_new_tokens},
             {"ignore_eos", plan.ignore_eos},
             {"requests_per_level", plan.requests_per_level},
             {"duration_s", plan.duration_s},
             {"arrivals", perf::to_string(plan.arrivals)},
             {"seed", plan.seed},
             {"warmup_requests", plan.warmup_requests},
             {"slos", slos},
             {"attainment_target", plan.attainment_target}}},
           {"levels", json::array()},
           {"requests", json::array()},
           {"interrupted", result.interrupted}};
  for (const auto& level : result.levels) {
    out["levels"].push_back(level_to_json(level));
  }
  for (const auto& request : result.requests) {
    out["requests"].push_back(request_to_json(request));
  }
  if (result.at_slo) {
    out["at_slo"] = at_slo_to_json(*result.at_slo, plan.attainment_target);
  }
  if (result.interrupted) {
    out["interruption"] = result.interruption;
  }
  return out;
}

std::string serving_levels_to_csv(const perf::ServingResult& result) {
  std::ostringstream out;
  out << "mode,value,searched,requests,ok,failed,duration_s,request_rps,output_tps,slo_attainment,goodput_rps";
  for (const char* metric : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"}) {
    for (const char* p : {"p50", "p90", "p99"}) {
      out << fmt::format(",{0}_{1},{0}_{1}_ci95_low,{0}_{1}_ci95_high", metric, p);
    }
  }
  out << ",max_send_lag_ms\n";
  for (const auto& level : result.levels) {
    out << fmt::format("{},{},{},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}", perf::to_string(level.level.mode),
                       level.level.value, level.searched ? 1 : 0, level.n_requests, level.n_ok, level.n_failed,
                       level.duration_s, level.request_rps, level.output_tps, level.slo_attainment, level.goodput_rps);
    for (const auto* summary : {&level.ttft_ms, &level.tpot_ms, &level.itl_ms, &level.e2e_ms}) {
      for (const auto* estimate : {&summary->p50, &summary->p90, &summary->p99}) {
        out << (summary->n == 0 ? std::string(",,,")
                                : fmt::format(",{:.3f},{},{}", estimate->value, interval_text(estimate->low),
                                              interval_text(estimate->high)));
      }
    }
    out << fmt::format(",{:.3f}\n", level.max_send_lag_ms);
  }
  return out.str();
}

void print_serving_table(std::ostream& out, const perf::ServingPlan& plan, const perf::ServingResult& result) {
  std::vector<std::vector<std::string>> rows{{"level", "ok/sent", "req/s", "out tok/s", "ttft p50", "ttft p99",
                                              "tpot p50", "tpot p99", "e2e p99", "attain", "goodput"}};
  for (const auto& level : result.levels) {
    rows.push_back(
        {perf::to_string(level.level) + (level.searched ? " *" : ""),
         fmt::format("{}/{}", level.n_ok, level.n_requests), fmt::format("{:.2f}", level.request_rps),
         fmt::format("{:.1f}", level.output_tps), format_estimate(level.ttft_ms.p50, level.ttft_ms.n),
         format_estimate(level.ttft_ms.p99, level.ttft_ms.n), format_estimate(level.tpot_ms.p50, level.tpot_ms.n),
         format_estimate(level.tpot_ms.p99, level.tpot_ms.n), format_estimate(level.e2e_ms.p99, level.e2e_ms.n),
         fmt::format("{:.1f}%", level.slo_attainment * 100), fmt::format("{:.2f}", level.goodput_rps)});
  }
  print_text_table(out, rows, 1);
  out << "latencies in ms; * = run by the search for the highest level at SLO\n";
  for (const auto& level : result.levels) {
    for (const auto& [reason, count] : level.errors) {
      out << fmt::format("{}: {} request(s) failed: {}\n", perf::to_string(level.level), count, reason);
    }
  }
  if (result.at_slo) {
    const auto& at_slo = *result.at_slo;
    std::string slos;
    for (const auto& slo : plan.slos) {
      slos += (slos.empty() ? "" : ", ") + perf::to_string(slo);
    }
    const std::string unit = at_slo.mode == perf::LoadMode::kRate ? " req/s" : " in flight";
    if (!at_slo.value) {
      out << fmt::format("no level tested keeps {:.0f}% of requests within {}\n", plan.attainment_target * 100, slos);
    } else {
      out << fmt::format("highest {} keeping {:.0f}% within {}: {}{:g}{}{}\n", perf::to_string(at_slo.mode),
                         plan.attainment_target * 100, slos, at_slo.lower_bound ? ">= " : "", *at_slo.value, unit,
                         at_slo.next_failing > 0 ? fmt::format(" ({:g} misses it)", at_slo.next_failing)
                                                 : std::string(" (the highest tested; higher ones were not tried)"));
    }
  }
  if (result.interrupted) {
    out << "stopped early: " << result.interruption << '\n';
  }
}

}  // namespace uaqf::report
