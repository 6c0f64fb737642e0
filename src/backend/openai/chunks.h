#pragma once

// The pure parts of the OpenAI-compatible protocol, apart from any transfer: request bodies, the
// streamed chunks, error bodies and the probe's responses.

#include <string>
#include <string_view>
#include <vector>

#include "backend/openai/client.h"

namespace uaqf::backend::openai {

// base_url + "/chat/completions" or "/completions" (a trailing slash of base_url is dropped).
std::string endpoint_url(const std::string& base_url, std::string_view path);
std::string api_path(Api api);

// The JSON body of a streaming request. It never holds the API key (that goes in a header).
std::string build_request_body(const GenerationRequest& request, const std::string& model,
                               const std::string& extra_body = {});

enum class StreamStep {
  kMore,    // the chunk was taken; more follow
  kDone,    // "data: [DONE]"
  kFailed,  // record.error says why (an error object in the stream, malformed JSON)
};

// Applies one SSE data payload of a streamed chat or completions response to `record`: generated
// text (delta.content, delta.reasoning_content or text) with its arrival time, finish_reason,
// usage, llama-server's timings, and the token logprobs when `want_logprobs`.
StreamStep apply_stream_data(std::string_view data, double arrival_s, bool want_logprobs, GenerationRecord& record);

// The one-line error of a non-2xx response: "HTTP 500: <error.message or the body's first line>".
std::string http_error_line(long http_status, std::string_view body);

// Seconds as a short number for messages: 60 -> "60", 2.5 -> "2.5".
std::string format_seconds(double seconds);

// Probe helpers on whole (non-streamed) response bodies; false/empty for anything unexpected.
std::vector<std::string> parse_model_ids(std::string_view models_body);
std::string server_hint_from_models(std::string_view models_body);
// /completions with echo+logprobs (legacy token_logprobs covering the prompt) or vLLM's
// prompt_logprobs: whether log-probabilities of the prompt tokens came back.
bool has_prompt_logprobs(std::string_view completion_body);
// A chat response with choices[0].logprobs.content[*].top_logprobs, non-empty.
bool has_top_logprobs(std::string_view chat_body);
// choices[0] carries a message or text.
bool has_generation(std::string_view body);

}  // namespace uaqf::backend::openai
