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

ModelResult BenchRunner::run(const std::filesystem::path& model_path, const std::string& sha256) {
  ModelResult result;
  result.path = model_path;
  result.sha256 = sha256;
  const std::string name = model_path.filename().string();
  const long total_runs = runs_per_model();
  long done_runs = 0;
  auto advance = [&] {
    ++done_runs;
    if (progress_) {
      progress_(name, done_runs, total_runs);
    }
  };
  const int n_gen = options_.gen_tokens;
  const auto device_before = engine_.device_memory_used_bytes();
  auto sample_device = [&] {
    const auto now = engine_.device_memory_used_bytes();
    if (device_before && now) {
      const uint64_t added = *now > *device_before ? *now - *device_before : 0;
      result.peak_device_memory_bytes = std::max(result.peak_device_memory_bytes.value_or(0), added);
    }
  };
  // Joules per token and average power of one timed run, when an energy meter is there.
  std::map<std::string, Metric> energy_metrics;
  std::set<std::string> short_energy_runs;  // NVML's counter updates every few ms: short runs are coarse
  auto energy_start = [&] { return energy_ ? energy_->total_energy_mj() : std::nullopt; };
  auto add_energy_sample = [&](const std::string& metric_name, const std::string& test, double value) {
    auto& metric = energy_metrics[metric_name + " " + test];
    metric.name = metric_name;
    metric.test = test;
    metric.unit = metric_name.ends_with("_power_w") ? "W" : "J/token";
    metric.samples.push_back(value);
    result.energy_measured = true;
  };
  auto record_energy = [&](const std::optional<uint64_t>& start_mj, const std::string& kind, const std::string& test,
                           int n_tokens, int64_t start_ns, int64_t end_ns, bool timed, RepetitionSamples& kept) {
    const auto end_mj = energy_ ? energy_->total_energy_mj() : std::nullopt;
    if (!timed || !start_mj || !end_mj) {
      return;
    }
    const double joules = static_cast<double>(*end_mj - *start_mj) / 1000.0;
    const double seconds = static_cast<double>(end_ns - start_ns) / 1e9;
    if (seconds < 1.0) {
      short_energy_runs.insert(kind + "_j_per_token " + test);
    }
    add_energy_sample(kind + "_j_per_token", test, joules / n_tokens);
    add_energy_sample(kind + "_power_w", test, seconds > 0 ? joules / seconds : 0);
    kept[kind + "_j_per_token"] = {joules / n_tokens};
    kept[kind + "_power_w"] = {seconds > 0 ? joules / seconds : 0};
  };
  // Where a test's timed runs are shorter than a second (judged by its median speed, so that runs
  // restored from a journal count too), its energy comes from one window of back-to-back runs of at
  // least a second instead: NVML's counter moves in steps of tens of milliseconds, so a 30 ms
  // prefill reads zero or a whole step. `run_once` does one run's work.
  std::map<std::string, std::string> energy_windows;  // metric key -> how its value was measured
  auto energy_window = [&](const std::string& kind, const Metric& speed, int n_tokens, auto&& run_once) {
    const std::string& test = speed.test;
    const std::string key = kind + "_j_per_token " + test;
    if (energy_ == nullptr || speed.samples.empty() || n_tokens / stats::summarize(speed.samples).median >= 1.0) {
      return;
    }
    constexpr int64_t kWindowNs = 1'000'000'000;
    constexpr int kMaxRuns = 100'000;  // a run that takes no time must not loop forever
    const auto start_mj = energy_->total_energy_mj();
    const int64_t start = clock_.now_ns();
    int64_t end = start;
    int runs = 0;
    do {
      run_once();
      ++runs;
      end = clock_.now_ns();
    } while (end - start < kWindowNs && runs < kMaxRuns);
    const auto end_mj = energy_->total_energy_mj();
    if (!start_mj || !end_mj || end <= start) {
      return;
    }
    const double joules = static_cast<double>(*end_mj - *start_mj) / 1000.0;
    const double seconds = static_cast<double>(end - start) / 1e9;
    energy_metrics[key].samples = {joules / (static_cast<double>(runs) * n_tokens)};
    energy_metrics[kind + "_power_w " + test].samples = {joules / seconds};
    short_energy_runs.erase(key);
    const std::string how = fmt::format(
        "measured over one window of {} back-to-back runs ({:.2f} s): single runs are shorter than the energy "
        "counter's steps",
        runs, seconds);
    energy_windows[key] = how;
    energy_windows[kind + "_power_w " + test] = how;
  };
  // Timed repetitions an earlier run recorded, per repetition index (journal).
  auto recorded = [&](const std::string& test, int reps) {
    std::vector<std::optional<RepetitionSamples>> found(static_cast<std::size_t>(reps));
    if (journal_ != nullptr && journal_->find) {
      for (int rep = 0; rep < reps; ++rep) {
        found[static_cast<std::size_t>(rep)] = journal_->find(test, rep);
      }
    }
    return found;
  };
  auto all_recorded = [](const std::vector<std::optional<RepetitionSamples>>& found) {
    return std::all_of(found.begin(), found.end(), [](const auto& f) { return f.has_value(); });
  };
  // Run `run` of a test: restored from the journal (true), or to be measured (false). Warm-up
  // runs are skipped only when every timed repetition is restored.
  auto restore = [&](const std::vector<std::optional<RepetitionSamples>>& found, int run, const std::string& test,
                     const std::map<std::string, Metric*>& metrics) {
    const int rep = run - options_.warmup;
    if (rep < 0) {
      return all_recorded(found);
    }
    const auto& samples = found[static_cast<std::size_t>(rep)];
    if (!samples) {
      return false;
    }
    for (const auto& [metric_name, values] : *samples) {
      if (const auto it = metrics.find(metric_name); it != metrics.end()) {
        it->second->samples.insert(it->second->samples.end(), values.begin(), values.end());
      } else {
        for (double v : values) add_energy_sample(metric_name, test, v);
      }
    }
    return true;
  };
  auto keep = [&](const std::string& test, int run, const RepetitionSamples& samples) {
    if (journal_ != nullptr && journal_->record && run >= options_.warmup) {
      journal_->record(test, run - options_.warmup, samples);
    }
  };
  // The warm-up and timed runs of one test: restored from the journal where recorded, otherwise
  // measured by `measure(timed)`, which returns a timed run's samples by metric name (energy
  // samples it has already added).
  auto repeat = [&](const std::string& test, const std::map<std::string, Metric*>& metrics, auto&& measure, int reps) {
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
  };
  try {
    // Before the model is there (and before the peak is reset): the probe's buffers are not the model's.
    result.memory_bandwidth_bytes_per_s = engine_.memory_bandwidth_bytes_per_s(options_.runtime);
    result.peak_rss_is_per_model = reset_peak_rss();
    const int64_t load_start = clock_.now_ns();
    auto model = engine_.load(model_path, options_.runtime);
    const int64_t load_end = clock_.now_ns();
    sample_device();
    result.info = model->info();
    Metric load{.name = "load_ms", .test = "load", .unit = "ms"};
    load.samples.push_back(ms_between(load_start, load_end));
    finish_metric(load, options_.max_cv);
    result.metrics.push_back(std::move(load));

    const auto bos = model->bos();
    TokenSource tokens(options_.seed, model->n_vocab());
    auto context_size = [&](int needed) { return options_.n_ctx.value_or(static_cast<uint32_t>(needed)); };
    auto fill_depth = [&](backend::Context& ctx, int depth) {
      ctx.clear();
      if (depth > 0) {
        ctx.decode(tokens.prompt(depth, bos));
      }
    };
    const int max_needed =
        std::max(*std::max_element(options_.prompt_tokens.begin(), options_.prompt_tokens.end()), n_gen) +
        *std::max_element(options_.depths.begin(), options_.depths.end());
    if (result.info.n_ctx_train > 0 && max_needed > result.info.n_ctx_train) {
      result.warnings.push_back(
          fmt::format("tests use up to {} tokens of context, beyond the {} the model was trained on", max_needed,
                      result.info.n_ctx_train));
    }

    for (int depth : options_.depths) {
      for (int n_prompt : options_.prompt_tokens) {
        Metric metric{.name = "prefill_tps",
                      .test = test_name_prefill(n_prompt, depth),
                      .unit = "tokens/s",
                      .higher_is_better = true,
                      .n_prompt = n_prompt,
                      .depth = depth};
        auto ctx = model->new_context(context_size(n_prompt + depth));
        sample_device();
        repeat(
            metric.test, {{metric.name, &metric}},
            [&](bool timed) {
              fill_depth(*ctx, depth);
              const auto prompt = tokens.prompt(n_prompt, bos);
              const auto energy_before = energy_start();
              const int64_t start = clock_.now_ns();
              ctx->decode(prompt);
              const int64_t end = clock_.now_ns();
              RepetitionSamples kept;
              record_energy(energy_before, "prefill", metric.test, n_prompt, start, end, timed, kept);
              kept[metric.name] = {tokens_per_second(n_prompt, start, end)};
              return kept;
            },
            options_.prefill_reps.value_or(options_.reps));
        if (depth == 0) {  // at a depth, each run's cache filling would count too
          const auto prompt = tokens.prompt(n_prompt, bos);
          energy_window("prefill", metric, n_prompt, [&] {
            ctx->clear();
            ctx->decode(prompt);
          });
        }
        sample_device();
        finish_metric(metric, options_.max_cv);
        result.metrics.push_back(std::move(metric));
      }
      if (n_gen > 0) {
        Metric metric{.name = "decode_tps",
                      .test = test_name_decode(n_gen, depth),
                      .unit = "tokens/s",
                      .higher_is_better = true,
                      .n_gen = n_gen,
                      .depth = depth};
        auto ctx = model->new_context(context_size(n_gen + depth));
        sample_device();
        auto generate = [&] {  // n_gen single-token steps after the cache's contents
          Token token = bos.value_or(tokens.next());
          for (int i = 0; i < n_gen; ++i) {
            ctx->decode(std::span<const Token>(&token, 1));
            token = tokens.next();
          }
        };
        repeat(
            metric.test, {{metric.name, &metric}},
            [&](bool timed) {
              fill_depth(*ctx, depth);
              const auto energy_before = energy_start();
              const int64_t start = clock_.now_ns();
              generate();
              const int64_t end = clock_.now_ns();
              RepetitionSamples kept;
              record_energy(energy_before, "decode", metric.test, n_gen, start, end, timed, kept);
              kept[metric.name] = {tokens_per_second(n_gen, start, end)};
              return kept;
            },
            options_.reps);
        if (depth == 0) {  // at a depth, each run's cache filling would count too
          energy_window("decode", metric, n_gen, [&] {
            ctx->clear();
            generate();
          });
        }
        finish_metric(metric, options_.max_cv);
        if (result.memory_bandwidth_bytes_per_s && result.info.decode_weight_bytes > 0) {
          // Each generated token reads the weights and the cache so far (depth plus, on average,
          // half of the tokens generated before it).
          const double bytes_per_token =
              static_cast<double>(result.info.decode_weight_bytes) +
              static_cast<double>(result.info.kv_bytes_per_token) * (depth + (n_gen - 1) / 2.0);
          Metric share{.name = "decode_bandwidth_share",
                       .test = metric.test,
                       .unit = "fraction",
                       .higher_is_better = true,
                       .n_gen = n_gen,
                       .depth = depth};
          for (double tps : metric.samples) {
            share.samples.push_back(tps * bytes_per_token / *result.memory_bandwidth_bytes_per_s);
          }
          finish_metric(share, options_.max_cv);
          if (share.summary.mean > 1) {
            share.warnings.push_back(
                fmt::format("above the measured memory bandwidth ({:.1f} GB/s): {:.0f} MiB of weights are partly "
                            "served from caches",
                            *result.memory_bandwidth_bytes_per_s / 1e9,
                            static_cast<double>(result.info.decode_weight_bytes) / (1 << 20)));
          }
          result.metrics.push_back(std::move(metric));
          result.metrics.push_back(std::move(share));
        } else {
          result.metrics.push_back(std::move(metric));
        }
      }
    }

    if (n_gen > 0 && options_.request_latency) {
      // One request as a user sees it: the prompt is evaluated, then each token is chosen from the
      // logits (greedy) and fed back, so sampling cost is included, unlike tg<N>.
      const int n_prompt = options_.prompt_tokens.front();
      const std::string test = test_name_request(n_prompt, n_gen);
      Metric ttft{.name = "ttft_ms", .test = test, .unit = "ms", .n_prompt = n_prompt, .n_gen = n_gen};
      Metric itl{
          .name = "itl_ms", .test = test, .unit = "ms", .is_distribution = true, .n_prompt = n_prompt, .n_gen = n_gen};
      Metric e2e{.name = "e2e_ms", .test = test, .unit = "ms", .n_prompt = n_prompt, .n_gen = n_gen};
      auto ctx = model->new_context(context_size(n_prompt + n_gen));
      repeat(
          test, {{ttft.name, &ttft}, {itl.name, &itl}, {e2e.name, &e2e}},
          [&](bool) {
            ctx->clear();
            const auto prompt = tokens.prompt(n_prompt, bos);
            std::vector<double> token_latencies;
            token_latencies.reserve(static_cast<std::size_t>(n_gen));
            const int64_t start = clock_.now_ns();
            ctx->decode(prompt);
            Token token = ctx->greedy_next();
            const int64_t first = clock_.now_ns();
            int64_t previous = first;
            for (int i = 1; i < n_gen; ++i) {
              ctx->decode(std::span<const Token>(&token, 1));
              token = ctx->greedy_next();
              const int64_t now = clock_.now_ns();
              token_latencies.push_back(ms_between(previous, now));
              previous = now;
            }
            return RepetitionSamples{{ttft.name, {ms_between(start, first)}},
                                     {e2e.name, {ms_between(start, previous)}},
                                     {itl.name, token_latencies}};
          },
          options_.reps);
      finish_metric(ttft, options_.max_cv);
      finish_metric(e2e, options_.max_cv);
      result.metrics.push_back(std::move(ttft));
      if (!itl.samples.empty()) {
        finish_metric(itl, options_.max_cv);
        result.metrics.push_back(std::move(itl));
      }
      result.metrics.push_back(std::move(e2e));
    }
    for (int level : options_.parallel) {
      // Aggregate decode throughput and per-sequence step latency with `level` sequences at once.
      const int n_prompt = options_.prompt_tokens.front();
      const std::string test = test_name_parallel(n_gen, level);
      Metric aggregate{.name = "parallel_decode_tps",
                       .test = test,
                       .unit = "tokens/s",
                       .higher_is_better = true,
                       .n_prompt = n_prompt,
                       .n_gen = n_gen};
      Metric step{.name = "parallel_itl_ms", .test = test, .unit = "ms", .n_prompt = n_prompt, .n_gen = n_gen};
      // One cache stream per sequence, as llama-batched-bench does by default: with one shared pool
      // every token would attend over all sequences' cells (masked), growing quadratically.
      auto ctx =
          model->new_context(static_cast<uint32_t>((n_prompt + n_gen) * level), static_cast<uint32_t>(level), false);
      sample_device();
      std::vector<Token> next(static_cast<std::size_t>(level));
      std::vector<int32_t> positions(static_cast<std::size_t>(level));
      repeat(
          test, {{aggregate.name, &aggregate}, {step.name, &step}},
          [&](bool) {
            std::vector<std::vector<Token>> prompts;
            for (int s = 0; s < level; ++s) {
              prompts.push_back(tokens.prompt(n_prompt, bos));
            }
            ctx->eval_sequences(prompts, std::numeric_limits<int32_t>::max(),
                                [](std::span<const backend::TokenLogits>) {});
            const int64_t start = clock_.now_ns();
            for (int k = 0; k < n_gen; ++k) {
              for (int s = 0; s < level; ++s) {
                next[static_cast<std::size_t>(s)] = tokens.next();
                positions[static_cast<std::size_t>(s)] = n_prompt + k;
              }
              ctx->decode_parallel(next, positions);
            }
            const int64_t end = clock_.now_ns();
            return RepetitionSamples{{aggregate.name, {tokens_per_second(n_gen * level, start, end)}},
                                     {step.name, {ms_between(start, end) / n_gen}}};
          },
          options_.reps);
      sample_device();
      finish_metric(aggregate, options_.max_cv);
      finish_metric(step, options_.max_cv);
      result.metrics.push_back(std::move(aggregate));
      result.metrics.push_back(std::move(step));
    }
    for (auto& [key, metric] : energy_metrics) {
      finish_metric(metric, options_.max_cv);
      if (short_energy_runs.contains(key)) {
        metric.warnings.push_back("runs shorter than 1 s: the energy counter is too coarse for them (more tokens)");
      }
      if (const auto it = energy_windows.find(key); it != energy_windows.end()) {
        metric.warnings.push_back(it->second);
      }
      result.metrics.push_back(std::move(metric));
    }
    sample_device();
    result.ok = true;
  } catch (const Error& error) {
    result.ok = false;
    result.error = error.what();
  } catch (const std::exception& error) {
    result.ok = false;
    result.error = fmt::format("{}: {}", name, error.what());
  }
  result.peak_rss_bytes = peak_rss_bytes();
  return result;
}

}  // namespace uaqf::perf
