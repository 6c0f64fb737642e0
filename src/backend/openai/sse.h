#pragma once

// Incremental Server-Sent Events parser (the WHATWG event-stream format) for streamed responses:
// bytes go in as they arrive, complete events come out.

#include <string>
#include <string_view>
#include <vector>

namespace uaqf::backend::openai {

struct SseEvent {
  std::string event;  // the "event:" field; empty for the default ("message")
  std::string data;   // the "data:" lines joined with '\n'
};

class SseParser {
 public:
  // Feeds bytes (any split: lines and events may span feeds); returns the events they completed.
  std::vector<SseEvent> feed(std::string_view bytes);

  // The same without a vector: calls on_event(SseEvent&) for each completed event, in order. The
  // event is the parser's own and is reused after the call (move from it to keep it).
  template <typename OnEvent>
  void feed_each(std::string_view bytes, OnEvent&& on_event);

 private:
  // Handles one complete line; true when it completed an event (left in current_).
  bool take_line(std::string_view line);

  std::string partial_line_;     // bytes of a line that has not ended yet
  bool after_cr_ = false;        // the last byte fed was CR: a leading LF belongs to that line end
  bool at_stream_start_ = true;  // a UTF-8 byte-order mark at the start is skipped
  bool has_data_ = false;        // a data line arrived since the last event
  SseEvent current_;
};

template <typename OnEvent>
void SseParser::feed_each(std::string_view bytes, OnEvent&& on_event) {
  if (at_stream_start_) {
    // A UTF-8 byte-order mark may open the stream, cut anywhere by the first feeds.
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    while (!bytes.empty() && at_stream_start_) {
      if (partial_line_.size() < kBom.size() && bytes.front() == kBom[partial_line_.size()]) {
        partial_line_.push_back(bytes.front());
        bytes.remove_prefix(1);
        if (partial_line_.size() == kBom.size()) {
          partial_line_.clear();
          at_stream_start_ = false;
        }
      } else {
        at_stream_start_ = false;  // no mark: what was held back is the first line's start
      }
    }
    if (at_stream_start_) return;
  }
  if (after_cr_ && !bytes.empty() && bytes.front() == '\n') bytes.remove_prefix(1);
  after_cr_ = false;
  while (!bytes.empty()) {
    const auto end = bytes.find_first_of("\r\n");
    if (end == std::string_view::npos) {
      partial_line_.append(bytes);
      return;
    }
    bool completed = false;
    if (partial_line_.empty()) {
      completed = take_line(bytes.substr(0, end));
    } else {
      partial_line_.append(bytes.substr(0, end));
      completed = take_line(partial_line_);
      partial_line_.clear();
    }
    std::size_t next = end + 1;
    if (bytes[end] == '\r') {
      if (next < bytes.size()) {
        if (bytes[next] == '\n') ++next;
      } else {
        after_cr_ = true;
      }
    }
    bytes.remove_prefix(next);
    if (completed) {
      on_event(current_);
      current_.event.clear();
      current_.data.clear();
    }
  }
}

}  // namespace uaqf::backend::openai
