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
  command.add_option("--gpu-layers", flags.gpu_layers, "layers to offload to the GPU (-1: all)")->capture_default_str();
  command.add_option("--flash-attn", flags.flash_attn, "flash attention: auto, on or off")->capture_default_str();
}

backend::RuntimeOptions to_runtime_options(const RuntimeFlags& flags, int default_threads) {
  backend::RuntimeOptions options;
  check_thread_count(flags.threads, "--threads");
  options.n_threads = flags.threads > 0 ? flags.threads : default_threads;
  options.n_batch = flags.batch_size;
  options.n_ubatch = flags.ubatch_size;
  options.kv_cache_type = flags.kv_type;
  options.n_gpu_layers = flags.gpu_layers;
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
