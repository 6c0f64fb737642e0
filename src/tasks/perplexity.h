#pragma once

// Fidelity to the baseline on running text: perplexity the way llama-perplexity computes it, and,
// against a baseline's cached distributions, KL-divergence, top-token agreement and the change in
// the probability of the right token.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "tasks/journal.h"

namespace uaqf::tasks {

struct PerplexityOptions {
  int n_ctx = 512;                // tokens per chunk
  std::optional<int> max_chunks;  // default: every whole chunk of the corpus
  int n_batch = 2048;             // tokens per engine pass: n_batch / n_ctx chunks run side by side
  int top_k = 128;                // baseline log-probs kept exactly per token for KLD
  int tail_samples = 32;          // baseline tokens sampled (by probability) from outside the top-k
  unsigned n_threads = 1;         // threads that score the logits between engine passes
};

// The default corpus, relative to the data folder: WikiText-2 raw, test split.
inline const std::filesystem::path kDefaultCorpus = std::filesystem::path("wikitext-2-raw") / "wiki.test.raw";

struct Corpus {
  std::filesystem::path path;
  std::string sha256;
  std::string text;  // file content, one trailing newline removed (as llama-perplexity reads it)
};

Corpus read_corpus(const std::filesystem::path& path);

// The corpus's tokens, as the whole text tokenized with BOS would give them, but only as many as
// `needed` (all when unset). A prefix is tokenized up to a line break, and accepted only when a
// longer prefix gives the same first `needed` tokens; otherwise the whole text is tokenized.
// `complete` tells whether the whole text was tokenized.
struct CorpusTokens {
  std::vector<backend::Token> tokens;
  bool complete = false;
};
CorpusTokens tokenize_corpus(const backend::Vocabulary& vocabulary, const std::string& text,
                             std::optional<std::size_t> needed);

// The chunks of the corpus a run scores: tokenized with BOS, cut into n_ctx-token pieces.
struct ChunkPlan {
  std::vector<backend::Token> tokens;
  int n_ctx = 0;
  int n_chunks = 0;
  int first_scored = 0;  // positions first_scored .. n_ctx-2 predict the next token
  int scored_per_chunk() const { return n_ctx - 1 - first_scored; }
  std::size_t n_scored() const {
    return static_cast<std::size_t>(n_chunks) * static_cast<std::size_t>(scored_per_chunk());
  }
};

// Throws Error when the corpus is too short for one chunk (llama-perplexity needs two n_ctx).
ChunkPlan plan_chunks(std::vector<backend::Token> tokens, const PerplexityOptions& options,
                      const std::string& corpus_name);

// Per-token view of the baseline: what KLD needs, compact. The top-k log-probs give the head of
// the KL sum exactly; tokens drawn from the rest in proportion to their probability give an
// unbiased estimate of the tail's share, whose sampling error is reported with the result.
struct BaselineToken {
  float nll = 0;        // -log p_base(correct token)
  int32_t top1 = 0;     // arg-max token of the baseline
  float tail_mass = 0;  // probability outside the stored top-k
};

struct BaselineDistributions {
  int top_k = 0;
  int tail_samples = 0;
  std::vector<BaselineToken> tokens;  // one per scored token, chunk-major
  std::vector<int32_t> top_ids;       // top_k per token
  std::vector<float> top_logprobs;    // top_k per token
  std::vector<int32_t> tail_ids;      // tail_samples per token
  std::vector<float> tail_logprobs;   // tail_samples per token
};

struct ChunkRecord {
  int index = 0;
  int n_scored = 0;
  double nll_sum = 0;
  // Against the baseline (present when a baseline was given):
  std::optional<double> base_nll_sum;
  std::optional<double> kld_sum;
  std::optional<int> same_top_count;
  std::optional<double> delta_p_sum;
};

struct KldStats {
  std::size_t n = 0;
  double mean = 0, stderr_mean = 0, median = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0, p10 = 0, p5 = 0, p1 = 0, p01 = 0,
         max = 0, min = 0;
  double same_top_rate = 0, same_top_stderr = 0;
  double delta_p_mean = 0, delta_p_stderr = 0, delta_p_rms = 0, delta_p_p1 = 0, delta_p_p5 = 0, delta_p_median = 0,
         delta_p_p95 = 0, delta_p_p99 = 0, delta_p_min = 0, delta_p_max = 0;
  double base_ppl = 0;
  double ln_ppl_ratio = 0, ln_ppl_ratio_stderr = 0;  // from paired per-token NLL differences
  double ppl_ratio = 0;
  double tail_mass_mean = 0, tail_mass_max = 0;  // probability outside the baseline's top-k
  double tail_sampling_stderr = 0;               // standard error of `mean` due to tail sampling
};

struct PerplexityResult {
  int n_ctx = 0;
  int n_chunks = 0;
  std::size_t n_scored = 0;
  double nll_mean = 0;
  double nll_stderr = 0;
  double ppl = 0;
  double ppl_stderr = 0;
  double eval_seconds = 0;       // engine passes and scoring, not loading
  double tokens_per_second = 0;  // tokens evaluated (n_chunks * n_ctx) per second
  std::vector<ChunkRecord> chunks;
  std::optional<KldStats> kld;
};

// Evaluates the plan on `model`. With `baseline`, also compares every scored token's distribution
// with it. With `capture`, fills it with this model's own distributions (to serve as a baseline).
// With `journal` (not with `capture`), each chunk's per-token outcomes are looked up (task
// "perplexity", item = chunk index) and recorded as each group of chunks finishes.
PerplexityResult evaluate_perplexity(backend::Model& model, const ChunkPlan& plan, const PerplexityOptions& options,
                                     const BaselineDistributions* baseline, BaselineDistributions* capture,
                                     const ItemJournal* journal = nullptr);

}  // namespace uaqf::tasks
