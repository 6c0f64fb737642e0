#include "study/plan.h"

#include <algorithm>
#include <iostream>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "backend/llama_server/managed_server.h"
#include "core/error.h"
#include "decide/model.h"
#include "quant/quantize.h"
#include "tasks/registry.h"

namespace uaqf::study {
namespace {

using backend::Capability;
using backend::Need;

std::string variant_name(const Study& study, const std::string& weight_name, const std::string& kv,
                         const std::string& fa, const Placement& placement) {
  std::string name = weight_name;
  if (study.placements.size() > 1) {
    name += " @" + placement.name;
  }
  if (study.kv_types.size() > 1) {
    name += " kv=" + kv;
  }
  if (study.flash_attn.size() > 1) {
    name += " fa=" + fa;
  }
  return name;
}

std::vector<Need> task_needs(const std::vector<std::string>& task_names) {
  std::vector<Need> needs;
  for (const auto& task : task_names) {
    const bool generates = tasks::find_task(task).kind == tasks::TaskKind::kGeneration;
    needs.push_back({generates ? Capability::kGenerate : Capability::kPromptLogprobs, "task " + task});
  }
  return needs;
}

const std::vector<std::string>& serving_metrics() {
  static const std::vector<std::string> names{"goodput_rps",           "slo_attainment",      "serving_output_tps",
                                              "serving_ttft_p99_ms",   "serving_tpot_p99_ms", "max_rps_at_slo",
                                              "max_concurrency_at_slo"};
  return names;
}

UnitPlan serving_unit(const ServingWorkload& serving) {
  UnitPlan unit{UnitKind::kServing,
                {{Capability::kGenerate, "the serving workload"}, {Capability::kStreaming, "the serving workload"}},
                backend::kLlamaServerEngine,
                {"goodput_rps", "slo_attainment", "serving_output_tps", "serving_ttft_p99_ms", "serving_tpot_p99_ms"}};
  if (!serving.slos.empty()) {
    unit.gives.push_back(serving.uses_rates() ? "max_rps_at_slo" : "max_concurrency_at_slo");
  }
  return unit;
}

// Where a metric the profile needs comes from: the unit kind and what a study writes to get it.
// nullopt for the benchmark's metrics (always planned) and names of no unit.
struct MetricSource {
  UnitKind kind;
  std::string study_key;
};

std::optional<MetricSource> metric_source(const std::string& metric) {
  const auto& serving = serving_metrics();
  if (std::find(serving.begin(), serving.end(), metric) != serving.end()) {
    return MetricSource{UnitKind::kServing, "[workload.serving]"};
  }
  if (metric == "parallel_decode_tps" || metric == "parallel_itl_ms") {
    return MetricSource{UnitKind::kBench, "[workload] parallel = [N, ...]"};
  }
  if (metric == "ppl") {
    return MetricSource{UnitKind::kQuality, "[quality] perplexity = true"};
  }
  if (metric == "kld_mean" || metric == "kld_p99" || metric == "same_top_rate" || metric == "ln_ppl_ratio") {
    return MetricSource{UnitKind::kQuality, "[quality] kld = true"};
  }
  if (const auto dot = metric.find('.'); dot != std::string::npos) {
    return MetricSource{UnitKind::kTasks, fmt::format("\"{}\" in [quality] tasks", metric.substr(0, dot))};
  }
  return std::nullopt;
}

bool unit_gives(const UnitPlan& unit, const std::string& metric) {
  return std::any_of(unit.gives.begin(), unit.gives.end(), [&](const std::string& given) {
    return given == metric || (given.back() == '.' && metric.rfind(given, 0) == 0);
  });
}

// Why the planned units do not give `metric`, or "" when one does.
std::string missing_metric_reason(const std::string& metric, const MetricSource& source,
                                  const std::vector<UnitPlan>& units) {
  const auto unit = std::find_if(units.begin(), units.end(), [&](const UnitPlan& u) { return u.kind == source.kind; });
  if (unit != units.end() && unit_gives(*unit, metric)) {
    return "";
  }
  if (source.kind != UnitKind::kServing) {
    return fmt::format("it is measured in-process only when the study has {}", source.study_key);
  }
  if (unit == units.end()) {
    return "it is measured by serving the variant with llama-server, and the study has no [workload.serving]";
  }
  if (metric == "max_rps_at_slo" || metric == "max_concurrency_at_slo") {
    return fmt::format("it comes from a {} sweep with slos, and [workload.serving] has {}",
                       metric == "max_rps_at_slo" ? "rates" : "concurrency",
                       unit_gives(*unit, "max_rps_at_slo")           ? "rates"
                       : unit_gives(*unit, "max_concurrency_at_slo") ? "concurrency levels"
                                                                     : "no slos");
  }
  return "[workload.serving] does not measure it";
}

bool is_quality_metric(const std::string& metric) {
  return metric == "kld_mean" || metric == "kld_p99" || metric == "same_top_rate" || metric == "ln_ppl_ratio";
}

// Why an endpoint variant cannot give `metric` (a base name), or "" when it can: only the serving
// workload's metrics and its tasks' go over HTTP.
std::string endpoint_metric_gap(const EndpointPlan& endpoint, const std::string& metric,
                                const std::vector<UnitPlan>& units) {
  const auto source = metric_source(metric);
  if (metric == "calibration_s" || metric == "calibration_tokens") {
    return "";  // 0 for every variant that is not calibrated
  }
  if (source && source->kind == UnitKind::kServing) {
    return missing_metric_reason(metric, *source, units);
  }
  if (source && source->kind == UnitKind::kTasks) {
    const std::string task = metric.substr(0, metric.find('.'));
    if (const std::string why = missing_metric_reason(metric, *source, units); !why.empty()) {
      return why;
    }
    return endpoint_task_gap(endpoint, task);
  }
  if (metric == "ppl") {
    return endpoint.probe.prompt_logprobs
               ? "uaqf computes perplexity in-process only (the endpoint has prompt log-probabilities, but "
                 "perplexity over HTTP is not implemented)"
               : "perplexity needs prompt log-probabilities (echo+logprobs or prompt_logprobs on /v1/completions), "
                 "and the endpoint returned none when probed";
  }
  if (is_quality_metric(metric)) {
    return "it needs the whole next-token distribution at every corpus position, which an OpenAI-compatible "
           "endpoint does not return (top-k log-probabilities of generated tokens at most)";
  }
  return "it is measured in-process on the variant's GGUF file, and an endpoint has none";
}

}  // namespace

backend::openai::EndpointConfig endpoint_config(const EndpointVariant& endpoint) {
  return {.base_url = endpoint.base_url,
          .model = endpoint.model,
          .api_key_env = endpoint.api_key_env,
          .request_timeout_s = endpoint.timeout_s,
          .stall_timeout_s = std::min(60.0, endpoint.timeout_s)};
}

EndpointProbes probe_endpoints(const Study& study) {
  EndpointProbes probes;
  for (const auto& endpoint : study.endpoints) {
    const std::string where = study.where("model.endpoints." + endpoint.name);
    try {
      backend::openai::Client client(endpoint_config(endpoint));
      auto probe = client.probe();
      if (!probe.generation) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{}: endpoint '{}' at {} answered no generation request when probed (is it running, "
                                "and is model '{}' served there?)",
                                where, endpoint.name, endpoint.base_url, endpoint.model));
      }
      probes[endpoint.name] = std::move(probe);
    } catch (const Error& error) {
      if (std::string(error.what()).starts_with(where)) {
        throw;
      }
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: endpoint '{}': {}", where, endpoint.name, error.what()));
    }
  }
  return probes;
}

