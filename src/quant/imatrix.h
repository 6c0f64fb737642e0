#pragma once

// `uaqf imatrix` and a study's calibrations: an importance matrix computed once per (model,
// calibration text, chunking), written atomically, resumed after an interruption, and skipped
// when up to date, with what it cost (engine seconds, calibration tokens) kept beside it.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "backend/backend.h"

namespace uaqf::quant {

struct ImatrixOptions {
  std::filesystem::path model;
  std::string calibration_name;  // "wiki_train", or the file's name
  std::string calibration_text;
  std::filesystem::path output;
  int n_ctx = 512;
  int n_chunks = -1;  // -1: every whole chunk of the text
  int n_batch = 2048;
  int n_threads = 0;
  int n_gpu_layers = -1;
  bool process_output = false;
  bool force = false;  // compute again even when up to date
};

struct ImatrixResult {
  std::filesystem::path output;
  bool up_to_date = false;  // an earlier run's matrix was kept
  int n_chunks = 0;
  int n_chunks_resumed = 0;  // this run continued a partial matrix from this chunk on
  int64_t n_tokens = 0;      // calibration tokens in the matrix
  // Engine seconds the whole matrix took (the interrupted runs' part included); for an up-to-date
  // matrix, the seconds its run recorded.
  double compute_s = 0;
};

// "<out>/<model stem without its precision suffix>.imatrix-<name>.gguf".
std::filesystem::path imatrix_path_for(const std::filesystem::path& model, const std::string& calibration_name,
                                       const std::filesystem::path& out_dir);

// Called with (chunks done, chunks total).
using ImatrixProgress = std::function<void(int, int)>;

// Computes the matrix unless an up-to-date one exists (same model file, text, chunking and
// engine build); resumes a partial matrix of the same request. Throws Error on failure, leaving
// the partial matrix for the next run.
ImatrixResult make_imatrix(backend::Engine& engine, const ImatrixOptions& options, const ImatrixProgress& progress);

}  // namespace uaqf::quant
