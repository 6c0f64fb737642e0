// The ABI check of the loaded llama.cpp library against the headers uaqf was compiled with.
//
// uaqf passes llama.cpp's parameter structs by value and fills them from the library's
// *_default_params() functions. A library built from other headers would lay them out otherwise:
// a field added, removed or resized shifts every later one, so the library's defaults would read
// back wrong here. The expected values are the pinned source's (third_party/llama.cpp at the commit
// in third_party/llama.cpp.lock): src/llama-model.cpp llama_model_default_params,
// src/llama-context.cpp llama_context_default_params, src/llama-quant.cpp
// llama_model_quantize_default_params, src/llama.cpp llama_sampler_chain_default_params,
// src/llama-batch.cpp llama_batch_get_one, ggml/src/ggml.c ggml_threadpool_params_default. Each
// struct's last field is among those checked, so a layout that differs anywhere shows.

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "backend/llama/llama_internal.h"
#include "ggml.h"

namespace uaqf::backend::llama {
namespace {

template <typename T>
std::string text_of(const T& value) {
  if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>) {
    return value == nullptr ? "null" : "non-null";
  } else if constexpr (std::is_enum_v<T>) {
    return fmt::format("{}", static_cast<long long>(value));
  } else {
    return fmt::format("{}", value);
  }
}

class AbiCheck {
 public:
  template <typename Got, typename Want>
  void field(const char* name, const Got& got, const Want& want) {
    bool same = false;
    if constexpr (std::is_floating_point_v<Got>) {
      same = got == static_cast<Got>(want) || (std::isnan(got) && std::isnan(static_cast<Got>(want)));
    } else if constexpr (std::is_pointer_v<Got>) {
      same = (got == nullptr) == (want == nullptr);
    } else {
      same = got == static_cast<Got>(want);
    }
    if (!same) {
      mismatches_.push_back(fmt::format("{}: library gives {}, the pinned headers' source {}", name, text_of(got),
                                        text_of(static_cast<Got>(want))));
    }
  }
  std::vector<std::string> take() { return std::move(mismatches_); }

