#include "study/workload.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/files.h"
#include "stats/summary.h"
#include "tasks/datasets.h"
#include "tasks/suite.h"

namespace uaqf::study {
namespace {

using nlohmann::json;

struct LatencySamples {
  std::vector<double> ttft_ms, e2e_ms, itl_ms, output_tokens;
};

// One request's record from the arrival times of its tokens (the end-of-generation one included).
json request_record(std::size_t prompt_tokens, std::size_t output_tokens, const std::vector<int64_t>& stamps_ns,
                    int64_t start_ns, LatencySamples& samples) {
  json request{{"prompt_tokens", prompt_tokens},
               {"output_tokens", output_tokens},
               {"steps", stamps_ns.size()},  // output tokens plus the end-of-generation token when it came
               {"ttft_ms", static_cast<double>(stamps_ns.front() - start_ns) / 1e6},
               {"e2e_ms", static_cast<double>(stamps_ns.back() - start_ns) / 1e6}};
  std::vector<double> gaps_ms;
  for (std::size_t k = 1; k < stamps_ns.size(); ++k) {
    gaps_ms.push_back(static_cast<double>(stamps_ns[k] - stamps_ns[k - 1]) / 1e6);
  }
  request["itl_ms"] = gaps_ms;
  samples.ttft_ms.push_back(request["ttft_ms"]);
  samples.e2e_ms.push_back(request["e2e_ms"]);
  samples.itl_ms.insert(samples.itl_ms.end(), gaps_ms.begin(), gaps_ms.end());
  samples.output_tokens.push_back(static_cast<double>(output_tokens));
  return request;
}

void add_latency_metrics(const LatencySamples& samples, std::map<std::string, decide::MetricValue>& metrics) {
  if (!samples.ttft_ms.empty()) {
    metrics["ttft_ms"] = {samples.ttft_ms};
    metrics["ttft_p99_ms"] = {{stats::percentile(samples.ttft_ms, 99)}};
    metrics["e2e_ms"] = {samples.e2e_ms};
  }
  if (!samples.itl_ms.empty()) {
    metrics["itl_p50_ms"] = {{stats::percentile(samples.itl_ms, 50)}};
    metrics["itl_p99_ms"] = {{stats::percentile(samples.itl_ms, 99)}};
  }
  if (!samples.output_tokens.empty()) {
    // Not a ranking metric by default: shown beside the baseline's, since a variant that answers
    // longer pays for it in end-to-end latency.
    metrics["output_tokens"] = {samples.output_tokens};
  }
}

template <typename Source>
void take_prompts(const Source& source, int count, std::vector<std::string>& prompts) {
  for (const auto& prompt : source) {
    if (static_cast<int>(prompts.size()) == count) {
      break;
    }
    prompts.push_back(prompt);
  }
}

}  // namespace

std::vector<std::string> workload_prompts(const PromptWorkload& w, const std::filesystem::path& data_dir,
                                          std::size_t max_prompt_bytes) {
  std::vector<std::string> prompts;
  std::string where;  // of the prompts, for "no prompts"
  const auto check = [&](const std::string& prompt, const std::string& at) {
    if (prompt.size() > max_prompt_bytes) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: the prompt is {} bytes long, above the limit of {} bytes per prompt "
                              "([quality] max_item_bytes)",
                              at, prompt.size(), max_prompt_bytes));
    }
  };
  if (w.source == "file") {
    where = w.file->string();
    if (!std::filesystem::exists(*w.file)) {
      throw Error(ErrorCode::kNotFound, fmt::format("prompt file not found: {}", w.file->string()));
    }
    const std::string text = read_text_file(*w.file);
    std::size_t number = 0;
    for (std::size_t begin = 0; begin < text.size() && static_cast<int>(prompts.size()) < w.count;) {
      std::size_t end = text.find('\n', begin);
      end = end == std::string::npos ? text.size() : end;
      std::string line = text.substr(begin, end - begin);
      begin = end + 1;
      ++number;
      const std::string at = fmt::format("{}:{}", w.file->string(), number);
      if (const auto bad = first_invalid_utf8(line)) {
        throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: not UTF-8 text (byte {})", at, *bad + 1));
      }
      if (!line.empty()) {
        check(line, at);
        prompts.push_back(std::move(line));
      }
    }
  } else if (w.source == "gsm8k") {
    where = (data_dir / "gsm8k" / "test.jsonl").string();
    std::vector<std::string> questions;
    for (const auto& item : tasks::load_gsm8k(data_dir, "test")) {
      check(item.question, fmt::format("GSM8K item {}", item.id));
      questions.push_back(item.question);
    }
    take_prompts(questions, w.count, prompts);
  } else {
    const auto file = data_dir / "ifeval" / "input_data.jsonl";
    where = file.string();
    std::vector<std::string> texts;
    for (const auto& [row, line] : tasks::read_jsonl_lines(file)) {
      const auto* prompt = row.contains("prompt") ? &row["prompt"] : nullptr;
      if (prompt == nullptr || !prompt->is_string()) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{}:{}: field 'prompt' is missing or not a string", file.string(), line));
      }
      check(prompt->get<std::string>(), fmt::format("{}:{}", file.string(), line));
      texts.push_back(prompt->get<std::string>());
    }
    take_prompts(texts, w.count, prompts);
  }
  if (prompts.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: no prompts (the workload needs at least one)", where));
  }
  return prompts;
}

