#include "perf/bench.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "perf/memory.h"
#include "stats/robust.h"

namespace uaqf::perf {
namespace {

using backend::Token;

double ms_between(int64_t start_ns, int64_t end_ns) { return static_cast<double>(end_ns - start_ns) / 1e6; }

double tokens_per_second(int n_tokens, int64_t start_ns, int64_t end_ns) {
  const auto elapsed_ns = std::max<int64_t>(1, end_ns - start_ns);
  return static_cast<double>(n_tokens) * 1e9 / static_cast<double>(elapsed_ns);
}

void finish_metric(Metric& metric, double max_cv) {
  if (metric.is_distribution || metric.samples.size() < 4) {
    metric.summary = stats::summarize(metric.samples);
  } else {
    metric.warmup_dropped = stats::leading_warmup(metric.samples);
    const std::span<const double> kept = std::span<const double>(metric.samples).subspan(metric.warmup_dropped);
    metric.summary = stats::summarize(kept);
    for (auto i : stats::mad_outliers(kept)) {
      metric.outliers.push_back(i + metric.warmup_dropped);
    }
    const auto median = stats::bootstrap_interval(kept, stats::Statistic::kMedian, 1000, 12345);
    metric.median_ci95_low = median.low;
    metric.median_ci95_high = median.high;
  }
  if (!metric.is_distribution && metric.name != "load_ms") {
    metric.warnings = stats::stability_warnings(metric.summary, max_cv);
    if (metric.warmup_dropped > 0) {
      metric.warnings.push_back(
          fmt::format("first {} run(s) still looked like warm-up and were left out of the "
                      "summary (raise --warmup)",
                      metric.warmup_dropped));
    }
    if (!metric.outliers.empty()) {
      metric.warnings.push_back(
          fmt::format("{} outlier(s) by median absolute deviation (modified z > 3.5)", metric.outliers.size()));
    }
  }
}

// Random token ids as llama-bench feeds them (the content does not change the cost of a dense
// model), seeded so that every model of a run sees the same sequence.
class TokenSource {
 public:
  TokenSource(uint32_t seed, int32_t n_vocab) : rng_(seed), dist_(0, std::max(0, n_vocab - 1)) {}
  Token next() { return dist_(rng_); }
  std::vector<Token> prompt(int n, std::optional<Token> bos) {
    std::vector<Token> tokens(static_cast<std::size_t>(n));
    for (auto& token : tokens) {
      token = next();
    }
    if (bos && !tokens.empty()) {
      tokens.front() = *bos;
    }
    return tokens;
  }

