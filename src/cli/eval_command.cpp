#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "backend/engines.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "core/paths.h"
#include "core/terminal.h"
#include "decide/significance.h"
#include "perf/memory.h"
#include "report/eval_report.h"
#include "report/reporter.h"
#include "tasks/baseline_cache.h"
#include "tasks/perplexity.h"
#include "tasks/registry.h"

namespace uaqf::cli {
namespace {

namespace fs = std::filesystem;

const fs::path kDefaultCorpus = fs::path("data") / tasks::kDefaultCorpus;

fs::path resolve_corpus(const std::string& given) {
  if (!given.empty()) {
    return given;
  }
  if (auto found = find_shared_file(kDefaultCorpus)) {
    return *found;
  }
  throw Error(ErrorCode::kNotFound,
              fmt::format("no corpus given and the default (WikiText-2 raw test set, {} under $UAQF_SHARED_DIR) was "
                          "not found: pass --data FILE",
                          kDefaultCorpus.string()));
}

struct Flags {
  std::vector<std::string> models;
  std::string tasks = "perplexity";
  std::string baseline;
  std::string data;
  std::string data_dir;
  int n_ctx = 512;
  int chunks = 0;
  int top_k = 128;
  int tail_samples = 32;
  std::string cache_dir;
  std::string json_path;
  std::string csv_path;
  int limit = 0;
  std::size_t max_item_bytes = tasks::kDefaultMaxItemBytes;
  uint32_t seed = 1234;
  uint32_t fewshot_seed = 1234;
  int gsm8k_shots = 5;
  int mmlu_shots = 0;
  std::string mc_normalization = "lm-eval";
  bool mc_naive = false;
  bool no_chat_template = false;  // the old spelling of --prompt-format lm-eval
  std::string prompt_format = "lm-eval";
  std::string chat_template;
  int max_new_tokens = 256;
  int divergence_tokens = 64;
  int gen_batch = 8;
  bool batch_invariant = false;
  std::string responses;           // score this file's IFEval responses instead of models
  std::string baseline_responses;  // and compare them with these, prompt by prompt
  RuntimeFlags runtime;
};

// The named tasks split into perplexity, KLD and the suite's tasks; unknown names are refused.
struct EvalTasks {
  bool perplexity = false;
  bool kld = false;
  bool divergence = false;
  std::vector<std::string> suite;
};

EvalTasks parse_tasks(const std::vector<std::string>& names) {
  EvalTasks tasks;
  for (const auto& task : names) {
    tasks::find_task(task);  // an unknown name is an error that lists the known ones
    if (task == "perplexity") {
      tasks.perplexity = true;
    } else if (task == "kld") {
      tasks.kld = true;
    } else {
      tasks.suite.push_back(task);
    }
  }
  tasks.perplexity = tasks.perplexity || tasks.kld;
  tasks.divergence = std::find(tasks.suite.begin(), tasks.suite.end(), "divergence") != tasks.suite.end();
  return tasks;
}

// What the tasks need of the engine, checked before any model is loaded.
std::vector<backend::Need> eval_needs(const EvalTasks& tasks) {
  std::vector<backend::Need> needs;
  if (tasks.kld) {
    needs.push_back({backend::Capability::kFullLogits, "kld"});
  }
  if (tasks.perplexity) {
    needs.push_back({backend::Capability::kFullLogits, "perplexity"});
  }
  for (const auto& task : tasks.suite) {
    const bool generates = tasks::find_task(task).kind == tasks::TaskKind::kGeneration;
    needs.push_back(
        {generates ? backend::Capability::kGenerate : backend::Capability::kPromptLogprobs, "task " + task});
  }
  return needs;
}

void validate_flags(const Flags& flags, const EvalTasks& tasks) {
  if ((tasks.kld || tasks.divergence) && flags.baseline.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("the {} task needs --baseline MODEL (e.g. the F16 file)",
                                                         tasks.kld ? "kld" : "divergence"));
  }
  if (flags.top_k < 1) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("--top-k must be positive, got {}", flags.top_k));
  }
  if (flags.tail_samples < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("--tail-samples must be zero or positive, got {}", flags.tail_samples));
  }
  if (flags.limit < 0 || flags.max_new_tokens < 1 || flags.gen_batch < 1) {
    throw Error(ErrorCode::kInvalidArgument, "--limit must be positive; --max-new-tokens and --gen-batch at least 1");
  }
  for (const auto& [path, what] :
       {std::pair{flags.json_path, "JSON output"}, std::pair{flags.csv_path, "CSV output"}}) {
    if (!path.empty()) {
      const fs::path parent = fs::path(path).parent_path();
      require_writable_dir(parent.empty() ? fs::path(".") : parent, what);
    }
  }
}

