#include "study/runner.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <ostream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "backend/llama_server/managed_server.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/paths.h"
#include "core/terminal.h"
#include "perf/memory.h"
#include "perf/nvml.h"
#include "quant/quantize.h"
#include "report/bench_report.h"
#include "report/table.h"
#include "results/metric_records.h"
#include "store/study_store.h"
#include "study/calibrations.h"
#include "study/model_pool.h"
#include "study/plan.h"
#include "study/units.h"

namespace uaqf::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One variant as the study goes: its record for the results file and its decision inputs.
struct VariantState {
  results::VariantRecord record;
  decide::Variant variant;
  std::vector<std::string> notes;  // for the decision, e.g. a level at SLO that is a lower bound
};

std::vector<WeightFile> planned_weights(const Study& study, const backend::ModelInfo& base_info,
                                        const std::vector<WeightVariant>& variants) {
  std::vector<WeightFile> weights{{base_info.type_name.empty() ? "baseline" : base_info.type_name, study.model}};
  for (const auto& variant : variants) {
    weights.push_back({variant.name(), quant::output_path_for(study.model, variant.name(), study.variants_dir)});
  }
  return weights;
}

// The study's types by their canonical names, crossed with its calibrations.
std::vector<WeightVariant> study_weight_variants(backend::Engine& engine, const Study& study) {
  const auto known = engine.quant_types();
  std::vector<std::string> types;
  for (const auto& type : study.types) {
    const auto found = backend::find_quant_type(known, type);
    types.push_back(found ? found->name : type);  // unknown types were refused by check_study_settings
  }
  return weight_variants(study, types,
                         [&](const std::string& type) { return engine.quantize_needs_imatrix(study.model, type); });
}

// 1. Variants: quantize what is missing (calibrated ones after their importance matrix); a type
// that fails to quantize is left out. In the order of the plan.
std::vector<WeightFile> quantize_variants(StudyRun& run, const std::vector<WeightVariant>& variants,
                                          const std::vector<tasks::CalibrationText>& calibrations,
                                          const backend::ModelInfo& base_info) {
  const Study& study = run.study;
  const auto planned = planned_weights(study, base_info, variants);
  std::vector<WeightFile> made{planned.front()};
  std::vector<std::string> plain_types;
  for (const auto& variant : variants) {
    if (variant.calibration.empty()) {
      plain_types.push_back(variant.type);
    }
  }
  if (!plain_types.empty()) {
    const auto plain = quantize_with_progress(run.engine, {.model = study.model,
                                                           .types = plain_types,
                                                           .out_dir = study.variants_dir,
                                                           .imatrix = study.imatrix,
                                                           .n_threads = study.threads > 0 ? study.threads : 0});
    made.insert(made.end(), plain.begin(), plain.end());
  }
  const auto calibrated = make_calibrated_variants(run.engine, study, calibrations, variants, run.calibration_records);
  made.insert(made.end(), calibrated.begin(), calibrated.end());
  std::vector<WeightFile> ordered;
  for (const auto& weight : planned) {
    const auto it = std::find_if(made.begin(), made.end(), [&](const WeightFile& w) { return w.name == weight.name; });
    if (it != made.end()) {
      ordered.push_back(*it);
    }
  }
  return ordered;
}

// A NaN or inf measurement fails its unit with the reason: a model with NaN weights reported
// "status ok" and PPL nan, and such a number must never reach the decision silently.
void require_finite(const UnitRecord& unit) {
  for (const auto& [name, value] : unit.metrics) {
    for (const double sample : value.samples) {
      if (!std::isfinite(sample)) {
        throw Error(ErrorCode::kEngine,
                    fmt::format("{} is {}, not a finite number (NaN or inf weights or outputs?)", name, sample));
      }
    }
  }
  for (const auto& [series, values] : unit.chunk_values) {
    if (std::any_of(values.begin(), values.end(), [](double v) { return !std::isfinite(v); })) {
      throw Error(ErrorCode::kEngine,
                  fmt::format("per-chunk {} has a value that is not finite (NaN or inf weights or outputs?)", series));
    }
  }
}

void merge(const UnitRecord& unit, decide::Variant& variant) {
  require_finite(unit);
  for (const auto& [name, value] : unit.metrics) {
    variant.metrics[name] = value;
  }
  for (const auto& [series, values] : unit.chunk_values) {
    variant.chunk_values[series] = values;
  }
  for (const auto& [task, correct] : unit.item_correct) {
    variant.item_correct[task] = correct;
  }
}

