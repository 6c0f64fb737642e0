#include "backend/llama/llama_log.h"

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string_view>

#include "llama.h"

namespace uaqf::backend::llama_log {
namespace {

constexpr std::size_t kKeptLines = 8;

struct State {
  std::mutex mutex;
  std::string pending_line;
  ggml_log_level pending_level = GGML_LOG_LEVEL_INFO;
  std::deque<std::string> errors;
  std::deque<std::string> warnings;
  std::function<void(const std::string&)> hook;
  bool verbose = false;
};

State& state() {
  static State instance;
  return instance;
}

std::string trimmed(std::string_view line) {
  const auto first = line.find_first_not_of(" \t\r=");
  const auto last = line.find_last_not_of(" \t\r=");
  if (first == std::string_view::npos) {
    return {};
  }
  return std::string(line.substr(first, last - first + 1));
}

void remember(std::deque<std::string>& lines, std::string line) {
  if (line.empty()) {
    return;
  }
  lines.push_back(std::move(line));
  if (lines.size() > kKeptLines) {
    lines.pop_front();
  }
}

void on_log(ggml_log_level level, const char* text, void* /*user_data*/) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (s.verbose) {
    std::fputs(text, stderr);
  }
  if (level != GGML_LOG_LEVEL_CONT) {
    s.pending_level = level;
  }
  s.pending_line += text;
  std::size_t newline;
  while ((newline = s.pending_line.find('\n')) != std::string::npos) {
    const std::string line = s.pending_line.substr(0, newline);
    s.pending_line.erase(0, newline + 1);
    if (s.pending_level == GGML_LOG_LEVEL_ERROR) {
      remember(s.errors, trimmed(line));
    } else if (s.pending_level == GGML_LOG_LEVEL_WARN) {
      remember(s.warnings, trimmed(line));
    }
    if (s.hook) {
      s.hook(line);
    }
  }
}

}  // namespace

void install() {
  const char* env = std::getenv("UAQF_LLAMA_LOG");
  state().verbose = env != nullptr && std::string_view(env) != "0" && std::string_view(env) != "";
  llama_log_set(on_log, nullptr);
}

void clear_errors() {
  std::lock_guard lock(state().mutex);
  state().errors.clear();
  state().warnings.clear();
}

std::string last_errors() {
  std::lock_guard lock(state().mutex);
  const auto& lines = state().errors.empty() ? state().warnings : state().errors;
  std::string joined;
  for (const auto& line : lines) {
    if (!joined.empty()) {
      joined += "; ";
    }
    joined += line;
  }
  return joined;
}

void set_line_hook(std::function<void(const std::string&)> hook) {
  std::lock_guard lock(state().mutex);
  state().hook = std::move(hook);
}

}  // namespace uaqf::backend::llama_log
