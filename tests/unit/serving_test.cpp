// The serving load generator against a simulated server on a virtual clock: a fixed number of
// slots, a fixed time to first token and per output token, and a queue in front of the slots.

#include <algorithm>
#include <cmath>
#include <deque>

#include <gtest/gtest.h>

#include "core/error.h"
#include "perf/serving.h"
#include "stats/summary.h"

namespace uaqf::perf {
namespace {

using backend::openai::GenerationRecord;
using backend::openai::GenerationRequest;

class SimulatedServer final : public RequestEndpoint {
 public:
  SimulatedServer(std::size_t slots, double ttft_s, double tpot_s) : slots_(slots), ttft_s_(ttft_s), tpot_s_(tpot_s) {}

  double now_s() const override { return now_s_; }
  void submit(GenerationRequest request) override {
    queue_.push_back({request, now_s_, -1});
    max_in_flight_ = std::max(max_in_flight_, in_flight());
    start_waiting();
  }
  std::vector<GenerationRecord> poll(double max_wait_s) override {
    double next_s = now_s_ + max_wait_s;
    for (const auto& running : running_) {
      next_s = std::min(next_s, end_s(running));
    }
    now_s_ = std::max(now_s_, next_s);
    std::vector<GenerationRecord> ended;
    for (auto it = running_.begin(); it != running_.end();) {
      if (end_s(*it) <= now_s_ + 1e-12) {
        ended.push_back(record_of(*it));
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
    start_waiting();
    return ended;
  }
  std::size_t in_flight() const override { return queue_.size() + running_.size(); }
  std::vector<GenerationRecord> cancel_all() override { return {}; }

  std::size_t max_in_flight_ = 0;
  int fail_every_ = 0;  // every n-th request fails (0: none)

 private:
  struct Job {
    GenerationRequest request;
    double sent_s;
    double slot_s;
  };
  double end_s(const Job& job) const { return job.slot_s + ttft_s_ + tpot_s_ * (job.request.max_tokens - 1); }
  void start_waiting() {
    while (!queue_.empty() && running_.size() < slots_) {
      queue_.front().slot_s = now_s_;
      running_.push_back(queue_.front());
      queue_.pop_front();
    }
  }
  GenerationRecord record_of(const Job& job) const {
    GenerationRecord record{.id = job.request.id, .ok = true, .http_status = 200, .sent_s = job.sent_s};
    if (fail_every_ > 0 && (job.request.id + 1) % static_cast<uint64_t>(fail_every_) == 0) {
      record.ok = false;
      record.error = "HTTP 500: simulated";
      record.done_s = end_s(job);
      return record;
    }
    record.first_token_s = job.slot_s + ttft_s_;
    for (int i = 0; i < job.request.max_tokens; ++i) {
      record.token_arrival_s.push_back(record.first_token_s + tpot_s_ * i);
    }
    record.done_s = end_s(job);
    record.prompt_tokens = 10;
    record.completion_tokens = job.request.max_tokens;
    record.content_chunks = job.request.max_tokens;
    return record;
  }

  std::size_t slots_;
  double ttft_s_, tpot_s_;
  double now_s_ = 0;
  std::deque<Job> queue_;
  std::vector<Job> running_;
};

ServingPlan small_plan() {
  ServingPlan plan;
  plan.prompts = {"a", "b", "c"};
  plan.max_new_tokens = 11;
  plan.requests_per_level = 20;
  plan.duration_s = 1000;
  plan.warmup_requests = 1;
  return plan;
}

GenerationRecord hand_record(uint64_t id, double sent_s, double first_s, double tpot_s, int tokens) {
  GenerationRecord record{.id = id, .ok = true, .sent_s = sent_s, .first_token_s = first_s};
  for (int i = 0; i < tokens; ++i) {
    record.token_arrival_s.push_back(first_s + tpot_s * i);
  }
  record.done_s = record.token_arrival_s.back();
  record.completion_tokens = tokens;
  return record;
}

TEST(Serving, GoodputAndAttainmentAsComputedByHand) {
  const std::vector<Slo> slos{parse_slo("ttft_ms<=100"), parse_slo("tpot_ms <= 20")};
  // ttft 50 ms, tpot 10 ms: good. ttft 150 ms: misses TTFT. tpot 30 ms: misses TPOT. Failed: not good.
  std::vector<RequestRecord> requests{
      to_request_record(hand_record(0, 0.0, 0.05, 0.010, 11), 0.0, 0, slos),
      to_request_record(hand_record(1, 0.1, 0.25, 0.010, 11), 0.1, 0, slos),
      to_request_record(hand_record(2, 0.2, 0.25, 0.030, 11), 0.2, 0, slos),
  };
  GenerationRecord failed{.id = 3, .ok = false, .error = "HTTP 500: boom", .sent_s = 0.3, .done_s = 1.0};
  requests.push_back(to_request_record(failed, 0.3, 0, slos));
  EXPECT_DOUBLE_EQ(requests[0].ttft_ms, 50);
  EXPECT_NEAR(requests[0].tpot_ms, 10, 1e-9);  // (150 - 50) / 10
  EXPECT_NEAR(requests[2].tpot_ms, 30, 1e-9);
  EXPECT_EQ(requests[0].itl_ms.size(), 10U);
  EXPECT_TRUE(requests[0].meets_slos);
  EXPECT_FALSE(requests[1].meets_slos);
  EXPECT_FALSE(requests[2].meets_slos);
  EXPECT_FALSE(requests[3].meets_slos);

  const auto level = summarize_level({LoadMode::kConcurrency, 4}, requests);
  // The level runs from the first send (0.0 s) to the last end (request 2: 0.25 + 0.3 = 0.55 s; the
  // failed one ends at 1.0 s).
  EXPECT_DOUBLE_EQ(level.duration_s, 1.0);
  EXPECT_EQ(level.n_ok, 3);
  EXPECT_EQ(level.n_failed, 1);
  EXPECT_DOUBLE_EQ(level.slo_attainment, 0.25);
  EXPECT_DOUBLE_EQ(level.goodput_rps, 1.0);  // one good request in 1 s
  EXPECT_DOUBLE_EQ(level.request_rps, 3.0);
  EXPECT_DOUBLE_EQ(level.output_tps, 33.0);
  EXPECT_EQ(level.errors.at("HTTP 500: boom"), 1);
  EXPECT_DOUBLE_EQ(level.ttft_ms.p50.value, 50);  // of 50, 50, 150
}

TEST(Serving, ClosedLoopKeepsTheConcurrencyAndSendsEveryRequest) {
  SimulatedServer server(2, 0.1, 0.01);
  const auto result = run_serving(server, small_plan(), {{LoadMode::kConcurrency, 1}, {LoadMode::kConcurrency, 4}});
  ASSERT_EQ(result.levels.size(), 2U);
  EXPECT_EQ(server.max_in_flight_, 4U);
  for (const auto& level : result.levels) {
    EXPECT_EQ(level.n_requests, 20);
    EXPECT_EQ(level.n_ok, 20);
  }
  // One at a time: every request takes 0.1 + 10 * 0.01 s. Four on two slots: half of them queue.
  EXPECT_NEAR(result.levels[0].e2e_ms.p50.value, 200, 1e-6);
  EXPECT_NEAR(result.levels[0].ttft_ms.p99.value, 100, 1e-6);
  EXPECT_GT(result.levels[1].ttft_ms.p90.value, 250);
  EXPECT_NEAR(result.levels[1].request_rps, 10, 0.5);  // two slots, 0.2 s each
  EXPECT_EQ(result.requests.size(), 40U);
}

TEST(Serving, OpenLoopSendsOnScheduleWhateverTheServerDoes) {
  SimulatedServer server(1, 0.1, 0.01);  // one slot of 0.2 s: at most 5 requests/s
  auto plan = small_plan();
  plan.requests_per_level = 100;
  plan.duration_s = 4;
  plan.arrivals = Arrivals::kConstant;
  const auto result = run_serving(server, plan, {{LoadMode::kRate, 10}});
  ASSERT_EQ(result.levels.size(), 1U);
  EXPECT_EQ(result.levels[0].n_requests, 40);  // 4 s at 10/s
  EXPECT_LT(result.levels[0].max_send_lag_ms, 1e-6);
  // The server falls behind: the queue grows, so the last requests wait for seconds.
  EXPECT_GT(result.levels[0].ttft_ms.p99.value, 3000);
  EXPECT_NEAR(result.levels[0].request_rps, 5, 0.3);
}

TEST(Serving, PoissonArrivalsAreSeededAndHaveTheirRate) {
  const auto times = arrival_times(50, Arrivals::kPoisson, 100000, 100, 7);
  EXPECT_EQ(times, arrival_times(50, Arrivals::kPoisson, 100000, 100, 7));
  EXPECT_NE(times, arrival_times(50, Arrivals::kPoisson, 100000, 100, 8));
  EXPECT_NEAR(static_cast<double>(times.size()) / 100, 50, 1.5);
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  EXPECT_EQ(arrival_times(2, Arrivals::kConstant, 3, 100, 1), (std::vector<double>{0, 0.5, 1.0}));
  EXPECT_THROW(arrival_times(0, Arrivals::kPoisson, 3, 1, 1), Error);
}

TEST(Serving, SearchFindsTheHighestConcurrencyThatHoldsTheSlo) {
  // Three slots: up to three in flight nobody queues; a fourth waits a whole request (0.2 s).
  SimulatedServer server(3, 0.1, 0.01);
  auto plan = small_plan();
  plan.slos = {parse_slo("ttft_ms<=150")};
  const auto result = run_serving(
      server, plan, {{LoadMode::kConcurrency, 1}, {LoadMode::kConcurrency, 2}, {LoadMode::kConcurrency, 8}});
  ASSERT_TRUE(result.at_slo.has_value());
  ASSERT_TRUE(result.at_slo->value.has_value());
  EXPECT_EQ(*result.at_slo->value, 3);
  EXPECT_EQ(result.at_slo->next_failing, 4);
  EXPECT_FALSE(result.at_slo->lower_bound);
  EXPECT_GT(result.levels.size(), 3U);
  EXPECT_TRUE(result.levels.back().searched);
}

TEST(Serving, SearchSaysWhenEveryLevelHeld) {
  SimulatedServer server(8, 0.1, 0.01);
  auto plan = small_plan();
  plan.slos = {parse_slo("e2e_ms<=1000")};
  const auto result = run_serving(server, plan, {{LoadMode::kConcurrency, 1}, {LoadMode::kConcurrency, 4}});
  ASSERT_TRUE(result.at_slo.has_value());
  EXPECT_EQ(result.at_slo->value, 4);
  EXPECT_TRUE(result.at_slo->lower_bound);
}

TEST(Serving, FailuresAreCountedAndAFullyFailedLevelEndsTheSweep) {
  SimulatedServer server(2, 0.1, 0.01);
  server.fail_every_ = 4;  // the warm-up request (id 0) succeeds
  const auto partly = run_serving(server, small_plan(), {{LoadMode::kConcurrency, 2}});
  EXPECT_EQ(partly.levels[0].n_failed, 5);
  EXPECT_EQ(partly.levels[0].n_ok, 15);
  EXPECT_FALSE(partly.interrupted);

  SimulatedServer dead(2, 0.1, 0.01);
  dead.fail_every_ = 1;
  auto plan = small_plan();
  plan.warmup_requests = 0;
  const auto result = run_serving(dead, plan, {{LoadMode::kConcurrency, 2}, {LoadMode::kConcurrency, 4}});
  EXPECT_TRUE(result.interrupted);
  EXPECT_EQ(result.levels.size(), 1U);
  EXPECT_EQ(result.requests.size(), 20U);
  EXPECT_NE(result.interruption.find("HTTP 500: simulated"), std::string::npos);
}

TEST(Serving, WarmUpFailureIsOneClearError) {
  SimulatedServer dead(1, 0.1, 0.01);
  dead.fail_every_ = 1;
  try {
    run_serving(dead, small_plan(), {{LoadMode::kConcurrency, 1}});
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("warm-up request failed: HTTP 500"), std::string::npos);
  }
}

TEST(Serving, SloTextIsCheckedWithClearErrors) {
  EXPECT_EQ(parse_slo(" tpot_ms <= 50.5 ").limit_ms, 50.5);
  EXPECT_THROW(parse_slo("ttft<=5"), Error);
  EXPECT_THROW(parse_slo("ttft_ms>=5"), Error);
  EXPECT_THROW(parse_slo("ttft_ms<=0"), Error);
  EXPECT_THROW(
      run_serving(*std::make_unique<SimulatedServer>(1, 0.1, 0.01), small_plan(), {{LoadMode::kConcurrency, 1.5}}),
      Error);
}

TEST(PercentileInterval, OrderStatisticsBracketThePercentile) {
  std::vector<double> samples;
  for (int i = 1; i <= 100; ++i) {
    samples.push_back(i);
  }
  const auto median = stats::percentile_interval(samples, 50);
  EXPECT_DOUBLE_EQ(median.value, 50.5);
  ASSERT_TRUE(median.low && median.high);
  // Binomial(100, 0.5): ranks 40 and 61 bracket the median with at least 95 %.
  EXPECT_EQ(*median.low, 40);
  EXPECT_EQ(*median.high, 61);
  const auto tail = stats::percentile_interval(samples, 99);
  ASSERT_TRUE(tail.low.has_value());
  EXPECT_FALSE(tail.high.has_value());  // 100 samples cannot bound the p99 from above
}

}  // namespace
}  // namespace uaqf::perf