tasks::PerplexityOptions perplexity_options(const Flags& flags, const backend::RuntimeOptions& runtime) {
  tasks::PerplexityOptions options;
  options.n_ctx = flags.n_ctx;
  if (flags.chunks > 0) {
    options.max_chunks = flags.chunks;
  }
  options.n_batch = runtime.n_batch;
  options.top_k = flags.top_k;
  options.tail_samples = flags.tail_samples;
  options.n_threads = static_cast<unsigned>(runtime.n_threads);
  return options;
}

tasks::SuiteOptions suite_options(const Flags& flags) {
  tasks::SuiteOptions options;
  if (flags.limit > 0) {
    options.limit = static_cast<std::size_t>(flags.limit);
  }
  options.seed = flags.seed;
  options.max_item_bytes = flags.max_item_bytes;
  options.gsm8k_shots = flags.gsm8k_shots;
  options.fewshot_seed = flags.fewshot_seed;
  options.mmlu_shots = flags.mmlu_shots;
  if (flags.mc_normalization == "llama") {
    options.mc.normalization = tasks::McNormalization::kLlamaCpp;
  } else if (flags.mc_normalization != "lm-eval") {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("--mc-normalization must be lm-eval or llama, not '{}'", flags.mc_normalization));
  }
  options.mc.share_context = !flags.mc_naive;
  options.generation.max_new_tokens = flags.max_new_tokens;
  options.generation.batch_size = flags.gen_batch;
  options.batch_invariant = flags.batch_invariant;
  options.generation.prompt_format = tasks::parse_prompt_format(flags.prompt_format, "--prompt-format");
  if (flags.no_chat_template && options.generation.prompt_format == tasks::PromptFormat::kChat) {
    throw Error(ErrorCode::kInvalidArgument, "--no-chat-template contradicts --prompt-format chat");
  }
  if (!flags.chat_template.empty()) {
    if (options.generation.prompt_format != tasks::PromptFormat::kChat) {
      throw Error(ErrorCode::kInvalidArgument, "--chat-template needs --prompt-format chat");
    }
    options.generation.chat_template = flags.chat_template;
  }
  options.divergence_max_new_tokens = flags.divergence_tokens;
  return options;
}

// The models and the baseline, inspected (not loaded): synthetic weights and another vocabulary
// than the baseline's are refused here.
std::vector<backend::ModelInfo> inspect_models(backend::Engine& engine, const Flags& flags,
                                               std::optional<backend::ModelInfo>& baseline_info) {
  std::vector<backend::ModelInfo> infos;
  for (const auto& model : flags.models) {
    infos.push_back(engine.inspect(model));
    if (infos.back().synthetic) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} has synthetic (random) weights: its quality is meaningless and not computed", model));
    }
  }
  if (flags.baseline.empty()) {
    return infos;
  }
  baseline_info = engine.inspect(flags.baseline);
  if (baseline_info->synthetic) {
    // Random weights are no reference: every KLD against them would be a number about noise.
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("--baseline {} has synthetic (random) weights: it cannot be the reference for KLD or "
                            "divergence",
                            flags.baseline));
  }
  for (const auto& info : infos) {
    if (info.vocab_fingerprint != baseline_info->vocab_fingerprint) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} has another vocabulary ({} tokens) than the baseline {} ({} tokens): KLD and "
                              "PPL ratios need the same tokenizer",
                              info.path.filename().string(), info.n_vocab, baseline_info->path.filename().string(),
                              baseline_info->n_vocab));
    }
  }
  return infos;
}