void mark_failed(VariantState& state, const Error& error) {
  state.record.ok = false;
  state.record.error = error.what();
}

std::string in_process_engine(const StudyRun& run) {
  return fmt::format("{} in-process{}", run.engine_info.name,
                     run.engine_info.commit.empty() ? "" : " (" + run.engine_info.commit + ")");
}

// An endpoint variant's server as results show it: never its key, only the variable's name.
json endpoint_record(const EndpointPlan& endpoint) {
  const auto& probe = endpoint.probe;
  return {{"engine", endpoint_engine(endpoint)},
          {"url", endpoint.spec.base_url},
          {"served_model", endpoint.spec.model},
          {"api_key_env", endpoint.spec.api_key_env},
          {"timeout_s", endpoint.spec.timeout_s},
          {"concurrency", endpoint.spec.concurrency},
          {"probe",
           {{"server_hint", probe.server_hint},
            {"models", probe.models},
            {"generation", probe.generation},
            {"streaming", probe.streaming},
            {"usage_in_stream", probe.usage_in_stream},
            {"prompt_logprobs", probe.prompt_logprobs},
            {"top_logprobs", probe.top_logprobs}}}};
}

// Speed, the prompt workload and perplexity/KLD of one variant, on the shared load of its file.
void measure_speed_and_quality(StudyRun& run, const VariantPlan& plan, const std::vector<UnitPlan>& units,
                               VariantState& state) {
  Progress progress(fmt::format("measure {}", plan.name));
  try {
    for (const auto& unit : units) {
      if (unit.kind == UnitKind::kBench) {
        const auto bench = run_bench_unit(run, plan);
        state.record.engines["bench"] = in_process_engine(run);
        state.record.bench = bench.payload;
        merge(bench, state.variant);
      } else if (unit.kind == UnitKind::kPromptWorkload) {
        // Overrides the fixed-shape request test's latency with what real prompts give.
        const auto workload = run_workload_unit(run, plan);
        state.record.engines["prompt_workload"] = in_process_engine(run);
        state.record.prompt_workload = workload.payload;
        merge(workload, state.variant);
      } else if (unit.kind == UnitKind::kQuality && run.chunk_plan) {
        const auto quality = run_quality_unit(run, plan);
        state.record.engines["quality"] = in_process_engine(run);
        state.record.perplexity = quality.payload.at("perplexity");
        if (quality.payload.contains("kld")) {
          state.record.kld = quality.payload.at("kld");
        }
        merge(quality, state.variant);
      }
    }
    progress.finish("done");
  } catch (const Error& error) {
    mark_failed(state, error);
    progress.finish("FAILED");
  }
}

void measure_tasks(StudyRun& run, const VariantPlan& plan, VariantState& state) {
  Progress progress(fmt::format("tasks of {}", plan.name));
  try {
    const auto tasks = plan.is_endpoint() ? run_endpoint_task_unit(run, plan) : run_task_unit(run, plan);
    state.record.engines["tasks"] = plan.is_endpoint() ? endpoint_engine(*plan.endpoint) : in_process_engine(run);
    state.record.tasks = tasks.payload;
    merge(tasks, state.variant);
    progress.finish("done");
  } catch (const Error& error) {
    mark_failed(state, error);
    progress.finish("FAILED");
  }
}

// The serving workload of one variant, through llama-server (no in-process load is held then).
void measure_serving(StudyRun& run, const VariantPlan& plan, VariantState& state) {
  try {
    const auto serving = run_serving_unit(run, plan);
    state.record.engines["serving"] = plan.is_endpoint()
                                          ? endpoint_engine(*plan.endpoint)
                                          : std::string(backend::kLlamaServerEngine) + " (managed by uaqf)";
    state.record.serving = serving.payload;
    merge(serving, state.variant);
    for (const auto& note : serving.notes) {
      state.notes.push_back(fmt::format("{}: {}", plan.name, note));
    }
  } catch (const Error& error) {
    mark_failed(state, error);
  }
}

