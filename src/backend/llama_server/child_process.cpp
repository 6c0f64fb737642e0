#include "backend/llama_server/child_process.h"

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/error.h"

extern char** environ;  // NOLINT: POSIX

namespace uaqf::backend::detail {
namespace {

// Live children: 0 a free slot, -1 reserved by a spawn under way, > 0 a child's pid. Plain atomics
// so that the signal handler may read them.
constexpr std::size_t kMaxChildren = 64;
std::array<std::atomic<pid_t>, kMaxChildren> g_children{};
static_assert(std::atomic<pid_t>::is_always_lock_free);

constexpr std::array<int, 3> kStopSignals = {SIGINT, SIGTERM, SIGHUP};
std::array<struct sigaction, kStopSignals.size()> g_previous_actions{};
std::once_flag g_handlers_installed;
std::atomic<bool> g_parent_death_signal{true};

// Async-signal-safe: kill() on stored pids only.
void kill_registered_children() noexcept {
  for (auto& slot : g_children) {
    const pid_t pid = slot.load();
    if (pid > 0) {
      kill(-pid, SIGKILL);  // the child's process group
      kill(pid, SIGKILL);   // in case it never got its own group
    }
  }
}

void on_stop_signal(int signal) {
  const int saved_errno = errno;
  kill_registered_children();
  // Back to the action from before (usually the default: die), and the signal again: it is blocked
  // while this handler runs and arrives as soon as it returns, so the exit status names it.
  for (std::size_t i = 0; i < kStopSignals.size(); ++i) {
    if (kStopSignals[i] == signal) {
      sigaction(signal, &g_previous_actions[i], nullptr);
    }
  }
  raise(signal);
  errno = saved_errno;
}

void kill_children_at_exit() { kill_registered_children(); }

void install_handlers() {
  for (std::size_t i = 0; i < kStopSignals.size(); ++i) {
    struct sigaction previous {};
    sigaction(kStopSignals[i], nullptr, &previous);
    // An ignored signal (SIGHUP under nohup) stays ignored: uaqf does not die of it.
    if ((previous.sa_flags & SA_SIGINFO) == 0 && previous.sa_handler == SIG_IGN) {
      continue;
    }
    g_previous_actions[i] = previous;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    for (const int other : kStopSignals) {
      sigaddset(&action.sa_mask, other);
    }
    action.sa_flags = SA_RESTART;
    sigaction(kStopSignals[i], &action, nullptr);
  }
  std::atexit(kill_children_at_exit);
}

std::size_t reserve_slot() {
  for (std::size_t i = 0; i < g_children.size(); ++i) {
    pid_t expected = 0;
    if (g_children[i].compare_exchange_strong(expected, -1)) {
      return i;
    }
  }
  throw Error(ErrorCode::kInternal, fmt::format("more than {} managed llama-server processes at once", kMaxChildren));
}

// A descriptor closed on every path; kept above 2 so that dup2 onto 0-2 always copies it.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd >= 0 && fd <= 2 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : fd) {
    if (fd >= 0 && fd <= 2) {
      ::close(fd);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { close(); }
  int get() const { return fd_; }
  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = -1;
  }

 private:
  int fd_;
};

// Everything the child needs, prepared before fork: after it only async-signal-safe calls.
struct ChildSetup {
  pid_t parent = 0;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int stdin_fd = -1;
  int log_fd = -1;
  int report_fd = -1;  // exec failures go here as an errno; close-on-exec, so EOF means success
  bool parent_death_signal = true;
};

[[noreturn]] void run_child(const ChildSetup& setup) noexcept {
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (const int signal : kStopSignals) {
    sigaction(signal, &default_action, nullptr);
  }
  // Its own process group: a terminal's Ctrl-C goes to uaqf, which stops the server itself.
  setpgid(0, 0);
  int error = 0;
  // Dies with the forking thread; if uaqf is already gone, getppid() names another process.
  if (setup.parent_death_signal && prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    error = errno;
  } else if (setup.parent_death_signal && getppid() != setup.parent) {
    error = ESRCH;
  } else if (dup2(setup.stdin_fd, 0) < 0 || dup2(setup.log_fd, 1) < 0 || dup2(setup.log_fd, 2) < 0) {
    error = errno;
  } else {
    // uaqf's other descriptors (databases, model files, sockets) stay out of the server.
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(setup.argv[0], setup.argv, setup.envp);
    error = errno;
  }
  [[maybe_unused]] const auto written = write(setup.report_fd, &error, sizeof error);
  _exit(127);
}

std::vector<std::string> child_environment() {
  std::vector<std::string> entries;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!text.starts_with("LLAMA_ARG_") && !text.starts_with("AIP_")) {
      entries.emplace_back(text);
    }
  }
  return entries;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& text : strings) {
    pointers.push_back(text.data());
  }
  pointers.push_back(nullptr);
  return pointers;
}

