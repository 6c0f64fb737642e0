#include "quant/imatrix.h"

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "quant/quantize.h"
#include "uaqf/build_info.h"

namespace uaqf::quant {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kSidecarVersion = 1;

fs::path with_suffix(fs::path path, const char* suffix) {
  path += suffix;
  return path;
}

// What a matrix is made from; equal records mean the matrix is up to date (or its partial file
// can be resumed).
json provenance(const ImatrixOptions& options) {
  return json{{"sidecar_version", kSidecarVersion},
              {"model",
               {{"path", fs::absolute(options.model).lexically_normal().string()},
                {"size_bytes", file_size_bytes(options.model)},
                {"mtime_ns", file_mtime_ns(options.model)}}},
              {"calibration",
               {{"name", options.calibration_name},
                {"bytes", options.calibration_text.size()},
                {"sha256", sha256_hex(options.calibration_text)}}},
              {"n_ctx", options.n_ctx},
              {"n_chunks", options.n_chunks},
              {"n_batch", options.n_batch},
              {"process_output", options.process_output},
              {"llama_commit", UAQF_LLAMA_COMMIT}};
}

std::optional<json> read_sidecar(const fs::path& sidecar) {
  std::error_code ec;
  if (!fs::exists(sidecar, ec)) {
    return std::nullopt;
  }
  try {
    return json::parse(read_text_file(sidecar));
  } catch (const std::exception&) {
    return std::nullopt;  // an unreadable record only means the matrix is computed again
  }
}

std::optional<ImatrixResult> up_to_date_result(const ImatrixOptions& options, const json& made_from) {
  const auto recorded = read_sidecar(with_suffix(options.output, ".uaqf.json"));
  std::error_code ec;
  if (!recorded || !fs::exists(options.output, ec) || recorded->value("made_from", json()) != made_from ||
      recorded->value("output_size_bytes", uint64_t{0}) != file_size_bytes(options.output)) {
    return std::nullopt;
  }
  return ImatrixResult{.output = options.output,
                       .up_to_date = true,
                       .n_chunks = recorded->value("n_chunks", 0),
                       .n_tokens = recorded->value("n_tokens", int64_t{0}),
                       .compute_s = recorded->value("compute_s", 0.0)};
}

}  // namespace

fs::path imatrix_path_for(const fs::path& model, const std::string& calibration_name, const fs::path& out_dir) {
  return output_path_for(model, "imatrix-" + calibration_name, out_dir);
}

ImatrixResult make_imatrix(backend::Engine& engine, const ImatrixOptions& options, const ImatrixProgress& progress) {
  require_writable_dir(options.output.parent_path().empty() ? fs::path(".") : options.output.parent_path(),
                       "imatrix output");
  const json made_from = provenance(options);
  if (!options.force) {
    if (auto kept = up_to_date_result(options, made_from)) {
      return *kept;
    }
  }
  const fs::path partial = partial_path_for(options.output);
  const fs::path partial_record = with_suffix(partial, ".uaqf.json");
  // The partial matrix continues only when it was made from the same request; its record says
  // how many chunks took how long, for the cost of the whole matrix.
  const auto previous = read_sidecar(partial_record);
  const bool resume = !options.force && previous && previous->value("made_from", json()) == made_from;
  const double previous_s_per_chunk = resume && previous->value("chunks_done", 0) > 0
                                          ? previous->value("compute_s", 0.0) / previous->value("chunks_done", 1)
                                          : 0.0;
  std::error_code ec;
  if (!resume) {
    fs::remove(partial, ec);
  }
  const backend::ImatrixRequest request{.model = options.model,
                                        .calibration_text = options.calibration_text,
                                        .dataset_name = options.calibration_name,
                                        .output = partial,
                                        .n_ctx = options.n_ctx,
                                        .n_chunks = options.n_chunks,
                                        .n_batch = options.n_batch,
                                        .n_threads = options.n_threads,
                                        .n_gpu_layers = options.n_gpu_layers,
                                        .process_output = options.process_output,
                                        .resume = resume};
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_s = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  int resumed_chunks = -1;  // the engine's first call reports the chunks read back
  const auto outcome = engine.compute_imatrix(request, [&](int done, int total) {
    if (resumed_chunks < 0) {
      resumed_chunks = done;
    }
    write_file_atomic(partial_record, json{{"made_from", made_from},
                                           {"chunks_done", done},
                                           {"compute_s", elapsed_s() + previous_s_per_chunk * resumed_chunks}}
                                              .dump() +
                                          "\n");
    if (progress) {
      progress(done, total);
    }
  });
  const double run_s = elapsed_s();
  const double resumed_s = previous_s_per_chunk * outcome.n_chunks_resumed;
  ImatrixResult result{.output = options.output,
                       .n_chunks = outcome.n_chunks,
                       .n_chunks_resumed = outcome.n_chunks_resumed,
                       .n_tokens = outcome.n_tokens,
                       .compute_s = run_s + resumed_s};
  fs::rename(partial, options.output);
  fs::remove(partial_record, ec);
  const json sidecar{{"made_from", made_from},         {"output_size_bytes", file_size_bytes(options.output)},
                     {"n_chunks", result.n_chunks},    {"n_chunks_resumed", result.n_chunks_resumed},
                     {"n_tokens", result.n_tokens},    {"n_text_tokens", outcome.n_text_tokens},
                     {"n_entries", outcome.n_entries}, {"compute_s", result.compute_s}};
  write_file_atomic(with_suffix(options.output, ".uaqf.json"), sidecar.dump(2) + "\n");
  return result;
}

}  // namespace uaqf::quant
