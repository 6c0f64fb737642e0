// The streamed responses of OpenAI-compatible servers: the SSE parser (any split of the bytes must
// give the same events as one feed) and every event's data through apply_stream_data, which must
// take the chunk or mark the record failed, never throw. The probe's body parsers run on the
// whole input too. The first byte seeds the split points.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/openai/chunks.h"
#include "backend/openai/sse.h"
#include "fuzz_support.h"

namespace {

using uaqf::backend::openai::SseEvent;
using uaqf::backend::openai::SseParser;

std::vector<SseEvent> feed_split(std::string_view bytes, uint8_t seed) {
  SseParser parser;
  std::vector<SseEvent> events;
  std::size_t step = 1 + seed % 7;
  while (!bytes.empty()) {
    const std::size_t n = std::min(step, bytes.size());
    for (auto& event : parser.feed(bytes.substr(0, n))) {
      events.push_back(std::move(event));
    }
    bytes.remove_prefix(n);
    step = 1 + (step * 5 + seed) % 13;
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view stream = uaqf::fuzz::as_text(data + 1, size - 1);
  SseParser whole;
  const std::vector<SseEvent> events = whole.feed(stream);
  const std::vector<SseEvent> split = feed_split(stream, data[0]);
  if (split.size() != events.size()) {
    std::abort();  // the split changed what was parsed
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (split[i].event != events[i].event || split[i].data != events[i].data) {
      std::abort();
    }
  }
  uaqf::backend::openai::GenerationRecord record;
  const bool want_logprobs = (data[0] & 0x80) != 0;
  double arrival_s = 0;
  for (const auto& event : events) {
    arrival_s += 0.001;
    if (uaqf::backend::openai::apply_stream_data(event.data, arrival_s, want_logprobs, record) !=
        uaqf::backend::openai::StreamStep::kMore) {
      break;
    }
  }
  (void)uaqf::backend::openai::parse_model_ids(stream);
  (void)uaqf::backend::openai::server_hint_from_models(stream);
  (void)uaqf::backend::openai::has_prompt_logprobs(stream);
  (void)uaqf::backend::openai::has_top_logprobs(stream);
  (void)uaqf::backend::openai::has_generation(stream);
  (void)uaqf::backend::openai::http_error_line(500, stream);
  return 0;
}
