// `uaqf serve-bench`: load on an OpenAI-compatible endpoint (or on a llama-server that uaqf starts
// for a GGUF file), with latency percentiles, SLO attainment, goodput and the highest load that
// keeps the SLOs.

#include <charconv>
#include <cmath>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "backend/llama_server/managed_server.h"
#include "backend/openai/client.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "core/paths.h"
#include "core/terminal.h"
#include "perf/serving.h"
#include "report/bench_report.h"
#include "report/serving_report.h"
#include "study/serving_workload.h"
#include "study/workload.h"
#include "tasks/datasets.h"
#include "tasks/registry.h"
#include "uaqf/build_info.h"

namespace uaqf::cli {
namespace {

struct ServeBenchFlags {
  std::string url;
  std::string serve_model;
  std::string model_name;
  std::string api_key_env;
  std::string extra_body;
  std::string api = "chat";
  std::string prompts = "gsm8k";
  std::string data_dir;
  int requests = 64;
  std::string concurrency;
  std::string rates;
  std::string arrivals = "poisson";
  double duration_s = 60;
  int max_new_tokens = 128;
  bool ignore_eos = false;
  std::vector<std::string> slos;
  double attainment = 0.99;
  double search_budget_s = 120;
  int warmup = 2;
  uint32_t seed = 1;
  double timeout_s = 600;
  double stall_timeout_s = 60;
  int parallel = 0;
  int ctx_per_slot = 2048;
  int prompt_cache_mib = 0;
  std::string json_path;
  std::string csv_path;
  RuntimeFlags runtime;
};

void add_serve_bench_options(CLI::App& command, ServeBenchFlags& flags) {
  auto* url = command.add_option("--url", flags.url, "OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1");
  auto* serve = command.add_option("--serve", flags.serve_model,
                                   "a GGUF file: uaqf starts llama-server for it on loopback, measures, stops it");
  url->excludes(serve);
  command.add_option("--model", flags.model_name, "model name sent with every request (default: none)");
  command.add_option("--api-key-env", flags.api_key_env, "NAME of the environment variable that holds the API key");
  command.add_option("--extra-body", flags.extra_body,
                     "JSON object merged into every request body (engine extensions, e.g. vLLM's min_tokens)");
  command.add_option("--api", flags.api, "chat (/chat/completions) or completions (/completions)")
      ->capture_default_str();
  command.add_option("--prompts", flags.prompts, "gsm8k, ifeval, or a file (.jsonl with \"prompt\", else a line each)")
      ->capture_default_str();
  command.add_option("--data-dir", flags.data_dir, "evaluation data folder (default: the shared data folder)");
  command.add_option("--requests", flags.requests, "requests per level (open loop: at most)")->capture_default_str();
  auto* concurrency =
      command.add_option("--concurrency", flags.concurrency, "closed loop: requests in flight, e.g. 1,4,16");
  auto* rate = command.add_option("--rate", flags.rates, "open loop: requests per second, e.g. 2,4,8");
  concurrency->excludes(rate);
  command.add_option("--arrivals", flags.arrivals, "open-loop arrivals: poisson or constant")->capture_default_str();
  command.add_option("--duration", flags.duration_s, "seconds each level may send for")->capture_default_str();
  command.add_option("--max-new-tokens", flags.max_new_tokens, "tokens generated per request")->capture_default_str();
  command.add_flag("--ignore-eos", flags.ignore_eos, "generate max-new-tokens every time (llama-server, vLLM)");
  command.add_option("--slo", flags.slos,
                     "per-request objective, e.g. 'ttft_ms<=500' (ttft_ms, tpot_ms, itl_ms, e2e_ms)");
  command.add_option("--attainment", flags.attainment, "share of requests that must meet every SLO")
      ->capture_default_str();
  command
      .add_option("--search-budget", flags.search_budget_s, "seconds the search for the highest level at SLO may take")
      ->capture_default_str();
  command.add_option("--warmup", flags.warmup, "unrecorded requests before the first level")->capture_default_str();
  command.add_option("--seed", flags.seed, "seed of Poisson arrivals and sampling")->capture_default_str();
  command.add_option("--timeout", flags.timeout_s, "seconds a request may take in all")->capture_default_str();
  command.add_option("--stall-timeout", flags.stall_timeout_s, "seconds a stream may go without data")
      ->capture_default_str();
  command.add_option("--parallel", flags.parallel, "--serve: server slots (default: the highest concurrency, or 8)");
  command.add_option("--ctx-per-slot", flags.ctx_per_slot, "--serve: context tokens per slot")->capture_default_str();
  command
      .add_option("--cache-ram", flags.prompt_cache_mib,
                  "--serve: MiB for llama-server's prompt cache (0: off; saving a slot to it delays TTFT)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command.add_option("--json", flags.json_path, "write the levels and every request's record as JSON");
  command.add_option("--csv", flags.csv_path, "write a row per level as CSV");
  add_runtime_flags(command, flags.runtime);
}

std::vector<double> parse_number_list(const std::string& text, const std::string& option) {
  std::vector<double> values;
  for (const auto& item : parse_name_list(text)) {
    double value = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec != std::errc() || end != item.data() + item.size() || !(value > 0) || !std::isfinite(value)) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: '{}' is not a number above 0", option, item));
    }
    values.push_back(value);
  }
  if (values.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{} needs at least one value", option));
  }
  return values;
}

// The flags as a study's serving workload: one mapping to the load generator and the server.
study::ServingWorkload to_workload(const ServeBenchFlags& flags) {
  study::ServingWorkload w;
  w.requests = flags.requests;
  if (!flags.rates.empty()) {
    w.rates = parse_number_list(flags.rates, "--rate");
    w.concurrency.clear();
  } else {
    w.concurrency = parse_int_list(flags.concurrency.empty() ? "1" : flags.concurrency, "--concurrency");
  }
  w.arrivals = flags.arrivals;
  w.duration_s = flags.duration_s;
  w.max_new_tokens = flags.max_new_tokens;
  w.ignore_eos = flags.ignore_eos;
  w.slos = flags.slos;
  w.attainment = flags.attainment;
  w.search_budget_s = flags.search_budget_s;
  w.warmup_requests = flags.warmup;
  w.parallel = flags.parallel;
  w.ctx_per_slot = flags.ctx_per_slot;
  w.prompt_cache_mib = flags.prompt_cache_mib;
  return w;
}

// A .jsonl file with a "prompt" per line, or (as a study's prompt file) a prompt per line.
std::vector<std::string> file_prompts(const std::filesystem::path& file) {
  if (file.extension() != ".jsonl") {
    return study::workload_prompts({.source = "file", .file = file, .count = 1 << 20}, {});
  }
  std::vector<std::string> prompts;
  for (const auto& [row, line] : tasks::read_jsonl_lines(file)) {
    if (!row.contains("prompt") || !row["prompt"].is_string()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: every line needs a string field \"prompt\"", file.string(), line));
    }
    if (row["prompt"].get_ref<const std::string&>().size() > tasks::kDefaultMaxItemBytes) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: the prompt is longer than {} bytes", file.string(),
                                                           line, tasks::kDefaultMaxItemBytes));
    }
    prompts.push_back(row["prompt"].get<std::string>());
  }
  return prompts;
}

