#include "backend/fake/fake_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"

namespace uaqf::backend {
namespace {

// Deterministic logits: a peaked distribution whose favourite next token depends on the current
// token; `noise` perturbs them the way quantization error would.
std::vector<float> fake_logits_for(const FakeModelSpec& spec, Token current, std::size_t position) {
  std::vector<float> logits(static_cast<std::size_t>(spec.n_vocab));
  const auto favourite = static_cast<std::size_t>((current * 31 + 7) % spec.n_vocab);
  for (std::size_t v = 0; v < logits.size(); ++v) {
    const double distance = static_cast<double>((v + logits.size() - favourite) % logits.size());
    const double wobble = spec.logit_noise * std::sin(static_cast<double>(v * 7919 + position * 104729));
    logits[v] =
        spec.nan_logits ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(-0.05 * distance + wobble);
  }
  return logits;
}

// A quantized KV cache makes the fake a little faster and a little less exact, so that context
// options visibly change what a variant measures.
FakeModelSpec with_context_options(FakeModelSpec spec, const ContextOptions& options) {
  if (options.kv_cache_type == "q8_0") {
    spec.decode_ns_per_call = spec.decode_ns_per_call * 9 / 10;
    spec.logit_noise += 0.01;
  } else if (options.kv_cache_type == "q4_0") {
    spec.decode_ns_per_call = spec.decode_ns_per_call * 8 / 10;
    spec.logit_noise += 0.04;
  }
  return spec;
}

void require(const FakeEngine& engine, Capability capability) {
  if (!engine.declared().has(capability)) {
    throw Error(ErrorCode::kEngine,
                fmt::format("the fake engine was asked for {}, which it does not declare", to_string(capability)));
  }
}

class FakeContext final : public Context {
 public:
  FakeContext(FakeEngine& engine, const FakeModelSpec& spec, uint32_t n_ctx, std::vector<MemoryPlacement> placement)
      : engine_(engine), spec_(spec), n_ctx_(n_ctx), placement_(std::move(placement)) {}
  uint32_t n_ctx() const override { return n_ctx_; }
  std::vector<MemoryPlacement> memory_placement() const override { return placement_; }
  uint32_t n_past() const override { return n_past_; }
  void clear() override { n_past_ = 0; }
  void decode(std::span<const Token> tokens) override {
    const int call = ++engine_.decode_call_counter();
    if (spec_.fail_on_decode_call && call == *spec_.fail_on_decode_call) {
      throw Error(ErrorCode::kEngine, fmt::format("fake decode failure on call {}", call));
    }
    if (n_past_ + tokens.size() > n_ctx_) {
      throw Error(ErrorCode::kInvalidArgument, "fake context full");
    }
    const auto n = static_cast<int64_t>(tokens.size());
    engine_.clock().advance_ns(n == 1 ? spec_.decode_ns_per_call : n * spec_.prefill_ns_per_token);
    n_past_ += static_cast<uint32_t>(tokens.size());
  }
  void eval_sequences(std::span<const std::vector<Token>> sequences, int32_t logits_from,
                      const LogitsBlockFn& on_block) override {
    require(engine_, Capability::kFullLogits);
    std::vector<std::vector<float>> storage;
    std::vector<TokenLogits> block;
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      for (std::size_t k = 0; k < sequences[s].size(); ++k) {
        if (static_cast<int32_t>(k) < logits_from) {
          continue;
        }
        storage.push_back(fake_logits(sequences[s], k));
      }
      engine_.clock().advance_ns(static_cast<int64_t>(sequences[s].size()) * spec_.prefill_ns_per_token);
    }
    std::size_t next = 0;
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      for (std::size_t k = 0; k < sequences[s].size(); ++k) {
        if (static_cast<int32_t>(k) >= logits_from) {
          block.push_back({s, static_cast<int32_t>(k), storage[next++].data()});
        }
      }
    }
    if (!block.empty()) {
      on_block(block);
    }
  }

