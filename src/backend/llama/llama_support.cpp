#include <link.h>

#include <fmt/format.h>

#include "backend/llama/llama_internal.h"
#include "backend/llama/llama_log.h"
#include "core/error.h"
#include "uaqf/build_info.h"

namespace uaqf::backend::llama {

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

std::vector<fs::path> loaded_cpu_variant_libraries() {
  std::vector<fs::path> found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        const fs::path path = info->dlpi_name != nullptr ? info->dlpi_name : "";
        if (path.filename().string().starts_with("libggml-cpu-") && path.extension() == ".so") {
          static_cast<std::vector<fs::path>*>(data)->push_back(path);
        }
        return 0;
      },
      &found);
  return found;
}

std::string engine_build() {
  std::string build = UAQF_LLAMA_BUILD;
  for (const auto& library : loaded_cpu_variant_libraries()) {
    const std::string name = library.stem().string();  // libggml-cpu-zen4
    build +=
        fmt::format("; CPU variant {} ({})", name.substr(std::string_view("libggml-cpu-").size()), library.string());
  }
  return build;
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

uint64_t kv_bytes_per_token_of(const llama_model* model, const std::string& kv_cache_type) {
  const ggml_type kv_type = parse_kv_cache_type(kv_cache_type);
  const auto head_dim = static_cast<uint64_t>(llama_model_n_embd(model) / std::max(1, llama_model_n_head(model)));
  const uint64_t elements = 2ULL * static_cast<uint64_t>(llama_model_n_layer(model)) *
                            static_cast<uint64_t>(llama_model_n_head_kv(model)) * head_dim;
  return elements * ggml_type_size(kv_type) / static_cast<uint64_t>(ggml_blck_size(kv_type));
}

}  // namespace uaqf::backend::llama
