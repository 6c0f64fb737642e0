#include "backend/llama/llama_engine.h"

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

#if UAQF_LLAMA_HAVE_COMMON
#include "imatrix-loader.h"
#endif

namespace uaqf::backend {
namespace {

namespace fs = std::filesystem;

bool has_gpu_device() {
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    const auto type = ggml_backend_dev_type(ggml_backend_dev_get(i));
    if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) {
      return true;
    }
  }
  return false;
}

// Every file type llama.cpp's quantizer writes (names as llama-quantize spells them).
const std::vector<QuantType>& all_quant_types() {
  static const std::vector<QuantType> types = {
      {"F32", LLAMA_FTYPE_ALL_F32, "32-bit float"},
      {"F16", LLAMA_FTYPE_MOSTLY_F16, "16-bit float"},
      {"BF16", LLAMA_FTYPE_MOSTLY_BF16, "bfloat16"},
      {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0, "8.5 bpw round-to-nearest"},
      {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K, "6.56 bpw k-quant"},
      {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M, "k-quant mix, 5-bit"},
      {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S, "k-quant, 5-bit"},
      {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1, "5-bit round-to-nearest with offset"},
      {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0, "5-bit round-to-nearest"},
      {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M, "k-quant mix, 4-bit"},
      {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S, "k-quant, 4-bit"},
      {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1, "4-bit round-to-nearest with offset"},
      {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0, "4-bit round-to-nearest"},
      {"IQ4_NL", LLAMA_FTYPE_MOSTLY_IQ4_NL, "4.5 bpw non-linear"},
      {"IQ4_XS", LLAMA_FTYPE_MOSTLY_IQ4_XS, "4.25 bpw non-linear"},
      {"MXFP4_MOE", LLAMA_FTYPE_MOSTLY_MXFP4_MOE, "MXFP4 for MoE experts"},
      {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L, "k-quant mix, 3-bit, large"},
      {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M, "k-quant mix, 3-bit"},
      {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S, "k-quant, 3-bit"},
      {"IQ3_M", LLAMA_FTYPE_MOSTLY_IQ3_M, "3.66 bpw mix"},
      {"IQ3_S", LLAMA_FTYPE_MOSTLY_IQ3_S, "3.44 bpw"},
      {"IQ3_XS", LLAMA_FTYPE_MOSTLY_IQ3_XS, "3.3 bpw"},
      {"IQ3_XXS", LLAMA_FTYPE_MOSTLY_IQ3_XXS, "3.06 bpw"},
      {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K, "k-quant, 2-bit"},
      {"Q2_K_S", LLAMA_FTYPE_MOSTLY_Q2_K_S, "k-quant, 2-bit, small"},
      {"IQ2_M", LLAMA_FTYPE_MOSTLY_IQ2_M, "2.7 bpw"},
      {"IQ2_S", LLAMA_FTYPE_MOSTLY_IQ2_S, "2.5 bpw"},
      {"IQ2_XS", LLAMA_FTYPE_MOSTLY_IQ2_XS, "2.31 bpw"},
      {"IQ2_XXS", LLAMA_FTYPE_MOSTLY_IQ2_XXS, "2.06 bpw"},
      {"Q2_0", LLAMA_FTYPE_MOSTLY_Q2_0, "2.25 bpw, group 64"},
      {"TQ2_0", LLAMA_FTYPE_MOSTLY_TQ2_0, "2.06 bpw ternary"},
      {"IQ1_M", LLAMA_FTYPE_MOSTLY_IQ1_M, "1.75 bpw"},
      {"TQ1_0", LLAMA_FTYPE_MOSTLY_TQ1_0, "1.69 bpw ternary"},
      {"IQ1_S", LLAMA_FTYPE_MOSTLY_IQ1_S, "1.56 bpw"},
      {"Q1_0", LLAMA_FTYPE_MOSTLY_Q1_0, "1.125 bpw"},
  };
  return types;
}

std::string with_engine_reason(const std::string& message) {
  const std::string reason = llama_log::last_errors();
  return reason.empty() ? message : fmt::format("{} ({})", message, reason);
}

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

// A GGUF file's header and tensor descriptions, without the tensor data.
struct GgufHeader {
  std::unique_ptr<gguf_context, GgufDeleter> gguf;
  std::unique_ptr<ggml_context, GgmlDeleter> tensors;  // ggml_get_tensor() by name: type and shape
};

GgufHeader read_gguf_header(const fs::path& path) {
  ggml_context* tensors = nullptr;
  llama_log::clear_errors();
  GgufHeader header{.gguf = std::unique_ptr<gguf_context, GgufDeleter>(
                        gguf_init_from_file(path.c_str(), gguf_init_params{.no_alloc = true, .ctx = &tensors})),
                    .tensors = std::unique_ptr<ggml_context, GgmlDeleter>(tensors)};
  if (!header.gguf) {
    throw Error(ErrorCode::kInvalidArgument,
                with_engine_reason(
                    fmt::format("{} is a damaged or truncated GGUF file: its header cannot be read", path.string())));
  }
  return header;
}

int64_t gguf_int(const gguf_context* gguf, const std::string& key) {
  const int64_t id = gguf_find_key(gguf, key.c_str());
  if (id < 0) {
    return 0;
  }
  switch (gguf_get_kv_type(gguf, id)) {
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(gguf, id);
    case GGUF_TYPE_INT32:
      return gguf_get_val_i32(gguf, id);
    case GGUF_TYPE_UINT64:
      return static_cast<int64_t>(gguf_get_val_u64(gguf, id));
    case GGUF_TYPE_INT64:
      return gguf_get_val_i64(gguf, id);
    default:
      return 0;
  }
}

