// Where a model's layers go: local devices, split modes, RPC servers (remote or started by uaqf),
// llama.cpp's own fit of the layer count to free memory, and where the memory ended up.

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backend/llama/llama_internal.h"
#include "backend/llama_server/rpc_servers.h"
#include "core/environment.h"
#include "core/error.h"
#include "ggml-backend.h"
#if UAQF_LLAMA_HAVE_COMMON
#include "fit.h"
#include "llama-ext.h"
#endif

namespace uaqf::backend::llama {
namespace fs = std::filesystem;

namespace {

constexpr double kRpcConnectTimeoutS = 5;
constexpr size_t kFitMarginBytes = size_t{1} << 30;  // llama.cpp's default --fit-target (1024 MiB per device)

// llama.cpp aborts the process when an RPC server goes away mid-run (its transport has no error
// path). Instead of a backtrace, one line saying what happened and that the finished units are
// kept; the managed servers die with uaqf (PR_SET_PDEATHSIG). _Exit: other threads are still inside
// the engine, so no destructors run.
void on_engine_abort(const char* message) {
  std::fflush(stdout);
  // ggml prefixes its source file and line ("ggml-rpc.cpp:569: "): not for the user's line.
  std::string_view text = message;
  if (const auto colon = text.find(": ");
      colon != std::string_view::npos && text.substr(0, colon).find(".c") != std::string_view::npos) {
    text.remove_prefix(colon + 2);
  }
  const std::string line = fmt::format(
      "\nuaqf: error: llama.cpp stopped the run: {} (an RPC server stopped or could not be reached; "
      "finished units are kept: run the same command again to resume)\n",
      text);
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
  std::_Exit(1);
}

ggml_backend_reg_t add_rpc_server(const std::string& endpoint) {
  if (const std::string reason = tcp_unreachable_reason(endpoint, kRpcConnectTimeoutS); !reason.empty()) {
    throw Error(ErrorCode::kEngine, fmt::format("RPC server {}: {}", endpoint, reason));
  }
  ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
  if (rpc == nullptr) {
    throw Error(ErrorCode::kEngine, "this llama.cpp build has no RPC backend (configure it with GGML_RPC=ON)");
  }
  using AddServerFn = ggml_backend_reg_t (*)(const char*);
  auto add = reinterpret_cast<AddServerFn>(ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server"));
  if (add == nullptr) {
    throw Error(ErrorCode::kEngine, "this llama.cpp build's RPC backend cannot add servers");
  }
  static std::once_flag abort_message;
  std::call_once(abort_message, [] {
    ggml_set_abort_callback(on_engine_abort);
    // A write to a server that went away must fail (and reach the line above), not kill uaqf
    // silently with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
  });
  ggml_backend_reg_t reg = add(endpoint.c_str());
  if (reg == nullptr || ggml_backend_reg_dev_count(reg) == 0) {
    throw Error(ErrorCode::kEngine, fmt::format("RPC server {} offers no device", endpoint));
  }
  return reg;
}

std::vector<ggml_backend_dev_t> devices_of(const std::vector<std::string>& endpoints) {
  std::vector<ggml_backend_dev_t> devices;
  for (const auto& endpoint : endpoints) {
    ggml_backend_reg_t reg = add_rpc_server(endpoint);
    for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); ++i) {
      devices.push_back(ggml_backend_reg_dev_get(reg, i));
    }
  }
  return devices;
}

std::vector<ggml_backend_dev_t> local_accelerators() {
  std::vector<ggml_backend_dev_t> devices;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    const auto type = ggml_backend_dev_type(dev);
    if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) {
      devices.push_back(dev);
    }
  }
  return devices;
}

// `wanted` by name among `candidates`; throws naming the known ones.
std::vector<ggml_backend_dev_t> select_devices(const std::vector<std::string>& wanted,
                                               const std::vector<ggml_backend_dev_t>& candidates) {
  std::vector<ggml_backend_dev_t> chosen;
  std::vector<std::string> known;
  for (auto* dev : candidates) {
    known.emplace_back(ggml_backend_dev_name(dev));
  }
  for (const auto& name : wanted) {
    const auto it = std::find(known.begin(), known.end(), name);
    if (it == known.end()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("--device {}: no such device (devices: {})", name,
                              known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", "))));
    }
    chosen.push_back(candidates[static_cast<size_t>(it - known.begin())]);
  }
  return chosen;
}

}  // namespace

