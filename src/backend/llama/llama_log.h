#pragma once

#include <functional>
#include <string>

namespace uaqf::backend::llama_log {

// Routes llama.cpp/ggml logging into uaqf: silent unless UAQF_LLAMA_LOG=1, but the latest
// error and warning lines are kept so failures can be explained in one line.
void install();

// Forgets remembered errors; call before an operation whose failure you want to explain.
void clear_errors();

// The remembered error lines (or, failing those, warnings) joined by "; ", or "" if none.
std::string last_errors();

// Receives every complete log line while set (nullptr to unset). Used to follow progress.
void set_line_hook(std::function<void(const std::string&)> hook);

}  // namespace uaqf::backend::llama_log
