#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace uaqf {

bool is_terminal(std::FILE* stream);

// Progress of one long step on stderr. On a terminal it redraws one line; otherwise it prints a
// line when the step starts and one when it ends, so logs stay quiet and greppable.
class Progress {
 public:
  explicit Progress(std::string label, std::FILE* stream = stderr);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(long done, long total);
  // Ends the step with a short outcome ("done", "failed", "up to date").
  void finish(const std::string& outcome);

 private:
  std::string label_;
  std::FILE* stream_;
  bool interactive_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace uaqf
