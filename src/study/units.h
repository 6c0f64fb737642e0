#pragma once

// The units of a study, one small function each: (variant, inputs) -> a typed record. Each unit
// looks for its result in the study's results store first (keyed by everything it depends on) and
// measures only when it is not there; the model is taken from the pool only then.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "core/clock.h"
#include "decide/model.h"
#include "perf/bench.h"
#include "perf/nvml.h"
#include "study/model_pool.h"
#include "study/plan.h"
#include "study/study.h"
#include "study/unit_store.h"
#include "tasks/baseline_cache.h"
#include "tasks/perplexity.h"
#include "tasks/registry.h"

namespace uaqf::study {

// What a unit hands back: its record as the results file shows it, and what it gives the decision.
struct UnitRecord {
  nlohmann::json payload;
  std::map<std::string, decide::MetricValue> metrics;
  std::map<std::string, std::vector<double>> chunk_values;
  std::map<std::string, std::vector<bool>> item_correct;
  std::vector<std::string> notes;  // for the decision's notes (e.g. a level at SLO that is a lower bound)
};

// Everything the units of one study run share: the engine and its loads, the store, and the
// inputs prepared once (prompts, corpus and chunks, task items, the baseline's distributions).
struct StudyRun {
  const Study& study;
  backend::Engine& engine;
  backend::EngineInfo engine_info;
  UnitStore& units;
  ModelPool& pool;
  const Clock& clock;  // every time a unit measures
  const perf::EnergyMeter* energy = nullptr;
  std::filesystem::path data_dir;
  std::vector<std::string> prompts;
  std::vector<std::string> serving_prompts;  // [workload.serving]
  std::optional<tasks::Corpus> corpus;
  std::optional<tasks::ChunkPlan> chunk_plan;
  tasks::PerplexityOptions ppl_options;
  std::optional<tasks::BaselineDistributions> baseline;
  tasks::SuiteOptions suite_options;
  tasks::PreparedSuite suite;
  bool with_divergence = false;
  std::vector<std::vector<backend::Token>> baseline_answers;
  std::map<std::string, std::string> file_sha256;  // each file hashed once: a 13B model takes a minute
  // [model] calibrations: each calibrated weight file's calibration record, by the file's path.
  bool with_calibrations = false;
  std::map<std::string, nlohmann::json> calibration_records;

  const std::string& file_sha(const std::filesystem::path& file);
  // What every result of a variant depends on: its weights and the settings that change its numbers.
  nlohmann::json variant_inputs(const VariantPlan& plan);
  // What a task item's answer depends on besides the variant.
  nlohmann::json suite_inputs() const;
  // The variant's load options with --gpu-layers auto resolved (once per file and placement) for
  // the study's largest context.
  backend::LoadOptions placed(const VariantPlan& plan);
  std::map<std::string, backend::LoadOptions> fitted;
};

// What a study reads from files: task items, prompts and the corpus. Read and checked (schema,
// line numbers, sizes, UTF-8) before the results store is opened, so that bad data leaves nothing.
struct StudyInputs {
  tasks::SuiteOptions suite_options;
  tasks::PreparedSuite suite;
  bool with_divergence = false;
  std::vector<std::string> prompts;
  std::vector<std::string> serving_prompts;
  std::optional<tasks::Corpus> corpus;
};
StudyInputs read_inputs(const Study& study, const std::filesystem::path& data_dir, bool synthetic);

// The prepared inputs of a study (prompts, corpus, chunk plan, task items), from what read_inputs
// read: before any model is loaded.
void prepare_inputs(StudyRun& run, StudyInputs inputs, bool synthetic);

// The baseline's distributions for KLD and its answers for divergence, once, before the variants.
void prepare_baseline(StudyRun& run, const VariantPlan& baseline);

// The variant's model, bound to its context settings, on the pool's shared load.
struct VariantModel {
  ModelPool::Loaded loaded;
  std::unique_ptr<backend::Model> view;
};
VariantModel acquire_model(StudyRun& run, const VariantPlan& plan, bool weight_repack);

UnitRecord run_bench_unit(StudyRun& run, const VariantPlan& plan);
UnitRecord run_workload_unit(StudyRun& run, const VariantPlan& plan);
UnitRecord run_quality_unit(StudyRun& run, const VariantPlan& plan);
UnitRecord run_task_unit(StudyRun& run, const VariantPlan& plan);
// The serving workload: the variant's file served by a managed llama-server with its runtime
// settings, driven by the serving load generator, then stopped (serving_unit.cpp).
UnitRecord run_serving_unit(StudyRun& run, const VariantPlan& plan);
// The tasks unit's record (payload, metrics, per-item outcomes) from the tasks' results.
UnitRecord task_unit_record(const std::vector<tasks::TaskResult>& results);
// The tasks of an endpoint variant over HTTP (endpoint_unit.cpp): the generation tasks, each prompt
// greedy through the endpoint (completions for the lm-eval prompt format, chat for chat), judged by
// uaqf's scorers; divergence against the baseline's answers.
UnitRecord run_endpoint_task_unit(StudyRun& run, const VariantPlan& plan);
// What runtime settings a variant's results depend on, as the results store keys them.
nlohmann::json runtime_to_json(const backend::RuntimeOptions& runtime);

}  // namespace uaqf::study
