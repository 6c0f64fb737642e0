// The serving unit of a study: a variant served by a managed llama-server with the variant's own
// runtime settings, driven by the serving load generator over HTTP, then stopped. Its numbers come
// from the server; the variant's quality stays with the in-process engine (exact logits).

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backend/llama_server/managed_server.h"
#include "backend/openai/client.h"
#include "core/error.h"
#include "core/terminal.h"
#include "perf/serving.h"
#include "report/serving_report.h"
#include "results/study_record.h"
#include "study/metric_table.h"
#include "study/serving_workload.h"
#include "study/units.h"

namespace uaqf::study {

perf::ServingPlan serving_plan(const ServingWorkload& w, const std::vector<std::string>& prompts, uint32_t seed) {
  perf::ServingPlan plan;
  plan.prompts = prompts;
  plan.api = backend::openai::Api::kChat;
  plan.max_new_tokens = w.max_new_tokens;
  plan.ignore_eos = w.ignore_eos;
  plan.requests_per_level = w.requests;
  plan.duration_s = w.duration_s;
  plan.arrivals = perf::parse_arrivals(w.arrivals);
  plan.seed = seed;
  plan.warmup_requests = w.warmup_requests;
  for (const auto& text : w.slos) {
    plan.slos.push_back(perf::parse_slo(text));
  }
  plan.attainment_target = w.attainment;
  plan.search_budget_s = w.search_budget_s;
  return plan;
}

std::vector<perf::LoadLevel> serving_levels(const ServingWorkload& w) {
  std::vector<perf::LoadLevel> levels;
  if (w.uses_rates()) {
    for (double rate : w.rates) {
      levels.push_back({.mode = perf::LoadMode::kRate, .value = rate});
    }
  } else {
    for (int concurrency : w.concurrency) {
      levels.push_back({.mode = perf::LoadMode::kConcurrency, .value = static_cast<double>(concurrency)});
    }
  }
  std::sort(levels.begin(), levels.end(), [](const auto& a, const auto& b) { return a.value < b.value; });
  return levels;
}

backend::ServerLaunch server_launch(const std::filesystem::path& model, const backend::RuntimeOptions& runtime,
                                    const ServingWorkload& w) {
  backend::ServerLaunch launch;
  launch.server_binary = backend::find_llama_server();
  launch.model = model;
  launch.n_ctx = w.context_tokens();
  launch.n_parallel = w.slots();
  launch.kv_cache_type = runtime.kv_cache_type;
  launch.flash_attention = runtime.flash_attention;
  launch.n_gpu_layers = runtime.n_gpu_layers;
  // The rest of the placement as llama-server's own flags (-ngl auto: its fit).
  if (runtime.managed_rpc_servers > 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "a served variant cannot use 'rpc_local' yet: start rpc-servers and name them in 'rpc'");
  }
  if (runtime.split_mode != backend::SplitMode::kLayer) {
    launch.extra_args.insert(launch.extra_args.end(), {"--split-mode", backend::to_string(runtime.split_mode)});
  }
  if (!runtime.tensor_split.empty()) {
    launch.extra_args.insert(launch.extra_args.end(),
                             {"--tensor-split", fmt::format("{}", fmt::join(runtime.tensor_split, ","))});
  }
  if (runtime.main_gpu != 0) {
    launch.extra_args.insert(launch.extra_args.end(), {"--main-gpu", std::to_string(runtime.main_gpu)});
  }
  if (!runtime.devices.empty()) {
    launch.extra_args.insert(launch.extra_args.end(), {"--device", fmt::format("{}", fmt::join(runtime.devices, ","))});
  }
  if (!runtime.rpc_servers.empty()) {
    launch.extra_args.insert(launch.extra_args.end(),
                             {"--rpc", fmt::format("{}", fmt::join(runtime.rpc_servers, ","))});
  }
  launch.n_threads = runtime.n_threads;
  launch.n_batch = runtime.n_batch;
  launch.n_ubatch = std::min(runtime.n_ubatch, runtime.n_batch);  // llama-server refuses a larger micro-batch
  launch.prompt_cache_mib = w.prompt_cache_mib;
  return launch;
}

namespace {

using nlohmann::json;

// The stored run judged at this study's service level: the level is a decision setting, not part of
// the measurement, so changing it re-judges without serving again.
UnitRecord from_stored(const json& stored, const ServingWorkload& w) {
  UnitRecord record;
  record.payload = stored.at("serving");
  record.metrics = decision_metrics(report::serving_summary_from_json(record.payload), record.notes, w.service_level);
  record.payload["notes"] = record.notes;
  return record;
}

}  // namespace

