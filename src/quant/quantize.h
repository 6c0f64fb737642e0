#pragma once

// `uaqf quantize`: one GGUF per requested type, written atomically, skipped when up to date.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace uaqf::quant {

struct QuantizeOptions {
  std::filesystem::path model;
  std::vector<std::string> types;
  std::optional<std::filesystem::path> out_dir;  // default: the model's folder
  std::optional<std::filesystem::path> imatrix;
  // Appended to each output's type in its file and variant name ("+wiki": "tiny-Q4_K_M+wiki.gguf").
  std::string name_suffix;
  // An importance matrix is made for these types before they are quantized (a study's
  // calibrations): plan() does not refuse types that need one.
  bool imatrix_follows = false;
  int n_threads = 0;
  bool force = false;  // redo even when up to date
  // Synthetic (random) weights are quantized by repeating a few quantized rows per tensor (same
  // layout, size and speed, far faster); `exact` quantizes every row as llama-quantize does.
  bool exact = false;
};

enum class QuantizeStatus { kQuantized, kUpToDate, kFailed };

struct QuantizeResult {
  std::string type;
  std::string name;  // type + name_suffix
  std::filesystem::path output;
  QuantizeStatus status = QuantizeStatus::kFailed;
  uint64_t size_bytes = 0;
  double seconds = 0;
  int n_fallback_tensors = 0;
  std::string error;
};

// "<out>/<model stem without its precision suffix>-<TYPE>.gguf", e.g. tiny-f16.gguf -> tiny-Q8_0.gguf.
std::filesystem::path output_path_for(const std::filesystem::path& model, const std::string& type,
                                      const std::filesystem::path& out_dir);

// Progress of one output: (type, tensors done, tensors total); start/finish lines come from the caller.
struct QuantizeObserver {
  std::function<void(const std::string& type, const std::filesystem::path& output)> on_start;
  std::function<void(long done, long total)> on_progress;
  std::function<void(const QuantizeResult&)> on_finish;
};

// Checks everything that can be checked before any work (types, model, imatrix, output folder,
// imatrix requirements) and throws Error on the first problem. Returns canonical type names.
std::vector<std::string> plan(backend::Engine& engine, const QuantizeOptions& options);

// Runs the plan. A type that fails is reported as failed and the others go on.
std::vector<QuantizeResult> quantize_all(backend::Engine& engine, const QuantizeOptions& options,
                                         const QuantizeObserver& observer);

}  // namespace uaqf::quant
