#pragma once

// A streaming client for OpenAI-compatible servers (llama-server, vLLM, ...): many requests at
// once on one thread (libcurl's multi interface), every generated chunk timestamped on arrival.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace uaqf::backend::openai {

struct EndpointConfig {
  std::string base_url;  // "http://127.0.0.1:8080/v1" (no trailing slash needed)
  std::string model;     // sent as "model"; empty: the field is omitted
  // NAME of the environment variable holding the key; empty: no key. The key is sent as
  // "Authorization: Bearer ..." and never logged, stored or put into an error message.
  std::string api_key_env;
  double connect_timeout_s = 10;
  double request_timeout_s = 600;  // whole request (0: none)
  double stall_timeout_s = 60;     // no bytes for this long: the request fails ("stalled: no data for 60 s"); 0: never
  // A JSON object whose fields go into every request body, over uaqf's own (engine extensions such
  // as llama-server's logit_bias or vLLM's min_tokens); empty: none. Checked when the client is made.
  std::string extra_body;
};

enum class Api { kChat, kCompletions };  // /chat/completions or /completions

struct GenerationRequest {
  uint64_t id = 0;  // caller's id, returned in the record
  Api api = Api::kChat;
  std::string prompt;  // the user message (chat) or the prompt text (completions)
  int max_tokens = 128;
  bool ignore_eos = false;          // llama-server / vLLM extension, sent only when true
  std::optional<int> top_logprobs;  // ask for top-k logprobs of generated tokens
  double temperature = 0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;  // "stop": generation ends before the first of these (empty: not sent)
};

struct ServerTimings {  // llama-server's own "timings" object of the last chunk, when present
  double prompt_ms = 0;
  int prompt_n = 0;
  double predicted_ms = 0;
  int predicted_n = 0;
};

struct TopLogprob {
  std::string token;
  double logprob = 0;
};

struct GeneratedToken {
  std::string text;
  double logprob = 0;
  std::vector<TopLogprob> top;
};

struct GenerationRecord {
  uint64_t id = 0;
  bool ok = false;
  // One line when !ok: "HTTP 500: <server's message>", "HTTP 429 ...", "connection refused: ...",
  // "timed out after 600 s", "stalled: ...", "server closed the stream before [DONE]",
  // "malformed SSE: ...", "cancelled".
  std::string error;
  long http_status = 0;
  double sent_s = 0;                     // on the client's clock (Client::now_s), when the request was handed to curl
  double first_token_s = -1;             // arrival of the first chunk carrying generated text (-1: none)
  std::vector<double> token_arrival_s;   // arrival time of every chunk that carried generated text, in order
  double done_s = 0;                     // when the request ended (ok or not)
  std::string text;                      // all generated text
  std::optional<int> prompt_tokens;      // usage.prompt_tokens when the server gave it
  std::optional<int> completion_tokens;  // usage.completion_tokens when the server gave it
  int content_chunks = 0;                // chunks with generated text (the count when usage is missing)
  std::string finish_reason;
  std::optional<ServerTimings> server_timings;
  std::vector<GeneratedToken> tokens;  // only when top_logprobs was asked and returned
  int output_tokens() const;           // completion_tokens if given, else content_chunks
};

struct ProbeResult {  // what the endpoint can do, probed once, never assumed
  bool generation = false, streaming = false, usage_in_stream = false;
  bool prompt_logprobs =
      false;                  // echo+logprobs on /completions returned prompt token logprobs (or vLLM prompt_logprobs)
  bool top_logprobs = false;  // top-k logprobs of generated tokens returned
  std::vector<std::string> models;  // GET /models
  std::string server_hint;          // e.g. "llama.cpp" when recognisable from the responses; may be empty
};

class Client {
 public:
  explicit Client(EndpointConfig config);  // throws Error when api_key_env names an unset variable
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const EndpointConfig& config() const;
  double now_s() const;  // steady clock, seconds since this client was made
  // Starts a streaming request ("stream": true, "stream_options": {"include_usage": true}); returns at once.
  void submit(GenerationRequest request);
  // Drives the transfers for at most max_wait_s (returns earlier when something ended); returns the
  // records of the requests that ended, ok or failed.
  std::vector<GenerationRecord> poll(double max_wait_s);
  std::size_t in_flight() const;
  std::vector<GenerationRecord> cancel_all();            // ends everything in flight; records marked failed "cancelled"
  GenerationRecord generate(GenerationRequest request);  // submit + poll until it ends (for one-off requests)
  // A few tiny requests, one after the other (blocking: call it before submitting, since transfers
  // in flight are not driven meanwhile).
  ProbeResult probe();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace uaqf::backend::openai