 private:
  std::mt19937 rng_;
  std::uniform_int_distribution<Token> dist_;
};

}  // namespace

std::string test_name_prefill(int n_prompt, int depth) {
  return depth > 0 ? fmt::format("pp{} @ d{}", n_prompt, depth) : fmt::format("pp{}", n_prompt);
}
std::string test_name_decode(int n_gen, int depth) {
  return depth > 0 ? fmt::format("tg{} @ d{}", n_gen, depth) : fmt::format("tg{}", n_gen);
}
std::string test_name_request(int n_prompt, int n_gen) { return fmt::format("p{}+g{}", n_prompt, n_gen); }
std::string test_name_parallel(int n_gen, int n_sequences) { return fmt::format("tg{} x{}", n_gen, n_sequences); }

void validate(const BenchOptions& options) {
  auto fail = [](const std::string& message) { throw Error(ErrorCode::kInvalidArgument, message); };
  if (options.prompt_tokens.empty()) {
    fail("--prompt-tokens needs at least one length");
  }
  for (int n : options.prompt_tokens) {
    if (n <= 0) {
      fail(fmt::format("--prompt-tokens must be positive, got {}", n));
    }
  }
  if (options.gen_tokens < 0) {
    fail(fmt::format("--gen-tokens must be zero or positive, got {}", options.gen_tokens));
  }
  if (options.prefill_reps && *options.prefill_reps < 1) {
    fail(fmt::format("--prefill-reps must be at least 1, got {}", *options.prefill_reps));
  }
  if (options.reps < 1) {
    fail(fmt::format("--reps must be at least 1, got {}", options.reps));
  }
  if (options.warmup < 0) {
    fail(fmt::format("--warmup must be zero or positive, got {}", options.warmup));
  }
  for (int level : options.parallel) {
    if (level < 1) {
      fail(fmt::format("--parallel levels must be at least 1, got {}", level));
    }
  }
  if (!options.parallel.empty() && options.gen_tokens == 0) {
    // The sweep times generated tokens: with none, its rates would be 0 / 0.
    fail("--parallel needs tokens to generate: --gen-tokens is 0");
  }
  if (options.runtime.n_gpu_layers < backend::kGpuLayersAuto) {
    fail(fmt::format("--gpu-layers must be a layer count, all or auto, got {}", options.runtime.n_gpu_layers));
  }
  for (int depth : options.depths) {
    if (depth < 0) {
      fail(fmt::format("--depth must be zero or positive, got {}", depth));
    }
  }
  if (options.runtime.n_threads < 0) {
    fail(fmt::format("--threads must be positive, got {}", options.runtime.n_threads));
  }
  if (options.runtime.n_batch < 1 || options.runtime.n_ubatch < 1) {
    fail("--batch-size and --ubatch-size must be positive");
  }
  if (!options.n_ctx) {
    return;
  }
  const auto n_ctx = static_cast<int64_t>(*options.n_ctx);
  for (int depth : options.depths) {
    for (int n_prompt : options.prompt_tokens) {
      if (n_prompt + depth > n_ctx) {
        fail(fmt::format("a prompt of {} tokens{} does not fit the context of {} tokens (--ctx)", n_prompt,
                         depth > 0 ? fmt::format(" at depth {}", depth) : "", n_ctx));
      }
    }
    if (options.gen_tokens + depth > n_ctx) {
      fail(fmt::format("{} generated tokens{} do not fit the context of {} tokens (--ctx)", options.gen_tokens,
                       depth > 0 ? fmt::format(" at depth {}", depth) : "", n_ctx));
    }
  }
  if (options.request_latency && options.gen_tokens > 0 && options.prompt_tokens.front() + options.gen_tokens > n_ctx) {
    fail(fmt::format("a request of {} prompt + {} generated tokens does not fit the context of {} tokens (--ctx)",
                     options.prompt_tokens.front(), options.gen_tokens, n_ctx));
  }
}

const Metric* ModelResult::find(const std::string& name, const std::string& test) const {
  const auto it =
      std::find_if(metrics.begin(), metrics.end(), [&](const Metric& m) { return m.name == name && m.test == test; });
  return it == metrics.end() ? nullptr : &*it;
}

bool BenchReport::complete() const {
  return std::all_of(models.begin(), models.end(), [](const ModelResult& m) { return m.ok; });
}

BenchRunner::BenchRunner(backend::Engine& engine, const Clock& clock, BenchOptions options, BenchProgressFn progress,
                         const EnergyMeter* energy, const RepetitionJournal* journal)
    : options_(std::move(options)),
      engine_(engine),
      clock_(clock),
      progress_(std::move(progress)),
      energy_(energy),
      journal_(journal) {
  validate(options_);
}

long BenchRunner::runs_per_model() const {
  const long per_test = options_.reps + options_.warmup;
  const long per_prefill_test = options_.prefill_reps.value_or(options_.reps) + options_.warmup;
  const long n_depths = static_cast<long>(options_.depths.size());
  long tests = 0;
  if (options_.gen_tokens > 0) {
    tests += n_depths + (options_.request_latency ? 1 : 0);
  }
  tests += static_cast<long>(options_.parallel.size());
  return tests * per_test + n_depths * static_cast<long>(options_.prompt_tokens.size()) * per_prefill_test;
}

namespace {

// What measuring one model needs of its BenchRunner.
struct RunnerParts {
  const BenchOptions& options;
  backend::Engine& engine;
  const Clock& clock;
  const BenchProgressFn& progress;
  const EnergyMeter* energy;
  const RepetitionJournal* journal;
  long runs_per_model = 0;
};

// Joules per token and average power of prefill and decode tests, when an energy meter is there;
// metrics by key "<metric name> <test>".
class EnergyBook {
 public:
  EnergyBook(const EnergyMeter* energy, const Clock& clock, ModelResult& result)
      : energy_(energy), clock_(clock), result_(result) {}

