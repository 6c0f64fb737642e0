#pragma once

// `uaqf bench`: speed and memory of loaded models, measured the way llama-bench measures where
// the two overlap (prefill pp<N>, decode tg<N>, depth), plus request-level latency that
// llama-bench does not report (time to first token, per-token latency, end-to-end).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/clock.h"
#include "core/environment.h"
#include "perf/nvml.h"
#include "stats/summary.h"

namespace uaqf::perf {

struct BenchOptions {
  std::vector<int> prompt_tokens{512};
  int gen_tokens = 128;
  std::vector<int> depths{0};
  int reps = 5;
  // Timed repetitions of the prefill tests alone (default: reps). Prefill runs are short (tens of
  // ms on a GPU) and need more of them than decode runs for a stable mean.
  std::optional<int> prefill_reps;
  int warmup = 1;
  // Fixed context size for every test; unset: each test gets exactly what it needs, as llama-bench.
  std::optional<uint32_t> n_ctx;
  uint32_t seed = 1;
  double max_cv = 0.05;
  bool request_latency = true;
  // Concurrency sweep: for each level n, n sequences of prompt_tokens[0] tokens decode gen_tokens
  // steps side by side (llama-batched-bench's S_TG); empty: no sweep.
  std::vector<int> parallel;
  backend::RuntimeOptions runtime;
};

// Timed repetitions kept across runs (a study's results store): a repetition found there is not
// run again, and each one measured is handed over as soon as it is done. Samples by metric name
// (prefill_tps, decode_j_per_token, itl_ms, ...). Warm-up runs are never kept: they run again
// before any repetition that is measured.
using RepetitionSamples = std::map<std::string, std::vector<double>>;
struct RepetitionJournal {
  std::function<std::optional<RepetitionSamples>(const std::string& test, int repetition)> find;
  std::function<void(const std::string& test, int repetition, const RepetitionSamples& samples)> record;
};

// Throws Error naming the option when the options cannot describe a runnable benchmark, e.g. a
// prompt longer than the context.
void validate(const BenchOptions& options);

struct Metric {
  // prefill_tps, decode_tps, decode_bandwidth_share, ttft_ms, itl_ms, e2e_ms, load_ms,
  // parallel_decode_tps, parallel_itl_ms, {prefill,decode}_j_per_token, {prefill,decode}_power_w
  std::string name;
  std::string test;  // pp512, tg128 @ d4096, p512+g128, load
  std::string unit;  // tokens/s, ms
  bool higher_is_better = false;
  // Samples are draws from a distribution (per-token latencies), not repeated trials of one
  // quantity: their spread is data, not instability.
  bool is_distribution = false;
  int n_prompt = 0;
  int n_gen = 0;
  int depth = 0;
  std::vector<double> samples;  // every timed repetition, as measured
  // Leading samples that still look like warm-up (outliers on one side at the start); the summary
  // leaves them out, the raw samples keep them.
  std::size_t warmup_dropped = 0;
  std::vector<std::size_t> outliers;  // indices flagged by the median absolute deviation
  stats::Summary summary;
  std::optional<double> median_ci95_low, median_ci95_high;  // seeded bootstrap of the median
  std::vector<std::string> warnings;
};

struct ModelResult {
  std::filesystem::path path;
  std::string sha256;
  backend::ModelInfo info;
  bool ok = false;
  std::string error;
  std::optional<uint64_t> peak_rss_bytes;
  bool peak_rss_is_per_model = false;  // false: the peak may include earlier models of this run
  // Accelerator memory this model added at its peak (weights, KV cache, compute buffers), sampled
  // after loading, after each context and after each test; nullopt without an accelerator.
  std::optional<uint64_t> peak_device_memory_bytes;
  // Measured copy bandwidth of the memory the weights live in (see Engine); with it, each decode
  // test also reports decode_bandwidth_share: bytes moved per token x tokens/s / this bandwidth.
  std::optional<double> memory_bandwidth_bytes_per_s;
  bool energy_measured = false;
  // The placement the model ran with, as llama.cpp flags (--gpu-layers auto resolved to its count;
  // "" for the default), and where its weights, the first decode test's KV cache and compute
  // buffers lived.
  std::string placement;
  std::vector<backend::MemoryPlacement> memory_placement;
  std::vector<std::string> warnings;
  std::vector<Metric> metrics;

  const Metric* find(const std::string& name, const std::string& test) const;
};

struct BenchReport {
  Environment environment;
  backend::EngineInfo engine;
  BenchOptions options;
  std::vector<ModelResult> models;

  bool complete() const;
};

// A model loaded by the caller (shared by several variants), with what its load measured.
struct LoadedModel {
  std::filesystem::path path;
  backend::Model& model;  // opens contexts with the variant's context options
  double load_ms = 0;     // the one load's wall time: becomes the load_ms metric's sample
  std::optional<uint64_t> device_memory_before_load_bytes;  // engine.device_memory_used_bytes() before the load
};

// Called as work advances: (model file name, runs done, runs total).
using BenchProgressFn = std::function<void(const std::string&, long, long)>;

// The largest context (tokens over all sequences) any test of `options` opens: what a placement
// with --gpu-layers auto must leave room for.
uint32_t largest_context_tokens(const BenchOptions& options);

class BenchRunner {
 public:
  // `energy`, when given, adds joules per token and average power to prefill and decode tests.
  BenchRunner(backend::Engine& engine, const Clock& clock, BenchOptions options, BenchProgressFn progress = {},
              const EnergyMeter* energy = nullptr, const RepetitionJournal* journal = nullptr);

  // Measures one model. A failure (load, context, decode) is recorded in the result, not thrown,
  // so that a sweep over many models goes on.
  ModelResult run(const std::filesystem::path& model_path, const std::string& sha256);
  // Measures a model the caller loaded (load_ms and device memory as its load measured them), so
  // that variants differing only in context settings share one load. Failures as above.
  ModelResult run(const LoadedModel& loaded, const std::string& sha256);

  // Number of timed or warm-up runs one model takes; for progress displays.
  long runs_per_model() const;

 private:
  BenchOptions options_;
  backend::Engine& engine_;
  const Clock& clock_;
  BenchProgressFn progress_;
  const EnergyMeter* energy_;
  const RepetitionJournal* journal_;
};

std::string test_name_prefill(int n_prompt, int depth);
std::string test_name_decode(int n_gen, int depth);
std::string test_name_request(int n_prompt, int n_gen);
std::string test_name_parallel(int n_gen, int n_sequences);  // "tg128 x64"

}  // namespace uaqf::perf