std::vector<std::string> RpcPool::endpoints(int count, int n_threads) {
  const std::lock_guard lock(mutex_);
  if (group_ && count_ == count && group_->exited().empty()) {
    return group_->endpoints();
  }
  group_.reset();
  RpcServerLaunch launch;
  const auto gpus = local_accelerators();
  if (gpus.empty()) {
    // CPU servers share the host's cores.
    launch.devices.assign(static_cast<size_t>(count), "");
    launch.n_threads = std::max(1, (n_threads > 0 ? n_threads : physical_core_count()) / count);
  } else if (static_cast<int>(gpus.size()) >= count) {
    for (int i = 0; i < count; ++i) {
      launch.devices.emplace_back(ggml_backend_dev_name(gpus[static_cast<size_t>(i)]));
    }
  } else {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("--rpc-local {}: one rpc-server per local GPU, and this machine has {}", count, gpus.size()));
  }
  group_ = RpcServerGroup::start(launch);
  count_ = count;
  return group_->endpoints();
}

void RpcPool::stop() {
  const std::lock_guard lock(mutex_);
  group_.reset();
  count_ = 0;
}

RpcPool::~RpcPool() = default;

void ModelPlacement::apply(const LoadOptions& options, RpcPool& rpc, int n_threads, llama_model_params& params) {
  std::vector<ggml_backend_dev_t> candidates;
  bool explicit_list = false;
  if (options.managed_rpc_servers > 0) {
    candidates = devices_of(rpc.endpoints(options.managed_rpc_servers, n_threads));
    explicit_list = true;  // the managed servers' devices only: what an RPC placement costs
  } else if (!options.rpc_servers.empty()) {
    candidates = local_accelerators();
    const auto remote = devices_of(options.rpc_servers);
    candidates.insert(candidates.end(), remote.begin(), remote.end());
    explicit_list = true;
  }
  if (!options.devices.empty()) {
    if (!explicit_list) {
      candidates = local_accelerators();
    }
    candidates = select_devices(options.devices, candidates);
    explicit_list = true;
  }
  devices.clear();
  if (explicit_list) {
    devices = candidates;
    devices.push_back(nullptr);
    params.devices = devices.data();
  }
  params.n_gpu_layers = options.n_gpu_layers == kGpuLayersAuto ? kGpuLayersAll : options.n_gpu_layers;
  switch (options.split_mode) {
    case SplitMode::kNone:
      params.split_mode = LLAMA_SPLIT_MODE_NONE;
      break;
    case SplitMode::kLayer:
      params.split_mode = LLAMA_SPLIT_MODE_LAYER;
      break;
    case SplitMode::kRow:
      params.split_mode = LLAMA_SPLIT_MODE_ROW;
      break;
    case SplitMode::kTensor:
      params.split_mode = LLAMA_SPLIT_MODE_TENSOR;
      break;
  }
  params.main_gpu = options.main_gpu;
  tensor_split.clear();
  if (!options.tensor_split.empty()) {
    if (options.tensor_split.size() > llama_max_devices()) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("--tensor-split has {} shares; llama.cpp takes at most {}",
                                                           options.tensor_split.size(), llama_max_devices()));
    }
    tensor_split.assign(llama_max_devices(), 0.0F);
    std::copy(options.tensor_split.begin(), options.tensor_split.end(), tensor_split.begin());
    params.tensor_split = tensor_split.data();
  }
}

