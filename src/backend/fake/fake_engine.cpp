#include "backend/fake/fake_engine.h"

#include <fstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"

namespace uaqf::backend {
namespace {

class FakeContext final : public Context {
 public:
  FakeContext(FakeEngine& engine, const FakeModelSpec& spec, uint32_t n_ctx)
      : engine_(engine), spec_(spec), n_ctx_(n_ctx) {}
  uint32_t n_ctx() const override { return n_ctx_; }
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
  Token greedy_next() const override {
    engine_.clock().advance_ns(spec_.sample_ns);
    return static_cast<Token>((n_past_ * 7U) % static_cast<uint32_t>(spec_.n_vocab));
  }

 private:
  FakeEngine& engine_;
  FakeModelSpec spec_;
  uint32_t n_ctx_;
  uint32_t n_past_ = 0;
};

class FakeModel final : public Model {
 public:
  FakeModel(FakeEngine& engine, FakeModelSpec spec, ModelInfo info)
      : engine_(engine), spec_(spec), info_(std::move(info)) {}
  const ModelInfo& info() const override { return info_; }
  int32_t n_vocab() const override { return spec_.n_vocab; }
  std::optional<Token> bos() const override { return spec_.bos; }
  std::unique_ptr<Context> new_context(uint32_t n_ctx) override {
    return std::make_unique<FakeContext>(engine_, spec_, n_ctx);
  }

 private:
  FakeEngine& engine_;
  FakeModelSpec spec_;
  ModelInfo info_;
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
  return EngineInfo{.name = "fake", .commit = "none", .system_info = "", .devices = {}, .default_threads = 1};
}

Capabilities FakeEngine::capabilities() const {
  return Capabilities{.token_decode = true, .quantize = true, .full_logits = false};
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
  info.architecture = "fake";
  info.type_name = fmt::format("{:.0f}-bit", spec.bits_per_weight);
  info.description = "fake " + info.type_name;
  info.n_vocab = spec.n_vocab;
  info.n_ctx_train = spec.n_ctx_train;
  return info;
}

std::unique_ptr<Model> FakeEngine::load(const std::filesystem::path& path, const RuntimeOptions& /*options*/) {
  const auto& spec = spec_for(path);
  clock_.advance_ns(spec.load_ns);
  if (spec.fail_load) {
    throw Error(ErrorCode::kEngine, fmt::format("failed to load model {} (fake)", path.string()));
  }
  return std::make_unique<FakeModel>(*this, spec, inspect(path));
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

}  // namespace uaqf::backend