// What calibration cost (0 for plain variants), as metrics a profile may weigh: a user choosing
// between plain and calibrated sees it beside what calibration bought.
void add_calibration(const StudyRun& run, const VariantPlan& plan, VariantState& state) {
  if (!run.with_calibrations) {
    return;
  }
  const auto it = run.calibration_records.find(plan.file.string());
  double seconds = 0;
  double tokens = 0;
  if (it != run.calibration_records.end()) {
    state.record.calibration = it->second;
    seconds = it->second.value("compute_s", 0.0);
    tokens = it->second.value("n_tokens", 0.0);
  }
  state.variant.metrics["calibration_s"] = {{seconds}, false};
  state.variant.metrics["calibration_tokens"] = {{tokens}, false};
}

// Every variant is compared with the baseline: when it fails, nothing else is worth measuring.
void stop_unless_baseline_ok(const VariantState& state) {
  if (state.record.is_baseline && !state.record.ok) {
    throw Error(ErrorCode::kEngine, fmt::format("the baseline {} failed, so no variant can be compared with it: {}",
                                                state.record.name, state.record.error));
  }
}

// 3. Measure every variant; a failure is a row marked failed and the study goes on. The variants
// of one file share its load: first every unit that runs on the deployed weights, then the tasks
// (which, batch-invariant, need a load of their own).
std::vector<VariantState> measure_variants(StudyRun& run, const std::vector<VariantPlan>& plans,
                                           const std::vector<UnitPlan>& units) {
  std::vector<VariantState> states;
  for (const auto& plan : plans) {
    VariantState state;
    state.record = {.name = plan.name,
                    .file = plan.file.string(),
                    .is_baseline = plan.is_baseline,
                    .kv_cache_type = plan.runtime.kv_cache_type,
                    .flash_attention = backend::to_string(plan.runtime.flash_attention),
                    .threads = plan.runtime.n_threads,
                    .placement = plan.runtime.placement_flags()};
    state.variant.name = plan.name;
    state.variant.is_baseline = plan.is_baseline;
    if (plan.is_endpoint()) {
      // Its server's own settings are unknown to uaqf: none recorded rather than uaqf's defaults.
      state.record.endpoint = endpoint_record(*plan.endpoint);
      state.record.kv_cache_type.clear();
      state.record.flash_attention.clear();
    }
    add_calibration(run, plan, state);
    states.push_back(std::move(state));
  }
  const bool with_tasks =
      std::any_of(units.begin(), units.end(), [](const UnitPlan& u) { return u.kind == UnitKind::kTasks; });
  // Endpoint variants come last; they have no file to load.
  const std::size_t n_files = static_cast<std::size_t>(
      std::find_if(plans.begin(), plans.end(), [](const VariantPlan& p) { return p.is_endpoint(); }) - plans.begin());
  for (std::size_t begin = 0; begin < n_files;) {
    std::size_t end = begin;
    while (end < n_files && plans[end].file == plans[begin].file) {
      measure_speed_and_quality(run, plans[end], units, states[end]);
      stop_unless_baseline_ok(states[end]);
      ++end;
    }
    for (std::size_t i = begin; with_tasks && i < end; ++i) {
      if (states[i].record.ok) {
        measure_tasks(run, plans[i], states[i]);
        stop_unless_baseline_ok(states[i]);
      }
    }
    begin = end;
  }
  run.pool.release();
  for (std::size_t i = n_files; with_tasks && i < plans.size(); ++i) {
    measure_tasks(run, plans[i], states[i]);
  }
  // Served variants last, one llama-server at a time, with no weights of the engine still loaded.
  const bool with_serving =
      std::any_of(units.begin(), units.end(), [](const UnitPlan& u) { return u.kind == UnitKind::kServing; });
  for (std::size_t i = 0; with_serving && i < plans.size(); ++i) {
    if (states[i].record.ok) {
      measure_serving(run, plans[i], states[i]);
    }
  }
  for (std::size_t i = 0; i < plans.size(); ++i) {
    states[i].record.runs = run.units.runs_of(plans[i].name);
  }
  return states;
}

// Every run that produced a result in use, with its manifest: results of one study may come from
// different machines or builds, and the report says so.
std::vector<results::RunRecord> runs_in_use(const store::StudyStore& store, const std::vector<VariantState>& states) {
  std::set<int64_t> used;
  for (const auto& state : states) {
    used.insert(state.record.runs.begin(), state.record.runs.end());
  }
  std::vector<results::RunRecord> runs;
  for (const auto& run : store.runs()) {
    if (used.contains(run.id)) {
      runs.push_back({.id = run.id,
                      .started_utc = run.started_utc,
                      .finished_utc = run.finished_utc,
                      .environment = run.environment});
    }
  }
  return runs;
}

