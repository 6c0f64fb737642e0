#include <algorithm>
#include <cstdint>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "backend/engines.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "core/interrupt.h"
#include "core/terminal.h"
#include "perf/bench.h"
#include "perf/memory.h"
#include "perf/nvml.h"
#include "report/bench_report.h"
#include "report/reporter.h"

namespace uaqf::cli {
namespace {

struct BenchFlags {
  std::vector<std::string> models;
  std::string prompt_tokens = "512";
  int gen_tokens = 128;
  std::string depths = "0";
  std::string parallel;
  int reps = 5;
  int prefill_reps = 0;
  int warmup = 1;
  uint32_t n_ctx = 0;
  uint32_t seed = 1;
  double max_cv = 0.05;
  bool no_latency = false;
  bool no_hash = false;
  std::string json_path;
  std::string csv_path;
  RuntimeFlags runtime;
};

void add_bench_options(CLI::App& command, BenchFlags& flags) {
  command.add_option("models", flags.models, "GGUF model files")->required();
  command.add_option("-p,--prompt-tokens", flags.prompt_tokens, "prompt lengths for prefill tests, e.g. 128,512")
      ->capture_default_str();
  command.add_option("-n,--gen-tokens", flags.gen_tokens, "tokens generated in decode tests (0: none)")
      ->capture_default_str();
  command.add_option("-d,--depth", flags.depths, "tokens already in the KV cache, e.g. 0,4096")->capture_default_str();
  command.add_option("-r,--reps", flags.reps, "timed repetitions per test")->capture_default_str();
  command.add_option("--prefill-reps", flags.prefill_reps,
                     "timed repetitions of the prefill tests (short runs that need more; default: --reps)");
  command.add_option("--parallel", flags.parallel,
                     "concurrency sweep: sequences decoding side by side, e.g. 1,2,4,8,16,32,64");
  command.add_option("--warmup", flags.warmup, "discarded warm-up runs per test")->capture_default_str();
  command.add_option("-c,--ctx", flags.n_ctx, "context size for every test (default: what each test needs)");
  command.add_option("--seed", flags.seed, "seed of the random prompt tokens")->capture_default_str();
  command.add_option("--max-cv", flags.max_cv, "warn when a metric's coefficient of variation exceeds this")
      ->capture_default_str();
  command.add_flag("--no-latency", flags.no_latency, "skip the request test (TTFT, per-token and end-to-end latency)");
  command.add_flag("--no-hash", flags.no_hash, "do not hash model files (saves time on very large files)");
  command.add_option("--json", flags.json_path, "write results with raw samples as JSON");
  command.add_option("--csv", flags.csv_path, "write results with raw samples as CSV (long form)");
  add_runtime_flags(command, flags.runtime);
}

// Throws Error naming the option when the flags do not describe a runnable benchmark.
perf::BenchOptions to_bench_options(const BenchFlags& flags, int default_threads) {
  perf::BenchOptions options;
  options.prompt_tokens = parse_int_list(flags.prompt_tokens, "--prompt-tokens");
  options.gen_tokens = flags.gen_tokens;
  options.depths = parse_int_list(flags.depths, "--depth");
  if (!flags.parallel.empty()) {
    options.parallel = parse_int_list(flags.parallel, "--parallel");
  }
  options.reps = flags.reps;
  if (flags.prefill_reps != 0) {
    options.prefill_reps = flags.prefill_reps;
  }
  options.warmup = flags.warmup;
  if (flags.n_ctx > 0) {
    options.n_ctx = flags.n_ctx;
  }
  options.seed = flags.seed;
  options.max_cv = flags.max_cv;
  options.request_latency = !flags.no_latency;
  options.runtime = to_runtime_options(flags.runtime, default_threads);
  perf::validate(options);
  return options;
}

perf::BenchReport new_report(const backend::EngineInfo& engine_info, const perf::BenchOptions& options) {
  perf::BenchReport report;
  report.environment = collect_environment();
  // main() fixed it before anything was allocated (this call only reads it back); recorded
  // because it changes timings.
  report.environment.extra["malloc_mmap_threshold_bytes"] = std::to_string(perf::fix_allocator_placement());
  report.engine = engine_info;
  report.options = options;
  return report;
}

// Rewritten after each model so that an interrupted sweep keeps what it measured; "complete"
// stays false until every model is done.
void write_json(const BenchFlags& flags, const perf::BenchReport& report) {
  if (!flags.json_path.empty()) {
    auto partial = report::bench_to_json(report);
    partial["complete"] = partial["complete"].get<bool>() && report.models.size() == flags.models.size();
    write_file_atomic(flags.json_path, partial.dump(2) + "\n");
  }
}

// Each model in turn, with a progress line of its own.
void measure_models(backend::Engine& engine, const BenchFlags& flags, const perf::BenchOptions& options,
                    const perf::Nvml* nvml, perf::BenchReport& report) {
  std::unique_ptr<Progress> progress;
  const SteadyClock clock;
  perf::BenchRunner timed_runner(
      engine, clock, options,
      [&](const std::string&, long done, long total) {
        if (progress) {
          progress->update(done, total);
        }
      },
      nvml);
  for (const auto& model : flags.models) {
    const std::string sha256 = flags.no_hash ? std::string() : sha256_file(model);
    progress = std::make_unique<Progress>(fmt::format("bench {}", std::filesystem::path(model).filename().string()));
    report.models.push_back(timed_runner.run(model, sha256));
    progress->finish(report.models.back().ok ? "done" : "FAILED");
    progress.reset();
    write_json(flags, report);
  }
}

int run_bench(const BenchFlags& flags) {
  auto engine = backend::make_engine(backend::kDefaultEngine);
  const backend::EngineInfo engine_info = engine->describe();
  const perf::BenchOptions options = to_bench_options(flags, engine_info.default_threads);
  require_output_file_writable(flags.json_path, "JSON output");
  require_output_file_writable(flags.csv_path, "CSV output");
  // Every model is checked before any is measured: a typo in the last path must not cost an hour.
  engine->check_context_options(options.runtime.context_options());
  std::string warnings;  // said once every model has passed its checks: a refusal is one line
  for (const auto& model : flags.models) {
    backend::require_capabilities(engine->capabilities(), {{backend::Capability::kTokenDecode, "the speed benchmark"}},
                                  std::filesystem::path(model).filename().string(), engine_info.name);
    const auto info = engine->inspect(model);
    // Longer than the model was trained for: timings are still taken, but the user is told.
    const int depth = *std::max_element(options.depths.begin(), options.depths.end());
    const int prompt = *std::max_element(options.prompt_tokens.begin(), options.prompt_tokens.end());
    if (info.n_ctx_train > 0 && static_cast<int64_t>(prompt) + options.gen_tokens + depth > info.n_ctx_train) {
      warnings += fmt::format(
          "uaqf: warning: --prompt-tokens {} + --gen-tokens {} + --depth {} is longer than the {} "
          "tokens {} was trained on\n",
          prompt, options.gen_tokens, depth, info.n_ctx_train, std::filesystem::path(model).filename().string());
    }
  }

  std::cerr << warnings;
  say_on_interrupt(flags.json_path.empty()
                       ? std::string("nothing was written (--json keeps the models measured so far)")
                       : fmt::format("{} holds every model measured so far", flags.json_path));
  perf::BenchReport report = new_report(engine_info, options);
  const auto nvml = perf::Nvml::open();
  if (nvml) {
    perf::add_gpu_manifest(*nvml, "start", report.environment.extra);
  }
  report.environment.extra["energy"] = nvml ? "NVML total energy counter" : "unavailable (no NVML)";
  measure_models(*engine, flags, options, nvml.get(), report);
  if (nvml) {
    perf::add_gpu_manifest(*nvml, "end", report.environment.extra);
  }
  write_json(flags, report);  // with the clocks at the end
  std::cout << report::bench_reporter(report)->render(report::Format::kTerminal);
  if (!flags.csv_path.empty()) {
    write_file_atomic(flags.csv_path, report::bench_reporter(report)->render(report::Format::kCsv));
  }
  if (!report.complete()) {
    std::size_t failed = 0;
    for (const auto& model : report.models) {
      failed += model.ok ? 0 : 1;
    }
    std::cerr << fmt::format("uaqf: error: {} of {} models failed (see the table)\n", failed, report.models.size());
    return 1;
  }
  return 0;
}

}  // namespace

Action add_bench_command(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* command = app.add_subcommand("bench", "measure load time, prefill, decode, latency and memory");
  add_bench_options(*command, *flags);
  return [flags]() -> int { return run_bench(*flags); };
}

}  // namespace uaqf::cli
