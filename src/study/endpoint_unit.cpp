// The tasks of an endpoint variant: the generation tasks' prompts sent to an OpenAI-compatible
// server, greedy, a few at a time, and judged by the same scorers as in-process answers.

#include <algorithm>
#include <deque>

#include <fmt/format.h>

#include "backend/openai/client.h"
#include "core/error.h"
#include "study/units.h"

namespace uaqf::study {
namespace {

using backend::openai::Api;
using backend::openai::Client;
using backend::openai::GenerationRecord;
using backend::openai::GenerationRequest;

// Every prompt answered greedily through `client`, at most `concurrency` requests in flight. A
// failed request fails the task with the server's one-line reason (answers already recorded in the
// journal are kept for the next run).
std::vector<tasks::TextAnswer> answer_over_http(Client& client, const tasks::TextPrompts& request, int concurrency,
                                                const std::string& variant) {
  const auto& prompts = *request.prompts;
  std::vector<tasks::TextAnswer> answers(prompts.size());
  std::deque<std::size_t> waiting;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    waiting.push_back(i);
  }
  const auto submit_next = [&] {
    const std::size_t i = waiting.front();
    waiting.pop_front();
    client.submit(
        GenerationRequest{.id = i,
                          .api = request.format == tasks::PromptFormat::kChat ? Api::kChat : Api::kCompletions,
                          .prompt = prompts[i],
                          .max_tokens = request.max_new_tokens,
                          .temperature = 0,
                          .stop = request.stop_sequences});
  };
  std::size_t done = 0;
  while (done < prompts.size()) {
    while (!waiting.empty() && client.in_flight() < static_cast<std::size_t>(std::max(1, concurrency))) {
      submit_next();
    }
    for (GenerationRecord& record : client.poll(1.0)) {
      if (!record.ok) {
        client.cancel_all();
        throw Error(ErrorCode::kEngine,
                    fmt::format("{}: task {}, item {}: {}", variant, request.task, record.id + 1, record.error));
      }
      auto& answer = answers.at(record.id);
      answer.text = std::move(record.text);
      answer.tokens = record.completion_tokens;
      answer.seconds = record.done_s - record.sent_s;
      ++done;
    }
  }
  // Requests overlap: each answer's time is its own request's, so items_per_second is per request,
  // not the throughput of the whole batch.
  return answers;
}

}  // namespace

UnitRecord run_endpoint_task_unit(StudyRun& run, const VariantPlan& plan) {
  const EndpointPlan& endpoint = *plan.endpoint;
  auto journal = run.units.journal(plan.name, {{"variant", run.variant_inputs(plan)}, {"suite", run.suite_inputs()}});
  auto options = run.suite_options;
  options.journal = &journal;
  Client client(endpoint_config(endpoint.spec));
  const tasks::AnswerTextsFn answer = [&](const tasks::TextPrompts& request) {
    return answer_over_http(client, request, endpoint.spec.concurrency, plan.name);
  };
  auto results = tasks::run_text_generation_suite(answer, run.suite, options);
  if (run.with_divergence) {
    const auto vocabulary = run.engine.load_vocabulary(run.study.model);
    results.push_back(tasks::run_text_divergence(answer, run.suite, options, *vocabulary, run.baseline_answers));
  }
  UnitRecord record = task_unit_record(results);
  for (auto& entry : record.payload) {
    entry["engine"] = endpoint_engine(endpoint);
    if (entry["task"] == "divergence") {
      entry["tokens"] = "both answers' texts tokenized with the baseline's vocabulary";
    }
  }
  return record;
}

}  // namespace uaqf::study