  std::optional<uint64_t> read_mj() const { return energy_ ? energy_->total_energy_mj() : std::nullopt; }

  void add_sample(const std::string& metric_name, const std::string& test, double value) {
    auto& metric = metrics_[metric_name + " " + test];
    metric.name = metric_name;
    metric.test = test;
    metric.unit = metric_name.ends_with("_power_w") ? "W" : "J/token";
    metric.samples.push_back(value);
    result_.energy_measured = true;
  }

  // One run's energy, from `start_mj` to now; kept in `kept` for the journal.
  void record_run(const std::optional<uint64_t>& start_mj, const std::string& kind, const std::string& test,
                  int n_tokens, int64_t start_ns, int64_t end_ns, bool timed, RepetitionSamples& kept) {
    const auto end_mj = read_mj();
    if (!timed || !start_mj || !end_mj) {
      return;
    }
    const double joules = static_cast<double>(*end_mj - *start_mj) / 1000.0;
    const double seconds = static_cast<double>(end_ns - start_ns) / 1e9;
    if (seconds < 1.0) {
      short_runs_.insert(kind + "_j_per_token " + test);
    }
    add_sample(kind + "_j_per_token", test, joules / n_tokens);
    add_sample(kind + "_power_w", test, seconds > 0 ? joules / seconds : 0);
    kept[kind + "_j_per_token"] = {joules / n_tokens};
    kept[kind + "_power_w"] = {seconds > 0 ? joules / seconds : 0};
  }

  // Where a test's timed runs are shorter than a second (judged by its median speed, so that runs
  // restored from a journal count too), its energy comes from one window of back-to-back runs of
  // at least a second instead: NVML's counter moves in steps of tens of milliseconds, so a 30 ms
  // prefill reads zero or a whole step. `run_once` does one run's work.
  template <typename RunOnce>
  void window(const std::string& kind, const Metric& speed, int n_tokens, RunOnce&& run_once) {
    if (energy_ == nullptr || speed.samples.empty() || n_tokens / stats::summarize(speed.samples).median >= 1.0) {
      return;
    }
    constexpr int64_t kWindowNs = 1'000'000'000;
    constexpr int kMaxRuns = 100'000;  // a run that takes no time must not loop forever
    const auto start_mj = energy_->total_energy_mj();
    const int64_t start_ns = clock_.now_ns();
    int64_t end_ns = start_ns;
    int runs = 0;
    do {
      run_once();
      ++runs;
      end_ns = clock_.now_ns();
    } while (end_ns - start_ns < kWindowNs && runs < kMaxRuns);
    const auto end_mj = energy_->total_energy_mj();
    if (!start_mj || !end_mj || end_ns <= start_ns) {
      return;
    }
    record_window(kind, speed.test, n_tokens, runs, static_cast<double>(*end_mj - *start_mj) / 1000.0,
                  static_cast<double>(end_ns - start_ns) / 1e9);
  }

  // Summaries and warnings of every energy metric, appended to the result.
  void finish(double max_cv) {
    for (auto& [key, metric] : metrics_) {
      finish_metric(metric, max_cv);
      if (short_runs_.contains(key)) {
        metric.warnings.push_back("runs shorter than 1 s: the energy counter is too coarse for them (more tokens)");
      }
      if (const auto it = windows_.find(key); it != windows_.end()) {
        metric.warnings.push_back(it->second);
      }
      result_.metrics.push_back(std::move(metric));
    }
  }

