// Managed llama-server processes on the tiny model (label `server`): start, answer, stop, fail
// fast and clearly, and never outlive the process that started them, however it ends.
// A missing model fails these tests; it never skips them.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "backend/llama_server/managed_server.h"
#include "core/error.h"

namespace uaqf::backend {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::duration;

fs::path tiny_model() {
  const char* env = std::getenv("UAQF_SHARED_DIR");
  const fs::path shared = env != nullptr && *env != '\0' ? fs::path(env) : fs::path(UAQF_DEFAULT_SHARED_DIR);
  return shared / "models" / "uaqf-tiny" / "uaqf-tiny-15m-f16.gguf";
}

struct HttpResponse {
  long status = 0;
  std::string body;
};

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// GET `url`, or POST `json_body` to it when given.
HttpResponse http(const std::string& url, const std::optional<std::string>& json_body = std::nullopt) {
  HttpResponse response;
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 60000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  if (json_body) {
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_body->c_str());
  }
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return response;
}

// Gone: reaped if it was (or became, as an orphan of ours) our child, and no longer signalable.
bool process_gone(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, WNOHANG);
  return kill(pid, 0) == -1 && errno == ESRCH;
}

bool wait_gone(pid_t pid, double timeout_s) {
  const auto deadline = Clock::now() + duration<double>(timeout_s);
  while (!process_gone(pid)) {
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// No child of this process, running or unreaped.
bool no_children_left() {
  int status = 0;
  return waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
}

bool is_llama_server(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string command;
  std::getline(in, command, '\0');
  return command.find("llama-server") != std::string::npos;
}

// Leaves nothing behind, whatever a test did: a live llama-server is killed, and so is our own child.
void kill_leftover(pid_t pid) {
  if (pid <= 0 || process_gone(pid)) {
    return;
  }
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == 0 || is_llama_server(pid)) {
    kill(pid, SIGKILL);
    wait_gone(pid, 5);
  }
}

class ManagedServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Orphaned servers come to this process, which can then reap them and see them gone.
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ASSERT_TRUE(fs::exists(tiny_model()))
        << "tiny model missing: " << tiny_model() << " (set UAQF_SHARED_DIR to the shared folder)";
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '-');  // parameterized: "Name/INT"
    dir_ = fs::temp_directory_path() / ("uaqf-server-test-" + std::to_string(getpid()) + "-" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (const pid_t pid : pids_) {
      kill_leftover(pid);
    }
    fs::remove_all(dir_);
  }
  static ServerLaunch tiny_launch() {
    ServerLaunch launch;
    launch.server_binary = UAQF_LLAMA_SERVER_BINARY;
    launch.model = tiny_model();
    launch.n_ctx = 512;
    launch.startup_timeout_s = 60;
    return launch;
  }
  std::unique_ptr<ManagedServer> start(const ServerLaunch& launch) {
    auto server = ManagedServer::start(launch);
    pids_.push_back(server->pid());
    return server;
  }
  fs::path bad_model() const {
    const fs::path path = dir_ / "bad.gguf";
    std::ofstream(path) << "this is not a GGUF file\n";
    return path;
  }
  // start() must fail with one line starting "<prefix>" and containing `needle`, within `max_s`.
  void expect_start_fails(const ServerLaunch& launch, const std::string& prefix, const std::string& needle,
                          double max_s) {
    const auto begin = Clock::now();
    try {
      start(launch);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      const double elapsed_s = duration<double>(Clock::now() - begin).count();
      const std::string message = e.what();
      EXPECT_EQ(e.code(), ErrorCode::kEngine);
      EXPECT_EQ(message.rfind(prefix, 0), 0U) << message;
      EXPECT_NE(message.find(needle), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      EXPECT_LT(elapsed_s, max_s) << message;
      std::cout << "error after " << elapsed_s << " s: " << message << "\n";
    }
  }
  fs::path dir_;
  std::vector<pid_t> pids_;
};

TEST_F(ManagedServerTest, StartsAnswersAndStopsWithoutATrace) {
  auto server = start(tiny_launch());
  const int pid = server->pid();
  std::cout << "command line:";
  for (const auto& arg : server->argv()) {
    std::cout << " " << arg;
  }
  std::cout << "\n";
  EXPECT_EQ(server->argv(), server_command_line(tiny_launch(), server->port()));
  EXPECT_EQ(server->root_url(), "http://127.0.0.1:" + std::to_string(server->port()));
  EXPECT_EQ(server->base_url(), server->root_url() + "/v1");
  EXPECT_EQ(http(server->root_url() + "/health").status, 200);

  const auto response =
      http(server->base_url() + "/completions", R"({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0})");
  ASSERT_EQ(response.status, 200) << response.body;
  const auto body = nlohmann::json::parse(response.body);
  ASSERT_FALSE(body.at("choices").empty()) << response.body;
  EXPECT_TRUE(body["choices"][0].at("text").is_string()) << response.body;

  const fs::path log = server->log_file();
  EXPECT_TRUE(fs::exists(log));
  server->stop();
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(fs::exists(log)) << "a temporary log goes with the server";
  EXPECT_TRUE(no_children_left());
  server->stop();  // idempotent
  EXPECT_EQ(server->pid(), pid);
}

