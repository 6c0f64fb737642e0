#pragma once

// The serving load generator: drives an OpenAI-compatible endpoint at fixed concurrency levels
// (closed loop) or request rates (open loop, Poisson or constant arrivals), keeps every request's
// record, and summarizes each level: throughput, latency percentiles with intervals, SLO
// attainment, goodput (requests/s meeting every SLO, as vLLM's --goodput counts it) and the
// highest level that keeps attainment at or above a target.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backend/openai/client.h"

namespace uaqf::perf {

// What the load generator drives; backend::openai::Client in production, a simulated server in
// tests.
class RequestEndpoint {
 public:
  virtual ~RequestEndpoint() = default;
  virtual double now_s() const = 0;
  virtual void submit(backend::openai::GenerationRequest request) = 0;
  // Waits at most max_wait_s; returns the requests that ended.
  virtual std::vector<backend::openai::GenerationRecord> poll(double max_wait_s) = 0;
  virtual std::size_t in_flight() const = 0;
  virtual std::vector<backend::openai::GenerationRecord> cancel_all() = 0;
};

// The endpoint over a real client (borrowed).
class ClientEndpoint final : public RequestEndpoint {
 public:
  explicit ClientEndpoint(backend::openai::Client& client) : client_(client) {}
  double now_s() const override { return client_.now_s(); }
  void submit(backend::openai::GenerationRequest request) override { client_.submit(std::move(request)); }
  std::vector<backend::openai::GenerationRecord> poll(double max_wait_s) override { return client_.poll(max_wait_s); }
  std::size_t in_flight() const override { return client_.in_flight(); }
  std::vector<backend::openai::GenerationRecord> cancel_all() override { return client_.cancel_all(); }