 private:
  // The window's one value replaces the samples of the single runs.
  void record_window(const std::string& kind, const std::string& test, int n_tokens, int runs, double joules,
                     double seconds) {
    const std::string key = kind + "_j_per_token " + test;
    metrics_[key].samples = {joules / (static_cast<double>(runs) * n_tokens)};
    metrics_[kind + "_power_w " + test].samples = {joules / seconds};
    short_runs_.erase(key);
    const std::string how = fmt::format(
        "measured over one window of {} back-to-back runs ({:.2f} s): single runs are shorter than the energy "
        "counter's steps",
        runs, seconds);
    windows_[key] = how;
    windows_[kind + "_power_w " + test] = how;
  }

  const EnergyMeter* energy_;
  const Clock& clock_;
  ModelResult& result_;
  std::map<std::string, Metric> metrics_;
  std::set<std::string> short_runs_;            // NVML's counter updates every few ms: short runs are coarse
  std::map<std::string, std::string> windows_;  // metric key -> how its value was measured
};

using MetricsByName = std::map<std::string, Metric*>;
using RecordedRepetitions = std::vector<std::optional<RepetitionSamples>>;

// The tests of one loaded model, in llama-bench's order, with the state they share: the result,
// the progress count, the random tokens, energy bookkeeping and the journal.
class ModelBench {
 public:
  ModelBench(const RunnerParts& parts, const LoadedModel& loaded, ModelResult& result)
      : options_(parts.options),
        engine_(parts.engine),
        clock_(parts.clock),
        progress_(parts.progress),
        journal_(parts.journal),
        model_(loaded.model),
        device_before_load_bytes_(loaded.device_memory_before_load_bytes),
        load_ms_(loaded.load_ms),
        model_name_(loaded.path.filename().string()),
        total_runs_(parts.runs_per_model),
        n_gen_(parts.options.gen_tokens),
        result_(result),
        energy_(parts.energy, parts.clock, result),
        bos_(loaded.model.bos()),
        tokens_(parts.options.seed, loaded.model.n_vocab()) {}

  // Every test; throws on the first failure.
  void measure() {
    sample_device();
    result_.info = model_.info();
    result_.placement = model_.load_options().placement_flags();
    add_load_metric();
    warn_beyond_trained_context();
    for (int depth : options_.depths) {
      for (int n_prompt : options_.prompt_tokens) {
        prefill_test(n_prompt, depth);
      }
      if (n_gen_ > 0) {
        decode_test(depth);
      }
    }
    if (n_gen_ > 0 && options_.request_latency) {
      request_test();
    }
    for (int n_sequences : options_.parallel) {
      parallel_test(n_sequences);
    }
    energy_.finish(options_.max_cv);
    sample_device();
    result_.ok = true;
  }

 private:
  void advance() {
    ++done_runs_;
    if (progress_) {
      progress_(model_name_, done_runs_, total_runs_);
    }
  }

  // Accelerator memory added since before the load, so that the weights count.
  void sample_device() {
    const auto now_bytes = engine_.device_memory_used_bytes();
    if (device_before_load_bytes_ && now_bytes) {
      const uint64_t added_bytes =
          *now_bytes > *device_before_load_bytes_ ? *now_bytes - *device_before_load_bytes_ : 0;
      result_.peak_device_memory_bytes = std::max(result_.peak_device_memory_bytes.value_or(0), added_bytes);
    }
  }

  void add_load_metric() {  // one sample: the model was loaded once
    Metric load{.name = "load_ms", .test = "load", .unit = "ms"};
    load.samples.push_back(load_ms_);
    finish_metric(load, options_.max_cv);
    result_.metrics.push_back(std::move(load));
  }

  void warn_beyond_trained_context() {
    const int max_needed =
        std::max(*std::max_element(options_.prompt_tokens.begin(), options_.prompt_tokens.end()), n_gen_) +
        *std::max_element(options_.depths.begin(), options_.depths.end());
    if (result_.info.n_ctx_train > 0 && max_needed > result_.info.n_ctx_train) {
      result_.warnings.push_back(
          fmt::format("tests use up to {} tokens of context, beyond the {} the model was trained on", max_needed,
                      result_.info.n_ctx_train));
    }
  }

