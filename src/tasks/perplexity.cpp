#include "tasks/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <queue>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"
#include "core/parallel.h"
#include "stats/summary.h"

namespace uaqf::tasks {
namespace {

using backend::Token;

struct SoftmaxStats {
  float max_logit = 0;
  double log_sum_exp = 0;  // log sum exp(logit - max_logit)
  int32_t argmax = 0;
  float log_prob(const float* logits, int32_t token) const {
    return static_cast<float>(logits[token] - max_logit - log_sum_exp);
  }
};

// Same arithmetic as llama-perplexity (float max, double sum of expf), so PPL agrees to the digit.
SoftmaxStats softmax_stats(const float* logits, int32_t n_vocab) {
  SoftmaxStats s;
  s.max_logit = logits[0];
  for (int32_t i = 1; i < n_vocab; ++i) {
    if (logits[i] > s.max_logit) {
      s.max_logit = logits[i];
      s.argmax = i;
    }
  }
  double sum_exp = 0;
  for (int32_t i = 0; i < n_vocab; ++i) {
    sum_exp += std::exp(logits[i] - s.max_logit);
  }
  s.log_sum_exp = std::log(sum_exp);
  return s;
}

// The k largest logits' token ids, largest first.
void top_k_ids(const float* logits, int32_t n_vocab, int k, int32_t* out) {
  using Entry = std::pair<float, int32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;  // min-heap of the best k
  for (int32_t i = 0; i < n_vocab; ++i) {
    if (static_cast<int>(heap.size()) < k) {
      heap.emplace(logits[i], i);
    } else if (logits[i] > heap.top().first) {
      heap.pop();
      heap.emplace(logits[i], i);
    }
  }
  for (int j = static_cast<int>(heap.size()) - 1; j >= 0; --j) {
    out[j] = heap.top().second;
    heap.pop();
  }
}

// Draws `count` token ids outside `excluded` with probability proportional to p_i, seeded by the
// token's index so that the cache is reproducible.
void sample_tail(const float* logits, int32_t n_vocab, const SoftmaxStats& s, const int32_t* excluded, int n_excluded,
                 std::size_t seed, int count, int32_t* out_ids, float* out_log_probs) {
  std::vector<double> cumulative(static_cast<std::size_t>(n_vocab));
  std::vector<char> is_excluded(static_cast<std::size_t>(n_vocab), 0);
  for (int j = 0; j < n_excluded; ++j) {
    is_excluded[static_cast<std::size_t>(excluded[j])] = 1;
  }
  double total = 0;
  for (int32_t i = 0; i < n_vocab; ++i) {
    if (is_excluded[static_cast<std::size_t>(i)] == 0) {
      total += std::exp(static_cast<double>(s.log_prob(logits, i)));
    }
    cumulative[static_cast<std::size_t>(i)] = total;
  }
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 1);
  std::uniform_real_distribution<double> uniform(0.0, total);
  for (int j = 0; j < count; ++j) {
    const double u = uniform(rng);
    auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
    auto id = static_cast<int32_t>(std::min<std::ptrdiff_t>(it - cumulative.begin(), n_vocab - 1));
    while (is_excluded[static_cast<std::size_t>(id)] != 0 && id > 0) {
      --id;  // only reachable through rounding at a boundary
    }
    out_ids[j] = id;
    out_log_probs[j] = s.log_prob(logits, id);
  }
}

struct TokenOutcome {
  float nll = 0;
  float kld = 0;
  float kld_sampling_variance = 0;
  float delta_p = 0;
  bool same_top = false;
};

double mean_of(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) {
    sum += v;
  }
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

// Standard error of the mean, as llama-perplexity computes it: sqrt((E[x^2] - E[x]^2) / (n - 1)).
double stderr_of_mean(const std::vector<double>& values) {
  const auto n = static_cast<double>(values.size());
  if (values.size() < 2) {
    return 0;
  }
  double sum = 0, sum_sq = 0;
  for (double v : values) {
    sum += v;
    sum_sq += v * v;
  }
  const double mean = sum / n;
  const double variance = sum_sq / n - mean * mean;
  return variance > 0 ? std::sqrt(variance / (n - 1)) : 0;
}

KldStats summarize_kld(const std::vector<double>& kld, const std::vector<double>& delta_p,
                       const std::vector<double>& nll, const std::vector<double>& base_nll, std::size_t same_top,
                       double sampling_variance_sum, const BaselineDistributions& baseline) {
  KldStats k;
  k.n = kld.size();
  const auto n = static_cast<double>(k.n);
  k.mean = mean_of(kld);
  k.stderr_mean = stderr_of_mean(kld);
  k.median = stats::percentile(kld, 50);
  k.p90 = stats::percentile(kld, 90);
  k.p95 = stats::percentile(kld, 95);
  k.p99 = stats::percentile(kld, 99);
  k.p999 = stats::percentile(kld, 99.9);
  k.p10 = stats::percentile(kld, 10);
  k.p5 = stats::percentile(kld, 5);
  k.p1 = stats::percentile(kld, 1);
  k.p01 = stats::percentile(kld, 0.1);
  k.max = *std::max_element(kld.begin(), kld.end());
  k.min = *std::min_element(kld.begin(), kld.end());
  k.same_top_rate = static_cast<double>(same_top) / n;
  k.same_top_stderr = k.n > 1 ? std::sqrt(k.same_top_rate * (1 - k.same_top_rate) / (n - 1)) : 0;
  k.delta_p_mean = mean_of(delta_p);
  k.delta_p_stderr = stderr_of_mean(delta_p);
  double sq = 0;
  for (double d : delta_p) {
    sq += d * d;
  }
  k.delta_p_rms = std::sqrt(sq / n);
  k.delta_p_min = *std::min_element(delta_p.begin(), delta_p.end());
  k.delta_p_max = *std::max_element(delta_p.begin(), delta_p.end());
  k.delta_p_p1 = stats::percentile(delta_p, 1);
  k.delta_p_p5 = stats::percentile(delta_p, 5);
  k.delta_p_median = stats::percentile(delta_p, 50);
  k.delta_p_p95 = stats::percentile(delta_p, 95);
  k.delta_p_p99 = stats::percentile(delta_p, 99);
  std::vector<double> differences(nll.size());
  for (std::size_t i = 0; i < nll.size(); ++i) {
    differences[i] = nll[i] - base_nll[i];
  }
  // Paired differences carry the correlation between the two models' NLLs.
  k.ln_ppl_ratio = mean_of(differences);
  k.ln_ppl_ratio_stderr = stderr_of_mean(differences);
  k.ppl_ratio = std::exp(k.ln_ppl_ratio);
  k.base_ppl = std::exp(mean_of(base_nll));
  double tail_sum = 0;
  for (const auto& t : baseline.tokens) {
    tail_sum += t.tail_mass;
    k.tail_mass_max = std::max(k.tail_mass_max, static_cast<double>(t.tail_mass));
  }
  k.tail_mass_mean = baseline.tokens.empty() ? 0 : tail_sum / static_cast<double>(baseline.tokens.size());
  k.tail_sampling_stderr = std::sqrt(sampling_variance_sum) / n;
  return k;
}

// ---------------------------------------------------------------------------------------------
// evaluate_perplexity's steps.

// Sizes the capture's arrays for every scored token; they are filled in place as tokens are scored.
void prepare_capture(BaselineDistributions& capture, const PerplexityOptions& options, std::size_t n_scored) {
  capture.top_k = options.top_k;
  capture.tokens.assign(n_scored, {});
  capture.top_ids.assign(n_scored * static_cast<std::size_t>(options.top_k), 0);
  capture.top_logprobs.assign(n_scored * static_cast<std::size_t>(options.top_k), 0);
  capture.tail_samples = options.tail_samples;
  capture.tail_ids.assign(n_scored * static_cast<std::size_t>(options.tail_samples), 0);
  capture.tail_logprobs.assign(n_scored * static_cast<std::size_t>(options.tail_samples), 0);
}

// A chunk's tokens, hashed: a journal entry is reused only for the very same tokens.
std::string chunk_fingerprint(const ChunkPlan& plan, int chunk) {
  const auto* begin = plan.tokens.data() + static_cast<std::ptrdiff_t>(chunk) * plan.n_ctx;
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(begin),
                                     static_cast<std::size_t>(plan.n_ctx) * sizeof(Token)))
      .substr(0, 16);
}

