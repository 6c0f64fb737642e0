// The serving load generator's loop: closed loop (a fixed number of requests in flight) and open
// loop (requests sent at their arrival times whatever the server's state), then the search for
// the highest level that keeps SLO attainment at the target.

#include "perf/serving.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "core/error.h"

namespace uaqf::perf {
namespace {

using backend::openai::GenerationRecord;
using backend::openai::GenerationRequest;

// Longest a poll waits, so that arrivals and progress stay on time.
constexpr double kMaxPollWaitS = 0.05;

class LevelRunner {
 public:
  LevelRunner(RequestEndpoint& endpoint, const ServingPlan& plan, const ServingProgressFn& progress, uint64_t& next_id)
      : endpoint_(endpoint), plan_(plan), progress_(progress), next_id_(next_id) {}

  std::vector<RequestRecord> run(const LoadLevel& level, std::size_t level_index, uint32_t seed) {
    level_ = level;
    level_index_ = level_index;
    records_.clear();
    scheduled_.clear();
    start_s_ = endpoint_.now_s();
    std::vector<double> arrivals;
    int planned = plan_.requests_per_level;
    if (level.mode == LoadMode::kRate) {
      arrivals = arrival_times(level.value, plan_.arrivals, plan_.requests_per_level, plan_.duration_s, seed);
      planned = static_cast<int>(arrivals.size());
    }
    planned_ = planned;
    std::size_t sent = 0;
    while (true) {
      const double now_s = endpoint_.now_s();
      const bool sending_open = now_s - start_s_ < plan_.duration_s || level.mode == LoadMode::kRate;
      if (level.mode == LoadMode::kRate) {
        while (sent < arrivals.size() && start_s_ + arrivals[sent] <= now_s) {
          submit(start_s_ + arrivals[sent], sent);
          ++sent;
        }
      } else {
        const auto concurrency = static_cast<std::size_t>(level.value);
        while (sending_open && endpoint_.in_flight() < concurrency && sent < static_cast<std::size_t>(planned)) {
          submit(now_s, sent);
          ++sent;
        }
      }
      const bool more_to_send = level.mode == LoadMode::kRate
                                    ? sent < arrivals.size()
                                    : sending_open && sent < static_cast<std::size_t>(planned);
      if (!more_to_send && endpoint_.in_flight() == 0) {
        break;
      }
      if (now_s - start_s_ > plan_.duration_s + plan_.drain_timeout_s) {
        collect(endpoint_.cancel_all());
        break;
      }
      double wait_s = kMaxPollWaitS;
      if (level.mode == LoadMode::kRate && sent < arrivals.size()) {
        wait_s = std::clamp(start_s_ + arrivals[sent] - now_s, 0.0, kMaxPollWaitS);
      }
      collect(endpoint_.poll(wait_s));
    }
    return std::move(records_);
  }

 private:
  void submit(double scheduled_s, std::size_t index) {
    GenerationRequest request;
    request.id = next_id_++;
    request.api = plan_.api;
    request.prompt = plan_.prompts[request.id % plan_.prompts.size()];
    request.max_tokens = plan_.max_new_tokens;
    request.ignore_eos = plan_.ignore_eos;
    request.seed = plan_.seed + index;
    scheduled_[request.id] = scheduled_s;
    endpoint_.submit(std::move(request));
  }

  void collect(const std::vector<GenerationRecord>& ended) {
    for (const auto& record : ended) {
      const auto scheduled = scheduled_.find(record.id);
      const double scheduled_s = scheduled == scheduled_.end() ? record.sent_s : scheduled->second;
      records_.push_back(to_request_record(record, std::min(scheduled_s, record.sent_s), level_index_, plan_.slos));
      if (progress_) {
        progress_(level_, static_cast<int>(records_.size()), planned_);
      }
    }
  }

