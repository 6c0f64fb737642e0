#include "study/units.h"

#include <algorithm>
#include <iostream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"
#include "core/paths.h"
#include "core/terminal.h"
#include "report/bench_report.h"
#include "results/study_record.h"
#include "study/metric_table.h"
#include "study/workload.h"

namespace uaqf::study {
namespace {

using nlohmann::json;

using results::metrics_from_json;
using results::metrics_to_json;

perf::BenchOptions bench_options(const Study& study, const backend::RuntimeOptions& runtime) {
  perf::BenchOptions options;
  options.prompt_tokens = study.prompt_tokens;
  options.gen_tokens = study.gen_tokens;
  options.depths = study.depths;
  options.reps = study.reps;
  options.warmup = study.warmup;
  options.seed = study.seed;
  options.max_cv = study.max_cv;
  options.parallel = study.parallel;
  options.runtime = runtime;
  return options;
}

// The largest context the study opens on a variant (benchmark tests, perplexity chunks): what a
// placement with gpu_layers = "auto" must leave room for.
int study_context_tokens(const Study& study) {
  const auto largest_bench = static_cast<int>(perf::largest_context_tokens(bench_options(study, {})));
  return std::max(largest_bench, study.ctx);
}

// Repetitions are units too: an interrupted benchmark resumes at the first one not done.
perf::RepetitionJournal repetition_journal(UnitStore& units, const std::string& variant, const std::string& bench_key,
                                           const json& bench_inputs) {
  perf::RepetitionJournal repetitions;
  repetitions.find = [&units, variant, bench_key, bench_inputs](const std::string& test,
                                                                int rep) -> std::optional<perf::RepetitionSamples> {
    const auto found = units.find(variant, fmt::format("{}/{}/{}", bench_key, test, rep), bench_inputs);
    if (!found) {
      return std::nullopt;
    }
    return found->get<perf::RepetitionSamples>();
  };
  repetitions.record = [&units, variant, bench_key, bench_inputs](const std::string& test, int rep,
                                                                  const perf::RepetitionSamples& samples) {
    units.put(variant, fmt::format("{}/{}/{}", bench_key, test, rep), "bench_repetition", bench_inputs, json(samples));
  };
  return repetitions;
}

// Each chunk's share of tokens whose top token is the baseline's: the records same_top_rate is
// recomputed from in the decision's bootstrap.
std::vector<double> same_top_chunks(const tasks::PerplexityResult& ppl) {
  std::vector<double> rates;
  for (const auto& chunk : ppl.chunks) {
    rates.push_back(static_cast<double>(chunk.same_top_count.value_or(0)) / chunk.n_scored);
  }
  return rates;
}

UnitRecord record_from_stored(const json& stored, const char* payload_key) {
  UnitRecord record;
  record.payload = stored.at(payload_key);
  record.metrics = metrics_from_json(stored.at("metrics"));
  return record;
}

}  // namespace

json runtime_to_json(const backend::RuntimeOptions& runtime) {
  json out = {{"threads", runtime.n_threads},
              {"batch_size", runtime.n_batch},
              {"gpu_layers", runtime.n_gpu_layers},
              {"kv_cache_type", runtime.kv_cache_type},
              {"flash_attention", backend::to_string(runtime.flash_attention)}};
  if (const std::string flags = runtime.placement_flags(); !flags.empty()) {
    out["placement"] = flags;
  }
  return out;
}

const std::string& StudyRun::file_sha(const std::filesystem::path& file) {
  auto& sha = file_sha256[file.string()];
  if (sha.empty()) {
    sha = sha256_file(file);
  }
  return sha;
}

json StudyRun::variant_inputs(const VariantPlan& plan) {
  if (plan.is_endpoint()) {
    // What answers there depend on, as far as uaqf can know: where it is and the model it serves.
    return json{{"endpoint", plan.endpoint->spec.base_url}, {"served_model", plan.endpoint->spec.model}};
  }
  json inputs{{"file_sha256", file_sha(plan.file)},
              {"kv_cache_type", plan.runtime.kv_cache_type},
              {"flash_attention", backend::to_string(plan.runtime.flash_attention)},
              {"gpu_layers", plan.runtime.n_gpu_layers}};
  // Only placements other than the default enter the key, so that stored default studies resume.
  if (const std::string flags = plan.runtime.placement_flags(); !flags.empty()) {
    inputs["placement"] = flags;
  }
  return inputs;
}

backend::LoadOptions StudyRun::placed(const VariantPlan& plan) {
  const backend::LoadOptions& asked = plan.runtime.load_options();
  if (asked.n_gpu_layers != backend::kGpuLayersAuto) {
    return asked;
  }
  const std::string key = plan.file.string() + "|" + asked.placement_flags() + "|" + plan.runtime.kv_cache_type;
  if (const auto it = fitted.find(key); it != fitted.end()) {
    return it->second;
  }
  const auto n_ctx = static_cast<uint32_t>(study_context_tokens(study));
  auto resolved = engine.fit_placement(plan.file, asked, plan.runtime.context_options(), n_ctx);
  fmt::print(stderr, "{}: --gpu-layers auto: {} layers fit with a {}-token context\n", plan.name, resolved.n_gpu_layers,
             n_ctx);
  return fitted.emplace(key, resolved).first->second;
}

json StudyRun::suite_inputs() const {
  // Items are told apart by id and prompt hash; these change what the model is asked to do.
  return {{"gsm8k_shots", suite_options.gsm8k_shots},
          {"mmlu_shots", suite_options.mmlu_shots},
          {"max_new_tokens", suite_options.generation.max_new_tokens},
          {"divergence_max_new_tokens", suite_options.divergence_max_new_tokens},
          {"prompt_format", tasks::to_string(suite_options.generation.prompt_format)},
          {"batch_invariant", suite_options.batch_invariant}};
}

VariantModel acquire_model(StudyRun& run, const VariantPlan& plan, bool weight_repack) {
  auto load_options = run.placed(plan);
  load_options.weight_repack = weight_repack;
  auto loaded = run.pool.acquire(plan.file, load_options);
  auto view = backend::with_context_options(loaded.model, plan.runtime.context_options());
  return {loaded, std::move(view)};
}

UnitRecord run_bench_unit(StudyRun& run, const VariantPlan& plan) {
  const auto options = bench_options(run.study, plan.runtime);
  const json inputs = run.variant_inputs(plan);
  const json bench_inputs = {{"variant", inputs},
                             {"runtime", runtime_to_json(plan.runtime)},
                             {"prompt_tokens", options.prompt_tokens},
                             {"gen_tokens", options.gen_tokens},
                             {"depths", options.depths},
                             {"reps", options.reps},
                             {"warmup", options.warmup},
                             {"seed", options.seed},
                             {"max_cv", options.max_cv},
                             {"parallel", options.parallel}};
  const std::string bench_key = "bench/" + plan.name;
  if (auto stored = run.units.find(plan.name, bench_key, bench_inputs)) {
    return record_from_stored(*stored, "bench");
  }
  const auto repetitions = repetition_journal(run.units, plan.name, bench_key, bench_inputs);
  perf::BenchRunner runner(run.engine, run.clock, options, {}, run.energy, &repetitions);
  auto model = acquire_model(run, plan, true);
  const auto bench =
      runner.run(perf::LoadedModel{.path = plan.file,
                                   .model = *model.view,
                                   .load_ms = model.loaded.load_ms,
                                   .device_memory_before_load_bytes = model.loaded.device_memory_before_load_bytes},
                 inputs.at("file_sha256").get<std::string>());
  if (!bench.ok) {
    throw Error(ErrorCode::kEngine, bench.error);
  }
  const BenchShape shape{.first_prompt_tokens = run.study.prompt_tokens.front(),
                         .gen_tokens = run.study.gen_tokens,
                         .top_parallel = run.study.parallel.empty()
                                             ? 0
                                             : *std::max_element(run.study.parallel.begin(), run.study.parallel.end())};
  UnitRecord record;
  record.metrics = decision_metrics(bench, shape);
  record.payload = report::bench_to_json(perf::BenchReport{.options = options, .models = {bench}})["models"][0];
  run.units.put(plan.name, bench_key, "bench", bench_inputs,
                {{"bench", record.payload}, {"metrics", metrics_to_json(record.metrics)}});
  return record;
}

UnitRecord run_workload_unit(StudyRun& run, const VariantPlan& plan) {
  const auto& w = *run.study.prompts;
  const json workload_inputs = {{"variant", run.variant_inputs(plan)},
                                {"runtime", runtime_to_json(plan.runtime)},
                                {"prompts", run.prompts},
                                {"max_new_tokens", w.max_new_tokens},
                                {"parallel", w.parallel},
                                {"chat_template", w.chat_template}};
  const std::string key = "workload/" + plan.name;
  if (auto stored = run.units.find(plan.name, key, workload_inputs)) {
    return record_from_stored(*stored, "summary");
  }
  auto model = acquire_model(run, plan, true);
  UnitRecord record;
  record.payload = run_prompt_workload(*model.view, run.prompts, w, record.metrics, run.clock);
  run.units.put(plan.name, key, "workload", workload_inputs,
                {{"summary", record.payload}, {"metrics", metrics_to_json(record.metrics)}});
  return record;
}

UnitRecord run_quality_unit(StudyRun& run, const VariantPlan& plan) {
  const bool with_kld = run.baseline.has_value();
  const json quality_inputs = {{"variant", run.variant_inputs(plan)},
                               {"corpus_sha256", run.corpus->sha256},
                               {"ctx", run.chunk_plan->n_ctx},
                               {"chunks", run.chunk_plan->n_chunks},
                               {"kld", with_kld},
                               {"baseline_sha256", with_kld ? run.file_sha(run.study.model) : std::string()},
                               {"top_k", run.ppl_options.top_k},
                               {"tail_samples", run.ppl_options.tail_samples}};
  const std::string key = "quality/" + plan.name;
  auto stored = run.units.find(plan.name, key, quality_inputs);
  // Stored before per-chunk same-top rates were kept: scored again from the chunk journal, which
  // holds every token's outcome, so no chunk is evaluated twice.
  if (stored && with_kld && stored->contains("kld") && !stored->at("kld").contains("same_top_chunks")) {
    stored.reset();
  }
  if (!stored) {
    // Chunks are units too: an interrupted pass resumes at the first chunk not done.
    const auto chunk_journal = run.units.journal(plan.name, quality_inputs);
    auto model = acquire_model(run, plan, true);
    const auto ppl = tasks::evaluate_perplexity(*model.view, *run.chunk_plan, run.ppl_options,
                                                with_kld ? &*run.baseline : nullptr, nullptr, &chunk_journal);
    std::map<std::string, std::vector<double>> chunk_values;
    const auto metrics = decision_metrics(ppl, chunk_values);
    json quality{{"perplexity", {{"ppl", ppl.ppl}, {"ppl_stderr", ppl.ppl_stderr}, {"n_chunks", ppl.n_chunks}}}};
    if (ppl.kld) {
      quality["kld"] = {{"kld_mean", ppl.kld->mean},
                        {"same_top_rate", ppl.kld->same_top_rate},
                        {"ln_ppl_ratio", ppl.kld->ln_ppl_ratio},
                        {"kld_p99", ppl.kld->p99},
                        {"same_top_chunks", same_top_chunks(ppl)}};
    }
    quality["metrics"] = metrics_to_json(metrics);
    quality["chunk_values"] = chunk_values;
    run.units.put(plan.name, key, "quality", quality_inputs, quality);
    stored = quality;
  }
  UnitRecord record;
  record.payload = {{"perplexity", stored->at("perplexity")}};
  if (stored->contains("kld")) {
    record.payload["kld"] = stored->at("kld");
  }
  record.metrics = metrics_from_json(stored->at("metrics"));
  for (const auto& [series, values] : stored->at("chunk_values").items()) {
    record.chunk_values[series] = values.get<std::vector<double>>();
  }
  return record;
}

UnitRecord run_task_unit(StudyRun& run, const VariantPlan& plan) {
  // Task items: one unit each, committed as they finish.
  auto journal = run.units.journal(plan.name, {{"variant", run.variant_inputs(plan)}, {"suite", run.suite_inputs()}});
  auto options = run.suite_options;
  options.journal = &journal;
  // Batch-invariant answers need the plain weight kernels: a load of their own.
  auto model = acquire_model(run, plan, !run.study.batch_invariant);
  if (run.study.batch_invariant && !model.view->batch_invariant_kernels()) {
    std::cerr << tasks::batch_invariance_warning(plan.file.filename().string()) << '\n';
  }
  auto results = tasks::run_suite(*model.view, run.suite, options);
  if (run.with_divergence) {
    results.push_back(tasks::run_divergence(*model.view, run.suite, options, run.baseline_answers));
  }
  return task_unit_record(results);
}

UnitRecord task_unit_record(const std::vector<tasks::TaskResult>& results) {
  UnitRecord record;
  record.payload = json::array();
  decide::Variant variant;
  for (const auto& task : results) {
    add_task_metrics(task, variant);
    json metrics = json::object();
    for (const auto& metric : task.metrics) {
      metrics[metric.name] = {{"value", metric.value}, {"stderr", metric.stderr_value}, {"n", metric.n}};
    }
    json entry = {{"task", task.task},
                  {"version", task.version},
                  {"metrics", metrics},
                  {"items_per_second", task.items_per_second},
                  {"records", task.records}};
    if (!task.prompt_format.empty()) {
      entry["prompt_format"] = task.prompt_format;
    }
    record.payload.push_back(std::move(entry));
  }
  record.metrics = std::move(variant.metrics);
  record.item_correct = std::move(variant.item_correct);
  return record;
}

}  // namespace uaqf::study