std::string endpoint_engine(const EndpointPlan& endpoint) {
  const std::string hint = endpoint.probe.server_hint.empty() ? "unknown server" : endpoint.probe.server_hint;
  std::string engine = fmt::format("endpoint ({}) {}", hint, endpoint.spec.base_url);
  if (!endpoint.spec.model.empty()) {
    engine += " model " + endpoint.spec.model;
  }
  return engine;
}

backend::Capabilities endpoint_capabilities(const backend::openai::ProbeResult& probe) {
  backend::Capabilities capabilities;
  if (probe.generation) capabilities.supported.push_back(Capability::kGenerate);
  if (probe.streaming) capabilities.supported.push_back(Capability::kStreaming);
  if (probe.prompt_logprobs) capabilities.supported.push_back(Capability::kPromptLogprobs);
  if (probe.top_logprobs) capabilities.supported.push_back(Capability::kTopLogprobs);
  return capabilities;
}

std::string endpoint_task_gap(const EndpointPlan& endpoint, const std::string& task) {
  const auto kind = tasks::find_task(task).kind;
  if (kind == tasks::TaskKind::kGeneration) {
    return endpoint.probe.generation ? "" : "the endpoint answered no generation request when probed";
  }
  if (!endpoint.probe.prompt_logprobs) {
    return fmt::format(
        "{} scores choices by log-likelihood, which needs prompt log-probabilities (echo+logprobs or "
        "prompt_logprobs on /v1/completions), and the endpoint returned none when probed",
        task);
  }
  return fmt::format(
      "{} scores choices by log-likelihood, which uaqf computes in-process only (the endpoint has "
      "prompt log-probabilities, but multiple choice over HTTP is not implemented)",
      task);
}