// Chat prompts for generation tasks need each model's chat template (or --chat-template): checked
// from the vocabularies, before any weights are loaded.
void require_chat_templates(backend::Engine& engine, const std::vector<backend::ModelInfo>& infos,
                            const EvalTasks& tasks, const tasks::GenerationOptions& generation) {
  const bool generates = std::any_of(tasks.suite.begin(), tasks.suite.end(), [](const std::string& task) {
    return tasks::find_task(task).kind == tasks::TaskKind::kGeneration;
  });
  if (!generates || generation.prompt_format != tasks::PromptFormat::kChat) {
    return;
  }
  for (const auto& info : infos) {
    tasks::require_chat_template(*engine.load_vocabulary(info.path), generation, info.path.filename().string());
  }
}

// The corpus, tokenized once per vocabulary from the vocabulary alone, so that a corpus too short
// for one chunk is reported before any model is loaded. With --chunks only the needed prefix is
// tokenized.
class CorpusTokens {
 public:
  CorpusTokens(backend::Engine& engine, tasks::Corpus corpus, const tasks::PerplexityOptions& options,
               report::EvalReport& report)
      : engine_(engine), corpus_(std::move(corpus)), options_(options), report_(report) {}

  tasks::ChunkPlan plan_for(const backend::ModelInfo& info) {
    auto it = by_vocab_.find(info.vocab_fingerprint);
    if (it == by_vocab_.end() || info.vocab_fingerprint.empty()) {
      std::optional<std::size_t> needed;
      if (options_.max_chunks) {
        // llama-perplexity asks for two contexts of text even for one chunk.
        needed = static_cast<std::size_t>(std::max(2, *options_.max_chunks)) * static_cast<std::size_t>(options_.n_ctx);
      }
      auto tokenized = tasks::tokenize_corpus(*engine_.load_vocabulary(info.path), corpus_.text, needed);
      if (tokenized.complete) {
        report_.corpus_tokens = tokenized.tokens.size();
      }
      it = by_vocab_.insert_or_assign(info.vocab_fingerprint, std::move(tokenized.tokens)).first;
    }
    return tasks::plan_chunks(it->second, options_, corpus_.path.string());
  }
  const tasks::Corpus& corpus() const { return corpus_; }

 private:
  backend::Engine& engine_;
  tasks::Corpus corpus_;
  const tasks::PerplexityOptions& options_;
  report::EvalReport& report_;
  std::map<std::string, std::vector<backend::Token>> by_vocab_;
};

// What every model is compared with: the baseline's distributions (KLD) and answers (divergence).
struct BaselineOutputs {
  std::optional<tasks::BaselineDistributions> distributions;
  std::vector<std::vector<backend::Token>> answers;
};

BaselineOutputs run_baseline(backend::Engine& engine, const Flags& flags, const EvalTasks& tasks,
                             const backend::ModelInfo& baseline_info, const backend::RuntimeOptions& runtime,
                             CorpusTokens* corpus, const tasks::PreparedSuite& suite, report::EvalReport& report) {
  BaselineOutputs outputs;
  report.baseline_path = baseline_info.path;
  report.baseline_sha256 = sha256_file(baseline_info.path);
  auto model = engine.load(baseline_info.path, runtime);
  if (tasks.kld) {
    const auto plan = corpus->plan_for(baseline_info);
    const tasks::BaselineKey key{.baseline_sha256 = report.baseline_sha256,
                                 .corpus_sha256 = corpus->corpus().sha256,
                                 .n_ctx = plan.n_ctx,
                                 .n_chunks = plan.n_chunks,
                                 .top_k = report.options.top_k,
                                 .tail_samples = report.options.tail_samples,
                                 .n_vocab = model->n_vocab(),
                                 .engine_commit = report.engine.commit};
    const fs::path cache_dir = flags.cache_dir.empty() ? user_cache_dir() / "baselines" : fs::path(flags.cache_dir);
    std::unique_ptr<Progress> progress;
    auto cached =
        tasks::load_or_build_baseline(*model, plan, report.options, key, cache_dir, [&](const std::string& why) {
          progress =
              std::make_unique<Progress>(fmt::format("baseline {} ({})", baseline_info.path.filename().string(), why));
        });
    if (progress) {
      progress->finish(fmt::format("PPL {:.4f}, cached", cached.ppl));
    }
    report.baseline_cache_file = cached.file.string();
    report.baseline_cache_status = cached.built ? "built" : "reused";
    report.baseline_ppl = cached.ppl;
    outputs.distributions = std::move(cached.distributions);
  }
  if (tasks.divergence) {
    Progress progress(fmt::format("baseline answers {}", baseline_info.path.filename().string()));
    outputs.answers = tasks::divergence_answers(*model, suite, report.suite_options, nullptr);
    progress.finish(fmt::format("{} answers", outputs.answers.size()));
  }
  return outputs;
}