TEST_F(ManagedServerTest, EveryRuntimeSettingIsAccepted) {
  auto launch = tiny_launch();
  launch.n_ctx = 1024;
  launch.n_parallel = 2;
  launch.kv_cache_type = "q8_0";
  launch.flash_attention = FlashAttention::kOn;
  launch.n_gpu_layers = 0;
  launch.n_threads = 2;
  launch.n_batch = 512;
  launch.n_ubatch = 128;
  launch.extra_args = {"--no-warmup"};
  launch.log_file = dir_ / "server.log";
  auto server = start(launch);
  EXPECT_EQ(http(server->root_url() + "/health").status, 200);
  const auto props = http(server->root_url() + "/props");
  ASSERT_EQ(props.status, 200);
  EXPECT_EQ(nlohmann::json::parse(props.body).value("total_slots", 0), 2) << props.body;
  server.reset();  // the destructor stops it
  EXPECT_TRUE(process_gone(pids_.back()));
  std::ifstream in(launch.log_file);
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("listening on http://127.0.0.1:"), std::string::npos) << "a given log file is kept";
}

TEST_F(ManagedServerTest, BadModelFileFailsWithinASecondInOneLine) {
  auto launch = tiny_launch();
  launch.model = bad_model();
  launch.log_file = dir_ / "server.log";
  expect_start_fails(launch, "llama-server exited with status 1 while starting: ", "invalid magic", 1.5);
  EXPECT_TRUE(no_children_left());
}

TEST_F(ManagedServerTest, UnknownKvTypeFailsWithinASecondInOneLine) {
  auto launch = tiny_launch();
  launch.kv_cache_type = "q3_bogus";
  launch.log_file = dir_ / "server.log";
  expect_start_fails(launch, "llama-server exited with status 1 while starting: ", "Unsupported cache type: q3_bogus",
                     1.5);
}

TEST_F(ManagedServerTest, MissedStartupTimeoutStopsTheServer) {
  auto launch = tiny_launch();
  launch.startup_timeout_s = 0;
  launch.log_file = dir_ / "server.log";
  expect_start_fails(launch, "llama-server did not become ready within 0 s", "server.log", 10);
  EXPECT_TRUE(no_children_left());
}

TEST_F(ManagedServerTest, TwoServersAtOnceGetTheirOwnPorts) {
  auto first = start(tiny_launch());
  auto second = start(tiny_launch());
  EXPECT_NE(first->port(), second->port());
  EXPECT_NE(first->pid(), second->pid());
  EXPECT_EQ(http(first->root_url() + "/health").status, 200);
  EXPECT_EQ(http(second->root_url() + "/health").status, 200);
}

