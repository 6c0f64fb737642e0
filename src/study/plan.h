#pragma once

// A study as a plan: the variants (weights x context settings) and the units of work each gets,
// with what every unit needs of the engine. Planning checks those needs, and every variant's
// settings, before any work: a study the engine cannot carry out is refused at once.

#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/openai/client.h"
#include "decide/profile.h"
#include "study/study.h"

namespace uaqf::study {

// An endpoint variant as planned: where it is and what its probe found (once, before any work).
struct EndpointPlan {
  EndpointVariant spec;
  backend::openai::ProbeResult probe;
};

struct VariantPlan {
  std::string name;
  std::filesystem::path file;  // empty for an endpoint
  bool is_baseline = false;
  backend::RuntimeOptions runtime;
  std::optional<EndpointPlan> endpoint;
  bool is_endpoint() const { return endpoint.has_value(); }
};

// What each endpoint of the study can do, by name: probed once (backend::openai::Client::probe),
// never assumed. Throws Error naming the endpoint when its API key variable is unset or it answers
// no generation request.
using EndpointProbes = std::map<std::string, backend::openai::ProbeResult>;
EndpointProbes probe_endpoints(const Study& study);
// The client for an endpoint variant (its URL, served model, key variable, timeout).
backend::openai::EndpointConfig endpoint_config(const EndpointVariant& endpoint);
// The engine behind an endpoint as results name it: "endpoint (vLLM) http://host:8000/v1 model m".
std::string endpoint_engine(const EndpointPlan& endpoint);
// The capabilities its probe found: generation, streaming, prompt or top-k log-probabilities.
backend::Capabilities endpoint_capabilities(const backend::openai::ProbeResult& probe);

// A weight file and the name its variants go by ("F16", "Q4_K_M").
struct WeightFile {
  std::string name;
  std::filesystem::path file;
};

// Every weight file crossed with the study's KV-cache types and flash-attention modes. Variants
// of one file are next to each other, so that they can share its load. The study's endpoints come
// last, with their probes (`probes`; none: unprobed). Throws Error naming the study's line when an
// endpoint has the name of another variant.
std::vector<VariantPlan> plan_variants(const Study& study, const std::vector<WeightFile>& weights, int default_threads,
                                       const EndpointProbes* probes = nullptr);

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
// An endpoint variant runs only the units that go over HTTP (tasks, serving), against what its
// probe found; tasks it cannot run are named on `notes` (refused only when the profile needs them,
// check_profile_metrics).
void check_plan(const backend::Engine& engine, const std::vector<VariantPlan>& variants,
                const std::vector<UnitPlan>& units, std::ostream* notes = nullptr);

// Whether an endpoint variant can run the suite task `task` over HTTP, and why not ("" when it can).
std::string endpoint_task_gap(const EndpointPlan& endpoint, const std::string& task);

// The study's settings against the engine and the baseline model, before any work: KV types the
// engine takes, quantization types it knows (and an importance matrix where a type needs one), no
// type that is the baseline's own, with the study's file:line. Warns (on `warnings`) when the
// context or a benchmark shape is longer than the model was trained for.
void check_study_settings(backend::Engine& engine, const Study& study, const backend::ModelInfo& base_info,
                          std::ostream& warnings);

// Throws Error naming the variant, the metric and why when the profile weights or constrains a
// metric that none of the planned units gives (e.g. goodput_rps without [workload.serving]), before
// any work. Quality and task metrics are not checked on synthetic weights: the profile drops them.
// An endpoint variant gives only its tasks' and the serving workload's metrics: any other metric
// the profile needs refuses it with the variant, the metric, the engine and why.
void check_profile_metrics(const decide::Profile& profile, const std::vector<VariantPlan>& variants,
                           const std::vector<UnitPlan>& units, bool synthetic);

}  // namespace uaqf::study