std::vector<std::string> load_prompts(const ServeBenchFlags& flags) {
  std::vector<std::string> prompts;
  if (flags.prompts == "gsm8k" || flags.prompts == "ifeval") {
    std::filesystem::path data_dir = flags.data_dir;
    if (data_dir.empty()) {
      const auto shared = shared_dir();
      if (!shared) {
        throw Error(ErrorCode::kNotFound,
                    "--prompts " + flags.prompts + ": no data folder (give --data-dir or set UAQF_SHARED_DIR)");
      }
      data_dir = *shared / "data";
    }
    study::PromptWorkload workload{.source = flags.prompts, .count = 1 << 20};
    prompts = study::workload_prompts(workload, data_dir);
  } else {
    prompts = file_prompts(flags.prompts);
  }
  if (prompts.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("--prompts {}: no prompts", flags.prompts));
  }
  return prompts;
}

perf::ServingPlan to_plan(const ServeBenchFlags& flags, const study::ServingWorkload& w) {
  if (flags.api != "chat" && flags.api != "completions") {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("--api must be chat or completions, not '{}'", flags.api));
  }
  auto plan = study::serving_plan(w, {}, flags.seed);
  plan.api = flags.api == "chat" ? backend::openai::Api::kChat : backend::openai::Api::kCompletions;
  return plan;
}