  void decode_parallel(std::span<const Token> tokens, std::span<const int32_t> /*positions*/) override {
    // One pass: a fixed cost plus a little per sequence, as batching behaves.
    engine_.clock().advance_ns(spec_.decode_ns_per_call + static_cast<int64_t>(tokens.size()) * 100'000);
  }

  std::vector<std::vector<TokenScore>> score_suffixes(const std::vector<Token>& prefix,
                                                      std::span<const std::vector<Token>> suffixes) override {
    require(engine_, Capability::kPromptLogprobs);
    std::vector<std::vector<TokenScore>> scores;
    for (const auto& suffix : suffixes) {
      std::vector<TokenScore> row;
      Token previous = prefix.back();
      for (std::size_t k = 0; k < suffix.size(); ++k) {
        row.push_back(score(fake_logits_for(spec_, previous, prefix.size() + k - 1), suffix[k]));
        previous = suffix[k];
      }
      engine_.clock().advance_ns(static_cast<int64_t>(suffix.size()) * spec_.prefill_ns_per_token);
      scores.push_back(std::move(row));
    }
    engine_.clock().advance_ns(static_cast<int64_t>(prefix.size()) * spec_.prefill_ns_per_token);
    return scores;
  }

  std::vector<std::vector<Token>> generate_greedy(std::span<const std::vector<Token>> prompts, int max_new_tokens,
                                                  const StopFn& should_stop) override {
    std::vector<std::vector<Token>> generated(prompts.size());
    for (std::size_t s = 0; s < prompts.size(); ++s) {
      Token current = prompts[s].back();
      std::size_t position = prompts[s].size() - 1;
      while (static_cast<int>(generated[s].size()) < max_new_tokens) {
        const auto logits = fake_logits_for(spec_, current, position++);
        current = static_cast<Token>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        generated[s].push_back(current);
        engine_.clock().advance_ns(spec_.decode_ns_per_call);
        const bool asked_to_stop = should_stop && should_stop(s, generated[s]);
        if (spec_.eos && current == *spec_.eos) {
          generated[s].pop_back();  // the end-of-generation token is not part of the answer
          break;
        }
        if (asked_to_stop) {
          break;
        }
      }
    }
    return generated;
  }

  Token greedy_next() const override {
    engine_.clock().advance_ns(spec_.sample_ns);
    return static_cast<Token>((n_past_ * 7U) % static_cast<uint32_t>(spec_.n_vocab));
  }

 private:
  static TokenScore score(const std::vector<float>& logits, Token token) {
    const float max_logit = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float logit : logits) {
      sum += std::exp(logit - max_logit);
    }
    const auto argmax = std::max_element(logits.begin(), logits.end()) - logits.begin();
    return {static_cast<float>(logits[static_cast<std::size_t>(token)] - max_logit - std::log(sum)), argmax == token};
  }

  std::vector<float> fake_logits(const std::vector<Token>& tokens, std::size_t position) const {
    return fake_logits_for(spec_, tokens[position], position);
  }

  FakeEngine& engine_;
  FakeModelSpec spec_;
  uint32_t n_ctx_;
  std::vector<MemoryPlacement> placement_;
  uint32_t n_past_ = 0;
};