// A NaN or inf result fails the model with the reason instead of a table row of "nan".
void require_finite(const report::EvalModelResult& result) {
  const auto check = [](const std::string& name, double value) {
    if (!std::isfinite(value)) {
      throw Error(ErrorCode::kEngine,
                  fmt::format("{} is {}, not a finite number (NaN or inf weights or outputs?)", name, value));
    }
  };
  if (result.perplexity) {
    check("PPL", result.perplexity->ppl);
    if (result.perplexity->kld) {
      check("KLD", result.perplexity->kld->mean);
    }
  }
  for (const auto& task : result.tasks) {
    for (const auto& metric : task.metrics) {
      check(task.task + " " + metric.name, metric.value);
    }
  }
}

report::EvalModelResult eval_model(backend::Engine& engine, const Flags& flags, const EvalTasks& tasks,
                                   const backend::ModelInfo& info, const backend::RuntimeOptions& runtime,
                                   CorpusTokens* corpus, const tasks::PreparedSuite& suite,
                                   const BaselineOutputs& baseline, const report::EvalReport& report) {
  report::EvalModelResult result;
  result.path = info.path;
  result.info = info;
  Progress progress(fmt::format("eval {}", info.path.filename().string()));
  try {
    result.sha256 = sha256_file(info.path);
    auto model = engine.load(info.path, runtime);
    result.info = model->info();
    result.batch_invariant_kernels = model->batch_invariant_kernels();
    if (flags.batch_invariant && !*result.batch_invariant_kernels) {
      std::cerr << tasks::batch_invariance_warning(info.path.filename().string()) << '\n';
    }
    if (tasks.perplexity) {
      const auto plan = corpus->plan_for(info);
      result.perplexity = tasks::evaluate_perplexity(*model, plan, report.options,
                                                     tasks.kld ? &*baseline.distributions : nullptr, nullptr);
    }
    if (!tasks.suite.empty()) {
      result.tasks = tasks::run_suite(*model, suite, report.suite_options);
      if (tasks.divergence) {
        result.tasks.push_back(tasks::run_divergence(*model, suite, report.suite_options, baseline.answers));
      }
    }
    require_finite(result);
    result.ok = true;
    progress.finish(result.perplexity ? fmt::format("PPL {:.4f}", result.perplexity->ppl) : "done");
  } catch (const Error& error) {
    result.error = error.what();
    progress.finish("FAILED");
  }
  return result;
}

// --responses: IFEval's verdicts on responses generated elsewhere, without a model.
void check_responses_flags(const Flags& flags) {
  if (!flags.models.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--responses scores a file of responses: give no model files with it");
  }
  if (flags.tasks != "ifeval" && flags.tasks != "gsm8k") {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("--responses scores one task, ifeval or gsm8k: pass --tasks ifeval or --tasks gsm8k (not "
                            "'{}')",
                            flags.tasks));
  }
  if (flags.limit != 0 || !flags.baseline.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "--responses scores every line of its file: --limit and --baseline do not apply (the baseline's "
                "responses are --baseline-responses)");
  }
}

report::EvalModelResult responses_result(const tasks::PreparedSuite& suite, const fs::path& file) {
  report::EvalModelResult result;
  result.path = file;
  result.info.path = file;
  result.info.type_name = "responses";
  result.sha256 = sha256_file(file);
  result.tasks.push_back(suite.tasks.front() == "gsm8k" ? tasks::score_gsm8k_responses(suite, file)
                                                        : tasks::score_ifeval_responses(suite, file));
  result.ok = true;
  return result;
}

