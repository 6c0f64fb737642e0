// Test helper: copies a GGUF model with two vocabulary entries swapped, giving a model of the same
// shape whose tokenizer differs (for the "baseline with another vocabulary" tests).
//   gguf_swap_tokens IN OUT

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "ggml.h"
#include "gguf.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
    return 2;
  }
  ggml_context* data = nullptr;
  gguf_init_params params{.no_alloc = false, .ctx = &data};
  gguf_context* gguf = gguf_init_from_file(argv[1], params);
  if (gguf == nullptr) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  const int64_t id = gguf_find_key(gguf, "tokenizer.ggml.tokens");
  if (id < 0) {
    std::fprintf(stderr, "%s has no vocabulary\n", argv[1]);
    return 1;
  }
  const size_t n = gguf_get_arr_n(gguf, id);
  std::vector<std::string> tokens(n);
  for (size_t i = 0; i < n; ++i) {
    tokens[i] = gguf_get_arr_str(gguf, id, i);
  }
  std::swap(tokens[1000], tokens[1001]);
  std::vector<const char*> pointers;
  for (const auto& token : tokens) {
    pointers.push_back(token.c_str());
  }
  // A fresh context with the same metadata and the loaded tensors (which own their data).
  gguf_context* out = gguf_init_empty();
  gguf_set_kv(out, gguf);
  gguf_set_arr_str(out, "tokenizer.ggml.tokens", pointers.data(), pointers.size());
  for (int64_t t = 0; t < gguf_get_n_tensors(gguf); ++t) {
    gguf_add_tensor(out, ggml_get_tensor(data, gguf_get_tensor_name(gguf, t)));
  }
  const bool ok = gguf_write_to_file(out, argv[2], false);
  gguf_free(out);
  gguf_free(gguf);
  ggml_free(data);
  return ok ? 0 : 1;
}