// Restores one chunk's outcomes from its journal entry; false when the entry does not fit the plan.
bool restore_chunk(const nlohmann::json& found, int chunk, int per_chunk, bool with_baseline,
                   std::vector<TokenOutcome>& outcomes) {
  if (found.at("nll").size() != static_cast<std::size_t>(per_chunk)) {
    return false;
  }
  for (int k = 0; k < per_chunk; ++k) {
    TokenOutcome& outcome = outcomes[static_cast<std::size_t>(chunk * per_chunk + k)];
    const auto i = static_cast<std::size_t>(k);
    outcome.nll = found.at("nll")[i].get<float>();
    if (with_baseline) {
      outcome.kld = found.at("kld")[i].get<float>();
      outcome.kld_sampling_variance = found.at("kld_var")[i].get<float>();
      outcome.delta_p = found.at("delta_p")[i].get<float>();
      outcome.same_top = found.at("same_top")[i].get<bool>();
    }
  }
  return true;
}

// Restores the chunks the journal holds (when there is one) and returns the others, to evaluate.
std::vector<int> restore_journaled_chunks(const ChunkPlan& plan, const ItemJournal* journal, bool with_baseline,
                                          std::vector<TokenOutcome>& outcomes) {
  std::vector<int> pending;
  for (int chunk = 0; chunk < plan.n_chunks; ++chunk) {
    if (journal != nullptr && journal->find) {
      const auto found = journal->find("perplexity", std::to_string(chunk), chunk_fingerprint(plan, chunk));
      if (found && restore_chunk(*found, chunk, plan.scored_per_chunk(), with_baseline, outcomes)) {
        continue;
      }
    }
    pending.push_back(chunk);
  }
  return pending;
}

