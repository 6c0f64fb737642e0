#include "backend/backend.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace uaqf::backend {

std::string to_string(FlashAttention mode) {
  switch (mode) {
    case FlashAttention::kAuto:
      return "auto";
    case FlashAttention::kOn:
      return "on";
    case FlashAttention::kOff:
      return "off";
  }
  return "auto";
}

FlashAttention parse_flash_attention(const std::string& text) {
  if (text == "auto") {
    return FlashAttention::kAuto;
  }
  if (text == "on" || text == "1" || text == "true") {
    return FlashAttention::kOn;
  }
  if (text == "off" || text == "0" || text == "false") {
    return FlashAttention::kOff;
  }
  throw Error(ErrorCode::kInvalidArgument, fmt::format("flash attention must be auto, on or off, not '{}'", text));
}

std::string to_string(SplitMode mode) {
  switch (mode) {
    case SplitMode::kNone:
      return "none";
    case SplitMode::kLayer:
      return "layer";
    case SplitMode::kRow:
      return "row";
    case SplitMode::kTensor:
      return "tensor";
  }
  return "layer";
}

SplitMode parse_split_mode(const std::string& text) {
  for (const auto mode : {SplitMode::kNone, SplitMode::kLayer, SplitMode::kRow, SplitMode::kTensor}) {
    if (text == to_string(mode)) {
      return mode;
    }
  }
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("split mode must be none, layer, row or tensor, not '{}'", text));
}

std::string gpu_layers_to_string(int n_gpu_layers) {
  if (n_gpu_layers == kGpuLayersAll) {
    return "all";
  }
  if (n_gpu_layers == kGpuLayersAuto) {
    return "auto";
  }
  return std::to_string(n_gpu_layers);
}

int parse_gpu_layers(const std::string& text, const std::string& option) {
  if (text == "all" || text == "-1") {
    return kGpuLayersAll;
  }
  if (text == "auto") {
    return kGpuLayersAuto;
  }
  int value = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{} must be a layer count, 'all' or 'auto' (as many as fit), not '{}'", option, text));
  }
  return value;
}

std::string LoadOptions::placement_flags() const {
  std::vector<std::string> flags;
  if (n_gpu_layers != kGpuLayersAll) {
    flags.push_back("--gpu-layers " + gpu_layers_to_string(n_gpu_layers));
  }
  if (split_mode != SplitMode::kLayer) {
    flags.push_back("--split-mode " + to_string(split_mode));
  }
  if (!tensor_split.empty()) {
    flags.push_back(fmt::format("--tensor-split {}", fmt::join(tensor_split, ",")));
  }
  if (main_gpu != 0) {
    flags.push_back(fmt::format("--main-gpu {}", main_gpu));
  }
  if (!devices.empty()) {
    flags.push_back(fmt::format("--device {}", fmt::join(devices, ",")));
  }
  if (!rpc_servers.empty()) {
    flags.push_back(fmt::format("--rpc {}", fmt::join(rpc_servers, ",")));
  }
  if (managed_rpc_servers > 0) {
    flags.push_back(fmt::format("--rpc-local {}", managed_rpc_servers));
  }
  return fmt::format("{}", fmt::join(flags, " "));
}

namespace {

// A loaded model seen with other context options; everything but contexts goes to the model.
class ModelView final : public Model {
 public:
  ModelView(Model& model, ContextOptions options, std::unique_ptr<Model> owned = nullptr)
      : owned_(std::move(owned)), model_(model), options_(std::move(options)), info_(model.info()) {
    info_.kv_bytes_per_token = model_.kv_bytes_per_token(options_);
  }
  std::vector<Token> tokenize(const std::string& text, bool add_special) const override {
    return model_.tokenize(text, add_special);
  }
  std::vector<Token> tokenize_chat(const std::string& templated) const override {
    return model_.tokenize_chat(templated);
  }
  std::string detokenize(std::span<const Token> tokens) const override { return model_.detokenize(tokens); }
  std::optional<std::string> apply_chat_template(const std::string& user_message,
                                                 const std::optional<std::string>& override_template) const override {
    return model_.apply_chat_template(user_message, override_template);
  }
  const ModelInfo& info() const override { return info_; }
  int32_t n_vocab() const override { return model_.n_vocab(); }
  std::optional<Token> bos() const override { return model_.bos(); }
  std::unique_ptr<Context> open_context_with(const ContextSpec& spec, const ContextOptions& options) override {
    return model_.open_context_with(spec, options);
  }
  const ContextOptions& context_options() const override { return options_; }
  const LoadOptions& load_options() const override { return model_.load_options(); }
  uint64_t kv_bytes_per_token(const ContextOptions& options) const override {
    return model_.kv_bytes_per_token(options);
  }
  bool batch_invariant_kernels() const override { return model_.batch_invariant_kernels(); }

 private:
  std::unique_ptr<Model> owned_;
  Model& model_;
  ContextOptions options_;
  ModelInfo info_;
};

}  // namespace

std::unique_ptr<Model> with_context_options(Model& model, ContextOptions options) {
  return std::make_unique<ModelView>(model, std::move(options));
}

std::unique_ptr<Model> with_context_options(std::unique_ptr<Model> model, ContextOptions options) {
  auto& loaded = *model;
  return std::make_unique<ModelView>(loaded, std::move(options), std::move(model));
}

std::string to_string(Capability capability) {
  switch (capability) {
    case Capability::kTokenDecode:
      return "raw token decoding (prefill and decode timing)";
    case Capability::kGenerate:
      return "text generation";
    case Capability::kStreaming:
      return "streamed tokens with per-token times";
    case Capability::kFullLogits:
      return "full logits";
    case Capability::kPromptLogprobs:
      return "prompt log-probabilities";
    case Capability::kTopLogprobs:
      return "top-k log-probabilities";
    case Capability::kQuantize:
      return "quantizing";
    case Capability::kDeviceMemory:
      return "device memory readings";
    case Capability::kSynthesize:
      return "synthetic models";
    case Capability::kImatrix:
      return "importance matrices";
  }
  return "unknown capability";
}

bool Capabilities::has(Capability capability) const {
  return std::find(supported.begin(), supported.end(), capability) != supported.end();
}

void require_capabilities(const Capabilities& capabilities, const std::vector<Need>& needs, const std::string& variant,
                          const std::string& engine) {
  for (const auto& need : needs) {
    if (!capabilities.has(need.capability)) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("variant '{}' needs {} for {}, which engine '{}' cannot give", variant,
                              to_string(need.capability), need.reason, engine));
    }
  }
}

std::optional<QuantType> find_quant_type(const std::vector<QuantType>& types, const std::string& name) {
  auto upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  const auto it = std::find_if(types.begin(), types.end(), [&](const QuantType& t) { return t.name == upper; });
  if (it == types.end()) {
    return std::nullopt;
  }
  return *it;
}

ImatrixOutcome Engine::compute_imatrix(const ImatrixRequest& request, const ImatrixProgressFn& /*progress*/) {
  throw Error(ErrorCode::kInvalidArgument, fmt::format("engine {} cannot compute importance matrices (needed for {})",
                                                       describe().name, request.model.filename().string()));
}

}  // namespace uaqf::backend
