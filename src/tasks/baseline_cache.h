#pragma once

// The baseline's per-token distributions, computed once per (baseline file, corpus, chunking)
// and reused by every variant. A cache whose key differs is stale and rebuilt; a file that is
// damaged is an error, never silently used.

#include <filesystem>
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

}  // namespace uaqf::tasks