// Keeps the model's own distribution of one token (top-k exactly, the tail sampled) as a baseline.
void capture_token(BaselineDistributions& capture, const PerplexityOptions& options, const float* logits,
                   int32_t n_vocab, const SoftmaxStats& s, std::size_t index, float nll) {
  const auto k = static_cast<std::size_t>(options.top_k);
  int32_t* ids = capture.top_ids.data() + index * k;
  float* log_probs = capture.top_logprobs.data() + index * k;
  top_k_ids(logits, n_vocab, options.top_k, ids);
  double kept = 0;
  for (std::size_t j = 0; j < k; ++j) {
    log_probs[j] = s.log_prob(logits, ids[j]);
    kept += std::exp(static_cast<double>(log_probs[j]));
  }
  const double tail_mass = std::max(0.0, 1.0 - kept);
  capture.tokens[index] = {nll, s.argmax, static_cast<float>(tail_mass)};
  const auto m = static_cast<std::size_t>(options.tail_samples);
  if (m > 0 && tail_mass > 0) {
    sample_tail(logits, n_vocab, s, ids, options.top_k, index, options.tail_samples,
                capture.tail_ids.data() + index * m, capture.tail_logprobs.data() + index * m);
  }
}

// Compares one token's distribution with the baseline's: KLD (head exact, tail estimated), the
// estimate's sampling variance, top-token agreement and the change in the right token's probability.
void compare_with_baseline(const BaselineDistributions& baseline, const float* logits, const SoftmaxStats& s,
                           std::size_t index, float target_log_prob, TokenOutcome& outcome) {
  const auto k = static_cast<std::size_t>(baseline.top_k);
  const BaselineToken& base = baseline.tokens[index];
  const int32_t* ids = baseline.top_ids.data() + index * k;
  const float* base_log_probs = baseline.top_logprobs.data() + index * k;
  double kld = 0;
  for (std::size_t j = 0; j < k; ++j) {
    const double log_q = s.log_prob(logits, ids[j]);
    const double p = std::exp(static_cast<double>(base_log_probs[j]));
    kld += p * (base_log_probs[j] - log_q);
  }
  // Tail: sum over i outside the top-k of p_i log(p_i/q_i) = tail_mass * E[log(p/q)] under
  // p restricted to the tail, estimated from the baseline's samples.
  const auto m = static_cast<std::size_t>(baseline.tail_samples);
  if (base.tail_mass > 0 && m > 0) {
    const int32_t* tail_ids = baseline.tail_ids.data() + index * m;
    const float* tail_log_probs = baseline.tail_logprobs.data() + index * m;
    double sum = 0, sum_sq = 0;
    for (std::size_t j = 0; j < m; ++j) {
      const double log_ratio = tail_log_probs[j] - static_cast<double>(s.log_prob(logits, tail_ids[j]));
      sum += log_ratio;
      sum_sq += log_ratio * log_ratio;
    }
    const double mean = sum / static_cast<double>(m);
    kld += base.tail_mass * mean;
    if (m > 1) {
      const double variance = std::max(0.0, (sum_sq - sum * mean) / static_cast<double>(m - 1));
      outcome.kld_sampling_variance =
          static_cast<float>(base.tail_mass * base.tail_mass * variance / static_cast<double>(m));
    }
  }
  outcome.kld = static_cast<float>(kld);
  outcome.same_top = s.argmax == base.top1;
  outcome.delta_p = std::exp(target_log_prob) - std::exp(-base.nll);
}

