// The server's command line, where its binary is, and which port it gets.

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <system_error>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "backend/llama_server/managed_server.h"
#include "core/error.h"

namespace uaqf::backend {
namespace fs = std::filesystem;

std::vector<std::string> server_command_line(const ServerLaunch& launch, int port) {
  // Flags as the pinned tree's common/arg.cpp spells them. Its -ngl default is "auto" (fit to free
  // device memory); uaqf's -1 means every layer, as the embedded engine loads them.
  std::vector<std::string> argv = {launch.server_binary.string(),
                                   "-m",
                                   launch.model.string(),
                                   "--host",
                                   "127.0.0.1",
                                   "--port",
                                   std::to_string(port),
                                   "-c",
                                   std::to_string(launch.n_ctx),
                                   "-np",
                                   std::to_string(launch.n_parallel),
                                   "-ctk",
                                   launch.kv_cache_type,
                                   "-ctv",
                                   launch.kv_cache_type,
                                   "-fa",
                                   to_string(launch.flash_attention),
                                   "-ngl",
                                   gpu_layers_to_string(launch.n_gpu_layers)};
  if (launch.n_threads > 0) {
    argv.insert(argv.end(), {"-t", std::to_string(launch.n_threads)});
  }
  argv.insert(argv.end(), {"-b", std::to_string(launch.n_batch), "-ub", std::to_string(launch.n_ubatch), "--cache-ram",
                           std::to_string(launch.prompt_cache_mib)});
  argv.insert(argv.end(), launch.extra_args.begin(), launch.extra_args.end());
  return argv;
}

namespace {

bool is_executable_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && access(path.c_str(), X_OK) == 0;
}

}  // namespace

fs::path find_llama_tool_in(const LlamaTool& tool, const char* env_value, const fs::path& exe_dir,
                            const std::string& path_list) {
  if (env_value != nullptr && *env_value != '\0') {
    if (!is_executable_file(env_value)) {
      throw Error(ErrorCode::kNotFound, fmt::format("{}={} is not an executable file (it names the {} binary)",
                                                    tool.env_var, env_value, tool.name));
    }
    return fs::absolute(env_value);
  }
  if (!exe_dir.empty() && is_executable_file(exe_dir / tool.name)) {
    return exe_dir / tool.name;
  }
  std::string_view rest = path_list;
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string_view dir = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    const fs::path candidate = fs::path(dir.empty() ? std::string_view(".") : dir) / tool.name;
    if (is_executable_file(candidate)) {
      return fs::absolute(candidate);
    }
  }
  throw Error(ErrorCode::kNotFound,
              fmt::format("{0} not found: {1} is unset, {2} does not exist and PATH has none; "
                          "build it from uaqf's llama.cpp tree with `cmake --build <build dir> --target {0}` "
                          "(it lands next to uaqf) or set {1} to its path",
                          tool.name, tool.env_var, (exe_dir / tool.name).string()));
}

fs::path find_llama_server_in(const char* env_value, const fs::path& exe_dir, const std::string& path_list) {
  return find_llama_tool_in(kLlamaServerTool, env_value, exe_dir, path_list);
}

Capabilities llama_server_capabilities() {
  return {.supported = {Capability::kGenerate, Capability::kStreaming, Capability::kPromptLogprobs,
                        Capability::kTopLogprobs}};
}

fs::path find_llama_tool(const LlamaTool& tool) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  const char* path_list = std::getenv("PATH");
  return find_llama_tool_in(tool, std::getenv(tool.env_var), ec ? fs::path() : exe.parent_path(),
                            path_list != nullptr ? path_list : "");
}

fs::path find_llama_server() { return find_llama_tool(kLlamaServerTool); }

int pick_free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw Error(ErrorCode::kIo, fmt::format("cannot open a socket to find a free port: {}", std::strerror(errno)));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  // sockaddr_in is how the socket API takes an IPv4 address.
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  const bool ok = bind(fd, generic, sizeof address) == 0 && getsockname(fd, generic, &length) == 0;
  const int bind_errno = errno;
  close(fd);
  if (!ok) {
    throw Error(ErrorCode::kIo,
                fmt::format("cannot bind 127.0.0.1:0 to find a free port: {}", std::strerror(bind_errno)));
  }
  return ntohs(address.sin_port);
}

bool loopback_port_in_use(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as servers bind: TIME_WAIT is no conflict
  const bool taken = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno == EADDRINUSE;
  close(fd);
  return taken;
}

}  // namespace uaqf::backend