// 4. Decide, on the variants that could be measured.
void decide_study(const Study& study, const decide::Profile& profile, bool synthetic, results::StudyRecord& record,
                  const std::vector<VariantState>& states) {
  for (const auto& state : states) {
    record.variants.push_back(state.record);
    if (state.record.ok) {
      record.decision_inputs.push_back(state.variant);
    }
  }
  results::attach_records(record.decision_inputs, record.variants);
  const auto& measured = record.decision_inputs;
  if (std::none_of(measured.begin(), measured.end(), [](const auto& v) { return v.is_baseline; })) {
    throw Error(ErrorCode::kEngine, "the baseline could not be measured, so no variant can be compared with it");
  }
  std::vector<std::string> profile_notes;
  for (const auto& state : states) {
    if (state.record.ok) {
      profile_notes.insert(profile_notes.end(), state.notes.begin(), state.notes.end());
    }
  }
  record.profile = synthetic ? decide::without_unmeasured_metrics(profile, measured, profile_notes) : profile;
  record.decision =
      decide::decide(measured, record.profile, {.bootstrap_resamples = study.bootstrap_resamples, .seed = study.seed});
  decide::add_notes(record.decision, profile_notes);
  record.calibration_comparisons = decide::compare_calibrations(measured, study.seed, study.bootstrap_resamples);
}

fs::path study_data_dir(const Study& study) {
  if (study.data_dir) {
    return *study.data_dir;
  }
  const auto shared = find_shared_file("data");
  return shared ? *shared : fs::path("data");
}

}  // namespace

namespace {

bool profile_needs(const decide::Profile& profile, const std::string& metric) {
  const auto weight = profile.weights.find(metric);
  return (weight != profile.weights.end() && weight->second > 0) ||
         std::any_of(profile.constraints.begin(), profile.constraints.end(),
                     [&](const decide::Constraint& c) { return c.metric == metric; });
}

}  // namespace

decide::Profile study_profile(const Study& study) {
  try {
    decide::Profile profile = decide::builtin_profile(study.profile);
    if (!study.weights.empty()) {
      profile.weights = study.weights;
      profile.name = study.profile + " (custom weights)";
    }
    if (!study.builtin_constraints) {
      profile.constraints.clear();
      profile.name += " (own constraints)";
    }
    for (const auto& text : study.constraints) {
      profile.constraints.push_back(decide::parse_constraint(text));
    }
    if (study.serving) {
      profile = decide::serving_profile_for(profile, study.serving->uses_rates(), study.serving->attainment);
    }
    profile.normalization = decide::parse_normalization(study.normalization);
    profile.pessimistic = study.pessimistic;
    decide::validate(profile);
    return profile;
  } catch (const Error& error) {
    // The profile is checked as a whole once read; point at where the study wrote it.
    throw Error(error.code(), fmt::format("{}:{}: {}", study.file.string(), study.profile_line, error.what()));
  }
}