  uint32_t context_size(int needed_tokens) const {
    return options_.n_ctx.value_or(static_cast<uint32_t>(needed_tokens));
  }

  void fill_depth(backend::Context& ctx, int depth) {
    ctx.clear();
    if (depth > 0) {
      ctx.decode(tokens_.prompt(depth, bos_));
    }
  }

  void prefill_test(int n_prompt, int depth) {
    Metric metric{.name = "prefill_tps",
                  .test = test_name_prefill(n_prompt, depth),
                  .unit = "tokens/s",
                  .higher_is_better = true,
                  .n_prompt = n_prompt,
                  .depth = depth};
    auto ctx = model_.new_context(context_size(n_prompt + depth));
    sample_device();
    repeat(
        metric.test, {{metric.name, &metric}},
        [&](bool timed) {
          fill_depth(*ctx, depth);
          const auto prompt = tokens_.prompt(n_prompt, bos_);
          const auto energy_start_mj = energy_.read_mj();
          const int64_t start_ns = clock_.now_ns();
          ctx->decode(prompt);
          const int64_t end_ns = clock_.now_ns();
          RepetitionSamples kept;
          energy_.record_run(energy_start_mj, "prefill", metric.test, n_prompt, start_ns, end_ns, timed, kept);
          kept[metric.name] = {tokens_per_second(n_prompt, start_ns, end_ns)};
          return kept;
        },
        options_.prefill_reps.value_or(options_.reps));
    if (depth == 0) {  // at a depth, each run's cache filling would count too
      const auto prompt = tokens_.prompt(n_prompt, bos_);
      energy_.window("prefill", metric, n_prompt, [&] {
        ctx->clear();
        ctx->decode(prompt);
      });
    }
    sample_device();
    finish_metric(metric, options_.max_cv);
    result_.metrics.push_back(std::move(metric));
  }

  void decode_test(int depth) {
    Metric metric{.name = "decode_tps",
                  .test = test_name_decode(n_gen_, depth),
                  .unit = "tokens/s",
                  .higher_is_better = true,
                  .n_gen = n_gen_,
                  .depth = depth};
    auto ctx = model_.new_context(context_size(n_gen_ + depth));
    if (result_.memory_placement.empty()) {
      result_.memory_placement = ctx->memory_placement();
    }
    sample_device();
    auto generate = [&] {  // n_gen single-token steps after the cache's contents
      Token token = bos_.value_or(tokens_.next());
      for (int i = 0; i < n_gen_; ++i) {
        ctx->decode(std::span<const Token>(&token, 1));
        token = tokens_.next();
      }
    };
    repeat(
        metric.test, {{metric.name, &metric}},
        [&](bool timed) {
          fill_depth(*ctx, depth);
          const auto energy_start_mj = energy_.read_mj();
          const int64_t start_ns = clock_.now_ns();
          generate();
          const int64_t end_ns = clock_.now_ns();
          RepetitionSamples kept;
          energy_.record_run(energy_start_mj, "decode", metric.test, n_gen_, start_ns, end_ns, timed, kept);
          kept[metric.name] = {tokens_per_second(n_gen_, start_ns, end_ns)};
          return kept;
        },
        options_.reps);
    if (depth == 0) {  // at a depth, each run's cache filling would count too
      energy_.window("decode", metric, n_gen_, [&] {
        ctx->clear();
        generate();
      });
    }
    finish_metric(metric, options_.max_cv);
    auto share = decode_bandwidth_share(metric);
    result_.metrics.push_back(std::move(metric));
    if (share) {
      result_.metrics.push_back(std::move(*share));
    }
  }