class FakeModel final : public Model {
 public:
  FakeModel(FakeEngine& engine, FakeModelSpec spec, ModelInfo info, LoadOptions load_options = {})
      : engine_(engine), spec_(spec), info_(std::move(info)), load_options_(std::move(load_options)) {}
  const ModelInfo& info() const override { return info_; }
  int32_t n_vocab() const override { return spec_.n_vocab; }
  std::optional<Token> bos() const override { return spec_.bos; }
  std::vector<Token> tokenize(const std::string& text, bool add_special) const override {
    // One token per byte, offset by the vocabulary's shift, so that two fake vocabularies differ.
    std::vector<Token> tokens;
    if (add_special && spec_.bos) {
      tokens.push_back(*spec_.bos);
    }
    for (unsigned char c : text) {
      tokens.push_back(static_cast<Token>((c + spec_.vocab_shift) % spec_.n_vocab));
    }
    return tokens;
  }
  // The fake vocabulary has no special markers: chat text is tokenized as any other.
  std::vector<Token> tokenize_chat(const std::string& templated) const override { return tokenize(templated, true); }
  std::string detokenize(std::span<const Token> tokens) const override {
    std::string text;
    for (Token token : tokens) {
      text += static_cast<char>((token - spec_.vocab_shift + spec_.n_vocab * 4) % spec_.n_vocab % 256);
    }
    return text;
  }
  std::optional<std::string> apply_chat_template(const std::string& user_message,
                                                 const std::optional<std::string>& override_template) const override {
    if (override_template) {
      return *override_template + user_message;
    }
    if (!spec_.chat_template) {
      return std::nullopt;
    }
    return "<user>" + user_message + "</user><assistant>";
  }
  std::unique_ptr<Context> open_context_with(const ContextSpec& spec, const ContextOptions& options) override {
    engine_.check_context_options(options);
    return std::make_unique<FakeContext>(engine_, with_context_options(spec_, options), spec.n_ctx,
                                         engine_.place(spec_, load_options_, spec.n_ctx));
  }
  const ContextOptions& context_options() const override { return context_options_; }
  const LoadOptions& load_options() const override { return load_options_; }
  uint64_t kv_bytes_per_token(const ContextOptions& options) const override {
    const uint64_t f16 = spec_.kv_bytes_per_token;
    return options.kv_cache_type == "q8_0" ? f16 * 17 / 32 : options.kv_cache_type == "q4_0" ? f16 * 9 / 32 : f16;
  }
  // The fake computes each sequence on its own.
  bool batch_invariant_kernels() const override { return true; }

 private:
  FakeEngine& engine_;
  FakeModelSpec spec_;
  ModelInfo info_;
  ContextOptions context_options_;
  LoadOptions load_options_;
};

}  // namespace

const FakeModelSpec& FakeEngine::spec_for(const std::filesystem::path& path) const {
  const auto it = specs_.find(path.string());
  if (it == specs_.end()) {
    throw Error(ErrorCode::kNotFound, fmt::format("model file not found: {}", path.string()));
  }
  return it->second;
}

EngineInfo FakeEngine::describe() const {
  return EngineInfo{
      .name = "fake", .commit = "none", .build = "fake", .system_info = "", .devices = {}, .default_threads = 1};
}

Capabilities FakeEngine::capabilities() const { return capabilities_; }

int FakeEngine::loads_of(const std::filesystem::path& path) const {
  const auto it = loads_.find(path.string());
  return it == loads_.end() ? 0 : it->second;
}

void FakeEngine::check_context_options(const ContextOptions& options) const {
  for (const char* known : {"f16", "q8_0", "q4_0"}) {
    if (options.kv_cache_type == known) {
      return;
    }
  }
  throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown KV-cache type '{}' (fake)", options.kv_cache_type));
}

ModelInfo FakeEngine::inspect(const std::filesystem::path& path) {
  if (!specs_.contains(path.string())) {
    // Not a registered fake model: treat it as a real file that must at least exist.
    require_readable_file(path, "model");
    return ModelInfo{.path = path, .file_size_bytes = file_size_bytes(path)};
  }
  const auto& spec = spec_for(path);
  ModelInfo info;
  info.path = path;
  info.n_params = spec.n_params;
  info.bits_per_weight = spec.bits_per_weight;
  info.weights_size_bytes = static_cast<uint64_t>(static_cast<double>(spec.n_params) * spec.bits_per_weight / 8);
  info.file_size_bytes = info.weights_size_bytes;
  info.decode_weight_bytes = info.weights_size_bytes;
  info.kv_bytes_per_token = spec.kv_bytes_per_token;
  info.architecture = "fake";
  info.type_name = fmt::format("{:.0f}-bit", spec.bits_per_weight);
  info.description = "fake " + info.type_name;
  info.n_vocab = spec.n_vocab;
  info.vocab_fingerprint = fmt::format("fake-{}-{}", spec.n_vocab, spec.vocab_shift);
  info.n_ctx_train = spec.n_ctx_train;
  return info;
}