namespace {

// A finished serving run's decision metrics and record (with `server`: what served it), committed
// to the store under the variant's serving key.
UnitRecord keep_serving(StudyRun& run, const VariantPlan& plan, const json& inputs, const perf::ServingPlan& serving,
                        const perf::ServingResult& result, json server) {
  UnitRecord record;
  record.metrics = decision_metrics(result, record.notes, run.study.serving->service_level);
  record.payload = report::serving_to_json(serving, result);
  record.payload["server"] = std::move(server);
  record.payload["notes"] = record.notes;
  run.units.put(
      plan.name, "serving/" + plan.name, "serving", inputs,
      {{"serving", record.payload}, {"metrics", results::metrics_to_json(record.metrics)}, {"notes", record.notes}});
  return record;
}

// An endpoint variant's serving workload: the same load against a server someone else runs.
UnitRecord run_endpoint_serving(StudyRun& run, const VariantPlan& plan, const perf::ServingPlan& serving,
                                const std::vector<perf::LoadLevel>& levels, const json& level_values) {
  const ServingWorkload& w = *run.study.serving;
  const EndpointPlan& endpoint = *plan.endpoint;
  const json inputs = {{"variant", run.variant_inputs(plan)},
                       {"plan", report::serving_to_json(serving, {}).at("plan")},
                       {"levels", level_values},
                       {"extra_body", w.extra_body},
                       {"prompts", run.serving_prompts}};
  const std::string key = "serving/" + plan.name;
  if (auto stored = run.units.find(plan.name, key, inputs)) {
    return from_stored(*stored, w);
  }
  Progress progress(fmt::format("serve {} ({})", plan.name, endpoint_engine(endpoint)));
  auto config = endpoint_config(endpoint.spec);
  config.extra_body = w.extra_body;
  backend::openai::Client client(config);
  perf::ClientEndpoint target(client);
  const auto result = perf::run_serving(
      target, serving, levels, [&](const perf::LoadLevel&, int done, int planned) { progress.update(done, planned); });
  if (result.interrupted) {
    progress.finish("FAILED");
    throw Error(ErrorCode::kEngine,
                fmt::format("serving {} through {}: {}", plan.name, endpoint_engine(endpoint), result.interruption));
  }
  auto record = keep_serving(run, plan, inputs, serving, result,
                             {{"engine", endpoint_engine(endpoint)},
                              {"endpoint", endpoint.spec.base_url},
                              {"served_model", endpoint.spec.model},
                              {"server_hint", endpoint.probe.server_hint}});
  progress.finish("done");
  return record;
}

}  // namespace

UnitRecord run_serving_unit(StudyRun& run, const VariantPlan& plan) {
  const ServingWorkload& w = *run.study.serving;
  const auto serving = serving_plan(w, run.serving_prompts, run.study.seed);
  const auto levels = serving_levels(w);
  json level_values = json::array();
  for (const auto& level : levels) {
    level_values.push_back(perf::to_string(level));
  }
  if (plan.is_endpoint()) {
    return run_endpoint_serving(run, plan, serving, levels, level_values);
  }
  const auto launch = server_launch(plan.file, plan.runtime, w);
  const json inputs = {{"variant", run.variant_inputs(plan)},
                       {"runtime", runtime_to_json(plan.runtime)},
                       {"server",
                        {{"binary", launch.server_binary.string()},
                         {"n_ctx", launch.n_ctx},
                         {"parallel", launch.n_parallel},
                         {"n_ubatch", launch.n_ubatch},
                         {"prompt_cache_mib", launch.prompt_cache_mib}}},
                       {"plan", report::serving_to_json(serving, {}).at("plan")},
                       {"levels", level_values},
                       {"extra_body", w.extra_body},
                       {"prompts", run.serving_prompts}};
  const std::string key = "serving/" + plan.name;
  if (auto stored = run.units.find(plan.name, key, inputs)) {
    return from_stored(*stored, w);
  }
  Progress progress(fmt::format("serve {} (llama-server, {} slots)", plan.name, launch.n_parallel));
  auto server = backend::ManagedServer::start(launch);
  backend::openai::Client client({.base_url = server->base_url(), .extra_body = w.extra_body});
  perf::ClientEndpoint endpoint(client);
  const auto result = perf::run_serving(endpoint, serving, levels, [&](const perf::LoadLevel&, int done, int planned) {
    progress.update(done, planned);
  });
  const auto argv = server->argv();
  const int pid = server->pid();
  server->stop();
  if (result.interrupted) {
    progress.finish("FAILED");
    throw Error(ErrorCode::kEngine, fmt::format("serving {} with llama-server: {}", plan.name, result.interruption));
  }
  auto record = keep_serving(run, plan, inputs, serving, result,
                             {{"engine", backend::kLlamaServerEngine},
                              {"argv", argv},
                              {"pid", pid},
                              {"n_ctx", launch.n_ctx},
                              {"parallel", launch.n_parallel}});
  progress.finish("done");
  return record;
}

}  // namespace uaqf::study
