#pragma once

// A deterministic engine for tests: no weights, costs simulated on a ManualClock, failures on
// demand. Lets perf, quant and report logic be tested exactly and fast.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "backend/backend.h"
#include "core/clock.h"

namespace uaqf::backend {

struct FakeModelSpec {
  uint64_t n_params = 1'000'000;
  double bits_per_weight = 16;
  int32_t n_vocab = 1000;
  int32_t n_ctx_train = 4096;
  std::optional<Token> bos = 1;
  std::optional<Token> eos = 2;  // generation stops when it is the top pick
  bool chat_template = false;
  int64_t load_ns = 5'000'000;
  int64_t prefill_ns_per_token = 10'000;   // 100k tokens/s
  int64_t decode_ns_per_call = 1'000'000;  // one single-token decode: 1 ms
  int64_t sample_ns = 0;                   // greedy_next
  double logit_noise = 0;                  // perturbation of the fake logits (0: the reference model)
  uint64_t kv_bytes_per_token = 0;
  int32_t n_layer = 8;  // repeating layers; the output layer counts as one more, as in llama.cpp
  int vocab_shift = 0;  // tokenization offset; models with different shifts have different vocabularies
  bool fail_load = false;
  bool nan_logits = false;                 // every logit NaN, as a model with NaN weights gives
  std::optional<int> fail_on_decode_call;  // the n-th decode call (1-based) throws
};

// The fake engine's accelerators, for placement tests: `count` devices named FAKE0, FAKE1, ...
// with `free_bytes_each` free. A layer (its weights and its share of the KV cache) goes whole to one
// device; the weights are spread evenly over n_layer + 1 layers.
struct FakeDevices {
  int count = 0;
  uint64_t free_bytes_each = 0;
};

class FakeEngine final : public Engine {
 public:
  explicit FakeEngine(ManualClock& clock) : clock_(clock) {}

  void add_model(const std::filesystem::path& path, FakeModelSpec spec) { specs_[path.string()] = spec; }
  int quantize_calls() const { return quantize_calls_; }
  // Weight loads (load_weights calls) of `path`, counting failed ones.
  int loads_of(const std::filesystem::path& path) const;
  int load_calls() const { return load_calls_; }
  // What the engine declares it can do (default: everything an in-process engine can). Without
  // full logits or prompt log-probabilities, the calls that need them throw.
  void set_capabilities(Capabilities capabilities) { capabilities_ = std::move(capabilities); }
  // Types whose quantization fails, to test that others go on.
  void fail_quantize_type(const std::string& type) { failing_types_[type] = true; }

  EngineInfo describe() const override;
  Capabilities capabilities() const override;
  ModelInfo inspect(const std::filesystem::path& path) override;
  std::unique_ptr<Model> load_weights(const std::filesystem::path& path, const LoadOptions& options) override;
  void check_context_options(const ContextOptions& options) const override;
  std::unique_ptr<Vocabulary> load_vocabulary(const std::filesystem::path& path) override;
  void synthesize(const SynthRequest& request) override;
  LoadOptions fit_placement(const std::filesystem::path& path, const LoadOptions& options,
                            const ContextOptions& context, uint32_t n_ctx) override;
  void set_devices(FakeDevices devices) { devices_ = devices; }
  // Where a context of `n_ctx` tokens of a model of `spec` loaded with `options` puts its memory.
  std::vector<MemoryPlacement> place(const FakeModelSpec& spec, const LoadOptions& options, uint32_t n_ctx) const;
  std::optional<uint64_t> device_memory_used_bytes() const override { return device_memory_used_; }
  void set_device_memory_used(std::optional<uint64_t> bytes) { device_memory_used_ = bytes; }
  std::optional<double> memory_bandwidth_bytes_per_s(const RuntimeOptions&) override { return bandwidth_; }
  void set_memory_bandwidth(std::optional<double> bytes_per_s) { bandwidth_ = bytes_per_s; }
  std::vector<QuantType> quant_types() const override;
  bool quantize_needs_imatrix(const std::filesystem::path& input, const std::string& type) override;
  QuantizeOutcome quantize(const QuantizeRequest& request, const ProgressFn& progress) override;
  // One token per byte (plus BOS); the file is a text line naming the chunk count, and a resumed
  // request continues from the count in its partial file.
  ImatrixOutcome compute_imatrix(const ImatrixRequest& request, const ImatrixProgressFn& progress) override;
  int imatrix_calls() const { return imatrix_calls_; }
  // Chunks computed (not resumed) over every call, to test that a resumed request skips its chunks.
  int imatrix_chunks_computed() const { return imatrix_chunks_computed_; }
  // Throws after this many chunks of the next request (an interrupted run), once.
  void fail_imatrix_after_chunks(int chunks) { fail_imatrix_after_ = chunks; }

  ManualClock& clock() { return clock_; }
  const Capabilities& declared() const { return capabilities_; }
  int& decode_call_counter() { return decode_calls_; }

 private:
  const FakeModelSpec& spec_for(const std::filesystem::path& path) const;

  ManualClock& clock_;
  std::map<std::string, FakeModelSpec> specs_;
  std::map<std::string, bool> failing_types_;
  std::optional<uint64_t> device_memory_used_;
  std::optional<double> bandwidth_;
  FakeDevices devices_;
  int quantize_calls_ = 0;
  int imatrix_calls_ = 0;
  int imatrix_chunks_computed_ = 0;
  std::optional<int> fail_imatrix_after_;
  int decode_calls_ = 0;
  int load_calls_ = 0;
  std::map<std::string, int> loads_;
  Capabilities capabilities_{.supported = {Capability::kTokenDecode, Capability::kGenerate, Capability::kStreaming,
                                           Capability::kFullLogits, Capability::kPromptLogprobs,
                                           Capability::kTopLogprobs, Capability::kQuantize, Capability::kSynthesize,
                                           Capability::kImatrix}};
};

}  // namespace uaqf::backend