 private:
  backend::openai::Client& client_;
};

// A per-request service-level objective, e.g. "ttft_ms<=500".
struct Slo {
  std::string metric;  // ttft_ms, tpot_ms, itl_ms (every gap), e2e_ms
  double limit_ms = 0;
};
std::vector<std::string> slo_metric_names();
// "ttft_ms<=500" (spaces allowed); throws Error naming the text and the known metrics.
Slo parse_slo(const std::string& text);
std::string to_string(const Slo& slo);

enum class LoadMode { kConcurrency, kRate };
enum class Arrivals { kPoisson, kConstant };
std::string to_string(LoadMode mode);
std::string to_string(Arrivals arrivals);
Arrivals parse_arrivals(const std::string& text);  // poisson|constant; throws Error

struct LoadLevel {
  LoadMode mode = LoadMode::kConcurrency;
  double value = 1;  // requests in flight, or requests per second
};
std::string to_string(const LoadLevel& level);  // "concurrency 4", "rate 2.5/s"

struct ServingPlan {
  std::vector<std::string> prompts;  // used in turn
  backend::openai::Api api = backend::openai::Api::kChat;
  int max_new_tokens = 128;
  bool ignore_eos = false;      // every request generates max_new_tokens
  int requests_per_level = 64;  // closed loop: requests sent; open loop: at most
  double duration_s = 60;       // open loop: arrivals stop after this; closed loop: sending stops
  Arrivals arrivals = Arrivals::kPoisson;
  uint32_t seed = 1;        // Poisson arrivals and prompt order
  int warmup_requests = 2;  // one at a time before the first level, not recorded
  std::vector<Slo> slos;
  double attainment_target = 0.99;  // for the highest level at SLO
  double search_budget_s = 120;     // time the search for that level may take after the sweep
  double drain_timeout_s = 600;     // after the sending ends, how long requests in flight may take
};

// One request as measured, in milliseconds from its scheduled send time.
struct RequestRecord {
  uint64_t id = 0;
  std::size_t level = 0;  // index into ServingResult::levels
  bool ok = false;
  std::string error;       // one line when !ok
  double scheduled_s = 0;  // when the plan meant to send it (open loop: its arrival)
  double sent_s = 0;       // when it was sent; sent_s - scheduled_s is the generator's lag
  double done_s = 0;
  double ttft_ms = -1;  // first generated text (-1: none)
  double e2e_ms = 0;
  double tpot_ms = -1;         // (e2e - ttft) / (output tokens - 1); -1 with fewer than 2 tokens
  std::vector<double> itl_ms;  // gaps between chunks with generated text
  int input_tokens = -1;       // from the server's usage; -1 when it gave none
  int output_tokens = 0;
  bool output_tokens_counted = false;  // no usage from the server: chunks were counted
  std::optional<backend::openai::ServerTimings> server_timings;
  bool meets_slos = false;
};

// A percentile of a metric with its 95% distribution-free interval (order statistics); the
// interval is open-ended (nullopt bound) when the level has too few requests to bound it.
struct PercentileEstimate {
  double value = 0;
  std::optional<double> low, high;
};

struct LatencySummary {
  std::size_t n = 0;
  double mean = 0;
  PercentileEstimate p50, p90, p99;
};

struct LevelResult {
  LoadLevel level;
  int n_requests = 0, n_ok = 0, n_failed = 0;
  double duration_s = 0;   // first send to last end
  double request_rps = 0;  // completed ok requests per second
  double output_tps = 0;   // generated tokens per second (ok requests)
  double input_tps = 0;    // prompt tokens per second (where the server said)
  LatencySummary ttft_ms, tpot_ms, itl_ms, e2e_ms;
  double slo_attainment = 0;          // share of all requests (failed ones count as missing) meeting every SLO
  double goodput_rps = 0;             // requests meeting every SLO per second
  double max_send_lag_ms = 0;         // the generator's worst lag behind the schedule
  std::map<std::string, int> errors;  // reason -> count
  bool searched = false;              // run by the search for the highest level at SLO, not the sweep
};

// The highest level whose attainment stays at or above the target, from the sweep and a bisection
// between the last level that held and the first that did not.
struct LevelAtSlo {
  LoadMode mode = LoadMode::kConcurrency;
  std::optional<double> value;  // nullopt: not even the lowest level held
  bool lower_bound = false;     // the highest level tested still held: the true value is higher
  double next_failing = 0;      // the lowest level that missed the target (0: none)
};

struct ServingResult {
  std::vector<LevelResult> levels;
  std::vector<RequestRecord> requests;
  std::optional<LevelAtSlo> at_slo;  // when SLOs were given
  bool interrupted = false;          // the run stopped early; the levels so far are kept
  std::string interruption;
};

// Derives a request's latencies and whether it meets the SLOs.
RequestRecord to_request_record(const backend::openai::GenerationRecord& record, double scheduled_s, std::size_t level,
                                const std::vector<Slo>& slos);
// Summarizes the requests of one level.
LevelResult summarize_level(const LoadLevel& level, const std::vector<RequestRecord>& requests);

// Called after each request ends: (level, requests ended, requests planned).
using ServingProgressFn = std::function<void(const LoadLevel&, int, int)>;

// Called after each level with everything measured so far, so that callers can keep it.
using LevelDoneFn = std::function<void(const ServingResult&)>;

// Runs the levels in order (then the search, when SLOs are given). A level whose requests all fail
// ends the sweep (the server is gone); the levels measured so far are kept.
ServingResult run_serving(RequestEndpoint& endpoint, const ServingPlan& plan, const std::vector<LoadLevel>& levels,
                          const ServingProgressFn& progress = {}, const LevelDoneFn& on_level = {});

// Measures one more level for the search (nullopt: the endpoint is gone).
using LevelProbeFn = std::function<std::optional<LevelResult>(const LoadLevel&)>;
// The highest level of `sweep` whose attainment holds the plan's target, narrowed by probing levels
// between the highest that held and the lowest above it that did not, within the search budget.
LevelAtSlo search_level_at_slo(const ServingResult& sweep, const ServingPlan& plan, const LevelProbeFn& probe);

// Arrival times in seconds from the level's start: Poisson (exponential gaps, seeded) or constant.
std::vector<double> arrival_times(double rate_rps, Arrivals arrivals, int max_requests, double duration_s,
                                  uint32_t seed);

}  // namespace uaqf::perf
