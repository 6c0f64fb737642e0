// The inputs a study prepares once, before any variant: prompts, corpus and chunks, task items,
// and the baseline's distributions and answers.

#include <algorithm>

#include "core/paths.h"
#include "core/terminal.h"
#include "study/units.h"
#include "study/workload.h"

namespace uaqf::study {

StudyInputs read_inputs(const Study& study, const std::filesystem::path& data_dir, bool synthetic) {
  StudyInputs inputs;
  inputs.suite_options.data_dir = data_dir;
  inputs.suite_options.limit = study.limit;
  inputs.suite_options.seed = study.seed;
  inputs.suite_options.batch_invariant = study.batch_invariant;
  inputs.suite_options.max_item_bytes = study.max_item_bytes;
  inputs.suite_options.generation.prompt_format = tasks::parse_prompt_format(study.prompt_format, "prompt_format");
  const std::vector<std::string> study_tasks = synthetic ? std::vector<std::string>{} : study.tasks;
  if (!study_tasks.empty()) {
    inputs.suite = tasks::prepare_suite(study_tasks, inputs.suite_options);
  }
  inputs.with_divergence = std::find(study_tasks.begin(), study_tasks.end(), "divergence") != study_tasks.end();
  if (study.prompts) {
    inputs.prompts = workload_prompts(*study.prompts, data_dir, study.max_item_bytes);
  }
  if (study.serving) {
    const auto& serving = *study.serving;
    inputs.serving_prompts =
        workload_prompts(PromptWorkload{.source = serving.prompts, .file = serving.file, .count = serving.requests},
                         data_dir, study.max_item_bytes);
  }
  if (!synthetic && (study.perplexity || study.kld)) {
    inputs.corpus = tasks::read_corpus(study.corpus ? *study.corpus : data_dir / tasks::kDefaultCorpus);
  }
  return inputs;
}

void prepare_inputs(StudyRun& run, StudyInputs inputs, bool synthetic) {
  const Study& study = run.study;
  run.suite_options = std::move(inputs.suite_options);
  run.suite = std::move(inputs.suite);
  run.with_divergence = inputs.with_divergence;
  run.prompts = std::move(inputs.prompts);
  run.serving_prompts = std::move(inputs.serving_prompts);
  run.corpus = std::move(inputs.corpus);
  const bool generates = std::any_of(run.suite.tasks.begin(), run.suite.tasks.end(), [](const std::string& task) {
    return tasks::find_task(task).kind == tasks::TaskKind::kGeneration;
  });
  if (generates && run.suite_options.generation.prompt_format == tasks::PromptFormat::kChat) {
    // Before any work: the variants are made from this model and keep its chat template.
    tasks::require_chat_template(*run.engine.load_vocabulary(study.model), run.suite_options.generation,
                                 study.model.filename().string());
  }
  if (!synthetic && (study.perplexity || study.kld)) {
    run.ppl_options.n_ctx = study.ctx;
    run.ppl_options.max_chunks = study.perplexity_chunks;
    run.ppl_options.n_threads =
        static_cast<unsigned>(study.threads > 0 ? study.threads : run.engine_info.default_threads);
    run.ppl_options.n_batch = study.batch_size;
    const std::size_t needed =
        static_cast<std::size_t>(std::max(2, study.perplexity_chunks)) * static_cast<std::size_t>(study.ctx);
    auto tokens = tasks::tokenize_corpus(*run.engine.load_vocabulary(study.model), run.corpus->text, needed);
    run.chunk_plan = tasks::plan_chunks(std::move(tokens.tokens), run.ppl_options, run.corpus->path.string());
  }
}

void prepare_baseline(StudyRun& run, const VariantPlan& baseline) {
  const Study& study = run.study;
  const bool with_kld = study.kld && run.chunk_plan;
  if (!with_kld && !run.with_divergence) {
    return;
  }
  Progress progress("baseline distributions and answers");
  // As the variants' task answers are made: without weight repacking when batch-invariant.
  auto model = acquire_model(run, baseline, !study.batch_invariant);
  if (with_kld) {
    const tasks::BaselineKey key{.baseline_sha256 = run.file_sha(study.model),
                                 .corpus_sha256 = run.corpus->sha256,
                                 .n_ctx = run.chunk_plan->n_ctx,
                                 .n_chunks = run.chunk_plan->n_chunks,
                                 .top_k = run.ppl_options.top_k,
                                 .tail_samples = run.ppl_options.tail_samples,
                                 .n_vocab = model.view->n_vocab(),
                                 .engine_commit = run.engine_info.commit};
    run.baseline = tasks::load_or_build_baseline(*model.view, *run.chunk_plan, run.ppl_options, key,
                                                 user_cache_dir() / "baselines")
                       .distributions;
  }
  if (run.with_divergence) {
    // Journaled as the baseline variant's own divergence answers: the same generation.
    auto journal =
        run.units.journal(baseline.name, {{"variant", run.variant_inputs(baseline)}, {"suite", run.suite_inputs()}});
    auto options = run.suite_options;
    options.journal = &journal;
    run.baseline_answers = tasks::divergence_answers(*model.view, run.suite, options, nullptr);
  }
  progress.finish("done");
}

}  // namespace uaqf::study