std::unique_ptr<Model> FakeEngine::load_weights(const std::filesystem::path& path, const LoadOptions& options) {
  ++load_calls_;
  ++loads_[path.string()];
  const auto& spec = spec_for(path);
  clock_.advance_ns(spec.load_ns);
  if (spec.fail_load) {
    throw Error(ErrorCode::kEngine, fmt::format("failed to load model {} (fake)", path.string()));
  }
  const auto resolved = fit_placement(path, options, ContextOptions{}, static_cast<uint32_t>(spec.n_ctx_train));
  return std::make_unique<FakeModel>(*this, spec, inspect(path), resolved);
}

namespace {

struct FakeLayerBytes {
  uint64_t weights = 0;
  uint64_t kv = 0;
  int n_layers = 1;
};

FakeLayerBytes layer_bytes(const FakeModelSpec& spec, uint32_t n_ctx) {
  FakeLayerBytes bytes;
  bytes.n_layers = spec.n_layer + 1;
  const auto total = static_cast<uint64_t>(static_cast<double>(spec.n_params) * spec.bits_per_weight / 8.0);
  bytes.weights = total / static_cast<uint64_t>(bytes.n_layers);
  bytes.kv = spec.kv_bytes_per_token * n_ctx / static_cast<uint64_t>(spec.n_layer);
  return bytes;
}

}  // namespace

LoadOptions FakeEngine::fit_placement(const std::filesystem::path& path, const LoadOptions& options,
                                      const ContextOptions& /*context*/, uint32_t n_ctx) {
  if (options.n_gpu_layers != kGpuLayersAuto) {
    return options;
  }
  const auto bytes = layer_bytes(spec_for(path), n_ctx);
  int fitting = 0;
  for (int device = 0; device < devices_.count; ++device) {
    fitting += static_cast<int>(devices_.free_bytes_each / std::max<uint64_t>(1, bytes.weights + bytes.kv));
  }
  LoadOptions fitted = options;
  fitted.n_gpu_layers = std::min(fitting, bytes.n_layers);
  return fitted;
}

std::vector<MemoryPlacement> FakeEngine::place(const FakeModelSpec& spec, const LoadOptions& options,
                                               uint32_t n_ctx) const {
  if (devices_.count == 0) {
    return {};  // like an engine that cannot say: tests without devices see no placement metrics
  }
  const auto bytes = layer_bytes(spec, n_ctx);
  const int offloaded = options.n_gpu_layers < 0 ? bytes.n_layers : std::min(options.n_gpu_layers, bytes.n_layers);
  std::vector<MemoryPlacement> placed;
  const int on_host = bytes.n_layers - offloaded;
  if (on_host > 0) {
    placed.push_back({.buffer = "CPU",
                      .device = "CPU",
                      .host = true,
                      .weights_bytes = bytes.weights * static_cast<uint64_t>(on_host),
                      .kv_bytes = bytes.kv * static_cast<uint64_t>(on_host)});
  }
  // Layers fill the devices one after the other, as many as each holds.
  const uint64_t per_device = devices_.free_bytes_each / std::max<uint64_t>(1, bytes.weights + bytes.kv);
  int left = offloaded;
  for (int device = 0; device < devices_.count && left > 0; ++device) {
    const bool last = device + 1 == devices_.count;
    const int here = last ? left : std::min(left, static_cast<int>(std::max<uint64_t>(1, per_device)));
    placed.push_back({.buffer = fmt::format("FAKE{}", device),
                      .device = fmt::format("FAKE{}", device),
                      .weights_bytes = bytes.weights * static_cast<uint64_t>(here),
                      .kv_bytes = bytes.kv * static_cast<uint64_t>(here)});
    left -= here;
  }
  return placed;
}