  RequestEndpoint& endpoint_;
  const ServingPlan& plan_;
  const ServingProgressFn& progress_;
  uint64_t& next_id_;
  LoadLevel level_;
  std::size_t level_index_ = 0;
  int planned_ = 0;
  double start_s_ = 0;
  std::map<uint64_t, double> scheduled_;
  std::vector<RequestRecord> records_;
};

void validate(const ServingPlan& plan, const std::vector<LoadLevel>& levels) {
  if (plan.prompts.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "serving: no prompts to send");
  }
  if (plan.requests_per_level < 1 || plan.max_new_tokens < 1 || !(plan.duration_s > 0)) {
    throw Error(ErrorCode::kInvalidArgument,
                "serving: requests per level, new tokens and the duration must all be above 0");
  }
  if (!(plan.attainment_target > 0 && plan.attainment_target <= 1)) {
    throw Error(ErrorCode::kInvalidArgument, "serving: the attainment target must be in (0, 1]");
  }
  for (const auto& level : levels) {
    if (!(level.value > 0) || (level.mode == LoadMode::kConcurrency && level.value != std::floor(level.value))) {
      throw Error(
          ErrorCode::kInvalidArgument,
          fmt::format("serving: bad load level {} (concurrency: a whole number >= 1; rate: > 0)", to_string(level)));
    }
  }
}

void warm_up(RequestEndpoint& endpoint, const ServingPlan& plan, uint64_t& next_id) {
  for (int i = 0; i < plan.warmup_requests; ++i) {
    GenerationRequest request{.id = next_id++, .api = plan.api, .prompt = plan.prompts[i % plan.prompts.size()]};
    request.max_tokens = plan.max_new_tokens;
    request.ignore_eos = plan.ignore_eos;
    endpoint.submit(std::move(request));
    std::vector<GenerationRecord> ended;
    while (ended.empty()) {
      ended = endpoint.poll(kMaxPollWaitS);
    }
    if (!ended.front().ok) {
      throw Error(ErrorCode::kEngine, fmt::format("serving: the warm-up request failed: {}", ended.front().error));
    }
  }
}

bool holds(const LevelResult& level, double target) { return level.slo_attainment >= target; }

// The next level to try between the highest that held and the lowest that did not; nullopt when
// they are close enough (concurrency: adjacent; rate: within 10 %).
std::optional<double> bisect(LoadMode mode, double held, double missed) {
  if (mode == LoadMode::kConcurrency) {
    if (missed - held <= 1) {
      return std::nullopt;
    }
    return std::floor((held + missed) / 2);
  }
  if (missed / held <= 1.1) {
    return std::nullopt;
  }
  return std::sqrt(held * missed);
}

}  // namespace

ServingResult run_serving(RequestEndpoint& endpoint, const ServingPlan& plan, const std::vector<LoadLevel>& levels,
                          const ServingProgressFn& progress, const LevelDoneFn& on_level) {
  validate(plan, levels);
  ServingResult result;
  uint64_t next_id = 0;
  warm_up(endpoint, plan, next_id);
  LevelRunner runner(endpoint, plan, progress, next_id);
  auto run_level = [&](const LoadLevel& level, bool searched) {
    const std::size_t index = result.levels.size();
    auto requests = runner.run(level, index, plan.seed + static_cast<uint32_t>(index));
    auto summary = summarize_level(level, requests);
    summary.searched = searched;
    result.levels.push_back(summary);
    result.requests.insert(result.requests.end(), requests.begin(), requests.end());
    if (summary.n_ok == 0) {
      result.interrupted = true;
      const auto worst = std::max_element(summary.errors.begin(), summary.errors.end(),
                                          [](const auto& a, const auto& b) { return a.second < b.second; });
      result.interruption = fmt::format("every request at {} failed ({})", to_string(level),
                                        worst == summary.errors.end() ? "no requests" : worst->first);
    }
    if (on_level) {
      on_level(result);
    }
  };
  for (const auto& level : levels) {
    run_level(level, false);
    if (result.interrupted) {
      return result;
    }
  }
  if (!plan.slos.empty() && !levels.empty()) {
    result.at_slo = search_level_at_slo(result, plan, [&](const LoadLevel& level) {
      run_level(level, true);
      return result.interrupted ? std::optional<LevelResult>{} : std::optional<LevelResult>{result.levels.back()};
    });
  }
  return result;
}

LevelAtSlo search_level_at_slo(const ServingResult& sweep, const ServingPlan& plan, const LevelProbeFn& probe) {
  LevelAtSlo at_slo{.mode = sweep.levels.front().level.mode};
  std::optional<double> held, missed;
  for (const auto& level : sweep.levels) {
    if (holds(level, plan.attainment_target)) {
      held = std::max(held.value_or(0), level.level.value);
    }
  }
  for (const auto& level : sweep.levels) {
    if (!holds(level, plan.attainment_target) && (!held || level.level.value > *held)) {
      missed = std::min(missed.value_or(level.level.value), level.level.value);
    }
  }
  const auto search_start_s = std::chrono::steady_clock::now();
  auto budget_left = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - search_start_s).count() <
           plan.search_budget_s;
  };
  while (held && missed && budget_left()) {
    const auto next = bisect(at_slo.mode, *held, *missed);
    if (!next) {
      break;
    }
    const auto measured = probe({.mode = at_slo.mode, .value = *next});
    if (!measured) {
      break;
    }
    (holds(*measured, plan.attainment_target) ? held : missed) = *next;
  }
  at_slo.value = held;
  at_slo.lower_bound = held && !missed;
  at_slo.next_failing = missed.value_or(0);
  return at_slo;
}

}  // namespace uaqf::perf
