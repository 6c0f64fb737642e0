#include "backend/llama_server/managed_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <optional>
#include <string_view>
#include <thread>

#include <curl/curl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backend/llama_server/child_process.h"
#include "core/error.h"
#include "core/files.h"

namespace uaqf::backend {
namespace fs = std::filesystem;

namespace {

constexpr int kPortRetries = 3;  // a port taken between pick_free_port() and the server's bind
constexpr double kStopGraceS = 5;
constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr std::size_t kLogTailBytes = 64 * 1024;
constexpr std::size_t kQuotedLogLines = 3;
// What the server logs when its port is taken (tools/server/server-http.cpp).
constexpr std::string_view kBindFailure = "couldn't bind HTTP server socket";

std::string root_url_for(int port) { return fmt::format("http://127.0.0.1:{}", port); }

struct LogLine {
  char level = ' ';  // I, W, E, ... of the server's log prefix; ' ' for lines without one
  std::string text;
};

// "0.00.010.854 E srv  load_model: ..." -> {'E', "srv  load_model: ..."}.
LogLine parse_log_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.remove_suffix(1);
  }
  const auto space = line.find(' ');
  const bool has_prefix = space != std::string_view::npos && space > 0 && space + 2 < line.size() &&
                          line[space + 2] == ' ' &&
                          std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(space),
                                      [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
  if (has_prefix) {
    return {line[space + 1], std::string(line.substr(space + 3))};
  }
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    line.remove_prefix(1);
  }
  return {' ', std::string(line)};
}

// The non-empty lines of the log's last kLogTailBytes.
std::vector<LogLine> read_log_tail(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::streamoff>(in.tellg());
  in.seekg(std::max<std::streamoff>(0, size - static_cast<std::streamoff>(kLogTailBytes)));
  std::vector<LogLine> lines;
  std::string line;
  while (std::getline(in, line)) {
    auto parsed = parse_log_line(line);
    if (!parsed.text.empty()) {
      lines.push_back(std::move(parsed));
    }
  }
  return lines;
}

bool log_says_port_taken(const fs::path& path) {
  const auto lines = read_log_tail(path);
  return std::any_of(lines.begin(), lines.end(),
                     [](const LogLine& line) { return line.text.find(kBindFailure) != std::string::npos; });
}

// The log's first error (the cause; later lines are its consequences and the usage text), then its
// last lines and where it is: one line, for messages.
std::string log_summary(const fs::path& path) {
  const auto lines = read_log_tail(path);
  if (lines.empty()) {
    return fmt::format("its log is empty ({})", path.string());
  }
  const auto error = std::find_if(lines.begin(), lines.end(), [](const LogLine& line) {
    return line.level == 'E' || line.text.starts_with("error");
  });
  const std::string& headline = error != lines.end() ? error->text : lines.back().text;
  std::vector<std::string> last;
  for (auto it = lines.end() - static_cast<std::ptrdiff_t>(std::min(kQuotedLogLines, lines.size())); it != lines.end();
       ++it) {
    last.push_back(it->text);
  }
  return fmt::format("{} (log {} ends: {})", headline, path.string(), fmt::join(last, " | "));
}

std::once_flag g_curl_initialized;

// GET /health with one reused connection.
class HealthProbe {
 public:
  explicit HealthProbe(const std::string& url) {
    std::call_once(g_curl_initialized, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (curl_ == nullptr) {
      throw Error(ErrorCode::kInternal, "libcurl: curl_easy_init failed");
    }
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a threaded program
    curl_easy_setopt(curl_, CURLOPT_NOPROXY, "*");  // http_proxy must not see loopback requests
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, 250L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &HealthProbe::discard);
  }
  HealthProbe(const HealthProbe&) = delete;
  HealthProbe& operator=(const HealthProbe&) = delete;
  ~HealthProbe() { curl_easy_cleanup(curl_); }

  // The HTTP status, 0 without an answer (not listening yet, timeout).
  long get() {
    long status = 0;
    if (curl_easy_perform(curl_) == CURLE_OK) {
      curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    }
    return status;
  }