std::unique_ptr<Vocabulary> FakeEngine::load_vocabulary(const std::filesystem::path& path) {
  return std::make_unique<FakeModel>(*this, spec_for(path), inspect(path));
}

void FakeEngine::synthesize(const SynthRequest& request) {
  std::ofstream out(request.output, std::ios::binary | std::ios::trunc);
  out << "GGUF fake synthetic " << request.shape.name << '\n';
}

std::vector<QuantType> FakeEngine::quant_types() const {
  return {{"F16", 1, "16-bit"}, {"Q8_0", 7, "8-bit"}, {"Q4_0", 2, "4-bit"}, {"IQ2_XXS", 19, "needs imatrix"}};
}

bool FakeEngine::quantize_needs_imatrix(const std::filesystem::path& /*input*/, const std::string& type) {
  return type == "IQ2_XXS";
}

QuantizeOutcome FakeEngine::quantize(const QuantizeRequest& request, const ProgressFn& progress) {
  ++quantize_calls_;
  if (failing_types_.contains(request.type)) {
    throw Error(ErrorCode::kEngine, fmt::format("quantizing to {} failed (fake)", request.type));
  }
  for (long i = 1; i <= 3; ++i) {
    if (progress) {
      progress(i, 3);
    }
  }
  std::ofstream out(request.output, std::ios::binary | std::ios::trunc);
  out << "GGUF fake " << request.type << " of " << request.input.string() << '\n';
  out.close();
  return QuantizeOutcome{.output_size_bytes = file_size_bytes(request.output), .n_fallback_tensors = 0};
}

ImatrixOutcome FakeEngine::compute_imatrix(const ImatrixRequest& request, const ImatrixProgressFn& progress) {
  ++imatrix_calls_;
  inspect(request.model);
  const auto n_text_tokens = static_cast<int64_t>(request.calibration_text.size()) + 1;
  if (n_text_tokens < 2 * int64_t{request.n_ctx}) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("the calibration text {} has {} tokens; at least {} are needed (two chunks of {})",
                            request.dataset_name, n_text_tokens, 2 * request.n_ctx, request.n_ctx));
  }
  const int available = static_cast<int>(n_text_tokens / request.n_ctx);
  const int n_chunks = request.n_chunks < 0 ? available : std::min(request.n_chunks, available);
  ImatrixOutcome outcome{.n_text_tokens = n_text_tokens};
  if (request.resume && std::filesystem::exists(request.output)) {
    std::ifstream in(request.output);
    std::string word;
    in >> word >> word >> outcome.n_chunks_resumed;
  }
  auto write = [&](int done) {
    std::ofstream out(request.output, std::ios::trunc);
    out << "fake imatrix " << done << " chunks of " << request.dataset_name << '\n';
  };
  if (progress) {
    progress(outcome.n_chunks_resumed, n_chunks);
  }
  for (int done = outcome.n_chunks_resumed + 1; done <= n_chunks; ++done) {
    if (fail_imatrix_after_ && *fail_imatrix_after_ == 0) {
      fail_imatrix_after_.reset();
      throw Error(ErrorCode::kEngine, "imatrix interrupted (fake)");
    }
    ++imatrix_chunks_computed_;
    if (fail_imatrix_after_) {
      --*fail_imatrix_after_;
    }
    write(done);
    if (progress) {
      progress(done, n_chunks);
    }
  }
  write(n_chunks);
  outcome.n_chunks = n_chunks;
  outcome.n_tokens = int64_t{n_chunks} * request.n_ctx;
  outcome.n_entries = 1;
  return outcome;
}

}  // namespace uaqf::backend
