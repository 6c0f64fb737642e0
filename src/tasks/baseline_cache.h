#pragma once

// The baseline's per-token distributions, computed once per (baseline file, corpus, chunking)
// and reused by every variant. A cache whose key differs is stale and rebuilt; a file that is
// damaged is an error, never silently used.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "tasks/perplexity.h"

namespace uaqf::tasks {

struct BaselineKey {
  std::string baseline_sha256;
  std::string corpus_sha256;
  int n_ctx = 0;
  int n_chunks = 0;
  int top_k = 0;
  int tail_samples = 0;
  int32_t n_vocab = 0;
  std::string engine_commit;
};

std::filesystem::path baseline_cache_path(const std::filesystem::path& dir, const BaselineKey& key);

// nullopt (with the reason in *why) when the file is absent or was made for another key.
// Throws Error when the file is damaged (bad signature, wrong size, checksum mismatch).
std::optional<BaselineDistributions> load_baseline(const std::filesystem::path& file, const BaselineKey& key,
                                                   std::string* why);

void save_baseline(const std::filesystem::path& file, const BaselineKey& key, const BaselineDistributions& baseline);

struct CachedBaseline {
  BaselineDistributions distributions;
  std::filesystem::path file;
  bool built = false;  // false: reused from the cache
  double ppl = 0;      // the baseline's own perplexity on the plan
  std::string why_built;
};

// The baseline's distributions for `key` from `cache_dir`, computed with `model` and cached when
// absent or made for other inputs.
// `on_build` hears why, just before a (long) build starts.
CachedBaseline load_or_build_baseline(backend::Model& model, const ChunkPlan& plan, const PerplexityOptions& options,
                                      const BaselineKey& key, const std::filesystem::path& cache_dir,
                                      const std::function<void(const std::string&)>& on_build = {});

}  // namespace uaqf::tasks
