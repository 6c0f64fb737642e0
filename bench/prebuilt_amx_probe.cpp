// Does a prebuilt libggml-cpu variant crash on the models the source build's -mno-amx-* guards?
// (bench/prebuilt_amx.sh builds and runs this; docs/prebuilt-engine.md has the results.)
//   prebuilt_amx_probe BACKEND_DIR MODEL_F16.gguf OUT_DIR
// Loads ggml's best CPU variant from BACKEND_DIR (as uaqf's prebuilt engine does from its bin
// folder), names it, quantizes MODEL to Q8_0 and Q4_0 and runs each through a 256-token prompt
// (batched matrix products: where the AMX kernels of ggml's sapphirerapids variant take over) and
// 16 single-token decodes. Exit 0 when all ran; a crash ends it with the signal.

#include <link.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "llama.h"

namespace {

int report_variant(dl_phdr_info* info, size_t, void*) {
  const std::string name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (name.find("libggml-cpu-") != std::string::npos) {
    std::printf("loaded CPU variant: %s\n", name.c_str());
  }
  return 0;
}

bool run(const std::string& path) {
  llama_model_params model_params = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(path.c_str(), model_params);
  if (model == nullptr) {
    std::printf("%s: load failed\n", path.c_str());
    return false;
  }
  llama_context_params context_params = llama_context_default_params();
  context_params.n_ctx = 512;
  context_params.n_threads = 2;
  context_params.n_threads_batch = 2;
  llama_context* ctx = llama_init_from_model(model, context_params);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::vector<llama_token> prompt(256);
  for (size_t i = 0; i < prompt.size(); ++i) {
    prompt[i] = static_cast<llama_token>((i * 7919 + 13) % static_cast<size_t>(llama_vocab_n_tokens(vocab)));
  }
  bool ok = llama_decode(ctx, llama_batch_get_one(prompt.data(), static_cast<int32_t>(prompt.size()))) == 0;
  for (int i = 0; i < 16 && ok; ++i) {
    llama_token token = prompt[static_cast<size_t>(i)];
    ok = llama_decode(ctx, llama_batch_get_one(&token, 1)) == 0;
  }
  const float* logits = llama_get_logits_ith(ctx, -1);
  std::printf("%s: %s, first logit %.6f\n", path.c_str(), ok ? "ran" : "decode failed", ok ? logits[0] : 0.0F);
  llama_free(ctx);
  llama_model_free(model);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: prebuilt_amx_probe BACKEND_DIR MODEL_F16.gguf OUT_DIR\n");
    return 2;
  }
  ggml_backend_load_all_from_path(argv[1]);
  llama_backend_init();
  dl_iterate_phdr(report_variant, nullptr);
  std::printf("%s\n", llama_print_system_info());
  bool ok = true;
  for (const auto& [name, type] :
       {std::pair{"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0}, std::pair{"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0}}) {
    const std::string out = std::string(argv[3]) + "/probe-" + name + ".gguf";
    llama_model_quantize_params params = llama_model_quantize_default_params();
    params.ftype = type;
    params.nthread = 2;
    if (llama_model_quantize(argv[2], out.c_str(), &params) != 0) {
      std::printf("quantize to %s failed\n", name);
      return 1;
    }
    std::fflush(stdout);
    ok = run(out) && ok;
    std::fflush(stdout);
  }
  llama_backend_free();
  return ok ? 0 : 1;
}
