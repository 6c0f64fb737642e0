#include "core/terminal.h"

#include <unistd.h>

#include <fmt/format.h>

namespace uaqf {

bool is_terminal(std::FILE* stream) { return isatty(fileno(stream)) == 1; }

Progress::Progress(std::string label, std::FILE* stream)
    : label_(std::move(label)),
      stream_(stream),
      interactive_(is_terminal(stream)),
      start_(std::chrono::steady_clock::now()) {
  if (interactive_) {
    fmt::print(stream_, "\r\033[K{} ...", label_);
  } else {
    fmt::print(stream_, "{} ...\n", label_);
  }
  std::fflush(stream_);
}

Progress::~Progress() {
  if (!finished_) {
    finish("interrupted");
  }
}

void Progress::update(long done, long total) {
  if (!interactive_ || total <= 0) {
    return;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  fmt::print(stream_, "\r\033[K{} [{}/{}] {:3.0f}% {:.1f}s", label_, done, total,
             100.0 * static_cast<double>(done) / static_cast<double>(total), seconds);
  std::fflush(stream_);
}

void Progress::finish(const std::string& outcome) {
  finished_ = true;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (interactive_) {
    fmt::print(stream_, "\r\033[K{}: {} ({:.1f}s)\n", label_, outcome, seconds);
  } else {
    fmt::print(stream_, "{}: {} ({:.1f}s)\n", label_, outcome, seconds);
  }
  std::fflush(stream_);
}

}  // namespace uaqf
