#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "backend/engines.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/terminal.h"
#include "quant/quantize.h"

namespace uaqf::cli {

Action add_quantize_command(CLI::App& app) {
  struct Flags {
    std::string model;
    std::string types;
    std::string out_dir;
    std::string imatrix;
    int threads = 0;
    bool force = false;
    bool exact = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand("quantize", "write one GGUF per quantization type");
  command->add_option("model", flags->model, "source model (GGUF, usually F16 or BF16)")->required();
  command->add_option("--types", flags->types, "comma-separated types, e.g. Q8_0,Q4_K_M,Q4_0 (see `uaqf types`)")
      ->required();
  command->add_option("-o,--out", flags->out_dir, "output folder (default: the model's folder)");
  command->add_option("--imatrix", flags->imatrix, "importance matrix file (llama-imatrix output)");
  command->add_option("-t,--threads", flags->threads, "threads (default: physical cores)");
  command->add_flag("--force", flags->force, "quantize again even when an output is up to date");
  command->add_flag("--exact", flags->exact,
                    "synthetic weights: quantize every row as llama-quantize does (default: a few quantized "
                    "rows repeated, same layout and speed, much faster)");

  return [flags]() -> int {
    check_thread_count(flags->threads, "--threads");
    say_on_interrupt(
        "finished variants are kept (an unfinished one only as a .partial file); run the same "
        "command again to make the rest");
    auto engine = backend::make_engine(backend::kDefaultEngine);
    quant::QuantizeOptions options;
    options.model = flags->model;
    options.types = parse_name_list(flags->types);
    if (!flags->out_dir.empty()) {
      options.out_dir = flags->out_dir;
    }
    if (!flags->imatrix.empty()) {
      options.imatrix = flags->imatrix;
    }
    options.n_threads = flags->threads > 0 ? flags->threads : physical_core_count();
    options.force = flags->force;
    options.exact = flags->exact;

    std::unique_ptr<Progress> progress;
    quant::QuantizeObserver observer;
    observer.on_start = [&](const std::string& type, const std::filesystem::path& output) {
      progress = std::make_unique<Progress>(fmt::format("quantize {} -> {}", type, output.string()));
    };
    observer.on_progress = [&](long done, long total) {
      if (progress) {
        progress->update(done, total);
      }
    };
    observer.on_finish = [&](const quant::QuantizeResult& result) {
      switch (result.status) {
        case quant::QuantizeStatus::kQuantized:
          progress->finish(fmt::format("done, {:.2f} MiB", static_cast<double>(result.size_bytes) / 1048576.0));
          break;
        case quant::QuantizeStatus::kUpToDate:
          progress->finish("up to date");
          break;
        case quant::QuantizeStatus::kFailed:
          progress->finish("FAILED");
          break;
      }
      progress.reset();
    };
    const auto results = quant::quantize_all(*engine, options, observer);

    int failed = 0;
    for (const auto& result : results) {
      const char* status = result.status == quant::QuantizeStatus::kQuantized  ? "quantized"
                           : result.status == quant::QuantizeStatus::kUpToDate ? "up-to-date"
                                                                               : "failed";
      std::cout << fmt::format("{:<10} {:<10} {:>10.2f} MiB  {}\n", result.type, status,
                               static_cast<double>(result.size_bytes) / 1048576.0, result.output.string());
      if (result.n_fallback_tensors > 0) {
        std::cout << fmt::format("  note: {} tensors of {} fell back to another type (row sizes)\n",
                                 result.n_fallback_tensors, result.type);
      }
      if (result.status == quant::QuantizeStatus::kFailed) {
        std::cerr << fmt::format("uaqf: error: {}\n", result.error);
        ++failed;
      }
    }
    if (failed > 0) {
      std::cerr << fmt::format("uaqf: error: {} of {} quantizations failed\n", failed, results.size());
      return 1;
    }
    return 0;
  };
}

Action add_types_command(CLI::App& app) {
  app.add_subcommand("types", "list the quantization types the engine can write");
  return []() -> int {
    auto engine = backend::make_engine(backend::kDefaultEngine);
    for (const auto& type : engine->quant_types()) {
      std::cout << fmt::format("{:<10} {}\n", type.name, type.description);
    }
    return 0;
  };
}

}  // namespace uaqf::cli