 private:
  std::vector<std::string> mismatches_;
};

#define UAQF_ABI_FIELD(check, params, name, want) (check).field(#params "." #name, (params).name, want)

void check_model_params(AbiCheck& check) {
  const llama_model_params model_params = llama_model_default_params();
  UAQF_ABI_FIELD(check, model_params, devices, nullptr);
  UAQF_ABI_FIELD(check, model_params, tensor_buft_overrides, nullptr);
  UAQF_ABI_FIELD(check, model_params, n_gpu_layers, -1);
  UAQF_ABI_FIELD(check, model_params, split_mode, LLAMA_SPLIT_MODE_LAYER);
  UAQF_ABI_FIELD(check, model_params, load_mode, LLAMA_LOAD_MODE_AUTO);
  UAQF_ABI_FIELD(check, model_params, lazy_mode, LLAMA_LAZY_MODE_AUTO);
  UAQF_ABI_FIELD(check, model_params, main_gpu, 0);
  UAQF_ABI_FIELD(check, model_params, tensor_split, nullptr);
  UAQF_ABI_FIELD(check, model_params, progress_callback, nullptr);
  UAQF_ABI_FIELD(check, model_params, progress_callback_user_data, nullptr);
  UAQF_ABI_FIELD(check, model_params, kv_overrides, nullptr);
  UAQF_ABI_FIELD(check, model_params, vocab_only, false);
  UAQF_ABI_FIELD(check, model_params, check_tensors, false);
  UAQF_ABI_FIELD(check, model_params, use_extra_bufts, true);
  UAQF_ABI_FIELD(check, model_params, no_host, false);
  UAQF_ABI_FIELD(check, model_params, no_alloc, false);
  UAQF_ABI_FIELD(check, model_params, load_mtp, false);
}

void check_context_params(AbiCheck& check) {
  const llama_context_params context_params = llama_context_default_params();
  UAQF_ABI_FIELD(check, context_params, n_ctx, 512);
  UAQF_ABI_FIELD(check, context_params, n_batch, 2048);
  UAQF_ABI_FIELD(check, context_params, n_ubatch, 512);
  UAQF_ABI_FIELD(check, context_params, n_seq_max, 1);
  UAQF_ABI_FIELD(check, context_params, n_rs_seq, 0);
  UAQF_ABI_FIELD(check, context_params, n_outputs_max, 0);
  UAQF_ABI_FIELD(check, context_params, n_outputs_max_per_seq, 1);
  UAQF_ABI_FIELD(check, context_params, n_threads, GGML_DEFAULT_N_THREADS);
  UAQF_ABI_FIELD(check, context_params, n_threads_batch, GGML_DEFAULT_N_THREADS);
  UAQF_ABI_FIELD(check, context_params, ctx_type, LLAMA_CONTEXT_TYPE_DEFAULT);
  UAQF_ABI_FIELD(check, context_params, rope_scaling_type, LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED);
  UAQF_ABI_FIELD(check, context_params, pooling_type, LLAMA_POOLING_TYPE_UNSPECIFIED);
  UAQF_ABI_FIELD(check, context_params, attention_type, LLAMA_ATTENTION_TYPE_UNSPECIFIED);
  UAQF_ABI_FIELD(check, context_params, flash_attn_type, LLAMA_FLASH_ATTN_TYPE_AUTO);
  UAQF_ABI_FIELD(check, context_params, rope_freq_base, 0.0F);
  UAQF_ABI_FIELD(check, context_params, rope_freq_scale, 0.0F);
  UAQF_ABI_FIELD(check, context_params, yarn_ext_factor, -1.0F);
  UAQF_ABI_FIELD(check, context_params, yarn_attn_factor, -1.0F);
  UAQF_ABI_FIELD(check, context_params, yarn_beta_fast, -1.0F);
  UAQF_ABI_FIELD(check, context_params, yarn_beta_slow, -1.0F);
  UAQF_ABI_FIELD(check, context_params, yarn_orig_ctx, 0);
  UAQF_ABI_FIELD(check, context_params, defrag_thold, -1.0F);
  UAQF_ABI_FIELD(check, context_params, cb_eval, nullptr);
  UAQF_ABI_FIELD(check, context_params, cb_eval_user_data, nullptr);
  UAQF_ABI_FIELD(check, context_params, type_k, GGML_TYPE_F16);
  UAQF_ABI_FIELD(check, context_params, type_v, GGML_TYPE_F16);
  UAQF_ABI_FIELD(check, context_params, abort_callback, nullptr);
  UAQF_ABI_FIELD(check, context_params, abort_callback_data, nullptr);
  UAQF_ABI_FIELD(check, context_params, embeddings, false);
  UAQF_ABI_FIELD(check, context_params, offload_kqv, true);
  UAQF_ABI_FIELD(check, context_params, no_perf, true);
  UAQF_ABI_FIELD(check, context_params, op_offload, true);
  UAQF_ABI_FIELD(check, context_params, swa_full, true);
  UAQF_ABI_FIELD(check, context_params, kv_unified, false);
  UAQF_ABI_FIELD(check, context_params, samplers, nullptr);
  UAQF_ABI_FIELD(check, context_params, n_samplers, 0);
  UAQF_ABI_FIELD(check, context_params, ctx_other, nullptr);
}

void check_quantize_params(AbiCheck& check) {
  const llama_model_quantize_params quantize_params = llama_model_quantize_default_params();
  UAQF_ABI_FIELD(check, quantize_params, nthread, 0);
  UAQF_ABI_FIELD(check, quantize_params, ftype, LLAMA_FTYPE_MOSTLY_Q8_0);
  UAQF_ABI_FIELD(check, quantize_params, output_tensor_type, GGML_TYPE_COUNT);
  UAQF_ABI_FIELD(check, quantize_params, token_embedding_type, GGML_TYPE_COUNT);
  UAQF_ABI_FIELD(check, quantize_params, allow_requantize, false);
  UAQF_ABI_FIELD(check, quantize_params, quantize_output_tensor, true);
  UAQF_ABI_FIELD(check, quantize_params, only_copy, false);
  UAQF_ABI_FIELD(check, quantize_params, pure, false);
  UAQF_ABI_FIELD(check, quantize_params, keep_split, false);
  UAQF_ABI_FIELD(check, quantize_params, dry_run, false);
  UAQF_ABI_FIELD(check, quantize_params, imatrix, nullptr);
  UAQF_ABI_FIELD(check, quantize_params, kv_overrides, nullptr);
  UAQF_ABI_FIELD(check, quantize_params, tt_overrides, nullptr);
  UAQF_ABI_FIELD(check, quantize_params, prune_layers, nullptr);
  UAQF_ABI_FIELD(check, quantize_params, max_buf_size, 8ULL * 1024 * 1024 * 1024);
}

void check_small_structs(AbiCheck& check) {
  const llama_sampler_chain_params chain = llama_sampler_chain_default_params();
  UAQF_ABI_FIELD(check, chain, no_perf, true);
  llama_token tokens[3] = {1, 2, 3};
  const llama_batch batch = llama_batch_get_one(tokens, 3);
  UAQF_ABI_FIELD(check, batch, n_tokens, 3);
  check.field("batch.token == tokens", batch.token == tokens, true);
  UAQF_ABI_FIELD(check, batch, embd, nullptr);
  UAQF_ABI_FIELD(check, batch, pos, nullptr);
  UAQF_ABI_FIELD(check, batch, n_seq_id, nullptr);
  UAQF_ABI_FIELD(check, batch, seq_id, nullptr);
  UAQF_ABI_FIELD(check, batch, logits, nullptr);
  const ggml_threadpool_params pool = ggml_threadpool_params_default(3);
  UAQF_ABI_FIELD(check, pool, n_threads, 3);
  UAQF_ABI_FIELD(check, pool, prio, GGML_SCHED_PRIO_NORMAL);
  UAQF_ABI_FIELD(check, pool, poll, 50);
  UAQF_ABI_FIELD(check, pool, strict_cpu, false);
  UAQF_ABI_FIELD(check, pool, paused, false);
  bool any_cpu = false;
  for (const bool cpu : pool.cpumask) {
    any_cpu = any_cpu || cpu;
  }
  check.field("pool.cpumask (any set)", any_cpu, false);
}

#undef UAQF_ABI_FIELD

}  // namespace

std::vector<std::string> abi_mismatches() {
  AbiCheck check;
  check_model_params(check);
  check_context_params(check);
  check_quantize_params(check);
  check_small_structs(check);
  return check.take();
}

}  // namespace uaqf::backend::llama
