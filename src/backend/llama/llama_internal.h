#pragma once

// Pieces of the llama.cpp engine shared by its files (contexts, models, quantization, synthetic
// models, probes). Only backend/llama includes this header, and so llama.cpp's.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/llama/gguf_summary.h"
#include "backend/llama_server/rpc_servers.h"
#include "gguf.h"
#include "llama-cpp.h"

namespace uaqf::backend::llama {

bool has_gpu_device();
// Which engine build runs: the build's description (UAQF_LLAMA_BUILD: the source build's flags or
// the prebuilt package), and for the prebuilt engine the CPU variant ggml loaded, as
// "...; CPU variant zen4 (/path/libggml-cpu-zen4.so)".
std::string engine_build();
// The ABI check of the loaded library against the headers (llama_abi.cpp).
std::vector<std::string> abi_mismatches();
// The libggml-cpu-<variant>.so files loaded in this process (none in a source build, which links
// its one CPU backend statically).
std::vector<std::filesystem::path> loaded_cpu_variant_libraries();
// Every file type llama.cpp's quantizer writes (names as llama-quantize spells them).
const std::vector<QuantType>& all_quant_types();
// `message` with the errors llama.cpp logged since the last clear_errors(), when there are some.
std::string with_engine_reason(const std::string& message);

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

// A GGUF file's header and tensor descriptions, without the tensor data.
struct GgufHeader {
  std::unique_ptr<gguf_context, GgufDeleter> gguf;
  std::unique_ptr<ggml_context, GgmlDeleter> tensors;  // ggml_get_tensor() by name: type and shape
};
GgufHeader read_gguf_header(const std::filesystem::path& path);

// Throws Error naming the known types when `name` is not a ggml type.
ggml_type parse_kv_cache_type(const std::string& name);
llama_flash_attn_type to_llama(FlashAttention mode);
uint64_t kv_bytes_per_token_of(const llama_model* model, const std::string& kv_cache_type);

std::unique_ptr<Context> make_context(llama_context_ptr ctx, int n_threads, std::string model_name, bool unified_kv);
std::unique_ptr<Model> make_model(llama_model_ptr model, ModelInfo info, LoadOptions load_options);

// The rpc-servers uaqf started for loads with LoadOptions::managed_rpc_servers: one group at a
// time, started at the first load that needs it and kept for the next ones (the servers cache
// what they received), stopped with the engine.
class RpcPool {
 public:
  RpcPool() = default;
  RpcPool(const RpcPool&) = delete;
  RpcPool& operator=(const RpcPool&) = delete;
  ~RpcPool();
  // The endpoints of `count` running servers: one per local GPU, else `count` CPU servers sharing
  // the host's `n_threads` (0: the physical cores). A group whose server exited is started again.
  std::vector<std::string> endpoints(int count, int n_threads);
  void stop();

 private:
  std::mutex mutex_;
  std::unique_ptr<RpcServerGroup> group_;
  int count_ = 0;
};

// What llama_model_params point into during a load: the device list and the tensor split.
struct ModelPlacement {
  std::vector<ggml_backend_dev_t> devices;  // null-terminated; empty: llama.cpp's default (every device)
  std::vector<float> tensor_split;          // llama_max_devices() shares; empty: by free memory
  // Sets params' devices (RPC servers registered after a reachability check; managed ones started),
  // split mode, tensor split, main GPU and layer count from `options`. Throws Error naming the
  // setting or the server.
  void apply(const LoadOptions& options, RpcPool& rpc, int n_threads, llama_model_params& params);
};

LoadOptions fit_placement(const std::filesystem::path& path, const LoadOptions& options, const ContextOptions& context,
                          uint32_t n_ctx, RpcPool& rpc);
std::vector<MemoryPlacement> memory_placement_of(const llama_context* ctx);

// Engine calls, one file each.
void synthesize(const SynthRequest& request);
std::optional<double> read_bandwidth_bytes_per_s(const RuntimeOptions& runtime);
bool quantize_needs_imatrix(const std::filesystem::path& input, const std::string& type);
QuantizeOutcome quantize(const QuantizeRequest& request, const ProgressFn& progress);
ImatrixOutcome compute_imatrix(const ImatrixRequest& request, const ImatrixProgressFn& progress);

}  // namespace uaqf::backend::llama
