#pragma once

// What `inspect` reads from a GGUF header (ggml's gguf_init_from_file): tensor sizes, parameter
// count, architecture and shape keys, the vocabulary's fingerprint. Needs ggml's gguf reader only
// (not libllama), so that the fuzz target (tests/fuzz/fuzz_gguf.cpp) runs this very code.

#include <cstdint>
#include <string>

#include "ggml.h"
#include "gguf.h"

namespace uaqf::backend::llama {

struct GgufSummary {
  int64_t n_tensors = 0;
  uint64_t weights_size_bytes = 0;
  uint64_t decode_weight_bytes = 0;  // without token_embd.weight unless the output is tied to it
  uint64_t n_params = 0;
  uint64_t needed_file_bytes = 0;  // the data offset plus the end of the last tensor's data
  std::string architecture;
  int64_t file_type = 0;  // general.file_type (a llama_ftype)
  int32_t n_ctx_train = 0;
  int32_t n_layer = 0;
  int32_t n_embd = 0;
  int32_t n_vocab = 0;
  std::string vocab_fingerprint;  // sha256 of the tokens and the tokenizer model, 16 hex digits; "" without tokens
  bool synthetic = false;         // uaqf.synthetic = true (a model made by `uaqf synth`)
};

// Reads the summary from a parsed header; `meta` holds its tensor descriptions (no_alloc). Throws
// Error(kInvalidArgument) naming `file` when a key has the wrong type or a count is out of range.
GgufSummary summarize_gguf(const gguf_context* gguf, const ggml_context* meta, const std::string& file);

// An integer key of any integer type (0 when absent or of another type), a string key ("" likewise).
int64_t gguf_int(const gguf_context* gguf, const std::string& key);
std::string gguf_string(const gguf_context* gguf, const char* key);

}  // namespace uaqf::backend::llama