std::string gguf_string(const gguf_context* gguf, const char* key) {
  const int64_t id = gguf_find_key(gguf, key);
  if (id < 0 || gguf_get_kv_type(gguf, id) != GGUF_TYPE_STRING) {
    return {};
  }
  return gguf_get_val_str(gguf, id);
}

ggml_type parse_kv_cache_type(const std::string& name) {
  for (int i = 0; i < GGML_TYPE_COUNT; ++i) {
    const auto type = static_cast<ggml_type>(i);
    const char* type_name = ggml_type_name(type);
    if (type_name != nullptr && name == type_name) {
      return type;
    }
  }
  throw Error(
      ErrorCode::kInvalidArgument,
      fmt::format("unknown KV-cache type '{}' (use f16, bf16, f32, q8_0, q4_0, q4_1, q5_0, q5_1 or iq4_nl)", name));
}

llama_flash_attn_type to_llama(FlashAttention mode) {
  switch (mode) {
    case FlashAttention::kOn:
      return LLAMA_FLASH_ATTN_TYPE_ENABLED;
    case FlashAttention::kOff:
      return LLAMA_FLASH_ATTN_TYPE_DISABLED;
    case FlashAttention::kAuto:
      break;
  }
  return LLAMA_FLASH_ATTN_TYPE_AUTO;
}

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
    // Group g's suffixes are sequences first[g] ... first[g] + n - 1; its prefix goes into the
    // first of them and is shared with the others once evaluated.
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
    // scores[g][s] = the group's scored prefix tokens, then suffix s's tokens.
    std::vector<std::vector<std::vector<TokenScore>>> scores(groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) {
      scores[g].resize(groups[g].suffixes.size());
      for (std::size_t s = 0; s < groups[g].suffixes.size(); ++s) {
        scores[g][s].resize(groups[g].scored_prefix_tokens + groups[g].suffixes[s].size());
      }
    }
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

uint64_t kv_bytes_per_token_of(const llama_model* model, const std::string& kv_cache_type) {
  const ggml_type kv_type = parse_kv_cache_type(kv_cache_type);
  const auto head_dim = static_cast<uint64_t>(llama_model_n_embd(model) / std::max(1, llama_model_n_head(model)));
  const uint64_t elements = 2ULL * static_cast<uint64_t>(llama_model_n_layer(model)) *
                            static_cast<uint64_t>(llama_model_n_head_kv(model)) * head_dim;
  return elements * ggml_type_size(kv_type) / static_cast<uint64_t>(ggml_blck_size(kv_type));
}

class LlamaModel final : public Model {
 public:
  LlamaModel(llama_model_ptr model, ModelInfo info, LoadOptions load_options)
      : model_(std::move(model)), info_(std::move(info)), load_options_(load_options) {}

  const ModelInfo& info() const override { return info_; }
  int32_t n_vocab() const override { return llama_vocab_n_tokens(vocab()); }

  std::optional<Token> bos() const override {
    if (!llama_vocab_get_add_bos(vocab())) {
      return std::nullopt;
    }
    return llama_vocab_bos(vocab());
  }

  std::vector<Token> tokenize(const std::string& text, bool add_special) const override {
    if (text.size() > static_cast<std::size_t>(std::numeric_limits<int32_t>::max() / 2)) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("text of {} bytes is too large to tokenize", text.size()));
    }
    const auto text_len = static_cast<int32_t>(text.size());
    std::vector<Token> tokens(text.size() + 2);
    int32_t n = llama_tokenize(vocab(), text.data(), text_len, tokens.data(), static_cast<int32_t>(tokens.size()),
                               add_special, false);
    if (n < 0) {
      tokens.resize(static_cast<std::size_t>(-n));
      n = llama_tokenize(vocab(), text.data(), text_len, tokens.data(), static_cast<int32_t>(tokens.size()),
                         add_special, false);
    }
    if (n < 0) {
      throw Error(ErrorCode::kEngine, "tokenization failed");
    }
    tokens.resize(static_cast<std::size_t>(n));
    return tokens;
  }

  std::string detokenize(std::span<const Token> tokens) const override {
    std::string text(tokens.size() * 8 + 16, '\0');
    int32_t n = llama_detokenize(vocab(), tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                                 static_cast<int32_t>(text.size()), false, false);
    if (n < 0) {
      text.resize(static_cast<std::size_t>(-n));
      n = llama_detokenize(vocab(), tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                           static_cast<int32_t>(text.size()), false, false);
    }
    text.resize(static_cast<std::size_t>(std::max(0, n)));
    return text;
  }

  std::optional<std::string> apply_chat_template(const std::string& user_message,
                                                 const std::optional<std::string>& override_template) const override {
    const char* tmpl =
        override_template ? override_template->c_str() : llama_model_chat_template(model_.get(), nullptr);
    if (tmpl == nullptr) {
      return std::nullopt;
    }
    const llama_chat_message message{"user", user_message.c_str()};
    std::string out(user_message.size() * 2 + 256, '\0');
    int32_t n = llama_chat_apply_template(tmpl, &message, 1, true, out.data(), static_cast<int32_t>(out.size()));
    if (n > static_cast<int32_t>(out.size())) {
      out.resize(static_cast<std::size_t>(n));
      n = llama_chat_apply_template(tmpl, &message, 1, true, out.data(), static_cast<int32_t>(out.size()));
    }
    if (n < 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: chat template {} is not supported by this llama.cpp", info_.path.string(),
                              override_template ? "'" + *override_template + "'" : "stored in the model"));
    }
    out.resize(static_cast<std::size_t>(n));
    return out;
  }

  std::unique_ptr<Context> open_context_with(const ContextSpec& spec, const ContextOptions& options) override {
    const uint32_t n_ctx = spec.n_ctx;
    const FlashAttention flash_attention = spec.flash_attention.value_or(options.flash_attention);
    const int n_threads = options.n_threads > 0 ? options.n_threads : physical_core_count();
    const ggml_type kv_type = parse_kv_cache_type(options.kv_cache_type);
    llama_context_params params = llama_context_default_params();
    params.n_ctx = n_ctx;
    params.n_seq_max = std::max(1U, spec.n_seq);
    params.kv_unified = spec.unified_kv;
    params.n_batch = static_cast<uint32_t>(options.n_batch);
    params.n_ubatch = static_cast<uint32_t>(options.n_ubatch);
    params.type_k = kv_type;
    params.type_v = kv_type;
    params.flash_attn_type = to_llama(flash_attention);
    params.n_threads = n_threads;
    params.n_threads_batch = n_threads;
    params.swa_full = false;
    llama_log::clear_errors();
    llama_context_ptr ctx(llama_init_from_model(model_.get(), params));
    if (!ctx) {
      throw Error(ErrorCode::kEngine,
                  with_engine_reason(fmt::format(
                      "{}: cannot create a context of {} tokens (KV cache {}, flash attention {})",
                      info_.path.filename().string(), n_ctx, options.kv_cache_type, to_string(flash_attention))));
    }
    return std::make_unique<LlamaContext>(std::move(ctx), n_threads, info_.path.filename().string(), spec.unified_kv);
  }

  const ContextOptions& context_options() const override { return context_options_; }
  const LoadOptions& load_options() const override { return load_options_; }

  uint64_t kv_bytes_per_token(const ContextOptions& options) const override {
    return kv_bytes_per_token_of(model_.get(), options.kv_cache_type);
  }

  bool batch_invariant_kernels() const override {
    // tinyBLAS (LLAMAFILE) takes over CPU matrix products from two rows on, with another summation
    // order than the one-row path; repacked weights have one-row and many-row kernels of their own;
    // GPU kernels are chosen by batch size.
    const std::string_view system_info = llama_print_system_info();
    const bool on_gpu = load_options_.n_gpu_layers != 0 && has_gpu_device();
    return !on_gpu && !load_options_.weight_repack && system_info.find("LLAMAFILE = 1") == std::string_view::npos;
  }

 private:
  const llama_vocab* vocab() const { return llama_model_get_vocab(model_.get()); }

  llama_model_ptr model_;
  ModelInfo info_;
  LoadOptions load_options_;
  ContextOptions context_options_;  // the defaults: a study binds each variant's (with_context_options)
};