RunOutcome run_study(backend::Engine& engine, const Study& study, const Clock& clock) {
  const auto profile = study_profile(study);  // a bad profile fails before any work
  const auto engine_info = engine.describe();
  const auto base_info = engine.inspect(study.model);
  // Random weights have no quality to measure: speed and memory only, and the report says so.
  const bool synthetic = base_info.synthetic;
  // Warnings wait until every check has passed: a refused study says one line, its error.
  std::ostringstream warnings;
  check_study_settings(engine, study, base_info, warnings);
  const auto weight_list = study_weight_variants(engine, study);
  const auto units = plan_units(study, synthetic);
  // Endpoints are asked once what they can do; an endpoint that cannot be reached refuses the study.
  const auto probes = probe_endpoints(study);
  // What the engine cannot do, and settings no context can take, refuse the study before any work.
  const auto planned =
      plan_variants(study, planned_weights(study, base_info, weight_list), engine_info.default_threads, &probes);
  check_plan(engine, planned, units, &warnings);
  // A metric the profile needs that no planned unit gives refuses the study too, as does energy
  // on a machine without NVML; both point at the study's [profile].
  const auto nvml = perf::Nvml::open();
  try {
    check_profile_metrics(profile, planned, units, synthetic);
    if (!nvml && profile_needs(profile, "energy_j_per_token")) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("profile \"{}\" needs energy_j_per_token, which is measured through NVML (an NVIDIA "
                              "GPU and its driver), and this machine has none",
                              profile.name));
    }
  } catch (const Error& error) {
    throw Error(error.code(), fmt::format("{}:{}: {}", study.file.string(), study.profile_line, error.what()));
  }
  // Task data, prompt files and the corpus next: bad data is refused before the store exists.
  const fs::path data_dir = study_data_dir(study);
  auto inputs = read_inputs(study, data_dir, synthetic);
  // Calibration texts that overlap what is evaluated are refused before any work, too.
  const auto calibrations = read_calibration_texts(study, data_dir);
  check_calibration_overlap(engine, study, calibrations, inputs, warnings);
  std::cerr << warnings.str();
  // The store next: a second process on this study is refused before it does anything.
  auto store = store::StudyStore::open(study.output_dir, true);
  if (study.fresh) {
    store->clear_units();
  }
  Environment env = collect_environment();
  env.extra["malloc_mmap_threshold_bytes"] = std::to_string(perf::fix_allocator_placement());
  // Energy where NVML is there (loaded at run time); its absence leaves energy missing, never 0.
  env.extra["energy"] = nvml ? "NVML total energy counter" : "unavailable (no NVML)";
  if (nvml) {
    perf::add_gpu_manifest(*nvml, "start", env.extra);
  }
  store->begin_run(report::environment_to_json(env, engine_info));
  if (synthetic && (study.perplexity || study.kld || !study.tasks.empty())) {
    std::cerr << "uaqf: note: " << study.model.filename().string()
              << " has synthetic weights (uaqf synth): perplexity, KLD and tasks are skipped\n";
  }
  UnitStore unit_store(*store);
  ModelPool pool(engine, clock);
  StudyRun run{.study = study,
               .engine = engine,
               .engine_info = engine_info,
               .units = unit_store,
               .pool = pool,
               .clock = clock,
               .energy = nvml.get(),
               .data_dir = data_dir,
               .with_calibrations = !study.calibrations.empty()};
  prepare_inputs(run, std::move(inputs), synthetic);
  const auto plans = plan_variants(study, quantize_variants(run, weight_list, calibrations, base_info),
                                   engine_info.default_threads, &probes);
  prepare_baseline(run, plans.front());
  const auto states = measure_variants(run, plans, units);

  RunOutcome outcome;
  results::StudyRecord& record = outcome.record;
  decide_study(study, profile, synthetic, record, states);
  outcome.failed_variants =
      static_cast<int>(std::count_if(states.begin(), states.end(), [](const auto& s) { return !s.record.ok; }));
  record.runs = runs_in_use(*store, states);
  store->finish_run();
  if (nvml) {  // the clocks once measuring is over, beside those at the start
    perf::add_gpu_manifest(*nvml, "end", env.extra);
  }
  record.study_file = study.file.string();
  record.study_name = study.name;
  record.seed = study.seed;
  record.environment = report::environment_to_json(env, engine_info);
  record.synthetic_weights = synthetic;
  record.store = store->path().string();
  return outcome;
}

void print_decision(std::ostream& out, const decide::Decision& decision) {
  std::vector<std::vector<std::string>> rows{
      {"rank", "variant", "feasible", "utility", "95% interval", "P(best)", "Pareto", "notes"}};
  int rank = 0;
  for (const auto& v : decision.ranking) {
    std::string notes;
    for (const auto& violation : v.violations) {
      notes +=
          fmt::format("violates {} (value {:.4g}, by {:.4g}); ", violation.constraint, violation.value, violation.by);
    }
    if (!v.dominated_by.empty()) {
      notes += "dominated by " + v.dominated_by.front() + "; ";
    }
    rows.push_back({fmt::format("{}", ++rank), v.name, v.feasible ? "yes" : "NO", fmt::format("{:.3f}", v.utility),
                    fmt::format("{:.3f} – {:.3f}", v.utility_low, v.utility_high),
                    fmt::format("{:.0f}%", 100 * v.win_probability), v.on_pareto_front ? "yes" : "no", notes});
  }
  out << fmt::format("\nprofile: {}\n", decision.profile);
  report::print_text_table(out, rows, 2);
  out << '\n' << decision.explanation << '\n';
}

}  // namespace uaqf::study