std::vector<VariantPlan> plan_variants(const Study& study, const std::vector<WeightFile>& weights, int default_threads,
                                       const EndpointProbes* probes) {
  std::vector<VariantPlan> plans;
  for (const auto& weight : weights) {
    for (const auto& placement : study.placements) {
      for (const auto& kv : study.kv_types) {
        for (const auto& fa : study.flash_attn) {
          VariantPlan plan;
          plan.name = variant_name(study, weight.name, kv, fa, placement);
          plan.file = weight.file;
          plan.is_baseline = weight.file == study.model && kv == study.kv_types.front() &&
                             fa == study.flash_attn.front() && &placement == &study.placements.front();
          static_cast<backend::LoadOptions&>(plan.runtime) = placement.load;
          plan.runtime.n_threads = study.threads > 0 ? study.threads : default_threads;
          plan.runtime.n_batch = study.batch_size;
          plan.runtime.kv_cache_type = kv;
          plan.runtime.flash_attention = backend::parse_flash_attention(fa);
          plans.push_back(plan);
        }
      }
    }
  }
  for (const auto& endpoint : study.endpoints) {
    const bool taken =
        std::any_of(plans.begin(), plans.end(), [&](const VariantPlan& p) { return p.name == endpoint.name; });
    if (taken) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: endpoint '{}' has the name of another variant; give it another",
                              study.where("model.endpoints." + endpoint.name), endpoint.name));
    }
    VariantPlan plan;
    plan.name = endpoint.name;
    plan.runtime.n_threads = 0;
    plan.endpoint = EndpointPlan{.spec = endpoint};
    if (probes != nullptr) {
      if (const auto it = probes->find(endpoint.name); it != probes->end()) {
        plan.endpoint->probe = it->second;
      }
    }
    plans.push_back(plan);
  }
  return plans;
}

std::vector<UnitPlan> plan_units(const Study& study, bool synthetic) {
  std::vector<UnitPlan> units;
  if (!study.types.empty()) {
    units.push_back({UnitKind::kQuantize, {{Capability::kQuantize, "quantizing to " + study.types.front()}}});
  }
  UnitPlan bench{UnitKind::kBench, {{Capability::kTokenDecode, "the speed benchmark"}}};
  if (!study.parallel.empty()) {
    bench.gives = {"parallel_decode_tps", "parallel_itl_ms"};
  }
  units.push_back(bench);
  if (study.prompts) {
    units.push_back(
        {UnitKind::kPromptWorkload,
         {{Capability::kGenerate, "the prompt workload"}, {Capability::kStreaming, "the prompt workload"}}});
  }
  if (!synthetic && (study.perplexity || study.kld)) {
    std::vector<Need> needs;
    if (study.kld) {
      needs.push_back({Capability::kFullLogits, "kld"});
    }
    if (study.perplexity) {
      needs.push_back({Capability::kFullLogits, "perplexity"});
    }
    std::vector<std::string> gives{"ppl"};
    if (study.kld) {
      gives.insert(gives.end(), {"kld_mean", "kld_p99", "same_top_rate", "ln_ppl_ratio"});
    }
    units.push_back({UnitKind::kQuality, needs, "", gives});
  }
  if (!synthetic && !study.tasks.empty()) {
    std::vector<std::string> gives;
    for (const auto& task : study.tasks) {
      gives.push_back(task + ".");
    }
    units.push_back({UnitKind::kTasks, task_needs(study.tasks), "", gives});
  }
  if (study.serving) {
    units.push_back(serving_unit(*study.serving));
  }
  return units;
}

namespace {

// An endpoint variant's units: those that go over HTTP, against what its probe found.
void check_endpoint_plan(const VariantPlan& variant, const std::vector<UnitPlan>& units, std::ostream* notes) {
  const auto capabilities = endpoint_capabilities(variant.endpoint->probe);
  const std::string engine = endpoint_engine(*variant.endpoint);
  for (const auto& unit : units) {
    if (unit.kind == UnitKind::kServing) {
      backend::require_capabilities(capabilities, unit.needs, variant.name, engine);
    } else if (unit.kind == UnitKind::kTasks && notes != nullptr) {
      for (const auto& need : unit.needs) {
        const std::string task = need.reason.substr(std::string("task ").size());
        if (const std::string gap = endpoint_task_gap(*variant.endpoint, task); !gap.empty()) {
          *notes << fmt::format("uaqf: note: variant '{}' ({}) does not run task {}: {}\n", variant.name, engine, task,
                                gap);
        }
      }
    }
  }
}

}  // namespace

