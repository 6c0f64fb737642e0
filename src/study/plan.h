#pragma once

// A study as a plan: the variants (weights x context settings) and the units of work each gets,
// with what every unit needs of the engine. Planning checks those needs, and every variant's
// settings, before any work: a study the engine cannot carry out is refused at once.

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "decide/profile.h"
#include "study/study.h"

namespace uaqf::study {

struct VariantPlan {
  std::string name;
  std::filesystem::path file;
  bool is_baseline = false;
  backend::RuntimeOptions runtime;
};

// A weight file and the name its variants go by ("F16", "Q4_K_M").
struct WeightFile {
  std::string name;
  std::filesystem::path file;
};

// Every weight file crossed with the study's KV-cache types and flash-attention modes. Variants
// of one file are next to each other, so that they can share its load.
std::vector<VariantPlan> plan_variants(const Study& study, const std::vector<WeightFile>& weights, int default_threads);

enum class UnitKind { kQuantize, kBench, kPromptWorkload, kQuality, kTasks, kServing };

struct UnitPlan {
  UnitKind kind;
  std::vector<backend::Need> needs;
  // The engine that carries it out: "" for the study's engine, "llama-server" for the serving unit.
  std::string engine;
  // Decision metrics it gives, for the profile check: names, or "<task>." for a task's metrics.
  // For the benchmark only those that depend on the study (parallel_*): the others depend on the
  // machine (energy, device memory).
  std::vector<std::string> gives;
};

// The units every variant of the study runs (quantization once for the study), given whether the
// model's weights are synthetic (then quality is not measured).
std::vector<UnitPlan> plan_units(const Study& study, bool synthetic);

// Throws Error naming the variant, the need and the engine when the engine lacks something a unit
// needs, or naming the setting when a variant's context settings are invalid. Before any work.
void check_plan(const backend::Engine& engine, const std::vector<VariantPlan>& variants,
                const std::vector<UnitPlan>& units);

// The study's settings against the engine and the baseline model, before any work: KV types the
// engine takes, quantization types it knows (and an importance matrix where a type needs one), no
// type that is the baseline's own, with the study's file:line. Warns (on `warnings`) when the
// context or a benchmark shape is longer than the model was trained for.
void check_study_settings(backend::Engine& engine, const Study& study, const backend::ModelInfo& base_info,
                          std::ostream& warnings);

// Throws Error naming the variant, the metric and why when the profile weights or constrains a
// metric that none of the planned units gives (e.g. goodput_rps without [workload.serving]), before
// any work. Quality and task metrics are not checked on synthetic weights: the profile drops them.
void check_profile_metrics(const decide::Profile& profile, const std::vector<VariantPlan>& variants,
                           const std::vector<UnitPlan>& units, bool synthetic);

}  // namespace uaqf::study
