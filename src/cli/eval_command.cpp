#include <algorithm>
#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "backend/llama/llama_engine.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "core/paths.h"
#include "core/terminal.h"
#include "perf/memory.h"
#include "report/eval_report.h"
#include "tasks/baseline_cache.h"
#include "tasks/perplexity.h"

namespace uaqf::cli {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kKnownTasks = {"perplexity", "kld"};
const fs::path kDefaultCorpus = fs::path("data") / "wikitext-2-raw" / "wiki.test.raw";

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

}  // namespace

Action add_eval_command(CLI::App& app) {
  struct Flags {
    std::vector<std::string> models;
    std::string tasks = "perplexity";
    std::string baseline;
    std::string data;
    int n_ctx = 512;
    int chunks = 0;
    int top_k = 128;
    int tail_samples = 32;
    std::string cache_dir;
    std::string json_path;
    RuntimeFlags runtime;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand("eval", "quality: perplexity, and KL-divergence against a baseline");
  command->add_option("models", flags->models, "GGUF model files")->required();
  command->add_option("--tasks", flags->tasks, "comma-separated: perplexity, kld")->capture_default_str();
  command->add_option("--baseline", flags->baseline, "the reference model (e.g. the F16 file); needed for kld");
  command->add_option("--data", flags->data, "text corpus (default: WikiText-2 raw test from the shared folder)");
  command->add_option("-c,--ctx", flags->n_ctx, "tokens per chunk")->capture_default_str();
  command->add_option("--chunks", flags->chunks, "chunks to score (default: all)");
  command->add_option("--top-k", flags->top_k, "baseline log-probs kept exactly per token for KLD")
      ->capture_default_str();
  command
      ->add_option("--tail-samples", flags->tail_samples,
                   "baseline tokens sampled beyond the top-k per token (unbiased tail estimate)")
      ->capture_default_str();
  command->add_option("--cache-dir", flags->cache_dir, "where baseline distributions are cached");
  command->add_option("--json", flags->json_path, "write results with per-chunk records as JSON");
  add_runtime_flags(*command, flags->runtime);

  return [flags]() -> int {
    report::EvalReport report;
    report.tasks = parse_name_list(flags->tasks);
    for (const auto& task : report.tasks) {
      if (std::find(kKnownTasks.begin(), kKnownTasks.end(), task) == kKnownTasks.end()) {
        throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown task '{}' (known: perplexity, kld)", task));
      }
    }
    const bool with_kld = std::find(report.tasks.begin(), report.tasks.end(), "kld") != report.tasks.end();
    if (with_kld && flags->baseline.empty()) {
      throw Error(ErrorCode::kInvalidArgument, "the kld task needs --baseline MODEL (e.g. the F16 file)");
    }
    if (flags->top_k < 1) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("--top-k must be positive, got {}", flags->top_k));
    }
    if (flags->tail_samples < 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("--tail-samples must be zero or positive, got {}", flags->tail_samples));
    }
    if (!flags->json_path.empty()) {
      const fs::path parent = fs::path(flags->json_path).parent_path();
      require_writable_dir(parent.empty() ? fs::path(".") : parent, "JSON output");
    }
    auto engine = backend::make_llama_engine();
    report.engine = engine->describe();
    report.environment = collect_environment();
    report.environment.extra["malloc_mmap_threshold_bytes"] = std::to_string(perf::fix_allocator_placement());
    const auto runtime = to_runtime_options(flags->runtime, report.engine.default_threads);
    tasks::PerplexityOptions options;
    options.n_ctx = flags->n_ctx;
    if (flags->chunks > 0) {
      options.max_chunks = flags->chunks;
    }
    options.n_batch = runtime.n_batch;
    options.top_k = flags->top_k;
    options.tail_samples = flags->tail_samples;
    options.n_threads = static_cast<unsigned>(runtime.n_threads);
    report.options = options;

    // Everything that can be checked is checked before the first model is loaded.
    const tasks::Corpus corpus = tasks::read_corpus(resolve_corpus(flags->data));
    report.corpus_path = corpus.path;
    report.corpus_sha256 = corpus.sha256;
    std::vector<backend::ModelInfo> infos;
    for (const auto& model : flags->models) {
      infos.push_back(engine->inspect(model));
    }
    std::optional<backend::ModelInfo> baseline_info;
    if (!flags->baseline.empty()) {
      baseline_info = engine->inspect(flags->baseline);
      for (const auto& info : infos) {
        if (info.vocab_fingerprint != baseline_info->vocab_fingerprint) {
          throw Error(ErrorCode::kInvalidArgument,
                      fmt::format("{} has another vocabulary ({} tokens) than the baseline {} ({} tokens): KLD and "
                                  "PPL ratios need the same tokenizer",
                                  info.path.filename().string(), info.n_vocab, baseline_info->path.filename().string(),
                                  baseline_info->n_vocab));
        }
      }
    }

    // The corpus is tokenized once per vocabulary, from the vocabulary alone, so that a corpus too
    // short for one chunk is reported before any model is loaded. With --chunks only the needed
    // prefix is tokenized.
    std::optional<std::size_t> needed_tokens;
    if (options.max_chunks) {
      // llama-perplexity asks for two contexts of text even for one chunk.
      needed_tokens =
          static_cast<std::size_t>(std::max(2, *options.max_chunks)) * static_cast<std::size_t>(options.n_ctx);
    }
    std::map<std::string, std::vector<backend::Token>> tokens_by_vocab;
    auto corpus_tokens_for = [&](const backend::ModelInfo& info) -> const std::vector<backend::Token>& {
      auto it = tokens_by_vocab.find(info.vocab_fingerprint);
      if (it == tokens_by_vocab.end() || info.vocab_fingerprint.empty()) {
        auto tokenized = tasks::tokenize_corpus(*engine->load_vocabulary(info.path), corpus.text, needed_tokens);
        if (tokenized.complete) {
          report.corpus_tokens = tokenized.tokens.size();
        }
        it = tokens_by_vocab.insert_or_assign(info.vocab_fingerprint, std::move(tokenized.tokens)).first;
      }
      return it->second;
    };
    tasks::plan_chunks(corpus_tokens_for(baseline_info ? *baseline_info : infos.front()), options,
                       corpus.path.string());

    std::optional<tasks::BaselineDistributions> baseline;
    if (baseline_info) {
      report.baseline_path = baseline_info->path;
      report.baseline_sha256 = sha256_file(baseline_info->path);
      auto model = engine->load(baseline_info->path, runtime);
      const auto plan = tasks::plan_chunks(corpus_tokens_for(*baseline_info), options, corpus.path.string());
      const tasks::BaselineKey key{.baseline_sha256 = report.baseline_sha256,
                                   .corpus_sha256 = corpus.sha256,
                                   .n_ctx = plan.n_ctx,
                                   .n_chunks = plan.n_chunks,
                                   .top_k = options.top_k,
                                   .tail_samples = options.tail_samples,
                                   .n_vocab = model->n_vocab(),
                                   .engine_commit = report.engine.commit};
      const fs::path cache_dir = flags->cache_dir.empty() ? user_cache_dir() / "baselines" : fs::path(flags->cache_dir);
      const fs::path cache_file = tasks::baseline_cache_path(cache_dir, key);
      report.baseline_cache_file = cache_file.string();
      std::string why;
      baseline = tasks::load_baseline(cache_file, key, &why);
      if (baseline) {
        report.baseline_cache_status = "reused";
        double nll = 0;
        for (const auto& token : baseline->tokens) {
          nll += token.nll;
        }
        report.baseline_ppl = std::exp(nll / static_cast<double>(baseline->tokens.size()));
      } else {
        Progress progress(fmt::format("baseline {} ({})", baseline_info->path.filename().string(), why));
        tasks::BaselineDistributions captured;
        const auto result = tasks::evaluate_perplexity(*model, plan, options, nullptr, &captured);
        require_writable_dir(cache_dir, "cache");
        tasks::save_baseline(cache_file, key, captured);
        report.baseline_ppl = result.ppl;
        report.baseline_cache_status = "built";
        baseline = std::move(captured);
        progress.finish(fmt::format("PPL {:.4f}, cached", result.ppl));
      }
    }

    for (const auto& info : infos) {
      report::EvalModelResult result;
      result.path = info.path;
      result.info = info;
      Progress progress(fmt::format("eval {}", info.path.filename().string()));
      try {
        result.sha256 = sha256_file(info.path);
        auto model = engine->load(info.path, runtime);
        result.info = model->info();
        const auto plan = tasks::plan_chunks(corpus_tokens_for(info), options, corpus.path.string());
        result.perplexity = tasks::evaluate_perplexity(*model, plan, options, with_kld ? &*baseline : nullptr, nullptr);
        result.ok = true;
        progress.finish(fmt::format("PPL {:.4f}", result.perplexity->ppl));
      } catch (const Error& error) {
        result.error = error.what();
        progress.finish("FAILED");
      }
      report.models.push_back(std::move(result));
      if (!flags->json_path.empty()) {
        auto partial = report::eval_to_json(report);
        partial["complete"] = report.complete() && report.models.size() == infos.size();
        write_file_atomic(flags->json_path, partial.dump(2) + "\n");
      }
    }
    report::print_eval_table(std::cout, report);
    if (!report.complete()) {
      const auto failed =
          std::count_if(report.models.begin(), report.models.end(), [](const auto& m) { return !m.ok; });
      std::cerr << fmt::format("uaqf: error: {} of {} models failed (see the table)\n", failed, report.models.size());
      return 1;
    }
    return 0;
  };
}

}  // namespace uaqf::cli