  // decode_tps as a share of the measured memory bandwidth; nullopt where either side is unknown.
  std::optional<Metric> decode_bandwidth_share(const Metric& decode) const {
    if (!result_.memory_bandwidth_bytes_per_s || result_.info.decode_weight_bytes == 0) {
      return std::nullopt;
    }
    const double bandwidth_bytes_per_s = *result_.memory_bandwidth_bytes_per_s;
    // Each generated token reads the weights and the cache so far (depth plus, on average, half of
    // the tokens generated before it).
    const double bytes_per_token =
        static_cast<double>(result_.info.decode_weight_bytes) +
        static_cast<double>(result_.info.kv_bytes_per_token) * (decode.depth + (n_gen_ - 1) / 2.0);
    Metric share{.name = "decode_bandwidth_share",
                 .test = decode.test,
                 .unit = "fraction",
                 .higher_is_better = true,
                 .n_gen = n_gen_,
                 .depth = decode.depth};
    for (double decode_tps : decode.samples) {
      share.samples.push_back(decode_tps * bytes_per_token / bandwidth_bytes_per_s);
    }
    finish_metric(share, options_.max_cv);
    if (share.summary.mean > 1) {
      share.warnings.push_back(
          fmt::format("above the measured memory bandwidth ({:.1f} GB/s): {:.0f} MiB of weights are partly "
                      "served from caches",
                      bandwidth_bytes_per_s / 1e9, static_cast<double>(result_.info.decode_weight_bytes) / (1 << 20)));
    }
    return share;
  }

  // One request as a user sees it: the prompt is evaluated, then each token is chosen from the
  // logits (greedy) and fed back, so sampling cost is included, unlike tg<N>.
  void request_test() {
    const int n_prompt = options_.prompt_tokens.front();
    const std::string test = test_name_request(n_prompt, n_gen_);
    Metric ttft{.name = "ttft_ms", .test = test, .unit = "ms", .n_prompt = n_prompt, .n_gen = n_gen_};
    Metric itl{
        .name = "itl_ms", .test = test, .unit = "ms", .is_distribution = true, .n_prompt = n_prompt, .n_gen = n_gen_};
    Metric e2e{.name = "e2e_ms", .test = test, .unit = "ms", .n_prompt = n_prompt, .n_gen = n_gen_};
    auto ctx = model_.new_context(context_size(n_prompt + n_gen_));
    repeat(
        test, {{ttft.name, &ttft}, {itl.name, &itl}, {e2e.name, &e2e}},
        [&](bool) {
          ctx->clear();
          const auto prompt = tokens_.prompt(n_prompt, bos_);
          std::vector<double> itl_ms;
          itl_ms.reserve(static_cast<std::size_t>(n_gen_));
          const int64_t start_ns = clock_.now_ns();
          ctx->decode(prompt);
          Token token = ctx->greedy_next();
          const int64_t first_ns = clock_.now_ns();
          int64_t previous_ns = first_ns;
          for (int i = 1; i < n_gen_; ++i) {
            ctx->decode(std::span<const Token>(&token, 1));
            token = ctx->greedy_next();
            const int64_t now_ns = clock_.now_ns();
            itl_ms.push_back(ms_between(previous_ns, now_ns));
            previous_ns = now_ns;
          }
          return RepetitionSamples{{ttft.name, {ms_between(start_ns, first_ns)}},
                                   {e2e.name, {ms_between(start_ns, previous_ns)}},
                                   {itl.name, itl_ms}};
        },
        options_.reps);
    finish_metric(ttft, options_.max_cv);
    finish_metric(e2e, options_.max_cv);
    result_.metrics.push_back(std::move(ttft));
    if (!itl.samples.empty()) {
      finish_metric(itl, options_.max_cv);
      result_.metrics.push_back(std::move(itl));
    }
    result_.metrics.push_back(std::move(e2e));
  }

