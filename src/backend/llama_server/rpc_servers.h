#pragma once

// llama.cpp's rpc-server processes that uaqf starts on 127.0.0.1 for a placement through RPC
// (LoadOptions::managed_rpc_servers), one per device, and stops again: on stop(), on
// destruction, at exit, on SIGINT/SIGTERM/SIGHUP and, through PR_SET_PDEATHSIG, when uaqf dies
// any other way. This only runs the binary; it never links llama.cpp.
//
// llama.cpp's RPC protocol has no authentication: a server must only listen where nobody else can
// reach it. Managed servers listen on 127.0.0.1 only.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace uaqf::backend {

struct RpcServerLaunch {
  std::filesystem::path binary;  // rpc-server (find_llama_tool(kRpcServerTool) when empty)
  // One server per entry: the device it serves ("CUDA0"; "" for the server's own choice, its CPU
  // when it has no accelerator).
  std::vector<std::string> devices;
  int n_threads = 0;  // -t for CPU devices; 0: the server's default
  // -c: the server caches tensors it receives in llama.cpp's cache folder (~/.cache/llama.cpp/rpc),
  // so that a second load of the same weights sends hashes instead of data.
  bool cache = true;
  double startup_timeout_s = 60;
};

class RpcServerGroup {
 public:
  // Starts every server on a free port and waits until each accepts connections. Throws Error with
  // the server's last log lines when one exits first or misses the timeout (the others are
  // stopped).
  static std::unique_ptr<RpcServerGroup> start(const RpcServerLaunch& launch);

  RpcServerGroup(const RpcServerGroup&) = delete;
  RpcServerGroup& operator=(const RpcServerGroup&) = delete;
  ~RpcServerGroup();  // stop()

  const std::vector<std::string>& endpoints() const { return endpoints_; }  // "127.0.0.1:PORT"
  const std::vector<int>& pids() const { return pids_; }
  // Which servers have exited since they started ("127.0.0.1:PORT exited with status 1"), for errors.
  std::vector<std::string> exited() const;
  // SIGTERM, up to 5 s each, then SIGKILL; reaps. Idempotent.
  void stop();

 private:
  RpcServerGroup() = default;
  std::vector<int> pids_;
  std::vector<std::string> endpoints_;
  std::vector<std::filesystem::path> logs_;
  bool stopped_ = false;
};

// Whether something accepts TCP connections at host:port within `timeout_s` (one attempt), and
// why not ("connection refused", "no such host"): a check before handing an endpoint to llama.cpp,
// which aborts the process when it cannot connect.
std::string tcp_unreachable_reason(const std::string& endpoint, double timeout_s);

}  // namespace uaqf::backend