void check_plan(const backend::Engine& engine, const std::vector<VariantPlan>& variants,
                const std::vector<UnitPlan>& units, std::ostream* notes) {
  const auto capabilities = engine.capabilities();
  const auto engine_name = engine.describe().name;
  bool served = false;
  for (const auto& variant : variants) {
    if (variant.is_endpoint()) {
      check_endpoint_plan(variant, units, notes);
      continue;
    }
    for (const auto& unit : units) {
      if (unit.engine == backend::kLlamaServerEngine) {
        backend::require_capabilities(backend::llama_server_capabilities(), unit.needs, variant.name, unit.engine);
        served = true;
      } else {
        backend::require_capabilities(capabilities, unit.needs, variant.name, engine_name);
      }
    }
    engine.check_context_options(variant.runtime.context_options());
  }
  if (served) {
    backend::find_llama_server();  // throws, saying how to build it, when there is none
  }
}

void check_study_settings(backend::Engine& engine, const Study& study, const backend::ModelInfo& base_info,
                          std::ostream& warnings) {
  const auto at = [&](const std::string& key, const Error& error) {
    return Error(error.code(), fmt::format("{}: {}", study.where(key), error.what()));
  };
  for (const auto& kv : study.kv_types) {
    backend::ContextOptions options;
    options.kv_cache_type = kv;
    try {
      engine.check_context_options(options);
    } catch (const Error& error) {
      throw at("runtime.kv_types", error);
    }
  }
  if (!study.types.empty()) {
    std::vector<std::string> types;
    try {
      types = quant::plan(engine, {.model = study.model,
                                   .types = study.types,
                                   .out_dir = study.variants_dir,
                                   .imatrix = study.imatrix,
                                   .imatrix_follows = !study.calibrations.empty(),
                                   .n_threads = study.threads});
    } catch (const Error& error) {
      if (error.code() != ErrorCode::kInvalidArgument) {
        throw;
      }
      throw at("model.types", error);
    }
    const std::string base = base_info.type_name.empty() ? "baseline" : base_info.type_name;
    if (std::find(types.begin(), types.end(), base) != types.end()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: '{}' is the type of the baseline {} itself, which is measured as variant '{}' "
                              "already; leave it out of 'types'",
                              study.where("model.types"), base, study.model.filename().string(), base));
    }
  }
  const int trained = base_info.n_ctx_train;
  if (trained > 0 && (study.perplexity || study.kld) && !base_info.synthetic && study.ctx > trained) {
    warnings << fmt::format("uaqf: warning: {}: ctx = {} is longer than the {} tokens {} was trained on\n",
                            study.where("quality.ctx"), study.ctx, trained, study.model.filename().string());
  }
  const int depth = study.depths.empty() ? 0 : *std::max_element(study.depths.begin(), study.depths.end());
  for (int tokens : study.prompt_tokens) {
    if (trained > 0 && static_cast<int64_t>(tokens) + study.gen_tokens + depth > trained) {
      warnings << fmt::format(
          "uaqf: warning: {}: prompt_tokens {} + gen_tokens {} + depth {} is longer than the {} tokens {} was "
          "trained on\n",
          study.where("workload.prompt_tokens"), tokens, study.gen_tokens, depth, trained,
          study.model.filename().string());
    }
  }
}

void check_profile_metrics(const decide::Profile& profile, const std::vector<VariantPlan>& variants,
                           const std::vector<UnitPlan>& units, bool synthetic) {
  if (variants.empty()) {
    return;
  }
  std::set<std::string> needed;
  for (const auto& [metric, weight] : profile.weights) {
    if (weight > 0) {
      needed.insert(metric);
    }
  }
  for (const auto& constraint : profile.constraints) {
    needed.insert(constraint.metric);
  }
  for (const auto& name : needed) {
    const std::string base = decide::retention_base(name).empty() ? name : decide::retention_base(name);
    for (const auto& variant : variants) {
      if (!variant.is_endpoint()) {
        continue;
      }
      if (const std::string why = endpoint_metric_gap(*variant.endpoint, base, units); !why.empty()) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("variant '{}' cannot give {}, which profile \"{}\" needs: its engine is {}, and {}",
                                variant.name, base, profile.name, endpoint_engine(*variant.endpoint), why));
      }
    }
    const auto source = metric_source(base);
    if (!source || (synthetic && source->kind != UnitKind::kServing)) {
      continue;
    }
    const std::string why = missing_metric_reason(base, *source, units);
    if (!why.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("variant '{}' cannot give {}, which profile \"{}\" needs: {}", variants.front().name,
                              base, profile.name, why));
    }
  }
}

}  // namespace uaqf::study