// What scoring one position reads and writes.
struct Scoring {
  const ChunkPlan& plan;
  const PerplexityOptions& options;
  const BaselineDistributions* baseline;
  BaselineDistributions* capture;
  int32_t n_vocab;
  std::vector<TokenOutcome>& outcomes;
};

// Scores the logits at one position of a chunk against the token that follows it.
void score_position(const Scoring& scoring, const backend::TokenLogits& out, int chunk_index) {
  const ChunkPlan& plan = scoring.plan;
  if (out.position >= plan.n_ctx - 1) {
    return;  // the last position has no next token in the chunk
  }
  const std::size_t index = static_cast<std::size_t>(chunk_index) * static_cast<std::size_t>(plan.scored_per_chunk()) +
                            static_cast<std::size_t>(out.position - plan.first_scored);
  const Token target = plan.tokens[static_cast<std::size_t>(chunk_index) * static_cast<std::size_t>(plan.n_ctx) +
                                   static_cast<std::size_t>(out.position) + 1];
  const SoftmaxStats s = softmax_stats(out.logits, scoring.n_vocab);
  TokenOutcome& outcome = scoring.outcomes[index];
  const float target_log_prob = s.log_prob(out.logits, target);
  outcome.nll = -target_log_prob;
  if (scoring.capture) {
    capture_token(*scoring.capture, scoring.options, out.logits, scoring.n_vocab, s, index, outcome.nll);
  }
  if (scoring.baseline) {
    compare_with_baseline(*scoring.baseline, out.logits, s, index, target_log_prob, outcome);
  }
}

// The token sequences of some chunks, each opened by BOS as llama-perplexity does.
std::vector<std::vector<Token>> chunk_sequences(const ChunkPlan& plan, std::span<const int> chunks,
                                                std::optional<Token> bos) {
  std::vector<std::vector<Token>> sequences(chunks.size());
  for (std::size_t s = 0; s < chunks.size(); ++s) {
    const auto begin = plan.tokens.begin() + static_cast<std::ptrdiff_t>(chunks[s]) * plan.n_ctx;
    sequences[s].assign(begin, begin + plan.n_ctx);
    if (bos) {
      sequences[s].front() = *bos;
    }
  }
  return sequences;
}

// Hands each finished chunk's per-token outcomes to the journal.
void record_chunks(const ItemJournal& journal, const ChunkPlan& plan, std::span<const int> chunks, bool with_baseline,
                   const std::vector<TokenOutcome>& outcomes) {
  const int per_chunk = plan.scored_per_chunk();
  for (const int chunk : chunks) {
    nlohmann::json nll = nlohmann::json::array(), kld = nlohmann::json::array(), var = nlohmann::json::array(),
                   delta_p = nlohmann::json::array(), same_top = nlohmann::json::array();
    for (int k = 0; k < per_chunk; ++k) {
      const TokenOutcome& outcome = outcomes[static_cast<std::size_t>(chunk * per_chunk + k)];
      nll.push_back(outcome.nll);
      if (with_baseline) {
        kld.push_back(outcome.kld);
        var.push_back(outcome.kld_sampling_variance);
        delta_p.push_back(outcome.delta_p);
        same_top.push_back(outcome.same_top);
      }
    }
    journal.record("perplexity", std::to_string(chunk), chunk_fingerprint(plan, chunk),
                   {{"nll", nll}, {"kld", kld}, {"kld_var", var}, {"delta_p", delta_p}, {"same_top", same_top}});
  }
}

