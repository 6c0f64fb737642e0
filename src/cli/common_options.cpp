#include "cli/common_options.h"

#include <charconv>

#include <fmt/format.h>

#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "core/paths.h"

namespace uaqf::cli {

void require_output_file_writable(const std::string& path, const char* what) {
  if (path.empty()) {
    return;
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  require_writable_dir(parent.empty() ? std::filesystem::path(".") : parent, what);
}

void add_runtime_flags(CLI::App& command, RuntimeFlags& flags) {
  command.add_option("-t,--threads", flags.threads, "CPU threads (default: physical cores)");
  command.add_option("-b,--batch-size", flags.batch_size, "logical batch size for prompt processing")
      ->capture_default_str();
  command.add_option("--ubatch-size", flags.ubatch_size, "physical batch size")->capture_default_str();
  command.add_option("--kv-type", flags.kv_type, "KV-cache type: f16, q8_0, q4_0, ...")->capture_default_str();
  command.add_option("--flash-attn", flags.flash_attn, "flash attention: auto, on or off")->capture_default_str();
  command
      .add_option("--gpu-layers,--n-gpu-layers", flags.gpu_layers,
                  "layers to offload: a count, all, or auto (as many as fit with the context)")
      ->capture_default_str();
  command.add_option("--split-mode", flags.split_mode, "how to split over several GPUs: none, layer, row, tensor")
      ->capture_default_str();
  command.add_option("--tensor-split", flags.tensor_split, "share of the model per device, e.g. 3,1");
  command.add_option("--main-gpu", flags.main_gpu, "the GPU for split mode none (and row's KV)")->capture_default_str();
  command.add_option("--device", flags.devices, "devices to use, by name (CUDA0,RPC0,...; default: all)");
  command.add_option("--rpc", flags.rpc_servers,
                     "RPC servers (host:port,...) whose devices join the local ones; no authentication: "
                     "private networks only");
  command.add_option("--rpc-local", flags.rpc_local,
                     "start N rpc-servers on 127.0.0.1 (one per GPU, else on the CPU) and place the model on them");
}

std::vector<float> parse_share_list(const std::string& text, const std::string& option) {
  std::vector<float> shares;
  for (const auto& item : parse_name_list(text)) {
    float value = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec != std::errc() || end != item.data() + item.size() || !(value >= 0)) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} expects comma-separated non-negative shares, got '{}'", option, item));
    }
    shares.push_back(value);
  }
  return shares;
}

void set_placement(const RuntimeFlags& flags, backend::LoadOptions& options) {
  options.n_gpu_layers = backend::parse_gpu_layers(flags.gpu_layers, "--gpu-layers");
  options.split_mode = backend::parse_split_mode(flags.split_mode);
  options.tensor_split = parse_share_list(flags.tensor_split, "--tensor-split");
  if (flags.main_gpu < 0) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("--main-gpu must be 0 or more, got {}", flags.main_gpu));
  }
  options.main_gpu = flags.main_gpu;
  options.devices = parse_name_list(flags.devices);
  options.rpc_servers = parse_name_list(flags.rpc_servers);
  if (flags.rpc_local < 0 || flags.rpc_local > 16) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("--rpc-local must be 0 to 16, got {}", flags.rpc_local));
  }
  if (flags.rpc_local > 0 && !options.rpc_servers.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--rpc-local and --rpc exclude each other");
  }
  options.managed_rpc_servers = flags.rpc_local;
}

backend::RuntimeOptions to_runtime_options(const RuntimeFlags& flags, int default_threads) {
  backend::RuntimeOptions options;
  check_thread_count(flags.threads, "--threads");
  options.n_threads = flags.threads > 0 ? flags.threads : default_threads;
  options.n_batch = flags.batch_size;
  options.n_ubatch = flags.ubatch_size;
  options.kv_cache_type = flags.kv_type;
  set_placement(flags, options);
  options.flash_attention = backend::parse_flash_attention(flags.flash_attn);
  return options;
}

std::vector<int> parse_int_list(const std::string& text, const std::string& option) {
  std::vector<int> values;
  for (const auto& item : parse_name_list(text)) {
    int value = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec != std::errc() || end != item.data() + item.size()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} expects comma-separated integers, got '{}'", option, item));
    }
    values.push_back(value);
  }
  if (values.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{} needs at least one value", option));
  }
  return values;
}

std::vector<std::string> parse_name_list(const std::string& text) {
  std::vector<std::string> items;
  std::string current;
  for (char c : text + ",") {
    if (c == ',') {
      const auto first = current.find_first_not_of(' ');
      const auto last = current.find_last_not_of(' ');
      if (first != std::string::npos) {
        items.push_back(current.substr(first, last - first + 1));
      }
      current.clear();
    } else {
      current += c;
    }
  }
  return items;
}

std::filesystem::path resolve_data_dir(const std::string& given) {
  if (!given.empty()) {
    return given;
  }
  if (auto found = find_shared_file("data")) {
    return *found;
  }
  throw Error(ErrorCode::kNotFound, "no data folder given and none found under $UAQF_SHARED_DIR: pass --data-dir DIR");
}

}  // namespace uaqf::cli
