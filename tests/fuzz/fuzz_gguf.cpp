// GGUF headers as `inspect` reads them: ggml's gguf_init_from_file (no_alloc, as read_gguf_header
// calls it), then uaqf's summarize_gguf over the header. Either a summary, a refused header
// (nullptr from ggml) or uaqf::Error; a crash in gguf_init_from_file itself is llama.cpp's.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "backend/llama/gguf_summary.h"
#include "core/error.h"
#include "fuzz_support.h"

namespace {

void silent_log(ggml_log_level, const char*, void*) {}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    ggml_log_set(silent_log, nullptr);  // ggml names every refused header on stderr
    return true;
  }();
  (void)quiet;
  const auto file = uaqf::fuzz::scratch_dir() / "model.gguf";
  uaqf::fuzz::write_bytes(file, uaqf::fuzz::as_text(data, size));
  ggml_context* meta = nullptr;
  gguf_context* gguf = gguf_init_from_file(file.c_str(), gguf_init_params{.no_alloc = true, .ctx = &meta});
  if (gguf == nullptr) {
    return 0;
  }
  try {
    (void)uaqf::backend::llama::summarize_gguf(gguf, meta, file.string());
  } catch (const uaqf::Error&) {
  }
  gguf_free(gguf);
  ggml_free(meta);
  return 0;
}