  // Aggregate decode throughput and per-sequence step latency with `n_sequences` sequences at once.
  void parallel_test(int n_sequences) {
    const int n_prompt = options_.prompt_tokens.front();
    const std::string test = test_name_parallel(n_gen_, n_sequences);
    Metric aggregate{.name = "parallel_decode_tps",
                     .test = test,
                     .unit = "tokens/s",
                     .higher_is_better = true,
                     .n_prompt = n_prompt,
                     .n_gen = n_gen_};
    Metric step{.name = "parallel_itl_ms", .test = test, .unit = "ms", .n_prompt = n_prompt, .n_gen = n_gen_};
    // One cache stream per sequence, as llama-batched-bench does by default: with one shared pool
    // every token would attend over all sequences' cells (masked), growing quadratically.
    auto ctx = model_.new_context(static_cast<uint32_t>((n_prompt + n_gen_) * n_sequences),
                                  static_cast<uint32_t>(n_sequences), false);
    sample_device();
    std::vector<Token> next(static_cast<std::size_t>(n_sequences));
    std::vector<int32_t> positions(static_cast<std::size_t>(n_sequences));
    repeat(
        test, {{aggregate.name, &aggregate}, {step.name, &step}},
        [&](bool) {
          std::vector<std::vector<Token>> prompts;
          for (int s = 0; s < n_sequences; ++s) {
            prompts.push_back(tokens_.prompt(n_prompt, bos_));
          }
          ctx->eval_sequences(prompts, std::numeric_limits<int32_t>::max(),
                              [](std::span<const backend::TokenLogits>) {});
          const int64_t start_ns = clock_.now_ns();
          for (int k = 0; k < n_gen_; ++k) {
            for (int s = 0; s < n_sequences; ++s) {
              next[static_cast<std::size_t>(s)] = tokens_.next();
              positions[static_cast<std::size_t>(s)] = n_prompt + k;
            }
            ctx->decode_parallel(next, positions);
          }
          const int64_t end_ns = clock_.now_ns();
          return RepetitionSamples{{aggregate.name, {tokens_per_second(n_gen_ * n_sequences, start_ns, end_ns)}},
                                   {step.name, {ms_between(start_ns, end_ns) / n_gen_}}};
        },
        options_.reps);
    sample_device();
    finish_metric(aggregate, options_.max_cv);
    finish_metric(step, options_.max_cv);
    result_.metrics.push_back(std::move(aggregate));
    result_.metrics.push_back(std::move(step));
  }

  // Timed repetitions an earlier run recorded, per repetition index (journal).
  RecordedRepetitions recorded(const std::string& test, int reps) const {
    RecordedRepetitions found(static_cast<std::size_t>(reps));
    if (journal_ != nullptr && journal_->find) {
      for (int rep = 0; rep < reps; ++rep) {
        found[static_cast<std::size_t>(rep)] = journal_->find(test, rep);
      }
    }
    return found;
  }

  // Run `run` of a test: restored from the journal (true), or to be measured (false). Warm-up
  // runs are skipped only when every timed repetition is restored.
  bool restore(const RecordedRepetitions& found, int run, const std::string& test, const MetricsByName& metrics) {
    const int rep = run - options_.warmup;
    if (rep < 0) {
      return std::all_of(found.begin(), found.end(), [](const auto& f) { return f.has_value(); });
    }
    const auto& samples = found[static_cast<std::size_t>(rep)];
    if (!samples) {
      return false;
    }
    for (const auto& [metric_name, values] : *samples) {
      if (const auto it = metrics.find(metric_name); it != metrics.end()) {
        it->second->samples.insert(it->second->samples.end(), values.begin(), values.end());
      } else {
        for (double v : values) energy_.add_sample(metric_name, test, v);
      }
    }
    return true;
  }

  void keep(const std::string& test, int run, const RepetitionSamples& samples) const {
    if (journal_ != nullptr && journal_->record && run >= options_.warmup) {
      journal_->record(test, run - options_.warmup, samples);
    }
  }

  // The warm-up and timed runs of one test: restored from the journal where recorded, otherwise
  // measured by `measure(timed)`, which returns a timed run's samples by metric name (energy
  // samples it has already added).
  template <typename Measure>
  void repeat(const std::string& test, const MetricsByName& metrics, Measure&& measure, int reps) {
    const auto found = recorded(test, reps);
    for (int run = 0; run < options_.warmup + reps; ++run) {
      if (!restore(found, run, test, metrics)) {
        const bool timed = run >= options_.warmup;
        const RepetitionSamples kept = measure(timed);
        if (timed) {
          for (const auto& [metric_name, values] : kept) {
            if (const auto it = metrics.find(metric_name); it != metrics.end()) {
              it->second->samples.insert(it->second->samples.end(), values.begin(), values.end());
            }
          }
          keep(test, run, kept);
        }
      }
      advance();
    }
  }

