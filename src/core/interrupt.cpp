#include "core/interrupt.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

namespace uaqf {
namespace {

// The line is formatted ahead, into a fixed buffer: a signal handler may only write(2) it.
constexpr std::size_t kMaxLine = 1024;
std::array<char, kMaxLine> g_line{};
std::atomic<std::size_t> g_length{0};
std::once_flag g_installed;

void on_interrupt(int signal) {
  const int saved_errno = errno;
  const std::size_t length = g_length.load();
  if (length > 0) {
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, g_line.data(), length);
  }
  // Die of the signal as before, so that the exit status still names it.
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
  raise(signal);
  errno = saved_errno;
}

}  // namespace

void say_on_interrupt(const std::string& what_was_kept) {
  // "\n" first: the interrupted progress line ("measure F16 ...") has no end of its own.
  const std::string line = "\nuaqf: interrupted: " + what_was_kept + "\n";
  g_length.store(0);
  const std::size_t length = std::min(line.size(), kMaxLine);
  std::memcpy(g_line.data(), line.data(), length);
  if (length == kMaxLine) {
    g_line[kMaxLine - 1] = '\n';
  }
  g_length.store(length);
  std::call_once(g_installed, [] {
    for (const int signal : {SIGINT, SIGTERM}) {
      struct sigaction previous {};
      sigaction(signal, nullptr, &previous);
      if ((previous.sa_flags & SA_SIGINFO) == 0 && previous.sa_handler == SIG_IGN) {
        continue;  // an ignored signal (a background job's SIGINT) stays ignored
      }
      struct sigaction action {};
      action.sa_handler = on_interrupt;
      sigemptyset(&action.sa_mask);
      sigaddset(&action.sa_mask, SIGINT);
      sigaddset(&action.sa_mask, SIGTERM);
      action.sa_flags = SA_RESTART;
      sigaction(signal, &action, nullptr);
    }
  });
}

}  // namespace uaqf
