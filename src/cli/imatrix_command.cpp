// `uaqf imatrix MODEL --calibration FILE|SOURCE`: an importance matrix through the embedded
// engine, in llama-imatrix's format (llama-quantize and `uaqf quantize --imatrix` read it).

#include <algorithm>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "backend/backend.h"
#include "backend/engines.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/terminal.h"
#include "quant/imatrix.h"
#include "tasks/calibration.h"

namespace uaqf::cli {
namespace {

namespace fs = std::filesystem;

struct ImatrixFlags {
  std::string model;
  std::string calibration;
  std::string name;
  std::string output;
  std::string data_dir;
  int chunks = -1;
  int ctx = 512;
  int batch = 2048;
  int threads = 0;
  std::string gpu_layers = "all";
  bool process_output = false;
  bool force = false;
};

std::string source_list() {
  std::string list;
  for (const auto& source : tasks::named_calibration_sources()) {
    list += fmt::format("{}{} ({})", list.empty() ? "" : ", ", source.name, source.description);
  }
  return list;
}

int run_imatrix(const ImatrixFlags& flags) {
  check_thread_count(flags.threads, "--threads");
  if (flags.chunks == 0 || flags.chunks < -1) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("--chunks must be at least 1, got {}", flags.chunks));
  }
  say_on_interrupt("the chunks done so far are kept in a .partial file: run the same command again to go on");
  const std::string name = !flags.name.empty() ? flags.name
                           : tasks::is_named_calibration_source(flags.calibration)
                               ? flags.calibration
                               : fs::path(flags.calibration).stem().string();
  const auto calibration = tasks::load_calibration(
      name, flags.calibration,
      tasks::is_named_calibration_source(flags.calibration) ? resolve_data_dir(flags.data_dir) : fs::path());
  auto engine = backend::make_engine(backend::kDefaultEngine);
  engine->inspect(flags.model);
  quant::ImatrixOptions options{
      .model = flags.model,
      .calibration_name = name,
      .calibration_text = calibration.text,
      .output = flags.output.empty() ? quant::imatrix_path_for(flags.model, name, fs::path(flags.model).parent_path())
                                     : fs::path(flags.output),
      .n_ctx = flags.ctx,
      .n_chunks = flags.chunks,
      .n_batch = flags.batch,
      .n_threads = flags.threads > 0 ? flags.threads : physical_core_count(),
      // The same spelling as bench/eval; "auto" offloads what it can, as a matrix pass needs no KV room.
      .n_gpu_layers = std::max(backend::kGpuLayersAll, backend::parse_gpu_layers(flags.gpu_layers, "--gpu-layers")),
      .process_output = flags.process_output,
      .force = flags.force};
  Progress progress(fmt::format("imatrix {} <- {}", fs::path(flags.model).filename().string(), name));
  const auto result = quant::make_imatrix(*engine, options, [&](int done, int total) { progress.update(done, total); });
  progress.finish(result.up_to_date ? "up to date" : "done");
  std::cout << fmt::format(
      "{}: {} chunks of {} tokens ({} calibration tokens){}, {:.1f} s\n", result.output.string(), result.n_chunks,
      options.n_ctx, result.n_tokens,
      result.n_chunks_resumed > 0 ? fmt::format(", resumed after chunk {}", result.n_chunks_resumed) : "",
      result.compute_s);
  return 0;
}

}  // namespace

Action add_imatrix_command(CLI::App& app) {
  auto flags = std::make_shared<ImatrixFlags>();
  CLI::App* command = app.add_subcommand(
      "imatrix", "compute an importance matrix from calibration text (llama-imatrix's statistics and file format)");
  command->add_option("model", flags->model, "model to calibrate (GGUF, usually F16)")->required();
  command
      ->add_option("--calibration", flags->calibration, "calibration text: a file, or a named source: " + source_list())
      ->required();
  command->add_option("--name", flags->name, "calibration name recorded in the file (default: the source's)");
  command->add_option("-o,--out", flags->output, "output file (default: <model folder>/<model>-imatrix-<name>.gguf)");
  command->add_option("--chunks", flags->chunks, "chunks to process at most (default: every whole chunk)");
  command->add_option("-c,--ctx", flags->ctx, "tokens per chunk (default 512, as llama-imatrix)");
  command->add_option("-b,--batch-size", flags->batch,
                      "tokens per engine pass; chunks run max(1, batch/ctx) at a time (default 2048)");
  command->add_option("-t,--threads", flags->threads, "threads (default: physical cores)");
  command->add_option("--gpu-layers,--n-gpu-layers", flags->gpu_layers, "layers on the GPU: a count or all")
      ->capture_default_str();
  command->add_flag("--process-output", flags->process_output, "also collect output.weight (llama-imatrix's flag)");
  command->add_option("--data-dir", flags->data_dir, "folder of the named sources (default: the shared data folder)");
  command->add_flag("--force", flags->force, "compute again even when the matrix is up to date");
  return [flags]() -> int { return run_imatrix(*flags); };
}

}  // namespace uaqf::cli
