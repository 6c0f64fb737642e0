#include "study/plan.h"

#include "tasks/registry.h"

namespace uaqf::study {
namespace {

using backend::Capability;
using backend::Need;

std::string variant_name(const Study& study, const std::string& weight_name, const std::string& kv,
                         const std::string& fa) {
  std::string name = weight_name;
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

}  // namespace

std::vector<VariantPlan> plan_variants(const Study& study, const std::vector<WeightFile>& weights,
                                       int default_threads) {
  std::vector<VariantPlan> plans;
  for (const auto& weight : weights) {
    for (const auto& kv : study.kv_types) {
      for (const auto& fa : study.flash_attn) {
        VariantPlan plan;
        plan.name = variant_name(study, weight.name, kv, fa);
        plan.file = weight.file;
        plan.is_baseline = weight.file == study.model && kv == study.kv_types.front() && fa == study.flash_attn.front();
        plan.runtime.n_threads = study.threads > 0 ? study.threads : default_threads;
        plan.runtime.n_batch = study.batch_size;
        plan.runtime.n_gpu_layers = study.gpu_layers;
        plan.runtime.kv_cache_type = kv;
        plan.runtime.flash_attention = backend::parse_flash_attention(fa);
        plans.push_back(plan);
      }
    }
  }
  return plans;
}

std::vector<UnitPlan> plan_units(const Study& study, bool synthetic) {
  std::vector<UnitPlan> units;
  if (!study.types.empty()) {
    units.push_back({UnitKind::kQuantize, {{Capability::kQuantize, "quantizing to " + study.types.front()}}});
  }
  units.push_back({UnitKind::kBench, {{Capability::kTokenDecode, "the speed benchmark"}}});
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
    units.push_back({UnitKind::kQuality, needs});
  }
  if (!synthetic && !study.tasks.empty()) {
    units.push_back({UnitKind::kTasks, task_needs(study.tasks)});
  }
  return units;
}

void check_plan(const backend::Engine& engine, const std::vector<VariantPlan>& variants,
                const std::vector<UnitPlan>& units) {
  const auto capabilities = engine.capabilities();
  const auto engine_name = engine.describe().name;
  for (const auto& variant : variants) {
    for (const auto& unit : units) {
      backend::require_capabilities(capabilities, unit.needs, variant.name, engine_name);
    }
    engine.check_context_options(variant.runtime.context_options());
  }
}

}  // namespace uaqf::study