// A socket bound (not listening) to a loopback port: the server cannot bind it.
class BusyPort {
 public:
  BusyPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    auto* generic = reinterpret_cast<sockaddr*>(&address);
    if (bind(fd_, generic, sizeof address) == 0 && getsockname(fd_, generic, &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  BusyPort(const BusyPort&) = delete;
  BusyPort& operator=(const BusyPort&) = delete;
  ~BusyPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST_F(ManagedServerTest, TakenPortIsRetriedOnAnother) {
  const BusyPort busy;
  ASSERT_GT(busy.port(), 0);
  int n_picked = 0;
  auto server =
      detail::start_with_ports(tiny_launch(), [&] { return n_picked++ == 0 ? busy.port() : pick_free_port(); });
  pids_.push_back(server->pid());
  EXPECT_EQ(n_picked, 2);
  EXPECT_NE(server->port(), busy.port());
  EXPECT_EQ(http(server->root_url() + "/health").status, 200);
}

TEST_F(ManagedServerTest, PortsTakenEveryTimeGiveUpAfterThreeRetries) {
  const BusyPort busy;
  ASSERT_GT(busy.port(), 0);
  auto launch = tiny_launch();
  launch.log_file = dir_ / "server.log";
  int n_picked = 0;
  try {
    detail::start_with_ports(launch, [&] {
      ++n_picked;
      return busy.port();
    });
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("could not bind any of the ports"), std::string::npos) << e.what();
  }
  // The server may exit before its log thread writes the bind error: the port, still held, tells.
  EXPECT_EQ(n_picked, 4);
}

// managed_server_child, which holds a server: its pid, the server's pid, and its stdout.
struct Holder {
  pid_t pid = -1;
  pid_t server_pid = -1;
};

class OrphanTest : public ManagedServerTest {
 protected:
  // Starts the holder and reads the server's pid from it.
  Holder start_holder(const std::string& mode) {
    std::array<int, 2> fds{};
    EXPECT_EQ(pipe2(fds.data(), O_CLOEXEC), 0);
    Holder holder;
    holder.pid = fork();
    if (holder.pid == 0) {
      // As from a shell: the default actions, whatever this runner ignores.
      for (const int signal : {SIGINT, SIGTERM, SIGHUP}) {
        std::signal(signal, SIG_DFL);
      }
      dup2(fds[1], 1);
      setenv("TMPDIR", dir_.c_str(), 1);  // the server's temporary log, left behind by a killed holder
      execl(UAQF_SERVER_CHILD_BINARY, UAQF_SERVER_CHILD_BINARY, UAQF_LLAMA_SERVER_BINARY, tiny_model().c_str(),
            mode.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    pids_.push_back(holder.pid);
    const std::string line = read_line(fds[0], 60);
    close(fds[0]);
    if (line.rfind("pid ", 0) == 0) {
      holder.server_pid = std::stoi(line.substr(4));
      pids_.push_back(holder.server_pid);
    }
    return holder;
  }
  static std::string read_line(int fd, double timeout_s) {
    const auto deadline = Clock::now() + duration<double>(timeout_s);
    std::string line;
    char c = 0;
    while (Clock::now() < deadline) {
      pollfd poll_fd{.fd = fd, .events = POLLIN, .revents = 0};
      if (poll(&poll_fd, 1, 100) == 1 && read(fd, &c, 1) == 1) {
        if (c == '\n') {
          return line;
        }
        line += c;
      } else if ((poll_fd.revents & POLLHUP) != 0) {
        break;
      }
    }
    return line;
  }
  // The holder's wait status, once it has ended (nullopt if not within `timeout_s`).
  static std::optional<int> wait_status(pid_t pid, double timeout_s) {
    const auto deadline = Clock::now() + duration<double>(timeout_s);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (Clock::now() >= deadline) {
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status;
  }
};

TEST_F(OrphanTest, Kill9OfTheOwnerTakesTheServerAlong) {
  const auto holder = start_holder("wait");
  ASSERT_GT(holder.server_pid, 0);
  ASSERT_EQ(kill(holder.server_pid, 0), 0);
  ASSERT_TRUE(is_llama_server(holder.server_pid));
  ASSERT_EQ(kill(holder.pid, SIGKILL), 0);
  const auto status = wait_status(holder.pid, 10);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);
  EXPECT_TRUE(wait_gone(holder.server_pid, 5)) << "llama-server " << holder.server_pid << " outlived kill -9";
}

// Without PR_SET_PDEATHSIG: the exit handler alone stops the server.
TEST_F(OrphanTest, ExitWithALeakedServerStopsIt) {
  const auto holder = start_holder("exit-handlers-only");
  ASSERT_GT(holder.server_pid, 0);
  const auto status = wait_status(holder.pid, 10);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_TRUE(wait_gone(holder.server_pid, 5)) << "llama-server " << holder.server_pid << " outlived exit()";
}

class OrphanSignalTest : public OrphanTest, public ::testing::WithParamInterface<int> {};

// Without PR_SET_PDEATHSIG: the signal handler alone stops the server, and the owner still dies of
// the signal.
TEST_P(OrphanSignalTest, SignalStopsTheServerAndTheOwnerDiesOfIt) {
  const int signal = GetParam();
  const auto holder = start_holder("wait-handlers-only");
  ASSERT_GT(holder.server_pid, 0);
  ASSERT_EQ(kill(holder.server_pid, 0), 0);
  ASSERT_EQ(kill(holder.pid, signal), 0);
  const auto status = wait_status(holder.pid, 10);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status)) << "status " << *status;
  EXPECT_EQ(WTERMSIG(*status), signal);
  EXPECT_TRUE(wait_gone(holder.server_pid, 5)) << "llama-server " << holder.server_pid << " outlived " << signal;
}

std::string signal_name(const ::testing::TestParamInfo<int>& param) { return sigabbrev_np(param.param); }

INSTANTIATE_TEST_SUITE_P(Signals, OrphanSignalTest, ::testing::Values(SIGINT, SIGTERM, SIGHUP), signal_name);

}  // namespace
}  // namespace uaqf::backend