 private:
  static std::size_t discard(char* /*data*/, std::size_t size, std::size_t count, void* /*user*/) {
    return size * count;
  }
  CURL* curl_ = nullptr;
};

// True once GET /health answers 200; false when the server exited because its port was taken.
// Throws when it exited for another reason or missed the timeout (the child is then gone).
bool wait_until_ready(int pid, int port, double timeout_s, const fs::path& log) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  bool reaped = false;
  try {
    HealthProbe probe(root_url_for(port) + "/health");
    for (;;) {
      if (const auto exit = detail::child_exit_now(pid)) {
        detail::reap_child(pid);
        reaped = true;
        // The log says so, or (its last lines may not be flushed when the server exits at once) the
        // port is still held by someone else.
        if (!exit->signaled && (log_says_port_taken(log) || loopback_port_in_use(port))) {
          return false;
        }
        throw Error(ErrorCode::kEngine,
                    fmt::format("llama-server {} while starting: {}", exit->describe(), log_summary(log)));
      }
      const long status = probe.get();
      if (status == 200) {
        return true;
      }
      if (Clock::now() >= deadline) {
        detail::terminate_child(pid, kStopGraceS);
        reaped = true;
        throw Error(ErrorCode::kEngine,
                    fmt::format("llama-server did not become ready within {} s (GET /health: {}): {}", timeout_s,
                                status == 0 ? std::string("no answer") : std::to_string(status), log_summary(log)));
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  } catch (...) {
    if (!reaped) {
      detail::terminate_child(pid, kStopGraceS);
    }
    throw;
  }
}

fs::path temp_log_path() {
  static std::atomic<int> counter{0};
  return fs::temp_directory_path() / fmt::format("uaqf-llama-server-{}-{}.log", getpid(), counter++);
}

}  // namespace

namespace detail {

std::unique_ptr<ManagedServer> start_with_ports(const ServerLaunch& launch, const PortPicker& pick_port) {
  require_readable_file(launch.model, "model");
  ServerLaunch resolved = launch;
  if (resolved.server_binary.empty()) {
    resolved.server_binary = find_llama_server();
  }
  const bool temp_log = launch.log_file.empty();
  const fs::path log = temp_log ? temp_log_path() : launch.log_file;
  std::vector<int> ports_tried;
  for (int attempt = 0; attempt <= kPortRetries; ++attempt) {
    const int port = pick_port();
    ports_tried.push_back(port);
    auto argv = server_command_line(resolved, port);
    const int pid = spawn_child(argv, log);
    if (wait_until_ready(pid, port, launch.startup_timeout_s, log)) {
      return std::unique_ptr<ManagedServer>(new ManagedServer(pid, port, std::move(argv), log, temp_log));
    }
  }
  throw Error(ErrorCode::kEngine, fmt::format("llama-server could not bind any of the ports {}: {}",
                                              fmt::join(ports_tried, ", "), log_summary(log)));
}

}  // namespace detail

std::unique_ptr<ManagedServer> ManagedServer::start(const ServerLaunch& launch) {
  return detail::start_with_ports(launch, pick_free_port);
}

ManagedServer::ManagedServer(int pid, int port, std::vector<std::string> argv, fs::path log_file, bool temp_log)
    : pid_(pid), port_(port), argv_(std::move(argv)), log_file_(std::move(log_file)), temp_log_(temp_log) {}

ManagedServer::~ManagedServer() {
  try {
    stop();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw; the child is gone anyway
  }
}

std::string ManagedServer::root_url() const { return root_url_for(port_); }

std::string ManagedServer::base_url() const { return root_url_for(port_) + "/v1"; }

void ManagedServer::stop() {
  const std::lock_guard lock(mutex_);
  if (stopped_) {
    return;
  }
  detail::terminate_child(pid_, kStopGraceS);
  stopped_ = true;
  if (temp_log_) {
    std::error_code ec;
    fs::remove(log_file_, ec);
  }
}

}  // namespace uaqf::backend