  const BenchOptions& options_;
  backend::Engine& engine_;
  const Clock& clock_;
  const BenchProgressFn& progress_;
  const RepetitionJournal* journal_;
  backend::Model& model_;
  const std::optional<uint64_t> device_before_load_bytes_;
  const double load_ms_;
  const std::string model_name_;
  const long total_runs_;
  long done_runs_ = 0;
  const int n_gen_;
  ModelResult& result_;
  EnergyBook energy_;
  const std::optional<Token> bos_;
  TokenSource tokens_;
};

// Runs `measure`, recording a failure in `result` instead of throwing it, so that a sweep over many
// models goes on; then the peak resident memory.
template <typename Measure>
void record_failure(ModelResult& result, const std::string& model_name, Measure&& measure) {
  try {
    measure();
  } catch (const Error& error) {
    result.ok = false;
    result.error = error.what();
  } catch (const std::exception& error) {
    result.ok = false;
    result.error = fmt::format("{}: {}", model_name, error.what());
  }
  result.peak_rss_bytes = peak_rss_bytes();
}

}  // namespace

uint32_t largest_context_tokens(const BenchOptions& options) {
  if (options.n_ctx) {
    return *options.n_ctx;
  }
  const int prompt = *std::max_element(options.prompt_tokens.begin(), options.prompt_tokens.end());
  const int depth = *std::max_element(options.depths.begin(), options.depths.end());
  int largest = std::max(prompt, options.gen_tokens) + depth;
  largest = std::max(largest, options.prompt_tokens.front() + options.gen_tokens);
  for (const int level : options.parallel) {
    largest = std::max(largest, (options.prompt_tokens.front() + options.gen_tokens) * level);
  }
  return static_cast<uint32_t>(largest);
}

ModelResult BenchRunner::run(const std::filesystem::path& model_path, const std::string& sha256) {
  ModelResult result{.path = model_path, .sha256 = sha256};
  const auto device_before_load_bytes = engine_.device_memory_used_bytes();
  record_failure(result, model_path.filename().string(), [&] {
    // Before the model is there (and before the peak is reset): the probe's buffers are not the model's.
    result.memory_bandwidth_bytes_per_s = engine_.memory_bandwidth_bytes_per_s(options_.runtime);
    result.peak_rss_is_per_model = reset_peak_rss();
    const int64_t load_start_ns = clock_.now_ns();
    backend::RuntimeOptions runtime = options_.runtime;
    static_cast<backend::LoadOptions&>(runtime) =
        engine_.fit_placement(model_path, runtime, runtime, largest_context_tokens(options_));
    auto model = engine_.load(model_path, runtime);
    const int64_t load_end_ns = clock_.now_ns();
    const LoadedModel loaded{.path = model_path,
                             .model = *model,
                             .load_ms = ms_between(load_start_ns, load_end_ns),
                             .device_memory_before_load_bytes = device_before_load_bytes};
    ModelBench({options_, engine_, clock_, progress_, energy_, journal_, runs_per_model()}, loaded, result).measure();
  });
  return result;
}

ModelResult BenchRunner::run(const LoadedModel& loaded, const std::string& sha256) {
  ModelResult result{.path = loaded.path, .sha256 = sha256};
  record_failure(result, loaded.path.filename().string(), [&] {
    // The probe's buffers are not the model's; the weights stay resident, so the peak from here on
    // is the weights plus this variant's contexts.
    result.memory_bandwidth_bytes_per_s = engine_.memory_bandwidth_bytes_per_s(options_.runtime);
    result.peak_rss_is_per_model = reset_peak_rss();
    ModelBench({options_, engine_, clock_, progress_, energy_, journal_, runs_per_model()}, loaded, result).measure();
  });
  return result;
}

}  // namespace uaqf::perf
