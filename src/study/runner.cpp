#include "study/runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <set>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "core/paths.h"
#include "core/terminal.h"
#include "perf/bench.h"
#include "perf/memory.h"
#include "perf/nvml.h"
#include "quant/quantize.h"
#include "report/bench_report.h"
#include "report/table.h"
#include "stats/summary.h"
#include "store/study_store.h"
#include "tasks/baseline_cache.h"
#include "tasks/ifeval.h"
#include "tasks/perplexity.h"
#include "tasks/registry.h"

namespace uaqf::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kBytesPerGib = 1024.0 * 1024.0 * 1024.0;

struct VariantPlan {
  std::string name;
  fs::path file;
  bool is_baseline = false;
  backend::RuntimeOptions runtime;
};

// Per-request latency of a prompt workload: each request's prompt goes in, tokens come out until
// the end-of-generation token or the limit; `parallel` requests are served side by side.
json run_prompt_workload(backend::Model& model, const std::vector<std::string>& prompts, const PromptWorkload& workload,
                         decide::Variant& variant) {
  const SteadyClock clock;
  const auto tokenized = tasks::tokenize_prompts(model, prompts, workload.chat_template, std::nullopt);
  std::size_t longest = 0;
  for (const auto& tokens : tokenized) {
    longest = std::max(longest, tokens.size());
  }
  const auto parallel = static_cast<std::size_t>(workload.parallel);
  auto ctx = model.new_context(
      static_cast<uint32_t>((longest + static_cast<std::size_t>(workload.max_new_tokens) + 8) * parallel),
      static_cast<uint32_t>(parallel), true);
  json requests = json::array();
  std::vector<double> ttft, e2e, itl, output_tokens;
  for (std::size_t begin = 0; begin < tokenized.size(); begin += parallel) {
    const std::size_t end = std::min(tokenized.size(), begin + parallel);
    const std::vector<std::vector<backend::Token>> group(tokenized.begin() + static_cast<std::ptrdiff_t>(begin),
                                                         tokenized.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<std::vector<int64_t>> stamps(group.size());
    const int64_t start = clock.now_ns();
    const auto answers =
        ctx->generate_greedy(group, workload.max_new_tokens, [&](std::size_t s, const std::vector<backend::Token>&) {
          stamps[s].push_back(clock.now_ns());
          return false;
        });
    for (std::size_t s = 0; s < group.size(); ++s) {
      const auto& t = stamps[s];
      if (t.empty()) {
        continue;  // ended at once with end-of-generation
      }
      json request{{"prompt_tokens", group[s].size()},
                   {"output_tokens", answers[s].size()},
                   {"steps", t.size()},  // output tokens plus the end-of-generation token when it came
                   {"ttft_ms", static_cast<double>(t.front() - start) / 1e6},
                   {"e2e_ms", static_cast<double>(t.back() - start) / 1e6}};
      std::vector<double> gaps;
      for (std::size_t k = 1; k < t.size(); ++k) {
        gaps.push_back(static_cast<double>(t[k] - t[k - 1]) / 1e6);
      }
      request["itl_ms"] = gaps;
      ttft.push_back(request["ttft_ms"]);
      e2e.push_back(request["e2e_ms"]);
      itl.insert(itl.end(), gaps.begin(), gaps.end());
      output_tokens.push_back(static_cast<double>(answers[s].size()));
      requests.push_back(request);
    }
  }
  if (!ttft.empty()) {
    variant.metrics["ttft_ms"] = {ttft};
    variant.metrics["ttft_p99_ms"] = {{stats::percentile(ttft, 99)}};
    variant.metrics["e2e_ms"] = {e2e};
  }
  if (!itl.empty()) {
    variant.metrics["itl_p50_ms"] = {{stats::percentile(itl, 50)}};
    variant.metrics["itl_p99_ms"] = {{stats::percentile(itl, 99)}};
  }
  if (!output_tokens.empty()) {
    // Not a ranking metric by default: shown beside the baseline's, since a variant that answers
    // longer pays for it in end-to-end latency.
    variant.metrics["output_tokens"] = {output_tokens};
  }
  json summary{{"requests", requests}};
  if (!output_tokens.empty()) {
    summary["output_tokens_mean"] = stats::summarize(output_tokens).mean;
  }
  return summary;
}

std::vector<std::string> workload_prompts(const Study& study, const fs::path& data_dir) {
  const auto& w = *study.prompts;
  std::vector<std::string> prompts;
  if (w.source == "file") {
    std::ifstream in(*w.file);
    if (!in) {
      throw Error(ErrorCode::kNotFound, fmt::format("prompt file not found: {}", w.file->string()));
    }
    std::string line;
    while (std::getline(in, line) && static_cast<int>(prompts.size()) < w.count) {
      if (!line.empty()) {
        prompts.push_back(line);
      }
    }
  } else if (w.source == "gsm8k") {
    for (const auto& item : tasks::load_gsm8k(data_dir, "test")) {
      if (static_cast<int>(prompts.size()) == w.count) {
        break;
      }
      prompts.push_back(item.question);
    }
  } else {
    for (const auto& row : tasks::read_jsonl(data_dir / "ifeval" / "input_data.jsonl")) {
      if (static_cast<int>(prompts.size()) == w.count) {
        break;
      }
      prompts.push_back(row.at("prompt").get<std::string>());
    }
  }
  return prompts;
}

std::string correctness_field(const std::string& task) {
  if (task == "gsm8k") {
    return "correct_strict";
  }
  return "correct";
}

json metrics_to_json(const std::map<std::string, decide::MetricValue>& metrics) {
  json out = json::object();
  for (const auto& [name, value] : metrics) {
    out[name] = {{"samples", value.samples}, {"unstable", value.unstable}};
  }
  return out;
}

void merge_metrics(const json& stored, decide::Variant& variant) {
  for (const auto& [name, metric] : stored.items()) {
    variant.metrics[name] = {metric.at("samples").get<std::vector<double>>(), metric.at("unstable").get<bool>()};
  }
}

json runtime_to_json(const backend::RuntimeOptions& runtime) {
  return {{"threads", runtime.n_threads},
          {"batch_size", runtime.n_batch},
          {"gpu_layers", runtime.n_gpu_layers},
          {"kv_cache_type", runtime.kv_cache_type},
          {"flash_attention", backend::to_string(runtime.flash_attention)}};
}

// Units of a study in its results store, and what each depends on: the variant's file content
// and runtime settings, and the options of the measurement. A result measured by another
// machine or build stays valid; the report says where results come from.
class StudyUnits {
 public:
  explicit StudyUnits(store::StudyStore& store) : store_(store) {}

  // The stored payload of `key` if measured from `inputs`; remembers the run that measured it.
  std::optional<json> find(const std::string& variant, const std::string& key, const json& inputs) {
    auto unit = store_.find_unit(key, store::inputs_hash(inputs));
    if (!unit) {
      return std::nullopt;
    }
    runs_[variant].insert(unit->run_id);
    return std::move(unit->payload);
  }
  void put(const std::string& variant, const std::string& key, const std::string& kind, const json& inputs,
           const json& payload) {
    store_.put(key, kind, store::inputs_hash(inputs), payload);
    runs_[variant].insert(store_.run_id());
  }
  // Per-item journal of one variant's tasks.
  tasks::ItemJournal journal(const std::string& variant, const json& inputs) {
    tasks::ItemJournal journal;
    journal.find = [this, variant, inputs](const std::string& task, const std::string& id,
                                           const std::string& fingerprint) {
      return find(variant, item_key(variant, task, id), item_inputs(inputs, task, fingerprint));
    };
    journal.record = [this, variant, inputs](const std::string& task, const std::string& id,
                                             const std::string& fingerprint, const json& payload) {
      put(variant, item_key(variant, task, id), "task_item", item_inputs(inputs, task, fingerprint), payload);
    };
    return journal;
  }
  std::vector<int64_t> runs_of(const std::string& variant) const {
    const auto it = runs_.find(variant);
    return it == runs_.end() ? std::vector<int64_t>{} : std::vector<int64_t>(it->second.begin(), it->second.end());
  }

 private:
  static std::string item_key(const std::string& variant, const std::string& task, const std::string& id) {
    return fmt::format("item/{}/{}/{}", variant, task, id);
  }
  static json item_inputs(const json& inputs, const std::string& task, const std::string& fingerprint) {
    return {{"variant", inputs}, {"task", task}, {"version", tasks::task_version(task)}, {"prompt", fingerprint}};
  }

  store::StudyStore& store_;
  std::map<std::string, std::set<int64_t>> runs_;
};

}  // namespace