void unregister(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) {
      return;
    }
  }
}

}  // namespace

int spawn_child(const std::vector<std::string>& argv, const std::filesystem::path& log_file) {
  std::call_once(g_handlers_installed, install_handlers);
  const Fd log_fd(open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (log_fd.get() < 0) {
    throw Error(ErrorCode::kIo,
                fmt::format("cannot create llama-server log {}: {}", log_file.string(), std::strerror(errno)));
  }
  const Fd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::array<int, 2> pipe_fds{};
  if (null_fd.get() < 0 || pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    throw Error(ErrorCode::kIo, fmt::format("cannot prepare llama-server's descriptors: {}", std::strerror(errno)));
  }
  Fd report_read(pipe_fds[0]);
  Fd report_write(pipe_fds[1]);
  auto args = argv;
  auto env = child_environment();
  const auto arg_pointers = pointers_to(args);
  const auto env_pointers = pointers_to(env);
  const ChildSetup setup{.parent = getpid(),
                         .argv = arg_pointers.data(),
                         .envp = env_pointers.data(),
                         .stdin_fd = null_fd.get(),
                         .log_fd = log_fd.get(),
                         .report_fd = report_write.get(),
                         .parent_death_signal = g_parent_death_signal.load()};

  const std::size_t slot = reserve_slot();
  // No handler may run in the child before exec, nor in uaqf before the child is registered.
  sigset_t all;
  sigset_t previous_mask;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous_mask);
  const pid_t pid = fork();
  if (pid == 0) {
    run_child(setup);
  }
  const int fork_errno = errno;
  if (pid > 0) {
    setpgid(pid, pid);  // also here, so that the group exists whichever side runs first
    g_children[slot].store(pid);
  } else {
    g_children[slot].store(0);
  }
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  if (pid < 0) {
    throw Error(ErrorCode::kIo, fmt::format("cannot start {}: fork: {}", argv[0], std::strerror(fork_errno)));
  }

  report_write.close();
  int exec_errno = 0;
  ssize_t n_read = 0;
  do {
    n_read = read(report_read.get(), &exec_errno, sizeof exec_errno);
  } while (n_read < 0 && errno == EINTR);
  if (n_read == static_cast<ssize_t>(sizeof exec_errno)) {
    wait_child_exit(pid, -1);
    reap_child(pid);
    throw Error(exec_errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kEngine,
                fmt::format("cannot run {}: {}", argv[0], std::strerror(exec_errno)));
  }
  return pid;
}

std::string ChildExit::describe() const {
  if (signaled) {
    return fmt::format("was killed by signal {} ({})", code, strsignal(code));
  }
  if (code < 0) {
    return "is gone";
  }
  return fmt::format("exited with status {}", code);
}

std::optional<ChildExit> child_exit_now(int pid) {
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno != EINTR) {
      return ChildExit{.signaled = false, .code = -1};  // reaped already (ECHILD)
    }
  }
  if (info.si_pid == 0) {
    return std::nullopt;
  }
  return ChildExit{.signaled = info.si_code != CLD_EXITED, .code = info.si_status};
}

void signal_child(int pid, int signal) {
  if (pid > 0) {
    kill(-pid, signal);
    kill(pid, signal);
  }
}

std::optional<ChildExit> wait_child_exit(int pid, double timeout_s) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    if (auto exit = child_exit_now(pid)) {
      return exit;
    }
    if (timeout_s >= 0 && Clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void reap_child(int pid) {
  // Out of the registry first: once reaped, the pid may belong to someone else.
  unregister(pid);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

void disable_parent_death_signal_for_tests() { g_parent_death_signal.store(false); }

void terminate_child(int pid, double grace_s) {
  if (!child_exit_now(pid)) {
    signal_child(pid, SIGTERM);
    if (!wait_child_exit(pid, grace_s)) {
      signal_child(pid, SIGKILL);
      wait_child_exit(pid, -1);
    }
  }
  reap_child(pid);
}

}  // namespace uaqf::backend::detail
