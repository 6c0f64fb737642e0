#include "backend/llama_server/rpc_servers.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "backend/llama_server/child_process.h"
#include "backend/llama_server/managed_server.h"
#include "core/error.h"

namespace uaqf::backend {
namespace fs = std::filesystem;

namespace {

constexpr double kRpcStopGraceS = 5;
constexpr auto kRpcPollInterval = std::chrono::milliseconds(50);

fs::path rpc_log_path() {
  static std::atomic<int> counter{0};
  return fs::temp_directory_path() / fmt::format("uaqf-rpc-server-{}-{}.log", getpid(), counter++);
}

// The last non-empty lines of a server's log, joined: what an error quotes.
std::string rpc_log_tail(const fs::path& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  if (lines.empty()) {
    return fmt::format("its log {} is empty", log.string());
  }
  const std::size_t first = lines.size() > 3 ? lines.size() - 3 : 0;
  std::string tail;
  for (std::size_t i = first; i < lines.size(); ++i) {
    tail += (i > first ? " | " : "") + lines[i];
  }
  return fmt::format("{} (log {})", tail, log.string());
}

std::vector<std::string> rpc_command_line(const RpcServerLaunch& launch, const std::string& device, int port) {
  std::vector<std::string> argv{launch.binary.string(), "-H", "127.0.0.1", "-p", std::to_string(port)};
  if (!device.empty()) {
    argv.insert(argv.end(), {"-d", device});
  }
  if (launch.n_threads > 0) {
    argv.insert(argv.end(), {"-t", std::to_string(launch.n_threads)});
  }
  if (launch.cache) {
    argv.emplace_back("-c");
  }
  return argv;
}

// Polls until the server accepts connections; throws (the child reaped) when it exits first or
// misses the timeout.
void wait_until_rpc_listening(int pid, int port, double timeout_s, const fs::path& log) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  const std::string endpoint = fmt::format("127.0.0.1:{}", port);
  for (;;) {
    if (const auto exit = detail::child_exit_now(pid)) {
      detail::reap_child(pid);
      throw Error(ErrorCode::kEngine,
                  fmt::format("rpc-server on {} {} while starting: {}", endpoint, exit->describe(), rpc_log_tail(log)));
    }
    if (tcp_unreachable_reason(endpoint, 1.0).empty()) {
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      detail::terminate_child(pid, kRpcStopGraceS);
      throw Error(ErrorCode::kEngine, fmt::format("rpc-server on {} did not accept connections within {} s: {}",
                                                  endpoint, timeout_s, rpc_log_tail(log)));
    }
    std::this_thread::sleep_for(kRpcPollInterval);
  }
}

}  // namespace

std::unique_ptr<RpcServerGroup> RpcServerGroup::start(const RpcServerLaunch& launch) {
  RpcServerLaunch resolved = launch;
  if (resolved.binary.empty()) {
    resolved.binary = find_llama_tool(kRpcServerTool);
  }
  std::unique_ptr<RpcServerGroup> group(new RpcServerGroup());
  for (const auto& device : resolved.devices) {
    const int port = pick_free_port();
    const fs::path log = rpc_log_path();
    const int pid = detail::spawn_child(rpc_command_line(resolved, device, port), log);
    group->pids_.push_back(pid);
    group->logs_.push_back(log);
    group->endpoints_.push_back(fmt::format("127.0.0.1:{}", port));
    try {
      wait_until_rpc_listening(pid, port, resolved.startup_timeout_s, log);
    } catch (...) {
      group->pids_.pop_back();  // reaped already
      throw;                    // ~RpcServerGroup stops the others
    }
  }
  return group;
}

RpcServerGroup::~RpcServerGroup() {
  try {
    stop();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw; the children die with uaqf
  }
}

std::vector<std::string> RpcServerGroup::exited() const {
  std::vector<std::string> gone;
  for (std::size_t i = 0; i < pids_.size(); ++i) {
    if (const auto exit = detail::child_exit_now(pids_[i])) {
      gone.push_back(fmt::format("{} {}", endpoints_[i], exit->describe()));
    }
  }
  return gone;
}

void RpcServerGroup::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  for (const int pid : pids_) {
    detail::terminate_child(pid, kRpcStopGraceS);
  }
  for (const auto& log : logs_) {
    std::error_code ec;
    fs::remove(log, ec);
  }
}

std::string tcp_unreachable_reason(const std::string& endpoint, double timeout_s) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == endpoint.size()) {
    return fmt::format("'{}' is not host:port", endpoint);
  }
  const std::string host = endpoint.substr(0, colon);
  const std::string port = endpoint.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return fmt::format("cannot resolve {}: {}", endpoint, gai_strerror(rc));
  }
  std::string reason = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      reason = std::strerror(errno);
      continue;
    }
    int error = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (error == EINPROGRESS) {
      pollfd waiting{.fd = fd, .events = POLLOUT, .revents = 0};
      const int ready = poll(&waiting, 1, static_cast<int>(timeout_s * 1000));
      socklen_t length = sizeof error;
      error = ready == 1 ? (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 ? error : errno) : ETIMEDOUT;
    }
    close(fd);
    if (error == 0) {
      freeaddrinfo(found);
      return "";
    }
    reason = std::strerror(error);
  }
  freeaddrinfo(found);
  return fmt::format("cannot connect to {}: {}", endpoint, reason);
}

}  // namespace uaqf::backend