json run_prompt_workload(backend::Model& model, const std::vector<std::string>& prompts, const PromptWorkload& workload,
                         std::map<std::string, decide::MetricValue>& metrics, const Clock& clock) {
  const auto tokenized = tasks::tokenize_prompts(model, prompts, workload.chat_template, std::nullopt);
  std::size_t longest = 0;
  for (const auto& tokens : tokenized) {
    longest = std::max(longest, tokens.size());
  }
  const auto trained = static_cast<std::size_t>(std::max(0, model.info().n_ctx_train));
  static std::atomic<bool> warned{false};  // once a run: every variant has the same prompts
  if (trained > 0 && longest + static_cast<std::size_t>(workload.max_new_tokens) > trained && !warned.exchange(true)) {
    std::cerr << fmt::format(
        "uaqf: warning: the longest workload prompt ({} tokens) and max_new_tokens ({}) exceed "
        "the {} tokens {} was trained on: its latencies are measured past that context\n",
        longest, workload.max_new_tokens, trained, model.info().path.filename().string());
  }
  const auto parallel = static_cast<std::size_t>(workload.parallel);
  auto ctx = model.new_context(
      static_cast<uint32_t>((longest + static_cast<std::size_t>(workload.max_new_tokens) + 8) * parallel),
      static_cast<uint32_t>(parallel), true);
  json requests = json::array();
  LatencySamples samples;
  for (std::size_t begin = 0; begin < tokenized.size(); begin += parallel) {
    const std::size_t end = std::min(tokenized.size(), begin + parallel);
    const std::vector<std::vector<backend::Token>> group(tokenized.begin() + static_cast<std::ptrdiff_t>(begin),
                                                         tokenized.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<std::vector<int64_t>> stamps(group.size());
    const int64_t start = clock.now_ns();
    const auto answers =
        ctx->generate_greedy(group, workload.max_new_tokens, [&](std::size_t s, const std::vector<backend::Token>&) {
          stamps[s].push_back(clock.now_ns());
          return false;
        });
    for (std::size_t s = 0; s < group.size(); ++s) {
      if (!stamps[s].empty()) {  // empty: ended at once with end-of-generation
        requests.push_back(request_record(group[s].size(), answers[s].size(), stamps[s], start, samples));
      }
    }
  }
  add_latency_metrics(samples, metrics);
  json summary{{"requests", requests}};
  if (!samples.output_tokens.empty()) {
    summary["output_tokens_mean"] = stats::summarize(samples.output_tokens).mean;
  }
  return summary;
}

}  // namespace uaqf::study
