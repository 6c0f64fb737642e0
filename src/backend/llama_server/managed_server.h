#pragma once

// llama-server processes that uaqf starts for served variants and stops again: on stop(), on
// destruction, at exit, on SIGINT/SIGTERM/SIGHUP and, through PR_SET_PDEATHSIG, when uaqf dies
// any other way (kill -9 included). This only runs the binary; it never links llama.cpp.

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace uaqf::backend {

// The engine name served variants go by, and what a llama-server endpoint can do for a unit.
inline constexpr const char* kLlamaServerEngine = "llama-server";
Capabilities llama_server_capabilities();

struct ServerLaunch {
  std::filesystem::path server_binary;                     // llama-server (find_llama_server())
  std::filesystem::path model;                             // GGUF
  int n_ctx = 4096;                                        // total context (-c), shared by the slots
  int n_parallel = 1;                                      // slots (-np)
  std::string kv_cache_type = "f16";                       // -ctk and -ctv
  FlashAttention flash_attention = FlashAttention::kAuto;  // -fa on|off|auto
  int n_gpu_layers = -1;                                   // -ngl; -1: all layers (-ngl all)
  int n_threads = 0;                                       // -t; 0: the server's default
  int n_batch = 2048, n_ubatch = 512;                      // -b, -ub
  // --cache-ram: host memory for llama-server's prompt cache. When a slot takes a new prompt, the
  // server first copies the slot's KV cache there, outside its own timers: milliseconds on a tiny
  // model, tens of them for a 7B slot on a GPU, added to every TTFT. Independent benchmark prompts
  // never come back to it, so 0 (off) unless a workload asks for it.
  int prompt_cache_mib = 0;
  std::vector<std::string> extra_args;  // passed through, after ours
  double startup_timeout_s = 120;
  std::filesystem::path
      log_file;  // the server's stdout+stderr go here (empty: a temp file); errors quote its last lines
};

class ManagedServer;

namespace detail {
// Hands out the port of each start attempt (pick_free_port() outside tests).
using PortPicker = std::function<int()>;
std::unique_ptr<ManagedServer> start_with_ports(const ServerLaunch& launch, const PortPicker& pick_port);
}  // namespace detail

// One running llama-server on 127.0.0.1. The child dies with the thread that called start()
// (PR_SET_PDEATHSIG follows the forking thread, not the process): call start() from a thread
// that lives as long as the server should, e.g. the main thread.
class ManagedServer {
 public:
  // Picks a free 127.0.0.1 port, spawns the server, polls GET /health until 200 (503 while it
  // loads). Throws Error with the server's log lines when it exits first (a taken port is retried
  // on another one, up to 3 times) or misses launch.startup_timeout_s.
  static std::unique_ptr<ManagedServer> start(const ServerLaunch& launch);

  ManagedServer(const ManagedServer&) = delete;
  ManagedServer& operator=(const ManagedServer&) = delete;
  ~ManagedServer();  // stop()

  std::string base_url() const;  // "http://127.0.0.1:PORT/v1"
  std::string root_url() const;  // "http://127.0.0.1:PORT"
  int port() const { return port_; }
  int pid() const { return pid_; }                                // kept after stop(), for records
  const std::vector<std::string>& argv() const { return argv_; }  // the command line used
  const std::filesystem::path& log_file() const { return log_file_; }

  // SIGTERM, up to 5 s for the server to exit, then SIGKILL; reaps the child. Idempotent.
  void stop();

 private:
  ManagedServer(int pid, int port, std::vector<std::string> argv, std::filesystem::path log_file, bool temp_log);
  friend std::unique_ptr<ManagedServer> detail::start_with_ports(const ServerLaunch&, const detail::PortPicker&);

  std::mutex mutex_;
  int pid_ = -1;
  int port_ = 0;
  std::vector<std::string> argv_;
  std::filesystem::path log_file_;
  bool temp_log_ = false;  // removed after a clean stop
  bool stopped_ = false;
};

// The server's command line for `launch` on `port` (argv[0] is launch.server_binary).
std::vector<std::string> server_command_line(const ServerLaunch& launch, int port);

// A binary of uaqf's llama.cpp build and the variable that may name it instead.
struct LlamaTool {
  const char* name;     // "llama-server"
  const char* env_var;  // "UAQF_LLAMA_SERVER"
};
inline constexpr LlamaTool kLlamaServerTool{"llama-server", "UAQF_LLAMA_SERVER"};
inline constexpr LlamaTool kRpcServerTool{"ggml-rpc-server", "UAQF_RPC_SERVER"};  // llama.cpp's rpc-server

// $<tool.env_var>, else the tool next to the running executable, else on PATH. Throws Error
// (kNotFound) saying how to build it when there is none.
std::filesystem::path find_llama_tool(const LlamaTool& tool);
std::filesystem::path find_llama_tool_in(const LlamaTool& tool, const char* env_value,
                                         const std::filesystem::path& exe_dir, const std::string& path_list);

// $UAQF_LLAMA_SERVER, else llama-server next to the running executable, else on PATH.
std::filesystem::path find_llama_server();

// find_llama_server() on given inputs: the variable's value (nullptr: unset), the executable's
// folder and PATH.
std::filesystem::path find_llama_server_in(const char* env_value, const std::filesystem::path& exe_dir,
                                           const std::string& path_list);

// A port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed).
int pick_free_port();
// Whether another socket holds 127.0.0.1:port (bind fails with EADDRINUSE).
bool loopback_port_in_use(int port);

}  // namespace uaqf::backend
