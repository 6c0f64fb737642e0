#include "backend/llama/llama_internal.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "backend/llama/llama_log.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "core/parallel.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "gguf.h"
#include "llama-cpp.h"
#include "uaqf/build_info.h"

namespace uaqf::backend::llama {
namespace {

namespace fs = std::filesystem;

// The CPU backend's thread pool, attached to each context as llama-bench does: without it every
// graph computation would start its own threads, which dominates single-token decode timing.
class CpuThreadpool {
 public:
  explicit CpuThreadpool(int n_threads) {
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (cpu == nullptr) {
      return;
    }
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
    auto* create =
        reinterpret_cast<decltype(ggml_threadpool_new)*>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
    free_ = reinterpret_cast<decltype(ggml_threadpool_free)*>(
        ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
    if (create == nullptr || free_ == nullptr) {
      return;
    }
    ggml_threadpool_params params = ggml_threadpool_params_default(n_threads);
    params.poll = 50;  // llama-bench's default busy-wait level
    pool_ = create(&params);
  }
  ~CpuThreadpool() {
    if (pool_ != nullptr) {
      free_(pool_);
    }
  }
  CpuThreadpool(const CpuThreadpool&) = delete;
  CpuThreadpool& operator=(const CpuThreadpool&) = delete;
  ggml_threadpool* get() const { return pool_; }

 private:
  ggml_threadpool* pool_ = nullptr;
  decltype(ggml_threadpool_free)* free_ = nullptr;
};

class LlamaContext final : public Context {
 public:
  LlamaContext(llama_context_ptr ctx, int n_threads, std::string model_name, bool unified_kv)
      : threadpool_(n_threads),
        ctx_(std::move(ctx)),
        model_name_(std::move(model_name)),
        unified_kv_(unified_kv),
        n_threads_(static_cast<unsigned>(std::max(1, n_threads))) {
    if (threadpool_.get() != nullptr) {
      llama_attach_threadpool(ctx_.get(), threadpool_.get(), nullptr);
    }
    n_ctx_ = llama_n_ctx(ctx_.get());
    n_batch_ = llama_n_batch(ctx_.get());
    n_vocab_ = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(ctx_.get())));
  }
  ~LlamaContext() override {
    if (batch_storage_) {
      llama_batch_free(*batch_storage_);
    }
    // The context must go before the thread pool it uses.
    ctx_.reset();
  }

  uint32_t n_ctx() const override { return n_ctx_; }
  uint32_t n_past() const override { return n_past_; }
  std::vector<MemoryPlacement> memory_placement() const override { return memory_placement_of(ctx_.get()); }

  void clear() override {
    llama_memory_clear(llama_get_memory(ctx_.get()), false);
    n_past_ = 0;
  }

