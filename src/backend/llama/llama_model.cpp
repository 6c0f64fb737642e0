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
    return tokenize_text(text, add_special, false);
  }

  std::vector<Token> tokenize_chat(const std::string& templated) const override {
    std::vector<Token> tokens = tokenize_text(templated, true, true);
    // A template that writes the BOS text itself ("<s>", "<|begin_of_text|>") would get a second
    // one from add_special: llama-server strips it the same way.
    if (llama_vocab_get_add_bos(vocab()) && tokens.size() >= 2 && tokens[0] == llama_vocab_bos(vocab()) &&
        tokens[1] == tokens[0]) {
      tokens.erase(tokens.begin());
    }
    return tokens;
  }

  std::vector<Token> tokenize_text(const std::string& text, bool add_special, bool parse_special) const {
    if (text.size() > static_cast<std::size_t>(std::numeric_limits<int32_t>::max() / 2)) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("text of {} bytes is too large to tokenize", text.size()));
    }
    const auto text_len = static_cast<int32_t>(text.size());
    std::vector<Token> tokens(text.size() + 2);
    int32_t n = llama_tokenize(vocab(), text.data(), text_len, tokens.data(), static_cast<int32_t>(tokens.size()),
                               add_special, parse_special);
    if (n < 0) {
      tokens.resize(static_cast<std::size_t>(-n));
      n = llama_tokenize(vocab(), text.data(), text_len, tokens.data(), static_cast<int32_t>(tokens.size()),
                         add_special, parse_special);
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
    return make_context(std::move(ctx), n_threads, info_.path.filename().string(), spec.unified_kv);
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

}  // namespace

std::unique_ptr<Model> make_model(llama_model_ptr model, ModelInfo info, LoadOptions load_options) {
  return std::make_unique<LlamaModel>(std::move(model), std::move(info), load_options);
}

}  // namespace uaqf::backend::llama
