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
namespace fs = std::filesystem;

void synthesize(const SynthRequest& request) {
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

}  // namespace uaqf::backend::llama