// Per item, right or not in one mode ("strict" or "loose"/"flexible"), by item id: IFEval's prompt
// followed (every instruction), GSM8K's answer correct.
std::map<std::string, bool> prompt_outcomes(const tasks::TaskResult& result, const std::string& mode) {
  std::map<std::string, bool> outcomes;
  for (const auto& record : result.records) {
    bool right = false;
    if (result.task == "gsm8k") {
      right = record.at("correct_" + mode).get<bool>();
    } else {
      const auto verdicts = record.at(mode).get<std::vector<bool>>();
      right = std::all_of(verdicts.begin(), verdicts.end(), [](bool b) { return b; });
    }
    outcomes[record.at("id").get<std::string>()] = right;
  }
  return outcomes;
}

// McNemar's test per prompt, as studies compare a variant's items with the baseline's; both files
// must answer the same prompts.
nlohmann::json compare_responses(const report::EvalModelResult& baseline, const report::EvalModelResult& variant) {
  nlohmann::json comparisons = nlohmann::json::array();
  const bool gsm8k = variant.tasks.front().task == "gsm8k";
  for (const std::string mode : {"strict", gsm8k ? "flexible" : "loose"}) {
    const auto base = prompt_outcomes(baseline.tasks.front(), mode);
    const auto var = prompt_outcomes(variant.tasks.front(), mode);
    std::vector<bool> base_followed, variant_followed;
    for (const auto& [id, followed] : var) {
      const auto it = base.find(id);
      if (it == base.end()) {
        throw Error(ErrorCode::kInvalidArgument, fmt::format("{} answers item {} but {} does not: the paired "
                                                             "comparison needs the same prompts in both files",
                                                             variant.path.string(), id, baseline.path.string()));
      }
      base_followed.push_back(it->second);
      variant_followed.push_back(followed);
    }
    if (base.size() != var.size()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} answers {} prompts, {} answers {}: the paired comparison needs the same prompts",
                              baseline.path.string(), base.size(), variant.path.string(), var.size()));
    }
    const decide::McNemarResult test = decide::mcnemar(base_followed, variant_followed);
    const auto rate = [](const std::vector<bool>& v) {
      return static_cast<double>(std::count(v.begin(), v.end(), true)) / static_cast<double>(v.size());
    };
    comparisons.push_back({{"metric", gsm8k ? "exact_match_" + mode : "prompt_level_" + mode + "_acc"},
                           {"n", base_followed.size()},
                           {"baseline", rate(base_followed)},
                           {"variant", rate(variant_followed)},
                           {"baseline_only", test.baseline_only},
                           {"variant_only", test.variant_only},
                           {"test", test.exact ? "mcnemar_exact" : "mcnemar_chi2"},
                           {"statistic", test.statistic},
                           {"p_value", test.p_value}});
  }
  return comparisons;
}

int run_responses(const Flags& flags) {
  check_responses_flags(flags);
  validate_flags(flags, parse_tasks({flags.tasks}));
  report::EvalReport report;
  report.tasks = {flags.tasks};
  report.environment = collect_environment();
  report.suite_options = suite_options(flags);
  report.suite_options.data_dir = resolve_data_dir(flags.data_dir);
  const tasks::PreparedSuite suite = tasks::prepare_suite(report.tasks, report.suite_options);
  nlohmann::json comparisons;
  if (!flags.baseline_responses.empty()) {
    report.baseline_path = flags.baseline_responses;
    report.models.push_back(responses_result(suite, flags.baseline_responses));
    report.baseline_sha256 = report.models.back().sha256;
  }
  report.models.push_back(responses_result(suite, flags.responses));
  if (report.baseline_path) {
    comparisons = compare_responses(report.models.front(), report.models.back());
  }
  std::cout << report::eval_reporter(report)->render(report::Format::kTerminal);
  if (report.baseline_path) {
    std::cout << "\nPaired per prompt (McNemar), " << fs::path(flags.responses).filename().string() << " against "
              << fs::path(flags.baseline_responses).filename().string() << ":\n";
    for (const auto& c : comparisons) {
      std::cout << fmt::format("  {}: {:.4f} -> {:.4f}, baseline only {}, variant only {}, p = {:.4g}\n",
                               c["metric"].get<std::string>(), c["baseline"].get<double>(), c["variant"].get<double>(),
                               c["baseline_only"].get<int>(), c["variant_only"].get<int>(), c["p_value"].get<double>());
    }
  }
  if (!flags.json_path.empty()) {
    auto json = report::eval_to_json(report);
    json["responses"] = {{"path", flags.responses},
                         {"baseline_path", flags.baseline_responses.empty() ? nlohmann::json(nullptr)
                                                                            : nlohmann::json(flags.baseline_responses)},
                         {"comparisons", report.baseline_path ? comparisons : nlohmann::json(nullptr)}};
    write_file_atomic(flags.json_path, json.dump(2) + "\n");
  }
  if (!flags.csv_path.empty()) {
    write_file_atomic(flags.csv_path, report::eval_reporter(report)->render(report::Format::kCsv));
  }
  return 0;
}

