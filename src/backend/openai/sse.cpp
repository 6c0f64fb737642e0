#include "backend/openai/sse.h"

namespace uaqf::backend::openai {

std::vector<SseEvent> SseParser::feed(std::string_view bytes) {
  std::vector<SseEvent> events;
  feed_each(bytes, [&](SseEvent& event) { events.push_back(std::move(event)); });
  return events;
}

bool SseParser::take_line(std::string_view line) {
  if (line.empty()) {
    // A blank line ends the event; one without data lines is dropped (the format says so).
    const bool dispatch = has_data_;
    has_data_ = false;
    if (!dispatch) current_.event.clear();
    return dispatch;
  }
  if (line.front() == ':') return false;  // a comment (servers send ":" as keep-alive)
  const auto colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) current_.data.push_back('\n');
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.event.assign(value);
  }
  // "id" and "retry" do not matter for one-shot streams; unknown fields are ignored.
  return false;
}

}  // namespace uaqf::backend::openai