std::unique_ptr<backend::ManagedServer> start_server(const ServeBenchFlags& flags, const study::ServingWorkload& w) {
  const auto launch = study::server_launch(flags.serve_model, to_runtime_options(flags.runtime, 0), w);
  auto progress = Progress(fmt::format("starting llama-server ({} slots)", launch.n_parallel));
  auto server = backend::ManagedServer::start(launch);
  progress.finish(server->base_url());
  return server;
}

void write_outputs(const ServeBenchFlags& flags, const perf::ServingPlan& plan, const perf::ServingResult& result,
                   const nlohmann::json& context) {
  if (!flags.json_path.empty()) {
    auto out = report::serving_to_json(plan, result);
    out.update(context);
    write_file_atomic(flags.json_path, out.dump(2) + "\n");
  }
  if (!flags.csv_path.empty()) {
    write_file_atomic(flags.csv_path, report::serving_levels_to_csv(result));
  }
}

int run_serve_bench(const ServeBenchFlags& flags) {
  if (flags.url.empty() && flags.serve_model.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "serve-bench needs --url (a running server) or --serve FILE.gguf");
  }
  require_output_file_writable(flags.json_path, "JSON output");
  require_output_file_writable(flags.csv_path, "CSV output");
  const auto workload = to_workload(flags);
  const auto levels = study::serving_levels(workload);
  auto plan = to_plan(flags, workload);
  plan.prompts = load_prompts(flags);
  std::unique_ptr<backend::ManagedServer> server;
  if (!flags.serve_model.empty()) {
    server = start_server(flags, workload);
  }
  backend::openai::EndpointConfig config{.base_url = server ? server->base_url() : flags.url,
                                         .model = flags.model_name,
                                         .api_key_env = flags.api_key_env,
                                         .request_timeout_s = flags.timeout_s,
                                         .stall_timeout_s = flags.stall_timeout_s,
                                         .extra_body = flags.extra_body};
  backend::openai::Client client(config);
  const auto probe = client.probe();
  backend::EngineInfo engine{.name = server ? "llama-server (managed)" : "openai-http",
                             .commit = server ? UAQF_LLAMA_COMMIT : ""};
  nlohmann::json context{{"endpoint",
                          {{"base_url", config.base_url},
                           {"model", config.model},
                           {"extra_body", config.extra_body},
                           {"server_hint", probe.server_hint},
                           {"models", probe.models},
                           {"capabilities",
                            {{"streaming", probe.streaming},
                             {"usage_in_stream", probe.usage_in_stream},
                             {"prompt_logprobs", probe.prompt_logprobs},
                             {"top_logprobs", probe.top_logprobs}}}}},
                         {"environment", report::environment_to_json(collect_environment(), engine)}};
  if (server) {
    context["endpoint"]["managed_server"] = {{"argv", server->argv()}, {"model_file", flags.serve_model}};
  }
  perf::ClientEndpoint endpoint(client);
  std::unique_ptr<Progress> progress;
  const auto result = perf::run_serving(
      endpoint, plan, levels,
      [&](const perf::LoadLevel& level, int done, int total) {
        if (!progress) {
          progress = std::make_unique<Progress>("serve-bench " + perf::to_string(level));
        }
        progress->update(done, total);
      },
      [&](const perf::ServingResult& so_far) {
        if (progress) {
          progress->finish(fmt::format("{:.2f} req/s", so_far.levels.back().request_rps));
          progress.reset();
        }
        write_outputs(flags, plan, so_far, context);
      });
  write_outputs(flags, plan, result, context);
  report::print_serving_table(std::cout, plan, result);
  if (result.interrupted) {
    throw Error(ErrorCode::kEngine, "serve-bench stopped early: " + result.interruption);
  }
  return 0;
}

}  // namespace

Action add_serve_bench_command(CLI::App& app) {
  auto flags = std::make_shared<ServeBenchFlags>();
  CLI::App* command = app.add_subcommand(
      "serve-bench", "load an OpenAI-compatible server: latency percentiles, SLO attainment, goodput");
  add_serve_bench_options(*command, *flags);
  return [flags]() -> int { return run_serve_bench(*flags); };
}

}  // namespace uaqf::cli
