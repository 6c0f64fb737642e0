#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "backend/backend.h"

namespace uaqf::cli {

// Runtime options shared by every command that runs a model (bench now; eval and run later),
// with the same names everywhere.
struct RuntimeFlags {
  int threads = 0;
  int batch_size = 2048;
  int ubatch_size = 512;
  std::string kv_type = "f16";
  std::string flash_attn = "auto";
  // Placement, spelled as llama.cpp's tools spell it.
  std::string gpu_layers = "all";  // a count, all or auto (as many as fit)
  std::string split_mode = "layer";
  std::string tensor_split;  // "3,1"
  int main_gpu = 0;
  std::string devices;      // "CUDA0,RPC0"
  std::string rpc_servers;  // "host:port,host:port"
  int rpc_local = 0;        // rpc-servers uaqf starts on 127.0.0.1
};

void add_runtime_flags(CLI::App& command, RuntimeFlags& flags);
backend::RuntimeOptions to_runtime_options(const RuntimeFlags& flags, int default_threads);

// Throws Error naming `what` when the folder of output file `path` is not writable (empty: no file),
// before any measurement.
void require_output_file_writable(const std::string& path, const char* what);

// "512,1024" -> {512, 1024}; throws Error naming the option on bad input.
std::vector<int> parse_int_list(const std::string& text, const std::string& option);
std::vector<std::string> parse_name_list(const std::string& text);

// --data-dir as given, else the shared folder's data/; throws Error(kNotFound) naming the flag.
std::filesystem::path resolve_data_dir(const std::string& given);

}  // namespace uaqf::cli