class LlamaEngine final : public Engine {
 public:
  LlamaEngine() {
    llama_log::install();
    llama_backend_init();
  }
  ~LlamaEngine() override { llama_backend_free(); }
  LlamaEngine(const LlamaEngine&) = delete;
  LlamaEngine& operator=(const LlamaEngine&) = delete;

  EngineInfo describe() const override {
    EngineInfo info;
    info.name = "llama.cpp";
    info.commit = UAQF_LLAMA_COMMIT;
    info.system_info = llama_print_system_info();
    info.default_threads = physical_core_count();
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
      ggml_backend_dev_t dev = ggml_backend_dev_get(i);
      DeviceInfo device;
      device.name = ggml_backend_dev_name(dev);
      device.description = ggml_backend_dev_description(dev);
      switch (ggml_backend_dev_type(dev)) {
        case GGML_BACKEND_DEVICE_TYPE_CPU:
          device.type = "cpu";
          break;
        case GGML_BACKEND_DEVICE_TYPE_GPU:
          device.type = "gpu";
          break;
        case GGML_BACKEND_DEVICE_TYPE_IGPU:
          device.type = "igpu";
          break;
        default:
          device.type = "accel";
          break;
      }
      size_t free_bytes = 0;
      size_t total_bytes = 0;
      ggml_backend_dev_memory(dev, &free_bytes, &total_bytes);
      device.memory_free_bytes = free_bytes;
      device.memory_total_bytes = total_bytes;
      info.devices.push_back(std::move(device));
    }
    return info;
  }

  Capabilities capabilities() const override {
    Capabilities capabilities{.supported = {Capability::kTokenDecode, Capability::kGenerate, Capability::kStreaming,
                                            Capability::kFullLogits, Capability::kPromptLogprobs,
                                            Capability::kTopLogprobs, Capability::kQuantize, Capability::kSynthesize}};
    if (has_gpu_device()) {
      capabilities.supported.push_back(Capability::kDeviceMemory);
    }
    return capabilities;
  }

  ModelInfo inspect(const fs::path& path) override {
    require_readable_file(path, "model");
    const uint64_t file_size = file_size_bytes(path);
    {
      std::array<char, 4> magic{};
      std::ifstream in(path, std::ios::binary);
      in.read(magic.data(), magic.size());
      if (in.gcount() < 4 || std::memcmp(magic.data(), "GGUF", 4) != 0) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{} is not a GGUF model file (no GGUF signature at its start)", path.string()));
      }
    }
    const auto [gguf, meta] = read_gguf_header(path);
    ModelInfo info;
    info.path = path;
    info.file_size_bytes = file_size;
    uint64_t data_end = 0;
    const bool tied_output = gguf_find_tensor(gguf.get(), "output.weight") < 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(gguf.get()); ++i) {
      const uint64_t size = gguf_get_tensor_size(gguf.get(), i);
      data_end = std::max<uint64_t>(data_end, gguf_get_tensor_offset(gguf.get(), i) + size);
      info.weights_size_bytes += size;
      if (tied_output || std::string_view(gguf_get_tensor_name(gguf.get(), i)) != "token_embd.weight") {
        info.decode_weight_bytes += size;
      }
      if (const ggml_tensor* tensor = ggml_get_tensor(meta.get(), gguf_get_tensor_name(gguf.get(), i))) {
        info.n_params += static_cast<uint64_t>(ggml_nelements(tensor));
      }
    }
    const uint64_t needed = gguf_get_data_offset(gguf.get()) + data_end;
    if (needed > file_size) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} is truncated: its tensors need {} bytes but the file has {}", path.string(), needed,
                              file_size));
    }
    if (gguf_get_n_tensors(gguf.get()) == 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} holds no tensors (a vocabulary-only GGUF?), so it cannot be run", path.string()));
    }
    info.architecture = gguf_string(gguf.get(), "general.architecture");
    const int64_t file_type = gguf_int(gguf.get(), "general.file_type");
    info.type_name = llama_ftype_name(static_cast<llama_ftype>(file_type));
    const std::string& arch = info.architecture;
    info.n_ctx_train = static_cast<int32_t>(gguf_int(gguf.get(), arch + ".context_length"));
    info.n_layer = static_cast<int32_t>(gguf_int(gguf.get(), arch + ".block_count"));
    info.n_embd = static_cast<int32_t>(gguf_int(gguf.get(), arch + ".embedding_length"));
    const int64_t tokens_id = gguf_find_key(gguf.get(), "tokenizer.ggml.tokens");
    if (tokens_id >= 0) {
      info.n_vocab = static_cast<int32_t>(gguf_get_arr_n(gguf.get(), tokens_id));
      std::string all_tokens;
      for (int32_t t = 0; t < info.n_vocab; ++t) {
        all_tokens += gguf_get_arr_str(gguf.get(), tokens_id, static_cast<size_t>(t));
        all_tokens += '\0';
      }
      all_tokens += gguf_string(gguf.get(), "tokenizer.ggml.model");
      info.vocab_fingerprint = sha256_hex(all_tokens).substr(0, 16);
    }
    if (info.n_params > 0) {
      info.bits_per_weight = static_cast<double>(info.weights_size_bytes) * 8.0 / static_cast<double>(info.n_params);
    }
    info.description = fmt::format("{} {}", arch, info.type_name);
    const int64_t synthetic_id = gguf_find_key(gguf.get(), "uaqf.synthetic");
    info.synthetic = synthetic_id >= 0 && gguf_get_kv_type(gguf.get(), synthetic_id) == GGUF_TYPE_BOOL &&
                     gguf_get_val_bool(gguf.get(), synthetic_id);
    return info;
  }

  void check_context_options(const ContextOptions& options) const override {
    parse_kv_cache_type(options.kv_cache_type);
  }

  std::unique_ptr<Model> load_weights(const fs::path& path, const LoadOptions& options) override {
    ModelInfo info = inspect(path);
    llama_model_params params = llama_model_default_params();
    params.n_gpu_layers = options.n_gpu_layers;
    params.use_extra_bufts = options.weight_repack;
    llama_log::clear_errors();
    llama_model_ptr model(llama_model_load_from_file(path.c_str(), params));
    if (!model) {
      throw Error(ErrorCode::kEngine, with_engine_reason(fmt::format("failed to load model {}", path.string())));
    }
    info.n_params = llama_model_n_params(model.get());
    info.weights_size_bytes = llama_model_size(model.get());
    info.bits_per_weight =
        info.n_params > 0 ? static_cast<double>(info.weights_size_bytes) * 8.0 / static_cast<double>(info.n_params) : 0;
    std::array<char, 256> desc{};
    llama_model_desc(model.get(), desc.data(), desc.size());
    info.description = desc.data();
    info.n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model.get()));
    info.kv_bytes_per_token = kv_bytes_per_token_of(model.get(), ContextOptions{}.kv_cache_type);
    return std::make_unique<LlamaModel>(std::move(model), std::move(info), options);
  }

  std::unique_ptr<Vocabulary> load_vocabulary(const fs::path& path) override {
    ModelInfo info = inspect(path);
    llama_model_params params = llama_model_default_params();
    params.vocab_only = true;
    llama_log::clear_errors();
    llama_model_ptr model(llama_model_load_from_file(path.c_str(), params));
    if (!model) {
      throw Error(ErrorCode::kEngine,
                  with_engine_reason(fmt::format("failed to read the vocabulary of {}", path.string())));
    }
    return std::make_unique<LlamaModel>(std::move(model), std::move(info), LoadOptions{});
  }

  void synthesize(const SynthRequest& request) override {
    const ModelShape& shape = request.shape;
    if (shape.n_embd <= 0 || shape.n_layer <= 0 || shape.n_head <= 0 || shape.n_head_kv <= 0 || shape.n_ff <= 0 ||
        shape.n_embd % shape.n_head != 0 || shape.n_head % shape.n_head_kv != 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("shape {}: n_embd, n_layer, n_head, n_head_kv and n_ff must be positive, n_embd a "
                              "multiple of n_head and n_head a multiple of n_head_kv",
                              shape.name));
    }
    require_readable_file(request.vocabulary, "vocabulary");
    const auto vocab = std::move(read_gguf_header(request.vocabulary).gguf);
    const int64_t tokens_id = gguf_find_key(vocab.get(), "tokenizer.ggml.tokens");
    const auto n_vocab = tokens_id < 0 ? 0 : static_cast<int32_t>(gguf_get_arr_n(vocab.get(), tokens_id));
    if (n_vocab != shape.n_vocab) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("shape {} needs a {}-token vocabulary, but {} has {} (pass --vocab)", shape.name,
                              shape.n_vocab, request.vocabulary.string(), n_vocab));
    }
    const int64_t head_dim = shape.n_embd / shape.n_head;
    const int64_t kv_dim = head_dim * shape.n_head_kv;
    struct TensorSpec {
      std::string name;
      int64_t ne0, ne1;  // ne1 = 1: a vector
    };
    std::vector<TensorSpec> specs{{"token_embd.weight", shape.n_embd, shape.n_vocab},
                                  {"output_norm.weight", shape.n_embd, 1},
                                  {"output.weight", shape.n_embd, shape.n_vocab}};
    for (int32_t l = 0; l < shape.n_layer; ++l) {
      const std::string b = fmt::format("blk.{}.", l);
      specs.insert(specs.end(), {{b + "attn_norm.weight", shape.n_embd, 1},
                                 {b + "attn_q.weight", shape.n_embd, shape.n_embd},
                                 {b + "attn_k.weight", shape.n_embd, kv_dim},
                                 {b + "attn_v.weight", shape.n_embd, kv_dim},
                                 {b + "attn_output.weight", shape.n_embd, shape.n_embd},
                                 {b + "ffn_norm.weight", shape.n_embd, 1},
                                 {b + "ffn_gate.weight", shape.n_embd, shape.n_ff},
                                 {b + "ffn_up.weight", shape.n_embd, shape.n_ff},
                                 {b + "ffn_down.weight", shape.n_ff, shape.n_embd}});
    }
    // Only headers in memory: the data is streamed into the file, tensor by tensor.
    const ggml_init_params init{
        .mem_size = (specs.size() + 1) * ggml_tensor_overhead(), .mem_buffer = nullptr, .no_alloc = true};
    std::unique_ptr<ggml_context, GgmlDeleter> data(ggml_init(init));
    std::vector<ggml_tensor*> tensors;
    for (const auto& t : specs) {
      ggml_tensor* tensor = t.ne1 == 1 ? ggml_new_tensor_1d(data.get(), GGML_TYPE_F32, t.ne0)
                                       : ggml_new_tensor_2d(data.get(), GGML_TYPE_F16, t.ne0, t.ne1);
      ggml_set_name(tensor, t.name.c_str());
      tensors.push_back(tensor);
    }
    std::unique_ptr<gguf_context, GgufDeleter> out(gguf_init_empty());
    gguf_set_kv(out.get(), vocab.get());
    gguf_set_val_str(out.get(), "general.architecture", "llama");
    gguf_set_val_str(out.get(), "general.name", fmt::format("uaqf synthetic {}", shape.name).c_str());
    gguf_set_val_u32(out.get(), "general.file_type", LLAMA_FTYPE_MOSTLY_F16);
    gguf_set_val_bool(out.get(), "uaqf.synthetic", true);
    gguf_set_val_u32(out.get(), "llama.context_length", static_cast<uint32_t>(shape.n_ctx));
    gguf_set_val_u32(out.get(), "llama.embedding_length", static_cast<uint32_t>(shape.n_embd));
    gguf_set_val_u32(out.get(), "llama.block_count", static_cast<uint32_t>(shape.n_layer));
    gguf_set_val_u32(out.get(), "llama.feed_forward_length", static_cast<uint32_t>(shape.n_ff));
    gguf_set_val_u32(out.get(), "llama.attention.head_count", static_cast<uint32_t>(shape.n_head));
    gguf_set_val_u32(out.get(), "llama.attention.head_count_kv", static_cast<uint32_t>(shape.n_head_kv));
    gguf_set_val_u32(out.get(), "llama.rope.dimension_count", static_cast<uint32_t>(head_dim));
    gguf_set_val_f32(out.get(), "llama.attention.layer_norm_rms_epsilon", shape.rms_norm_eps);
    gguf_set_val_f32(out.get(), "llama.rope.freq_base", shape.rope_freq_base);
    gguf_set_val_u32(out.get(), "llama.vocab_size", static_cast<uint32_t>(shape.n_vocab));
    for (ggml_tensor* tensor : tensors) {
      gguf_add_tensor(out.get(), tensor);
    }
    std::vector<char> meta(gguf_get_meta_size(out.get()));
    gguf_get_meta_data(out.get(), meta.data());
    RawFileWriter output(request.output);
    output.write(meta);
    const std::size_t alignment = gguf_get_alignment(out.get());
    // Weights ~ uniform with the standard deviation 0.02 of common initializations; norms 1. A
    // xorshift generator per tensor, seeded from the request, keeps this fast and reproducible.
    // A block of 64 distinct random rows is repeated to the tensor's size: the values carry no
    // meaning, and the kernel copies views of one buffer at the speed of writing the file.
    std::vector<ggml_fp16_t> block;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const ggml_tensor* tensor = tensors[i];
      const int64_t n = ggml_nelements(tensor);
      const std::size_t n_bytes = ggml_nbytes(tensor);
      if (tensor->type == GGML_TYPE_F32) {
        static constexpr float kOne = 1.0F;
        output.write_repeated(std::span<const char>(reinterpret_cast<const char*>(&kOne), sizeof(kOne)), n_bytes);
      } else {
        uint64_t state = request.seed * 0x9E3779B97F4A7C15ULL + i + 1;
        constexpr float kHalfWidth = 0.0346F;  // sqrt(3) * 0.02
        block.resize(static_cast<std::size_t>(std::min<int64_t>(n, tensor->ne[0] * 64)));
        for (auto& value : block) {
          state ^= state << 13;
          state ^= state >> 7;
          state ^= state << 17;
          const float unit = static_cast<float>(state >> 40) / static_cast<float>(1ULL << 24);  // [0, 1)
          value = ggml_fp32_to_fp16((unit * 2.0F - 1.0F) * kHalfWidth);
        }
        output.write_repeated(
            std::span<const char>(reinterpret_cast<const char*>(block.data()), block.size() * sizeof(ggml_fp16_t)),
            n_bytes);
      }
      output.pad_to(alignment);
    }
    output.close();
  }

  std::optional<double> memory_bandwidth_bytes_per_s(const RuntimeOptions& runtime) override {
    ggml_backend_dev_t device = nullptr;
    if (runtime.n_gpu_layers != 0) {
      for (size_t i = 0; i < ggml_backend_dev_count() && device == nullptr; ++i) {
        if (ggml_backend_dev_type(ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_GPU) {
          device = ggml_backend_dev_get(i);
        }
      }
    }
    const bool on_gpu = device != nullptr;
    if (!on_gpu) {
      device = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    }
    std::unique_ptr<ggml_backend, decltype(&ggml_backend_free)> backend(
        device ? ggml_backend_dev_init(device, nullptr) : nullptr, &ggml_backend_free);
    if (!backend) {
      return std::nullopt;
    }
    if (!on_gpu) {
      ggml_backend_cpu_set_n_threads(backend.get(), runtime.n_threads > 0 ? runtime.n_threads : physical_core_count());
    }
    // Stream a matrix far larger than any cache through a matrix-vector product, as decoding
    // streams the weights: 1 GiB of F32 on a GPU, 256 MiB on the host. (A buffer copy, tried first,
    // reached only 57 % of an H200's peak while F16 decoding read faster than that.)
    const int64_t row = 1 << 16;
    const int64_t rows = on_gpu ? 4096 : 1024;
    const ggml_init_params params{
        .mem_size = 4 * ggml_tensor_overhead() + ggml_graph_overhead(), .mem_buffer = nullptr, .no_alloc = true};
    std::unique_ptr<ggml_context, GgmlDeleter> ctx(ggml_init(params));
    ggml_tensor* matrix = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, row, rows);
    ggml_tensor* vector = ggml_new_tensor_1d(ctx.get(), GGML_TYPE_F32, row);
    ggml_tensor* product = ggml_mul_mat(ctx.get(), matrix, vector);
    std::unique_ptr<ggml_backend_buffer, decltype(&ggml_backend_buffer_free)> buffer(
        ggml_backend_alloc_ctx_tensors(ctx.get(), backend.get()), &ggml_backend_buffer_free);
    if (!buffer) {
      return std::nullopt;  // not enough free memory for the probe
    }
    ggml_backend_buffer_clear(buffer.get(), 0);
    ggml_cgraph* graph = ggml_new_graph(ctx.get());
    ggml_build_forward_expand(graph, product);
    const double bytes = static_cast<double>(ggml_nbytes(matrix));
    double best = 0;
    for (int run = 0; run < 6; ++run) {  // the first run warms up
      const auto start = std::chrono::steady_clock::now();
      if (ggml_backend_graph_compute(backend.get(), graph) != GGML_STATUS_SUCCESS) {
        return std::nullopt;
      }
      ggml_backend_synchronize(backend.get());
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (run > 0 && seconds > 0) {
        best = std::max(best, bytes / seconds);
      }
    }
    return best > 0 ? std::optional<double>(best) : std::nullopt;
  }

  std::optional<uint64_t> device_memory_used_bytes() const override {
    std::optional<uint64_t> used;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
      ggml_backend_dev_t dev = ggml_backend_dev_get(i);
      const auto type = ggml_backend_dev_type(dev);
      if (type != GGML_BACKEND_DEVICE_TYPE_GPU && type != GGML_BACKEND_DEVICE_TYPE_IGPU) {
        continue;
      }
      size_t free_bytes = 0;
      size_t total_bytes = 0;
      ggml_backend_dev_memory(dev, &free_bytes, &total_bytes);
      used = used.value_or(0) + (total_bytes - free_bytes);
    }
    return used;
  }

  std::vector<QuantType> quant_types() const override { return all_quant_types(); }

  bool quantize_needs_imatrix(const fs::path& input, const std::string& type) override {
    const auto quant = find_quant_type(all_quant_types(), type);
    if (!quant) {
      return false;
    }
    // A dry run computes the plan without quantizing and reports whether an imatrix is needed.
    llama_model_quantize_params params = llama_model_quantize_default_params();
    params.ftype = static_cast<llama_ftype>(quant->id);
    params.dry_run = true;
    bool needs = false;
    llama_log::clear_errors();
    llama_log::set_line_hook([&needs](const std::string& line) {
      if (line.find("will require an imatrix") != std::string::npos) {
        needs = true;
      }
    });
    const uint32_t status = llama_model_quantize(input.c_str(), "/dev/null", &params);
    llama_log::set_line_hook(nullptr);
    if (status != 0) {
      throw Error(ErrorCode::kEngine,
                  with_engine_reason(fmt::format("cannot plan {} quantization of {}", quant->name, input.string())));
    }
    return needs;
  }

  QuantizeOutcome quantize(const QuantizeRequest& request, const ProgressFn& progress) override {
    const auto quant = find_quant_type(all_quant_types(), request.type);
    if (!quant) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown quantization type '{}'", request.type));
    }
    if (request.tile_rows) {
      return quantize_tiled(request, static_cast<llama_ftype>(quant->id), progress);
    }
    llama_model_quantize_params params = llama_model_quantize_default_params();
    params.nthread = request.n_threads;
    params.ftype = static_cast<llama_ftype>(quant->id);

    std::map<std::string, std::vector<float>> imatrix_values;
    std::vector<llama_model_imatrix_data> imatrix_entries;
    if (request.imatrix) {
      load_imatrix(*request.imatrix, imatrix_values);
      for (const auto& [name, values] : imatrix_values) {
        imatrix_entries.push_back({name.c_str(), values.data(), values.size()});
      }
      imatrix_entries.push_back({nullptr, nullptr, 0});
      params.imatrix = imatrix_entries.data();
    }

    QuantizeOutcome outcome;
    static const std::regex tensor_line(R"(^\[\s*(\d+)/\s*(\d+)\])");
    static const std::regex fallback_line(R"((\d+) of (\d+) tensor\(s\) required fallback)");
    llama_log::clear_errors();
    llama_log::set_line_hook([&](const std::string& line) {
      std::smatch match;
      if (progress && std::regex_search(line, match, tensor_line)) {
        progress(std::stol(match[1]), std::stol(match[2]));
      } else if (std::regex_search(line, match, fallback_line)) {
        outcome.n_fallback_tensors = std::stoi(match[1]);
      }
    });
    const uint32_t status = llama_model_quantize(request.input.c_str(), request.output.c_str(), &params);
    llama_log::set_line_hook(nullptr);
    if (status != 0) {
      throw Error(ErrorCode::kEngine,
                  with_engine_reason(fmt::format("quantizing {} to {} failed", request.input.string(), quant->name)));
    }
    outcome.output_size_bytes = file_size_bytes(request.output);
    return outcome;
  }

 private:
  // The type llama.cpp's quantizer gives each tensor for `ftype`, in its output order, from a dry run.
  static std::vector<std::pair<std::string, ggml_type>> quantization_plan(const fs::path& input, llama_ftype ftype) {
    llama_model_quantize_params params = llama_model_quantize_default_params();
    params.ftype = ftype;
    params.dry_run = true;
    // "[  5/ 75] blk.0.attn_q.weight - [ 4096,  4096,  1,  1], type =    f16, size = 32.000 MiB -> 9.000 MiB (q4_K)"
    static const std::regex line_pattern(
        R"(^\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[[^\]]*\], type =\s*(\w+),.*?(?:\((\w+)\))?\s*$)");
    std::vector<std::pair<std::string, std::string>> lines;
    llama_log::clear_errors();
    llama_log::set_line_hook([&](const std::string& line) {
      std::smatch match;
      if (std::regex_search(line, match, line_pattern)) {
        lines.emplace_back(match[1].str(), match[3].matched ? match[3].str() : match[2].str());
      }
    });
    const uint32_t status = llama_model_quantize(input.c_str(), "/dev/null", &params);
    llama_log::set_line_hook(nullptr);
    if (status != 0) {
      throw Error(ErrorCode::kEngine,
                  with_engine_reason(fmt::format("cannot plan the quantization of {}", input.string())));
    }
    std::map<std::string, ggml_type> by_name;
    for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
      const char* name = ggml_type_name(static_cast<ggml_type>(t));
      if (name != nullptr && ggml_get_type_traits(static_cast<ggml_type>(t))->blck_size > 0) {
        by_name.emplace(name, static_cast<ggml_type>(t));
      }
    }
    std::vector<std::pair<std::string, ggml_type>> plan;
    for (const auto& [tensor, type] : lines) {
      const auto it = by_name.find(type);
      if (it == by_name.end()) {
        throw Error(ErrorCode::kEngine,
                    fmt::format("quantization plan of {}: unknown type '{}' for {}", input.string(), type, tensor));
      }
      plan.emplace_back(tensor, it->second);
    }
    return plan;
  }

  static QuantizeOutcome quantize_tiled(const QuantizeRequest& request, llama_ftype ftype, const ProgressFn& progress) {
    constexpr int64_t kDistinctRows = 32;
    const auto plan = quantization_plan(request.input, ftype);
    const auto input_header = read_gguf_header(request.input);
    const gguf_context* in = input_header.gguf.get();
    ggml_context* in_meta = input_header.tensors.get();
    if (plan.size() != static_cast<std::size_t>(gguf_get_n_tensors(in))) {
      throw Error(ErrorCode::kEngine, fmt::format("quantization plan of {} covers {} of its {} tensors",
                                                  request.input.string(), plan.size(), gguf_get_n_tensors(in)));
    }
    // Metadata as llama-quantize writes it.
    std::unique_ptr<gguf_context, GgufDeleter> out(gguf_init_empty());
    gguf_set_kv(out.get(), in);
    gguf_set_val_u32(out.get(), "general.quantization_version", GGML_QNT_VERSION);
    gguf_set_val_u32(out.get(), "general.file_type", static_cast<uint32_t>(ftype));
    const ggml_init_params header_params{
        .mem_size = (plan.size() + 1) * ggml_tensor_overhead(), .mem_buffer = nullptr, .no_alloc = true};
    std::unique_ptr<ggml_context, GgmlDeleter> headers(ggml_init(header_params));
    for (const auto& [name, type] : plan) {
      const ggml_tensor* source = ggml_get_tensor(in_meta, name.c_str());
      if (source == nullptr) {
        throw Error(ErrorCode::kEngine, fmt::format("{}: no tensor {}", request.input.string(), name));
      }
      ggml_tensor* tensor = ggml_new_tensor(headers.get(), type, ggml_n_dims(source), source->ne);
      ggml_set_name(tensor, name.c_str());
      gguf_add_tensor(out.get(), tensor);
    }
    // First the few distinct rows of every tensor, quantized for real (in parallel: K-quant
    // searches are the only computation here); then the file, each tensor its rows repeated.
    struct TiledTensor {
      std::vector<char> rows;  // `distinct` rows in the output type; empty when copied as it is
      int64_t n_rows = 0;
      std::size_t row_bytes = 0;
    };
    const std::size_t data_offset = gguf_get_data_offset(in);
    std::vector<TiledTensor> tiled(plan.size());
    std::vector<std::string> failures(plan.size());
    auto quantize_rows = [&](std::size_t i) {
      const auto& [name, type] = plan[i];
      const ggml_tensor* source = ggml_get_tensor(in_meta, name.c_str());
      if (source == nullptr) {
        failures[i] = fmt::format("{}: no tensor {}", request.input.string(), name);
        return;
      }
      const int64_t n_per_row = source->ne[0];
      tiled[i].n_rows = ggml_nrows(source);
      tiled[i].row_bytes = ggml_row_size(type, n_per_row);
      if (type == source->type) {
        return;
      }
      const int64_t distinct = std::min(kDistinctRows, tiled[i].n_rows);
      std::ifstream input(request.input, std::ios::binary);
      std::vector<char> raw(ggml_row_size(source->type, n_per_row) * static_cast<std::size_t>(distinct));
      const int64_t tensor_id = gguf_find_tensor(in, name.c_str());
      input.seekg(static_cast<std::streamoff>(data_offset + gguf_get_tensor_offset(in, tensor_id)));
      input.read(raw.data(), static_cast<std::streamsize>(raw.size()));
      if (!input) {
        failures[i] = fmt::format("cannot read tensor {} of {}", name, request.input.string());
        return;
      }
      std::vector<float> values(static_cast<std::size_t>(n_per_row * distinct));
      if (source->type == GGML_TYPE_F32) {
        std::memcpy(values.data(), raw.data(), values.size() * sizeof(float));
      } else {
        const auto* traits = ggml_get_type_traits(source->type);
        if (traits->to_float == nullptr) {
          failures[i] = fmt::format("{}: tensor {} of type {} cannot be read", request.input.string(), name,
                                    ggml_type_name(source->type));
          return;
        }
        traits->to_float(raw.data(), values.data(), n_per_row * distinct);
      }
      tiled[i].rows.resize(tiled[i].row_bytes * static_cast<std::size_t>(distinct));
      ggml_quantize_chunk(type, values.data(), tiled[i].rows.data(), 0, distinct, n_per_row, nullptr);
    };
    parallel_for(plan.size(),
                 request.n_threads > 0 ? static_cast<unsigned>(request.n_threads)
                                       : std::max(1U, std::thread::hardware_concurrency()),
                 quantize_rows);
    for (const auto& failure : failures) {
      if (!failure.empty()) {
        throw Error(ErrorCode::kIo, failure);
      }
    }
    std::ifstream input(request.input, std::ios::binary);
    RawFileWriter output(request.output);
    std::vector<char> meta(gguf_get_meta_size(out.get()));
    gguf_get_meta_data(out.get(), meta.data());
    output.write(meta);
    const std::size_t alignment = gguf_get_alignment(out.get());
    std::vector<char> chunk;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      const auto& name = plan[i].first;
      const ggml_tensor* source = ggml_get_tensor(in_meta, name.c_str());
      if (tiled[i].rows.empty()) {
        // Kept as it is (norms, or F16 into F16): copied.
        const int64_t tensor_id = gguf_find_tensor(in, name.c_str());
        input.seekg(static_cast<std::streamoff>(data_offset + gguf_get_tensor_offset(in, tensor_id)));
        std::size_t left = ggml_nbytes(source);
        chunk.resize(std::min<std::size_t>(left, 64U << 20));
        while (left > 0) {
          const std::size_t n = std::min(left, chunk.size());
          input.read(chunk.data(), static_cast<std::streamsize>(n));
          if (!input) {
            throw Error(ErrorCode::kIo, fmt::format("cannot read tensor {} of {}", name, request.input.string()));
          }
          output.write(std::span<const char>(chunk.data(), n));
          left -= n;
        }
      } else {
        // Whole periods of the distinct rows, then the rest of a period.
        output.write_repeated(tiled[i].rows, tiled[i].row_bytes * static_cast<std::size_t>(tiled[i].n_rows));
      }
      output.pad_to(alignment);
      if (progress) {
        progress(static_cast<long>(i + 1), static_cast<long>(plan.size()));
      }
    }
    output.close();
    return QuantizeOutcome{.output_size_bytes = file_size_bytes(request.output), .n_fallback_tensors = 0};
  }

  static void load_imatrix(const fs::path& path, std::map<std::string, std::vector<float>>& values) {
    require_readable_file(path, "imatrix");
#if UAQF_LLAMA_HAVE_COMMON
    common_imatrix loaded;
    llama_log::clear_errors();
    if (!common_imatrix_load(path.string(), loaded)) {
      throw Error(ErrorCode::kInvalidArgument,
                  with_engine_reason(fmt::format("{} is not a readable importance matrix", path.string())));
    }
    // Mean squared activations per column: GGUF imatrix files store sums and counts per expert,
    // legacy files store sums scaled by the call count (as llama-quantize reads them).
    for (const auto& [name, entry] : loaded.entries) {
      auto& out = values[name];
      out.resize(entry.sums.size());
      if (!loaded.is_legacy) {
        const std::size_t n_counts = std::max<std::size_t>(1, entry.counts.size());
        const std::size_t row = entry.sums.size() / n_counts;
        for (std::size_t j = 0; j < n_counts; ++j) {
          const float count = entry.counts.empty() ? 0.0f : static_cast<float>(entry.counts[j]);
          for (std::size_t i = 0; i < row; ++i) {
            out[j * row + i] = count > 0 ? entry.sums[j * row + i] / count : 1.0f;
          }
        }
      } else {
        const float calls = entry.counts.empty() ? 0.0f : static_cast<float>(entry.counts[0]);
        for (std::size_t i = 0; i < entry.sums.size(); ++i) {
          out[i] = calls > 0 ? entry.sums[i] / calls : entry.sums[i];
        }
      }
    }
#else
    (void)values;
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("--imatrix needs the bundled llama.cpp build (this uaqf uses a system llama.cpp): {}",
                            path.string()));
#endif
  }
};

}  // namespace

std::unique_ptr<Engine> make_llama_engine() { return std::make_unique<LlamaEngine>(); }

}  // namespace uaqf::backend
