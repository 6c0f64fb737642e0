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

#include "backend/llama/llama_internal.h"
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

namespace uaqf::backend {
namespace {

namespace fs = std::filesystem;
using namespace llama;

class LlamaEngine final : public Engine {
 public:
  LlamaEngine() {
    llama_log::install();
    llama_backend_init();
    if (const auto mismatches = abi_mismatches(); !mismatches.empty()) {
      llama_backend_free();
      throw Error(ErrorCode::kEngine,
                  fmt::format("the llama.cpp library ({}) does not match the headers uaqf was built with "
                              "(commit {}): {} field(s) differ, first {}",
                              UAQF_LLAMA_BUILD, UAQF_LLAMA_COMMIT, mismatches.size(), mismatches.front()));
    }
  }
  ~LlamaEngine() override { llama_backend_free(); }
  LlamaEngine(const LlamaEngine&) = delete;
  LlamaEngine& operator=(const LlamaEngine&) = delete;

  EngineInfo describe() const override {
    EngineInfo info;
    info.name = "llama.cpp";
    info.commit = UAQF_LLAMA_COMMIT;
    info.build = engine_build();
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
                                            Capability::kTopLogprobs, Capability::kQuantize, Capability::kSynthesize,
                                            Capability::kImatrix}};
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
    const GgufSummary summary = summarize_gguf(gguf.get(), meta.get(), path.string());
    if (summary.needed_file_bytes > file_size) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} is truncated: its tensors need {} bytes but the file has {}", path.string(),
                              summary.needed_file_bytes, file_size));
    }
    if (summary.n_tensors == 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} holds no tensors (a vocabulary-only GGUF?), so it cannot be run", path.string()));
    }
    ModelInfo info;
    info.path = path;
    info.file_size_bytes = file_size;
    info.weights_size_bytes = summary.weights_size_bytes;
    info.decode_weight_bytes = summary.decode_weight_bytes;
    info.n_params = summary.n_params;
    info.architecture = summary.architecture;
    info.type_name = llama_ftype_name(static_cast<llama_ftype>(summary.file_type));
    info.n_ctx_train = summary.n_ctx_train;
    info.n_layer = summary.n_layer;
    info.n_embd = summary.n_embd;
    info.n_vocab = summary.n_vocab;
    info.vocab_fingerprint = summary.vocab_fingerprint;
    if (info.n_params > 0) {
      info.bits_per_weight = static_cast<double>(info.weights_size_bytes) * 8.0 / static_cast<double>(info.n_params);
    }
    info.description = fmt::format("{} {}", info.architecture, info.type_name);
    info.synthetic = summary.synthetic;
    return info;
  }

  void check_context_options(const ContextOptions& options) const override {
    parse_kv_cache_type(options.kv_cache_type);
  }

  std::unique_ptr<Model> load_weights(const fs::path& path, const LoadOptions& options) override {
    ModelInfo info = inspect(path);
    llama_model_params params = llama_model_default_params();
    ModelPlacement placement;
    // Callers resolve "auto" with their context size (Engine::fit_placement); a load that still has
    // it fits with llama.cpp's smallest fitted context.
    const LoadOptions resolved = llama::fit_placement(path, options, ContextOptions{}, kDefaultFitContext, rpc_);
    placement.apply(resolved, rpc_, 0, params);
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
    return make_model(std::move(model), std::move(info), resolved);
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
    return make_model(std::move(model), std::move(info), LoadOptions{});
  }

  LoadOptions fit_placement(const fs::path& path, const LoadOptions& options, const ContextOptions& context,
                            uint32_t n_ctx) override {
    return llama::fit_placement(path, options, context, n_ctx, rpc_);
  }

  void synthesize(const SynthRequest& request) override { llama::synthesize(request); }

  std::optional<double> memory_bandwidth_bytes_per_s(const RuntimeOptions& runtime) override {
    return read_bandwidth_bytes_per_s(runtime);
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
    return llama::quantize_needs_imatrix(input, type);
  }

  QuantizeOutcome quantize(const QuantizeRequest& request, const ProgressFn& progress) override {
    return llama::quantize(request, progress);
  }

  ImatrixOutcome compute_imatrix(const ImatrixRequest& request, const ImatrixProgressFn& progress) override {
    return llama::compute_imatrix(request, progress);
  }

 private:
  static constexpr uint32_t kDefaultFitContext = 4096;  // llama.cpp's --fit-ctx default
  RpcPool rpc_;
};

}  // namespace

std::unique_ptr<Engine> make_llama_engine() { return std::make_unique<LlamaEngine>(); }

std::vector<std::string> llama_abi_mismatches() { return llama::abi_mismatches(); }

}  // namespace uaqf::backend