decide::Profile study_profile(const Study& study) {
  try {
    decide::Profile profile = decide::builtin_profile(study.profile);
    if (!study.weights.empty()) {
      profile.weights = study.weights;
      profile.name = study.profile + " (custom weights)";
    }
    for (const auto& text : study.constraints) {
      profile.constraints.push_back(decide::parse_constraint(text));
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

std::vector<decide::Variant> variants_from_results(const json& results) {
  std::vector<decide::Variant> variants;
  for (const auto& v : results.at("decision_inputs")) {
    decide::Variant variant;
    variant.name = v.at("name");
    variant.is_baseline = v.at("is_baseline");
    for (const auto& [name, metric] : v.at("metrics").items()) {
      variant.metrics[name] = {metric.at("samples").get<std::vector<double>>(), metric.at("unstable").get<bool>()};
    }
    for (const auto& [task, correct] : v.at("item_correct").items()) {
      variant.item_correct[task] = correct.get<std::vector<bool>>();
    }
    for (const auto& [series, values] : v.at("chunk_values").items()) {
      variant.chunk_values[series] = values.get<std::vector<double>>();
    }
    variants.push_back(std::move(variant));
  }
  return variants;
}

RunOutcome run_study(backend::Engine& engine, const Study& study) {
  const auto profile = study_profile(study);  // a bad profile fails before any work
  const fs::path data_dir = study.data_dir             ? *study.data_dir
                            : find_shared_file("data") ? *find_shared_file("data")
                                                       : fs::path("data");
  // The store first: a second process on this study is refused before it does anything.
  auto store = store::StudyStore::open(study.output_dir, true);
  if (study.fresh) {
    store->clear_units();
  }
  const auto engine_info = engine.describe();
  Environment env = collect_environment();
  env.extra["malloc_mmap_threshold_bytes"] = std::to_string(perf::fix_allocator_placement());
  // Energy where NVML is there (loaded at run time); its absence leaves energy missing, never 0.
  const auto nvml = perf::Nvml::open();
  env.extra["energy"] = nvml ? "NVML total energy counter" : "unavailable (no NVML)";
  if (nvml) {
    perf::add_gpu_manifest(*nvml, "start", env.extra);
  }
  json environment = report::environment_to_json(env, engine_info);
  store->begin_run(environment);
  StudyUnits units(*store);
  const auto base_info = engine.inspect(study.model);
  // Random weights have no quality to measure: speed and memory only, and the report says so.
  const bool synthetic = base_info.synthetic;
  if (synthetic && (study.perplexity || study.kld || !study.tasks.empty())) {
    std::cerr << "uaqf: note: " << study.model.filename().string()
              << " has synthetic weights (uaqf synth): perplexity, KLD and tasks are skipped\n";
  }
  tasks::SuiteOptions suite_options;
  suite_options.data_dir = data_dir;
  suite_options.limit = study.limit;
  suite_options.seed = study.seed;
  suite_options.batch_invariant = study.batch_invariant;
  tasks::PreparedSuite suite;
  const std::vector<std::string> study_tasks = synthetic ? std::vector<std::string>{} : study.tasks;
  if (!study_tasks.empty()) {
    suite = tasks::prepare_suite(study_tasks, suite_options);
  }
  std::vector<std::string> prompts;
  if (study.prompts) {
    prompts = workload_prompts(study, data_dir);
  }
  std::optional<tasks::Corpus> corpus;
  if (!synthetic && (study.perplexity || study.kld)) {
    const fs::path corpus_path = study.corpus ? *study.corpus : data_dir / tasks::kDefaultCorpus;
    corpus = tasks::read_corpus(corpus_path);
  }

  // 1. Variants: quantize what is missing.
  quant::QuantizeOptions quantize{.model = study.model,
                                  .types = study.types,
                                  .out_dir = study.variants_dir,
                                  .imatrix = study.imatrix,
                                  .n_threads = study.threads > 0 ? study.threads : 0};
  std::vector<quant::QuantizeResult> quantized;
  if (!study.types.empty()) {
    std::unique_ptr<Progress> progress;
    quant::QuantizeObserver observer;
    observer.on_start = [&](const std::string& type, const fs::path&) {
      progress = std::make_unique<Progress>(fmt::format("quantize {}", type));
    };
    observer.on_progress = [&](long done, long total) { progress->update(done, total); };
    observer.on_finish = [&](const quant::QuantizeResult& r) {
      progress->finish(r.status == quant::QuantizeStatus::kFailed     ? "FAILED: " + r.error
                       : r.status == quant::QuantizeStatus::kUpToDate ? "up to date"
                                                                      : "done");
    };
    quantized = quant::quantize_all(engine, quantize, observer);
  }
  std::vector<VariantPlan> plans;
  const std::string base_name = base_info.type_name.empty() ? "baseline" : base_info.type_name;
  std::vector<std::pair<std::string, fs::path>> weights{{base_name, study.model}};
  for (const auto& q : quantized) {
    if (q.status != quant::QuantizeStatus::kFailed) {
      weights.emplace_back(q.type, q.output);
    }
  }
  for (const auto& [weight_name, file] : weights) {
    for (const auto& kv : study.kv_types) {
      for (const auto& fa : study.flash_attn) {
        VariantPlan plan;
        plan.name = weight_name;
        if (study.kv_types.size() > 1) {
          plan.name += " kv=" + kv;
        }
        if (study.flash_attn.size() > 1) {
          plan.name += " fa=" + fa;
        }
        plan.file = file;
        plan.is_baseline = file == study.model && kv == study.kv_types.front() && fa == study.flash_attn.front();
        plan.runtime.n_threads = study.threads > 0 ? study.threads : engine_info.default_threads;
        plan.runtime.n_batch = study.batch_size;
        plan.runtime.n_gpu_layers = study.gpu_layers;
        plan.runtime.kv_cache_type = kv;
        plan.runtime.flash_attention = backend::parse_flash_attention(fa);
        plans.push_back(plan);
      }
    }
  }

  // 2. The baseline's distributions for KLD, once.
  tasks::PerplexityOptions ppl_options;
  ppl_options.n_ctx = study.ctx;
  ppl_options.max_chunks = study.perplexity_chunks;
  ppl_options.n_threads = static_cast<unsigned>(plans.front().runtime.n_threads);
  ppl_options.n_batch = study.batch_size;
  std::optional<tasks::ChunkPlan> chunk_plan;
  std::optional<tasks::BaselineDistributions> baseline;
  std::vector<std::vector<backend::Token>> baseline_answers;
  const bool with_divergence = std::find(study_tasks.begin(), study_tasks.end(), "divergence") != study_tasks.end();
  if (corpus) {
    const std::size_t needed =
        static_cast<std::size_t>(std::max(2, study.perplexity_chunks)) * static_cast<std::size_t>(study.ctx);
    auto tokens = tasks::tokenize_corpus(*engine.load_vocabulary(study.model), corpus->text, needed);
    chunk_plan = tasks::plan_chunks(std::move(tokens.tokens), ppl_options, corpus->path.string());
  }
  // What a variant's results depend on: its weights and the settings that change its numbers.
  // Each file is hashed once: a 13B model takes about a minute.
  std::map<std::string, std::string> file_sha256;
  auto file_sha = [&](const fs::path& file) -> const std::string& {
    auto& sha = file_sha256[file.string()];
    if (sha.empty()) {
      sha = sha256_file(file);
    }
    return sha;
  };
  auto variant_inputs = [&](const VariantPlan& plan) {
    return json{{"file_sha256", file_sha(plan.file)},
                {"kv_cache_type", plan.runtime.kv_cache_type},
                {"flash_attention", backend::to_string(plan.runtime.flash_attention)},
                {"gpu_layers", plan.runtime.n_gpu_layers}};
  };
  // Items are told apart by id and prompt hash; these change what the model is asked to do.
  json suite_inputs = {{"gsm8k_shots", suite_options.gsm8k_shots},
                       {"mmlu_shots", suite_options.mmlu_shots},
                       {"max_new_tokens", suite_options.generation.max_new_tokens},
                       {"divergence_max_new_tokens", suite_options.divergence_max_new_tokens},
                       {"chat_template", suite_options.generation.use_chat_template},
                       {"batch_invariant", suite_options.batch_invariant}};
  if ((study.kld && chunk_plan) || with_divergence) {
    Progress progress("baseline distributions and answers");
    auto baseline_runtime = plans.front().runtime;
    baseline_runtime.weight_repack = !study.batch_invariant;  // as the variants' task answers
    auto model = engine.load(study.model, baseline_runtime);
    if (study.kld && chunk_plan) {
      const tasks::BaselineKey key{.baseline_sha256 = file_sha(study.model),
                                   .corpus_sha256 = corpus->sha256,
                                   .n_ctx = chunk_plan->n_ctx,
                                   .n_chunks = chunk_plan->n_chunks,
                                   .top_k = ppl_options.top_k,
                                   .tail_samples = ppl_options.tail_samples,
                                   .n_vocab = model->n_vocab(),
                                   .engine_commit = engine_info.commit};
      baseline = tasks::load_or_build_baseline(*model, *chunk_plan, ppl_options, key, user_cache_dir() / "baselines")
                     .distributions;
    }
    if (with_divergence) {
      // Journaled as the baseline variant's own divergence answers: the same generation.
      auto journal =
          units.journal(plans.front().name, {{"variant", variant_inputs(plans.front())}, {"suite", suite_inputs}});
      auto options = suite_options;
      options.journal = &journal;
      baseline_answers = tasks::divergence_answers(*model, suite, options, nullptr);
    }
    progress.finish("done");
  }

  // 3. Measure every variant; a failure is a row marked failed and the study goes on.
  perf::BenchOptions bench_options;
  bench_options.prompt_tokens = study.prompt_tokens;
  bench_options.gen_tokens = study.gen_tokens;
  bench_options.depths = study.depths;
  bench_options.reps = study.reps;
  bench_options.warmup = study.warmup;
  bench_options.seed = study.seed;
  bench_options.max_cv = study.max_cv;
  bench_options.parallel = study.parallel;
  const std::string parallel_test =
      study.parallel.empty()
          ? std::string()
          : perf::test_name_parallel(study.gen_tokens, *std::max_element(study.parallel.begin(), study.parallel.end()));
  RunOutcome outcome;
  json variant_results = json::array();
  std::vector<decide::Variant> variants;
  const SteadyClock clock;
  for (const auto& plan : plans) {
    Progress progress(fmt::format("measure {}", plan.name));
    json entry{{"name", plan.name},
               {"file", plan.file.string()},
               {"is_baseline", plan.is_baseline},
               {"kv_cache_type", plan.runtime.kv_cache_type},
               {"flash_attention", backend::to_string(plan.runtime.flash_attention)},
               {"threads", plan.runtime.n_threads}};
    decide::Variant variant;
    variant.name = plan.name;
    variant.is_baseline = plan.is_baseline;
    try {
      const json inputs = variant_inputs(plan);
      const json runtime = runtime_to_json(plan.runtime);
      std::unique_ptr<backend::Model> loaded;
      auto model = [&]() -> backend::Model& {
        if (!loaded) {
          loaded = engine.load(plan.file, plan.runtime);
        }
        return *loaded;
      };
      // Batch-invariant answers need the plain weight kernels: a copy of the model of its own.
      std::unique_ptr<backend::Model> loaded_for_tasks;
      auto task_model = [&]() -> backend::Model& {
        if (!study.batch_invariant) {
          return model();
        }
        if (!loaded_for_tasks) {
          loaded.reset();  // one copy of the weights at a time
          auto task_runtime = plan.runtime;
          task_runtime.weight_repack = false;
          loaded_for_tasks = engine.load(plan.file, task_runtime);
          if (!loaded_for_tasks->batch_invariant_kernels()) {
            std::cerr << tasks::batch_invariance_warning(plan.file.filename().string()) << '\n';
          }
        }
        return *loaded_for_tasks;
      };

      // Speed and memory: one unit per variant.
      auto options = bench_options;
      options.runtime = plan.runtime;
      const json bench_inputs = {{"variant", inputs},
                                 {"runtime", runtime},
                                 {"prompt_tokens", options.prompt_tokens},
                                 {"gen_tokens", options.gen_tokens},
                                 {"depths", options.depths},
                                 {"reps", options.reps},
                                 {"warmup", options.warmup},
                                 {"seed", options.seed},
                                 {"max_cv", options.max_cv},
                                 {"parallel", options.parallel}};
      const std::string bench_key = "bench/" + plan.name;
      auto bench_unit = units.find(plan.name, bench_key, bench_inputs);
      if (!bench_unit) {
        // Repetitions are units too: an interrupted benchmark resumes at the first one not done.
        perf::RepetitionJournal repetitions;
        repetitions.find = [&](const std::string& test, int rep) -> std::optional<perf::RepetitionSamples> {
          const auto found = units.find(plan.name, fmt::format("{}/{}/{}", bench_key, test, rep), bench_inputs);
          if (!found) {
            return std::nullopt;
          }
          return found->get<perf::RepetitionSamples>();
        };
        repetitions.record = [&](const std::string& test, int rep, const perf::RepetitionSamples& samples) {
          units.put(plan.name, fmt::format("{}/{}/{}", bench_key, test, rep), "bench_repetition", bench_inputs,
                    json(samples));
        };
        perf::BenchRunner runner(engine, clock, options, {}, nvml.get(), &repetitions);
        const auto bench = runner.run(plan.file, inputs.at("file_sha256").get<std::string>());
        if (!bench.ok) {
          throw Error(ErrorCode::kEngine, bench.error);
        }
        decide::Variant measured;
        for (const auto& metric : bench.metrics) {
          const bool unstable = !metric.warnings.empty() && !metric.is_distribution;
          // The decision sees the samples the summary used: late warm-up runs stay out.
          const std::vector<double> samples(metric.samples.begin() + static_cast<std::ptrdiff_t>(metric.warmup_dropped),
                                            metric.samples.end());
          if (metric.name == "prefill_tps" && metric.test == perf::test_name_prefill(study.prompt_tokens.front(), 0)) {
            measured.metrics["prefill_tps"] = {samples, unstable};
          } else if (metric.name == "decode_tps" && metric.depth == 0) {
            measured.metrics["decode_tps"] = {samples, unstable};
          } else if (metric.name == "load_ms") {
            measured.metrics["load_ms"] = {samples, false};
          } else if (metric.name == "ttft_ms") {
            measured.metrics["ttft_ms"] = {samples, unstable};
            measured.metrics["ttft_p99_ms"] = {{metric.summary.p99}, false};
          } else if (metric.name == "e2e_ms") {
            measured.metrics["e2e_ms"] = {samples, unstable};
          } else if (metric.name == "itl_ms") {
            measured.metrics["itl_p50_ms"] = {{metric.summary.median}, false};
            measured.metrics["itl_p99_ms"] = {{metric.summary.p99}, false};
          } else if ((metric.name == "parallel_decode_tps" || metric.name == "parallel_itl_ms") &&
                     metric.test == parallel_test) {
            measured.metrics[metric.name] = {samples, unstable};
          } else if (metric.name == "decode_j_per_token" &&
                     metric.test == perf::test_name_decode(study.gen_tokens, 0)) {
            measured.metrics["energy_j_per_token"] = {samples, unstable};
          }
        }
        if (bench.peak_rss_bytes) {
          measured.metrics["peak_memory_gib"] = {{static_cast<double>(*bench.peak_rss_bytes) / kBytesPerGib}, false};
        }
        if (bench.peak_device_memory_bytes) {
          measured.metrics["device_memory_gib"] = {
              {static_cast<double>(*bench.peak_device_memory_bytes) / kBytesPerGib}, false};
        }
        measured.metrics["file_size_gib"] = {{static_cast<double>(bench.info.file_size_bytes) / kBytesPerGib}, false};
        bench_unit = json{
            {"bench", report::bench_to_json(perf::BenchReport{.options = options, .models = {bench}})["models"][0]},
            {"metrics", metrics_to_json(measured.metrics)}};
        units.put(plan.name, bench_key, "bench", bench_inputs, *bench_unit);
      }
      entry["bench"] = bench_unit->at("bench");
      merge_metrics(bench_unit->at("metrics"), variant);

      if (study.prompts) {
        // Overrides the fixed-shape request test's latency with what real prompts give.
        const auto& w = *study.prompts;
        const json workload_inputs = {{"variant", inputs},      {"runtime", runtime},
                                      {"prompts", prompts},     {"max_new_tokens", w.max_new_tokens},
                                      {"parallel", w.parallel}, {"chat_template", w.chat_template}};
        const std::string key = "workload/" + plan.name;
        auto unit = units.find(plan.name, key, workload_inputs);
        if (!unit) {
          decide::Variant measured;
          const json summary = run_prompt_workload(model(), prompts, w, measured);
          unit = json{{"summary", summary}, {"metrics", metrics_to_json(measured.metrics)}};
          units.put(plan.name, key, "workload", workload_inputs, *unit);
        }
        entry["prompt_workload"] = unit->at("summary");
        merge_metrics(unit->at("metrics"), variant);
      }
      if (chunk_plan) {
        const json quality_inputs = {
            {"variant", inputs},           {"corpus_sha256", corpus->sha256},
            {"ctx", chunk_plan->n_ctx},    {"chunks", chunk_plan->n_chunks},
            {"kld", baseline.has_value()}, {"baseline_sha256", baseline ? file_sha(study.model) : std::string()},
            {"top_k", ppl_options.top_k},  {"tail_samples", ppl_options.tail_samples}};
        const std::string key = "quality/" + plan.name;
        auto unit = units.find(plan.name, key, quality_inputs);
        if (!unit) {
          // Chunks are units too: an interrupted pass resumes at the first chunk not done.
          const auto chunk_journal = units.journal(plan.name, quality_inputs);
          const auto ppl = tasks::evaluate_perplexity(model(), *chunk_plan, ppl_options,
                                                      baseline ? &*baseline : nullptr, nullptr, &chunk_journal);
          decide::Variant measured;
          json quality{{"perplexity", {{"ppl", ppl.ppl}, {"ppl_stderr", ppl.ppl_stderr}, {"n_chunks", ppl.n_chunks}}}};
          measured.metrics["ppl"] = {{ppl.ppl}, false};
          std::vector<double> chunk_nll, chunk_kld;
          for (const auto& chunk : ppl.chunks) {
            chunk_nll.push_back(chunk.nll_sum / chunk.n_scored);
            if (chunk.kld_sum) {
              chunk_kld.push_back(*chunk.kld_sum / chunk.n_scored);
            }
          }
          measured.chunk_values["nll"] = chunk_nll;
          if (ppl.kld) {
            quality["kld"] = {{"kld_mean", ppl.kld->mean},
                              {"same_top_rate", ppl.kld->same_top_rate},
                              {"ln_ppl_ratio", ppl.kld->ln_ppl_ratio},
                              {"kld_p99", ppl.kld->p99}};
            measured.metrics["kld_mean"] = {{ppl.kld->mean}, false};
            measured.metrics["kld_p99"] = {{ppl.kld->p99}, false};
            measured.metrics["same_top_rate"] = {{ppl.kld->same_top_rate}, false};
            measured.metrics["ln_ppl_ratio"] = {{ppl.kld->ln_ppl_ratio}, false};
            measured.chunk_values["kld"] = chunk_kld;
          }
          quality["metrics"] = metrics_to_json(measured.metrics);
          quality["chunk_values"] = measured.chunk_values;
          unit = quality;
          units.put(plan.name, key, "quality", quality_inputs, *unit);
        }
        entry["perplexity"] = unit->at("perplexity");
        if (unit->contains("kld")) {
          entry["kld"] = unit->at("kld");
        }
        merge_metrics(unit->at("metrics"), variant);
        for (const auto& [series, values] : unit->at("chunk_values").items()) {
          variant.chunk_values[series] = values.get<std::vector<double>>();
        }
      }
      if (!study_tasks.empty()) {
        // Task items: one unit each, committed as they finish.
        auto journal = units.journal(plan.name, {{"variant", inputs}, {"suite", suite_inputs}});
        auto options_with_journal = suite_options;
        options_with_journal.journal = &journal;
        auto results = tasks::run_suite(task_model(), suite, options_with_journal);
        if (with_divergence) {
          results.push_back(tasks::run_divergence(task_model(), suite, options_with_journal, baseline_answers));
        }
        json task_json = json::array();
        for (const auto& task : results) {
          json metrics = json::object();
          for (const auto& metric : task.metrics) {
            metrics[metric.name] = {{"value", metric.value}, {"stderr", metric.stderr_value}, {"n", metric.n}};
            variant.metrics[task.task + "." + metric.name] = {{metric.value}, false};
          }
          std::vector<bool> correct;
          for (const auto& record : task.records) {
            if (record.contains(correctness_field(task.task))) {
              correct.push_back(record.at(correctness_field(task.task)).get<bool>());
            }
          }
          if (!correct.empty()) {
            variant.item_correct[task.task] = correct;
          }
          task_json.push_back({{"task", task.task},
                               {"version", task.version},
                               {"metrics", metrics},
                               {"items_per_second", task.items_per_second},
                               {"records", task.records}});
        }
        entry["tasks"] = task_json;
      }
      entry["status"] = "ok";
      variants.push_back(variant);
      progress.finish("done");
    } catch (const Error& error) {
      entry["status"] = "failed";
      entry["error"] = error.what();
      ++outcome.failed_variants;
      progress.finish("FAILED");
    }
    entry["runs"] = units.runs_of(plan.name);
    variant_results.push_back(entry);
  }

  // 4. Decide.
  if (std::none_of(variants.begin(), variants.end(), [](const auto& v) { return v.is_baseline; })) {
    throw Error(ErrorCode::kEngine, "the baseline could not be measured, so no variant can be compared with it");
  }
  std::vector<std::string> profile_notes;
  const auto ranked_profile =
      synthetic ? decide::without_unmeasured_metrics(profile, variants, profile_notes) : profile;
  outcome.decision =
      decide::decide(variants, ranked_profile, {.bootstrap_resamples = study.bootstrap_resamples, .seed = study.seed});
  decide::add_notes(outcome.decision, profile_notes);
  json inputs = json::array();
  for (const auto& v : variants) {
    json metrics = json::object();
    for (const auto& [name, value] : v.metrics) {
      metrics[name] = {{"samples", value.samples}, {"unstable", value.unstable}};
    }
    inputs.push_back({{"name", v.name},
                      {"is_baseline", v.is_baseline},
                      {"metrics", metrics},
                      {"item_correct", v.item_correct},
                      {"chunk_values", v.chunk_values}});
  }
  // Every run that produced a result in use, with its manifest: results of one study may come
  // from different machines or builds, and the report says so.
  std::set<int64_t> used_runs;
  for (const auto& entry : variant_results) {
    for (const auto& id : entry.at("runs")) {
      used_runs.insert(id.get<int64_t>());
    }
  }
  json runs = json::array();
  for (const auto& run : store->runs()) {
    if (used_runs.contains(run.id)) {
      runs.push_back({{"id", run.id},
                      {"started_utc", run.started_utc},
                      {"finished_utc", run.finished_utc ? json(*run.finished_utc) : json(nullptr)},
                      {"environment", run.environment}});
    }
  }
  store->finish_run();
  if (nvml) {  // the clocks once measuring is over, beside those at the start
    perf::add_gpu_manifest(*nvml, "end", env.extra);
    environment = report::environment_to_json(env, engine_info);
  }
  outcome.results = {{"schema", "uaqf.study/1"},
                     {"study", {{"file", study.file.string()}, {"name", study.name}, {"seed", study.seed}}},
                     {"environment", environment},
                     {"runs", runs},
                     {"synthetic_weights", synthetic},
                     {"store", store->path().string()},
                     {"profile", decide::to_json(ranked_profile)},
                     {"variants", variant_results},
                     {"decision_inputs", inputs},
                     {"decision", decide::to_json(outcome.decision)}};
  return outcome;
}

void print_decision(std::ostream& out, const decide::Decision& decision, const std::vector<decide::Variant>& variants) {
  (void)variants;
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
