#include "backend/llama/gguf_summary.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string_view>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"

namespace uaqf::backend::llama {

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

GgufSummary summarize_gguf(const gguf_context* gguf, const ggml_context* meta, const std::string& file) {
  GgufSummary info;
  info.n_tensors = gguf_get_n_tensors(gguf);
  uint64_t data_end = 0;
  const bool tied_output = gguf_find_tensor(gguf, "output.weight") < 0;
  for (int64_t i = 0; i < info.n_tensors; ++i) {
    const uint64_t size = gguf_get_tensor_size(gguf, i);
    data_end = std::max<uint64_t>(data_end, gguf_get_tensor_offset(gguf, i) + size);
    info.weights_size_bytes += size;
    if (tied_output || std::string_view(gguf_get_tensor_name(gguf, i)) != "token_embd.weight") {
      info.decode_weight_bytes += size;
    }
    if (const ggml_tensor* tensor = ggml_get_tensor(const_cast<ggml_context*>(meta), gguf_get_tensor_name(gguf, i))) {
      info.n_params += static_cast<uint64_t>(ggml_nelements(tensor));
    }
  }
  info.needed_file_bytes = gguf_get_data_offset(gguf) + data_end;
  info.architecture = gguf_string(gguf, "general.architecture");
  info.file_type = gguf_int(gguf, "general.file_type");
  const std::string& arch = info.architecture;
  info.n_ctx_train = static_cast<int32_t>(gguf_int(gguf, arch + ".context_length"));
  info.n_layer = static_cast<int32_t>(gguf_int(gguf, arch + ".block_count"));
  info.n_embd = static_cast<int32_t>(gguf_int(gguf, arch + ".embedding_length"));
  const int64_t tokens_id = gguf_find_key(gguf, "tokenizer.ggml.tokens");
  if (tokens_id >= 0) {
    // ggml aborts (GGML_ASSERT) when a list of another type is read as strings.
    if (gguf_get_kv_type(gguf, tokens_id) != GGUF_TYPE_ARRAY ||
        gguf_get_arr_type(gguf, tokens_id) != GGUF_TYPE_STRING) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} is a damaged GGUF file: tokenizer.ggml.tokens is not a list of strings", file));
    }
    const std::size_t n_tokens = gguf_get_arr_n(gguf, tokens_id);
    if (n_tokens > static_cast<std::size_t>(std::numeric_limits<int32_t>::max())) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} is a damaged GGUF file: {} tokens in tokenizer.ggml.tokens", file, n_tokens));
    }
    info.n_vocab = static_cast<int32_t>(n_tokens);
    std::string all_tokens;
    for (int32_t t = 0; t < info.n_vocab; ++t) {
      all_tokens += gguf_get_arr_str(gguf, tokens_id, static_cast<size_t>(t));
      all_tokens += '\0';
    }
    all_tokens += gguf_string(gguf, "tokenizer.ggml.model");
    info.vocab_fingerprint = sha256_hex(all_tokens).substr(0, 16);
  }
  const int64_t synthetic_id = gguf_find_key(gguf, "uaqf.synthetic");
  info.synthetic = synthetic_id >= 0 && gguf_get_kv_type(gguf, synthetic_id) == GGUF_TYPE_BOOL &&
                   gguf_get_val_bool(gguf, synthetic_id);
  return info;
}

}  // namespace uaqf::backend::llama