LoadOptions fit_placement(const fs::path& path, const LoadOptions& options, const ContextOptions& context,
                          uint32_t n_ctx, RpcPool& rpc) {
  if (options.n_gpu_layers != kGpuLayersAuto) {
    return options;
  }
  if (local_accelerators().empty() && options.rpc_servers.empty() && options.managed_rpc_servers == 0) {
    LoadOptions on_host = options;
    on_host.n_gpu_layers = 0;  // no device to offload to: say so rather than "all layers fit"
    return on_host;
  }
#if UAQF_LLAMA_HAVE_COMMON
  llama_model_params model_params = llama_model_default_params();
  ModelPlacement placement;
  placement.apply(options, rpc, context.n_threads, model_params);
  llama_context_params context_params = llama_context_default_params();
  context_params.n_ctx = n_ctx;
  context_params.n_batch = static_cast<uint32_t>(context.n_batch);
  context_params.n_ubatch = static_cast<uint32_t>(context.n_ubatch);
  context_params.type_k = context_params.type_v = parse_kv_cache_type(context.kv_cache_type);
  context_params.flash_attn_type = to_llama(context.flash_attention);
  std::vector<float> split(llama_max_devices(), 0.0F);
  std::vector<llama_model_tensor_buft_override> overrides(llama_max_tensor_buft_overrides());
  std::vector<size_t> margins(llama_max_devices(), kFitMarginBytes);
  const auto status = common_fit_params(path.c_str(), &model_params, &context_params, split.data(), overrides.data(),
                                        margins.data(), n_ctx, nullptr, GGML_LOG_LEVEL_ERROR);
  if (status == COMMON_PARAMS_FIT_STATUS_ERROR) {
    throw Error(ErrorCode::kEngine,
                with_engine_reason(fmt::format("cannot estimate how many layers of {} fit", path.filename().string())));
  }
  LoadOptions fitted = options;
  const GgufHeader header = read_gguf_header(path);
  const std::string arch = gguf_string(header.gguf.get(), "general.architecture");
  // llama.cpp counts the output layer as one more.
  const int n_layers = static_cast<int>(gguf_int(header.gguf.get(), arch + ".block_count")) + 1;
  fitted.n_gpu_layers = status == COMMON_PARAMS_FIT_STATUS_FAILURE ? 0
                        : model_params.n_gpu_layers < 0            ? n_layers
                                                                   : std::min(model_params.n_gpu_layers, n_layers);
  if (model_params.tensor_split == split.data() && options.tensor_split.empty()) {
    const auto used = static_cast<size_t>(std::max<std::ptrdiff_t>(
        1,
        std::find_if(split.rbegin(), split.rend(), [](float share) { return share != 0.0F; }).base() - split.begin()));
    fitted.tensor_split.assign(split.begin(), split.begin() + static_cast<std::ptrdiff_t>(used));
  }
  return fitted;
#else
  (void)path, (void)context, (void)n_ctx, (void)rpc;
  throw Error(ErrorCode::kEngine, "--gpu-layers auto needs llama.cpp's fit (common/fit.cpp), which this build lacks");
#endif
}

std::vector<MemoryPlacement> memory_placement_of(const llama_context* ctx) {
  std::vector<MemoryPlacement> placed;
#if UAQF_LLAMA_HAVE_COMMON
  const llama_model* model = llama_get_model(ctx);
  for (const auto& [buft, bytes] : llama_get_memory_breakdown(ctx)) {
    if (bytes.total() == 0) {
      continue;
    }
    ggml_backend_dev_t dev = ggml_backend_buft_get_device(buft);
    MemoryPlacement entry{.buffer = ggml_backend_buft_name(buft),
                          .device = dev != nullptr ? ggml_backend_dev_name(dev) : "CPU",
                          .host = ggml_backend_buft_is_host(buft),
                          .weights_bytes = bytes.model,
                          .kv_bytes = bytes.context,
                          .compute_bytes = bytes.compute};
    // Split mode tensor: one "meta" buffer over the model's devices, whose size is the largest
    // device's share. Named after the devices it spans ("CUDA0+CUDA1"), its bytes that share times
    // the devices (an upper bound, exact for an even split).
    if (entry.device.rfind("Meta", 0) == 0) {
      const int n_devices = llama_model_n_devices(model);
      std::vector<std::string> names;
      for (int i = 0; i < n_devices; ++i) {
        names.emplace_back(ggml_backend_dev_name(llama_model_get_device(model, i)));
      }
      entry.device = fmt::format("{}", fmt::join(names, "+"));
      const auto n = static_cast<uint64_t>(std::max(1, n_devices));
      entry.weights_bytes *= n;
      entry.kv_bytes *= n;
      entry.compute_bytes *= n;
    }
    placed.push_back(entry);
  }
#else
  (void)ctx;
#endif
  return placed;
}

}  // namespace uaqf::backend::llama