  void decode(std::span<const Token> tokens) override {
    if (n_past_ + tokens.size() > n_ctx_) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: {} more tokens do not fit the context ({} of {} used)",
                                                           model_name_, tokens.size(), n_past_, n_ctx_));
    }
    std::size_t done = 0;
    while (done < tokens.size()) {
      const std::size_t n = std::min<std::size_t>(n_batch_, tokens.size() - done);
      batch_.assign(tokens.begin() + static_cast<std::ptrdiff_t>(done),
                    tokens.begin() + static_cast<std::ptrdiff_t>(done + n));
      const int32_t status = llama_decode(ctx_.get(), llama_batch_get_one(batch_.data(), static_cast<int32_t>(n)));
      if (status != 0) {
        throw Error(ErrorCode::kEngine,
                    with_engine_reason(fmt::format("{}: llama_decode failed with status {} at position {}", model_name_,
                                                   status, n_past_)));
      }
      n_past_ += static_cast<uint32_t>(n);
      done += n;
    }
    llama_synchronize(ctx_.get());
  }

  void eval_sequences(std::span<const std::vector<Token>> sequences, int32_t logits_from,
                      const LogitsBlockFn& on_block) override {
    const auto n_seq_max = llama_n_seq_max(ctx_.get());
    if (sequences.size() > n_seq_max) {
      throw Error(ErrorCode::kInternal,
                  fmt::format("{}: {} sequences for a context of {}", model_name_, sequences.size(), n_seq_max));
    }
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    n_past_ = 0;
    const std::size_t capacity = n_batch_;
    prepare_batch(capacity);
    llama_batch& batch = *batch_storage_;
    std::vector<TokenLogits> outputs;
    std::vector<std::pair<std::size_t, int32_t>> output_refs;  // (sequence, position) per batch output
    auto flush = [&] {
      if (batch.n_tokens == 0) {
        return;
      }
      const int32_t status = llama_decode(ctx_.get(), batch);
      if (status != 0) {
        throw Error(ErrorCode::kEngine,
                    with_engine_reason(fmt::format("{}: llama_decode failed with status {} on a batch of {} tokens",
                                                   model_name_, status, batch.n_tokens)));
      }
      outputs.clear();
      int32_t output_index = 0;
      for (int32_t i = 0; i < batch.n_tokens; ++i) {
        if (batch.logits[i] != 0) {
          const auto& [sequence, position] = output_refs[static_cast<std::size_t>(output_index++)];
          outputs.push_back({sequence, position, llama_get_logits_ith(ctx_.get(), i)});
        }
      }
      if (!outputs.empty()) {
        on_block(outputs);
      }
      batch.n_tokens = 0;
      output_refs.clear();
    };
    batch.n_tokens = 0;
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      const auto& tokens = sequences[s];
      for (std::size_t k = 0; k < tokens.size(); ++k) {
        if (static_cast<std::size_t>(batch.n_tokens) == capacity) {
          flush();
        }
        const auto i = static_cast<std::size_t>(batch.n_tokens);
        const auto position = static_cast<int32_t>(k);
        batch.token[i] = tokens[k];
        batch.pos[i] = position;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = static_cast<llama_seq_id>(s);
        batch.logits[i] = position >= logits_from ? 1 : 0;
        if (batch.logits[i] != 0) {
          output_refs.emplace_back(s, position);
        }
        ++batch.n_tokens;
      }
    }
    flush();
  }

  void decode_parallel(std::span<const Token> tokens, std::span<const int32_t> positions) override {
    prepare_batch(std::max<std::size_t>(tokens.size(), n_batch_));
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      add_to_batch(tokens[i], positions[i], static_cast<llama_seq_id>(i), true);
    }
    decode_batch();
    llama_synchronize(ctx_.get());
  }

  std::vector<std::vector<TokenScore>> score_suffixes(const std::vector<Token>& prefix,
                                                      std::span<const std::vector<Token>> suffixes) override {
    const SuffixGroup group{prefix, std::vector<std::vector<Token>>(suffixes.begin(), suffixes.end())};
    return std::move(score_suffix_groups(std::span<const SuffixGroup>(&group, 1)).front());
  }

  std::vector<std::vector<std::vector<TokenScore>>> score_suffix_groups(std::span<const SuffixGroup> groups) override {
    llama_memory_t memory = llama_get_memory(ctx_.get());
    llama_memory_clear(memory, true);
    n_past_ = 0;
    const std::vector<llama_seq_id> first = group_sequences(groups);
    auto scores = empty_scores(groups);
    // Tokens go into passes of at most n_batch; `pending` maps each requested output to what it
    // scores: (group, suffix, index into scores[group][suffix]); suffix = kPrefix for the prefix's
    // last position (every suffix's first token), kPrefixToken for a scored prefix token (scored
    // once into suffix 0, copied to the others after the prefix pass).
    constexpr std::size_t kPrefix = std::numeric_limits<std::size_t>::max();
    constexpr std::size_t kPrefixToken = kPrefix - 1;
    struct Output {
      std::size_t group, suffix, token;
    };
    std::vector<Output> pending;
    prepare_batch(n_batch_);
    auto flush = [&] {
      if (batch_storage_->n_tokens == 0) {
        return;
      }
      decode_batch();
      // Each scored token needs a log-softmax over the vocabulary: done on the engine's threads while
      // it waits (a quarter of a multiple-choice pass on the tiny model otherwise).
      struct Job {
        const float* logits;
        Token token;
        TokenScore* out;
      };
      std::vector<Job> jobs;
      int32_t output = 0;
      for (int32_t i = 0; i < batch_storage_->n_tokens; ++i) {
        if (batch_storage_->logits[i] == 0) {
          continue;
        }
        const Output& o = pending[static_cast<std::size_t>(output++)];
        const float* logits = llama_get_logits_ith(ctx_.get(), i);
        const SuffixGroup& group = groups[o.group];
        const std::size_t scored = group.scored_prefix_tokens;
        if (o.suffix == kPrefix) {
          // The prefix's last position scores every suffix's first token.
          for (std::size_t s = 0; s < group.suffixes.size(); ++s) {
            if (!group.suffixes[s].empty()) {
              jobs.push_back({logits, group.suffixes[s][0], &scores[o.group][s][scored]});
            }
          }
        } else if (o.suffix == kPrefixToken) {
          jobs.push_back({logits, group.prefix[group.prefix.size() - scored + o.token], &scores[o.group][0][o.token]});
        } else {
          jobs.push_back({logits, group.suffixes[o.suffix][o.token - scored], &scores[o.group][o.suffix][o.token]});
        }
      }
      // Threads pay off only for a pass of many tokens (one short sequence measured slower with them).
      constexpr std::size_t kMinJobsPerThread = 32;
      const auto n_threads = static_cast<unsigned>(
          std::min<std::size_t>(n_threads_, std::max<std::size_t>(1, jobs.size() / kMinJobsPerThread)));
      parallel_for(jobs.size(), n_threads,
                   [&](std::size_t j) { *jobs[j].out = score_token(jobs[j].logits, jobs[j].token); });
      pending.clear();
      batch_storage_->n_tokens = 0;
    };
    auto add = [&](Token token, int32_t position, llama_seq_id seq, std::optional<Output> output) {
      if (static_cast<std::size_t>(batch_storage_->n_tokens) == n_batch_) {
        flush();
      }
      add_to_batch(token, position, seq, output.has_value());
      if (output) {
        pending.push_back(*output);
      }
    };
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto& prefix = groups[g].prefix;
      // Prefix token k + 1 is scored by the logits at k.
      const std::size_t scored_from =
          groups[g].suffixes.empty() ? prefix.size() : prefix.size() - groups[g].scored_prefix_tokens;
      for (std::size_t k = 0; k < prefix.size(); ++k) {
        std::optional<Output> output;
        if (k + 1 == prefix.size()) {
          output = Output{g, kPrefix, 0};
        } else if (k + 1 >= scored_from) {
          output = Output{g, kPrefixToken, k + 1 - scored_from};
        }
        add(prefix[k], static_cast<int32_t>(k), first[g], output);
      }
    }
    flush();
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const std::size_t scored = groups[g].scored_prefix_tokens;
      for (std::size_t s = 1; s < groups[g].suffixes.size(); ++s) {
        std::copy_n(scores[g][0].begin(), scored, scores[g][s].begin());
        llama_memory_seq_cp(memory, first[g], first[g] + static_cast<llama_seq_id>(s), -1, -1);
      }
    }
    // All suffix tokens of all groups; the logits at token k score token k + 1.
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto n_prefix = static_cast<int32_t>(groups[g].prefix.size());
      for (std::size_t s = 0; s < groups[g].suffixes.size(); ++s) {
        const auto& suffix = groups[g].suffixes[s];
        for (std::size_t k = 0; k < suffix.size(); ++k) {
          add(suffix[k], n_prefix + static_cast<int32_t>(k), first[g] + static_cast<llama_seq_id>(s),
              k + 1 < suffix.size() ? std::optional<Output>(Output{g, s, groups[g].scored_prefix_tokens + k + 1})
                                    : std::nullopt);
        }
      }
    }
    flush();
    return scores;
  }

  // Group g's suffixes are sequences first[g] ... first[g] + n - 1; its prefix goes into the first
  // of them and is shared with the others once evaluated.
  std::vector<llama_seq_id> group_sequences(std::span<const SuffixGroup> groups) const {
    std::vector<llama_seq_id> first(groups.size());
    llama_seq_id next_seq = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (groups[g].prefix.empty() || groups[g].scored_prefix_tokens >= groups[g].prefix.size()) {
        throw Error(ErrorCode::kInternal,
                    fmt::format("score_suffix_groups: a prefix of {} tokens with {} of them scored",
                                groups[g].prefix.size(), groups[g].scored_prefix_tokens));
      }
      first[g] = next_seq;
      next_seq += static_cast<llama_seq_id>(std::max<std::size_t>(1, groups[g].suffixes.size()));
    }
    if (static_cast<uint32_t>(next_seq) > llama_n_seq_max(ctx_.get())) {
      throw Error(ErrorCode::kInternal, fmt::format("{}: {} sequences for a context of {}", model_name_, next_seq,
                                                    llama_n_seq_max(ctx_.get())));
    }
    return first;
  }

  // scores[g][s] = the group's scored prefix tokens, then suffix s's tokens.
  static std::vector<std::vector<std::vector<TokenScore>>> empty_scores(std::span<const SuffixGroup> groups) {
    std::vector<std::vector<std::vector<TokenScore>>> scores(groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) {
      scores[g].resize(groups[g].suffixes.size());
      for (std::size_t s = 0; s < groups[g].suffixes.size(); ++s) {
        scores[g][s].resize(groups[g].scored_prefix_tokens + groups[g].suffixes[s].size());
      }
    }
    return scores;
  }

  std::vector<std::vector<Token>> generate_greedy(std::span<const std::vector<Token>> prompts, int max_new_tokens,
                                                  const StopFn& should_stop) override {
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    n_past_ = 0;
    const llama_vocab* vocab = llama_model_get_vocab(llama_get_model(ctx_.get()));
    std::vector<std::vector<Token>> generated(prompts.size());
    std::vector<int32_t> position(prompts.size(), 0);
    std::vector<bool> active(prompts.size(), true);
    // The prompts' common beginning (e.g. few-shot exemplars) is evaluated once in sequence 0 and
    // copied to the others' caches; each prompt keeps at least its last token to itself, whose
    // logits start its answer.
    std::size_t shared = 0;
    if (prompts.size() > 1) {
      shared = prompts[0].size() - 1;
      for (const auto& prompt : prompts) {
        std::size_t k = 0;
        while (k < shared && k + 1 < prompt.size() && prompt[k] == prompts[0][k]) {
          ++k;
        }
        shared = k;
      }
    }
    prepare_batch(n_batch_);
    for (std::size_t k = 0; k < shared; ++k) {
      if (static_cast<std::size_t>(batch_storage_->n_tokens) == n_batch_) {
        decode_batch();
        batch_storage_->n_tokens = 0;
      }
      add_to_batch(prompts[0][k], static_cast<int32_t>(k), 0, false);
    }
    if (batch_storage_->n_tokens > 0) {
      decode_batch();
      batch_storage_->n_tokens = 0;
    }
    for (std::size_t s = 1; s < prompts.size() && shared > 0; ++s) {
      llama_memory_seq_cp(llama_get_memory(ctx_.get()), 0, static_cast<llama_seq_id>(s), -1, -1);
    }
    // The rest of each prompt in its own sequence; the last token of each keeps its logits.
    std::vector<std::pair<std::size_t, int32_t>> last_positions;
    auto flush_prompts = [&] {
      if (batch_storage_->n_tokens == 0) {
        return;
      }
      decode_batch();
      for (const auto& [s, i] : last_positions) {
        pick_next(s, i, generated, active, max_new_tokens, should_stop, vocab);
      }
      last_positions.clear();
      batch_storage_->n_tokens = 0;
    };
    for (std::size_t s = 0; s < prompts.size(); ++s) {
      if (prompts[s].empty()) {
        throw Error(ErrorCode::kInternal, "generate_greedy needs non-empty prompts");
      }
      for (std::size_t k = shared; k < prompts[s].size(); ++k) {
        if (static_cast<std::size_t>(batch_storage_->n_tokens) == n_batch_) {
          flush_prompts();
        }
        const bool last_token = k + 1 == prompts[s].size();
        if (last_token) {
          last_positions.emplace_back(s, batch_storage_->n_tokens);
        }
        add_to_batch(prompts[s][k], static_cast<int32_t>(k), static_cast<llama_seq_id>(s), last_token);
      }
      position[s] = static_cast<int32_t>(prompts[s].size());
    }
    flush_prompts();
    // One token per active sequence per step.
    while (std::find(active.begin(), active.end(), true) != active.end()) {
      batch_storage_->n_tokens = 0;
      std::vector<std::pair<std::size_t, int32_t>> step;
      for (std::size_t s = 0; s < prompts.size(); ++s) {
        if (active[s]) {
          step.emplace_back(s, batch_storage_->n_tokens);
          add_to_batch(generated[s].back(), position[s]++, static_cast<llama_seq_id>(s), true);
        }
      }
      decode_batch();
      for (const auto& [s, i] : step) {
        pick_next(s, i, generated, active, max_new_tokens, should_stop, vocab);
      }
    }
    for (auto& tokens : generated) {
      if (!tokens.empty() && llama_vocab_is_eog(vocab, tokens.back())) {
        tokens.pop_back();
      }
    }
    return generated;
  }

  Token greedy_next() const override {
    const float* logits = llama_get_logits_ith(ctx_.get(), -1);
    if (logits == nullptr) {
      throw Error(ErrorCode::kEngine, fmt::format("{}: no logits after decode", model_name_));
    }
    return static_cast<Token>(std::max_element(logits, logits + n_vocab_) - logits);
  }

 private:
  void prepare_batch(std::size_t capacity) {
    if (!batch_storage_ || batch_capacity_ < capacity) {
      if (batch_storage_) {
        llama_batch_free(*batch_storage_);
      }
      batch_storage_ = std::make_unique<llama_batch>(llama_batch_init(static_cast<int32_t>(capacity), 0, 1));
      batch_capacity_ = capacity;
    }
    batch_storage_->n_tokens = 0;
  }

  void add_to_batch(Token token, int32_t position, llama_seq_id sequence, bool wants_logits) {
    llama_batch& batch = *batch_storage_;
    const auto i = static_cast<std::size_t>(batch.n_tokens++);
    batch.token[i] = token;
    batch.pos[i] = position;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = sequence;
    batch.logits[i] = wants_logits ? 1 : 0;
  }

  void decode_batch() {
    const int32_t status = llama_decode(ctx_.get(), *batch_storage_);
    if (status != 0) {
      throw Error(ErrorCode::kEngine,
                  with_engine_reason(fmt::format("{}: llama_decode failed with status {} on a batch of {} tokens",
                                                 model_name_, status, batch_storage_->n_tokens)));
    }
  }

  TokenScore score_token(const float* logits, Token token) const {
    float max_logit = logits[0];
    int32_t argmax = 0;
    for (int32_t i = 1; i < n_vocab_; ++i) {
      if (logits[i] > max_logit) {
        max_logit = logits[i];
        argmax = i;
      }
    }
    double sum = 0;
    for (int32_t i = 0; i < n_vocab_; ++i) {
      sum += std::exp(logits[i] - max_logit);
    }
    return {static_cast<float>(logits[token] - max_logit - std::log(sum)), argmax == token};
  }

  void pick_next(std::size_t s, int32_t batch_index, std::vector<std::vector<Token>>& generated,
                 std::vector<bool>& active, int max_new_tokens, const StopFn& should_stop, const llama_vocab* vocab) {
    const float* logits = llama_get_logits_ith(ctx_.get(), batch_index);
    const auto token = static_cast<Token>(std::max_element(logits, logits + n_vocab_) - logits);
    generated[s].push_back(token);
    // The callback sees every token (callers time them), even the one that ends the answer.
    const bool asked_to_stop = should_stop && should_stop(s, generated[s]);
    if (asked_to_stop || llama_vocab_is_eog(vocab, token) || static_cast<int>(generated[s].size()) >= max_new_tokens) {
      active[s] = false;
    }
  }

  CpuThreadpool threadpool_;
  llama_context_ptr ctx_;
  std::string model_name_;
  bool unified_kv_ = false;
  unsigned n_threads_ = 1;
  uint32_t n_ctx_ = 0;
  uint32_t n_batch_ = 0;
  uint32_t n_past_ = 0;
  int32_t n_vocab_ = 0;
  std::vector<llama_token> batch_;
  std::unique_ptr<llama_batch> batch_storage_;
  std::size_t batch_capacity_ = 0;
};

}  // namespace

std::unique_ptr<Context> make_context(llama_context_ptr ctx, int n_threads, std::string model_name, bool unified_kv) {
  return std::make_unique<LlamaContext>(std::move(ctx), n_threads, std::move(model_name), unified_kv);
}

}  // namespace uaqf::backend::llama