// Evaluates the pending chunks, n_seq of them side by side in each engine pass, and scores them.
void evaluate_chunks(backend::Context& ctx, std::optional<Token> bos, const Scoring& scoring,
                     const std::vector<int>& pending, int n_seq, const ItemJournal* journal) {
  for (std::size_t group = 0; group < pending.size(); group += static_cast<std::size_t>(n_seq)) {
    const std::size_t n_here = std::min(static_cast<std::size_t>(n_seq), pending.size() - group);
    const std::span<const int> chunks(pending.data() + group, n_here);
    const auto sequences = chunk_sequences(scoring.plan, chunks, bos);
    ctx.eval_sequences(sequences, scoring.plan.first_scored, [&](std::span<const backend::TokenLogits> block) {
      parallel_for(block.size(), scoring.options.n_threads,
                   [&](std::size_t b) { score_position(scoring, block[b], chunks[block[b].sequence]); });
    });
    if (journal != nullptr && journal->record) {
      record_chunks(*journal, scoring.plan, chunks, scoring.baseline != nullptr, scoring.outcomes);
    }
  }
}

// The per-token series the summary statistics are taken over (KLD's only with a baseline).
struct TokenSeries {
  std::vector<double> nll, kld, delta_p, base_nll;
  std::size_t same_top = 0;
  double sampling_variance_sum = 0;
};

// One chunk's sums; appends its tokens to the series.
ChunkRecord summarize_chunk(int chunk, int per_chunk, const std::vector<TokenOutcome>& outcomes,
                            const BaselineDistributions* baseline, TokenSeries& series) {
  ChunkRecord record;
  record.index = chunk;
  record.n_scored = per_chunk;
  double base_sum = 0, kld_sum = 0, dp_sum = 0;
  int same = 0;
  for (int j = 0; j < per_chunk; ++j) {
    const std::size_t i =
        static_cast<std::size_t>(chunk) * static_cast<std::size_t>(per_chunk) + static_cast<std::size_t>(j);
    series.nll[i] = outcomes[i].nll;
    record.nll_sum += outcomes[i].nll;
    if (baseline) {
      series.kld[i] = outcomes[i].kld;
      series.sampling_variance_sum += outcomes[i].kld_sampling_variance;
      series.delta_p[i] = outcomes[i].delta_p;
      series.base_nll[i] = baseline->tokens[i].nll;
      base_sum += series.base_nll[i];
      kld_sum += series.kld[i];
      dp_sum += series.delta_p[i];
      same += outcomes[i].same_top ? 1 : 0;
    }
  }
  if (baseline) {
    record.base_nll_sum = base_sum;
    record.kld_sum = kld_sum;
    record.same_top_count = same;
    record.delta_p_sum = dp_sum;
    series.same_top += static_cast<std::size_t>(same);
  }
  return record;
}

// Per-chunk records, perplexity and (with a baseline) the KLD statistics; timing is the caller's.
PerplexityResult summarize(const ChunkPlan& plan, const std::vector<TokenOutcome>& outcomes,
                           const BaselineDistributions* baseline) {
  const std::size_t n_scored = plan.n_scored();
  PerplexityResult result;
  result.n_ctx = plan.n_ctx;
  result.n_chunks = plan.n_chunks;
  result.n_scored = n_scored;
  TokenSeries series;
  series.nll.resize(n_scored);
  if (baseline) {
    series.kld.resize(n_scored);
    series.delta_p.resize(n_scored);
    series.base_nll.resize(n_scored);
  }
  for (int chunk = 0; chunk < plan.n_chunks; ++chunk) {
    result.chunks.push_back(summarize_chunk(chunk, plan.scored_per_chunk(), outcomes, baseline, series));
  }
  result.nll_mean = mean_of(series.nll);
  result.nll_stderr = stderr_of_mean(series.nll);
  result.ppl = std::exp(result.nll_mean);
  result.ppl_stderr = result.nll_stderr * result.ppl;
  if (baseline) {
    result.kld = summarize_kld(series.kld, series.delta_p, series.nll, series.base_nll, series.same_top,
                               series.sampling_variance_sum, *baseline);
  }
  return result;
}

}  // namespace

Corpus read_corpus(const std::filesystem::path& path) {
  Corpus corpus;
  corpus.path = path;
  corpus.text = read_text_file(path);
  if (!corpus.text.empty() && corpus.text.back() == '\n') {
    corpus.text.pop_back();
  }
  if (corpus.text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: the corpus has no text", path.string()));
  }
  if (const auto bad = first_invalid_utf8(corpus.text)) {
    const auto line =
        1 + std::count(corpus.text.begin(), corpus.text.begin() + static_cast<std::ptrdiff_t>(*bad), '\n');
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: not UTF-8 text", path.string(), line));
  }
  corpus.sha256 = sha256_file(path);
  return corpus;
}