int run_eval(const Flags& flags) {
  if (!flags.responses.empty()) {
    return run_responses(flags);
  }
  if (!flags.baseline_responses.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--baseline-responses needs --responses FILE");
  }
  if (flags.models.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "no model files given (or --responses FILE to score IFEval or GSM8K responses)");
  }
  report::EvalReport report;
  report.tasks = parse_name_list(flags.tasks);
  const EvalTasks tasks = parse_tasks(report.tasks);
  validate_flags(flags, tasks);
  auto engine = backend::make_engine(backend::kDefaultEngine);
  report.engine = engine->describe();
  for (const auto& model : flags.models) {
    backend::require_capabilities(engine->capabilities(), eval_needs(tasks), fs::path(model).filename().string(),
                                  report.engine.name);
  }
  report.environment = collect_environment();
  report.environment.extra["malloc_mmap_threshold_bytes"] = std::to_string(perf::fix_allocator_placement());
  auto runtime = to_runtime_options(flags.runtime, report.engine.default_threads);
  // Answers that do not depend on batching also need the plain (not repacked) weight kernels.
  runtime.weight_repack = !flags.batch_invariant;
  engine->check_context_options(runtime.context_options());
  report.options = perplexity_options(flags, runtime);
  report.suite_options = suite_options(flags);

  // Everything that can be checked is checked before the first model is loaded.
  std::optional<backend::ModelInfo> baseline_info;
  const auto infos = inspect_models(*engine, flags, baseline_info);
  require_chat_templates(*engine, infos, tasks, report.suite_options.generation);
  tasks::PreparedSuite suite;
  if (!tasks.suite.empty()) {
    report.suite_options.data_dir = resolve_data_dir(flags.data_dir);
    suite = tasks::prepare_suite(tasks.suite, report.suite_options);
  }
  std::optional<CorpusTokens> corpus;
  if (tasks.perplexity) {
    corpus.emplace(*engine, tasks::read_corpus(resolve_corpus(flags.data)), report.options, report);
    report.corpus_path = corpus->corpus().path;
    report.corpus_sha256 = corpus->corpus().sha256;
    corpus->plan_for(baseline_info ? *baseline_info : infos.front());
  }
  BaselineOutputs baseline;
  if (baseline_info && (tasks.kld || tasks.divergence)) {
    baseline = run_baseline(*engine, flags, tasks, *baseline_info, runtime, corpus ? &*corpus : nullptr, suite, report);
  }
  for (const auto& info : infos) {
    report.models.push_back(
        eval_model(*engine, flags, tasks, info, runtime, corpus ? &*corpus : nullptr, suite, baseline, report));
    if (!flags.json_path.empty()) {
      auto partial = report::eval_to_json(report);
      partial["complete"] = report.complete() && report.models.size() == infos.size();
      write_file_atomic(flags.json_path, partial.dump(2) + "\n");
    }
  }
  std::cout << report::eval_reporter(report)->render(report::Format::kTerminal);
  if (!flags.csv_path.empty()) {
    write_file_atomic(flags.csv_path, report::eval_reporter(report)->render(report::Format::kCsv));
  }
  if (!report.complete()) {
    const auto failed = std::count_if(report.models.begin(), report.models.end(), [](const auto& m) { return !m.ok; });
    std::cerr << fmt::format("uaqf: error: {} of {} models failed (see the table)\n", failed, report.models.size());
    return 1;
  }
  return 0;
}

}  // namespace