CorpusTokens tokenize_corpus(const backend::Vocabulary& vocabulary, const std::string& text,
                             std::optional<std::size_t> needed) {
  auto prefix_end = [&](std::size_t bytes) {
    if (bytes >= text.size()) {
      return text.size();
    }
    const auto newline = text.find('\n', bytes);
    return newline == std::string::npos ? text.size() : newline;
  };
  if (needed) {
    // Tokens are rarely shorter than 2 bytes; start there and grow until enough.
    std::size_t bytes = *needed * 2 + 4096;
    while (prefix_end(bytes) < text.size()) {
      const std::size_t end = prefix_end(bytes);
      auto tokens = vocabulary.tokenize(text.substr(0, end), true);
      if (tokens.size() >= *needed) {
        const auto longer = vocabulary.tokenize(text.substr(0, prefix_end(end + end / 8 + 1)), true);
        if (longer.size() >= *needed &&
            std::equal(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(*needed), longer.begin())) {
          tokens.resize(*needed);
          return {std::move(tokens), false};
        }
        break;  // the cut changed the tokens: do it the safe way
      }
      bytes *= 2;
    }
  }
  return {vocabulary.tokenize(text, true), true};
}

ChunkPlan plan_chunks(std::vector<Token> tokens, const PerplexityOptions& options, const std::string& corpus_name) {
  if (options.n_ctx < 8) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("--ctx must be at least 8 tokens, got {}", options.n_ctx));
  }
  if (options.max_chunks && *options.max_chunks < 1) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("--chunks must be positive, got {}", *options.max_chunks));
  }
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * static_cast<int64_t>(options.n_ctx)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{} is too short: it tokenizes to {} tokens, and perplexity with a context of {} needs at "
                            "least {}",
                            corpus_name, n_tokens, options.n_ctx, 2 * options.n_ctx));
  }
  ChunkPlan plan;
  plan.n_ctx = options.n_ctx;
  const auto available = static_cast<int>(n_tokens / options.n_ctx);
  plan.n_chunks = options.max_chunks ? std::min(*options.max_chunks, available) : available;
  plan.first_scored = options.n_ctx / 2;
  tokens.resize(static_cast<std::size_t>(plan.n_chunks) * static_cast<std::size_t>(plan.n_ctx));
  plan.tokens = std::move(tokens);
  return plan;
}

PerplexityResult evaluate_perplexity(backend::Model& model, const ChunkPlan& plan, const PerplexityOptions& options,
                                     const BaselineDistributions* baseline, BaselineDistributions* capture,
                                     const ItemJournal* journal) {
  const std::size_t n_scored = plan.n_scored();
  if (baseline && baseline->tokens.size() != n_scored) {
    throw Error(ErrorCode::kInternal, "baseline distributions do not match the chunk plan");
  }
  const int n_seq = std::max(1, options.n_batch / plan.n_ctx);
  auto ctx = model.new_context(static_cast<uint32_t>(plan.n_ctx * n_seq), static_cast<uint32_t>(n_seq));

  std::vector<TokenOutcome> outcomes(n_scored);
  if (capture) {
    prepare_capture(*capture, options, n_scored);
  }
  // Chunks found in the journal are restored, the others evaluated (a capture needs them all).
  const ItemJournal* active_journal = capture == nullptr ? journal : nullptr;
  const std::vector<int> pending = restore_journaled_chunks(plan, active_journal, baseline != nullptr, outcomes);
  const Scoring scoring{plan, options, baseline, capture, model.n_vocab(), outcomes};
  const auto start = std::chrono::steady_clock::now();
  evaluate_chunks(*ctx, model.bos(), scoring, pending, n_seq, active_journal);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  PerplexityResult result = summarize(plan, outcomes, baseline);
  result.eval_seconds = seconds;
  // Throughput of the chunks evaluated here (journaled ones took no time in this run).
  result.tokens_per_second =
      seconds > 0 ? static_cast<double>(pending.size()) * static_cast<double>(plan.n_ctx) / seconds : 0;
  return result;
}

}  // namespace uaqf::tasks