Action add_eval_command(CLI::App& app) {
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand("eval", "quality: perplexity, KL-divergence, task accuracy, divergence");
  command->add_option("models", flags->models, "GGUF model files");
  command->add_option("--tasks", flags->tasks, "comma-separated: " + tasks::known_task_names())->capture_default_str();
  command->add_option("--baseline", flags->baseline, "the reference model (e.g. the F16 file); for kld, divergence");
  command->add_option("--data", flags->data, "text corpus (default: WikiText-2 raw test from the shared folder)");
  command->add_option("--data-dir", flags->data_dir, "folder of the task data sets (default: the shared data folder)");
  command->add_option("-c,--ctx", flags->n_ctx, "tokens per perplexity chunk")
      ->check(CLI::Range(2, 1 << 24))
      ->capture_default_str();
  command->add_option("--chunks", flags->chunks, "perplexity chunks to score (default: all)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--top-k", flags->top_k, "baseline log-probs kept exactly per token for KLD")
      ->capture_default_str();
  command
      ->add_option("--tail-samples", flags->tail_samples,
                   "baseline tokens sampled beyond the top-k per token (unbiased tail estimate)")
      ->capture_default_str();
  command->add_option("--cache-dir", flags->cache_dir, "where baseline distributions are cached");
  command->add_option("--limit", flags->limit, "items per task: a seeded, deterministic subset")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--seed", flags->seed, "seed of the --limit subset")->capture_default_str();
  command
      ->add_option("--max-item-bytes", flags->max_item_bytes,
                   "the longest task item accepted, in bytes (a longer one is refused when the data is read)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  command->add_option("--gsm8k-shots", flags->gsm8k_shots, "GSM8K exemplars from the train split")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  command
      ->add_option("--fewshot-seed", flags->fewshot_seed,
                   "seed of GSM8K's exemplar draws (lm-evaluation-harness's --seed fewshot part, default 1234)")
      ->capture_default_str();
  command->add_option("--mmlu-shots", flags->mmlu_shots, "MMLU exemplars per subject (dev split)")
      ->capture_default_str();
  command
      ->add_option("--mc-normalization", flags->mc_normalization,
                   "multiple choice: lm-eval (acc, acc_norm by characters) or llama (mean token log-prob after "
                   "the common prefix, as llama-perplexity --hellaswag)")
      ->capture_default_str();
  command->add_flag("--mc-naive", flags->mc_naive, "score each choice from scratch (slow; for checking)");
  command
      ->add_option("--prompt-format", flags->prompt_format,
                   "generation tasks' prompts: lm-eval (the task's text, as lm-evaluation-harness sends it by "
                   "default) or chat (through the model's chat template, special tokens parsed)")
      ->capture_default_str();
  command->add_flag("--no-chat-template", flags->no_chat_template, "the same as --prompt-format lm-eval");
  command->add_option("--chat-template", flags->chat_template,
                      "with --prompt-format chat: the template to use instead of the model's (template text or a "
                      "llama.cpp name, e.g. chatml)");
  command->add_option("--max-new-tokens", flags->max_new_tokens, "generation limit for gsm8k and ifeval")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  command->add_option("--divergence-tokens", flags->divergence_tokens, "generation limit for divergence")
      ->capture_default_str();
  command->add_option("--gen-batch", flags->gen_batch, "prompts generated side by side")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_flag("--batch-invariant", flags->batch_invariant,
                    "give each prompt or choice a cache stream of its own and no flash attention, so that answers "
                    "and scores do not depend on batching (needs batch-invariant kernels; slower)");
  command->add_option("--responses", flags->responses,
                      "with no models: score generations made elsewhere; --tasks ifeval: JSONL of {\"prompt\", "
                      "\"response\"} (IFEval's response-file format); --tasks gsm8k: JSONL of {\"question\", "
                      "\"response\"} or lm-eval's samples log; matched to the items by text");
  command->add_option("--baseline-responses", flags->baseline_responses,
                      "with --responses: the baseline's responses, compared prompt by prompt (McNemar)");
  command->add_option("--json", flags->json_path, "write results with per-chunk and per-item records as JSON");
  command->add_option("--csv", flags->csv_path, "write every model's metrics as long-form CSV");
  add_runtime_flags(*command, flags->runtime);
  return [flags]() -> int { return run_eval(*flags); };
}

}  // namespace uaqf::cli
