#pragma once

// The Client's inside, shared by client.cpp (the streaming transfers) and probe.cpp (the probe's
// plain requests). Not for use outside src/backend/openai.

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/openai/client.h"
#include "backend/openai/sse.h"

namespace uaqf::backend::openai {

struct Transfer;

// A whole (non-streamed) response, for the probe.
struct PlainResponse {
  long http_status = 0;
  std::string body;
  std::string error;  // the transfer's failure (no connection, timeout); empty when a response came
};

struct Client::Impl {
  EndpointConfig config;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  // Every request's headers (content type, the key's Authorization line): the only place the key
  // is kept, and nothing reads it back out.
  curl_slist* headers = nullptr;
  // The key again, only to blank it out of error lines (a server may echo what it was sent).
  std::string api_key;
  CURLM* multi = nullptr;
  std::unordered_map<Transfer*, std::unique_ptr<Transfer>> transfers;
  std::vector<GenerationRecord> finished;  // ended, not yet handed out by poll()
  uint64_t next_serial = 1;
  // generate()'s request: its record goes here instead of to poll()'s callers.
  uint64_t watched_serial = 0;
  std::optional<GenerationRecord> watched;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl();  // ends the transfers in flight, frees curl's handles

  double now_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
  // The options every request shares: URL, headers, timeouts, socket settings.
  void configure(CURL* easy, const std::string& url) const;
  Transfer& start_transfer(GenerationRequest request);
  // Runs the transfers until one ends, max_wait_s passes, or none is left; the ended records go to
  // `ended` (except the watched one).
  void drive(double max_wait_s, std::vector<GenerationRecord>& ended);
  void collect_done(std::vector<GenerationRecord>& ended, int& n_ended);
  void check_stalls(std::vector<GenerationRecord>& ended, int& n_ended);
  double next_stall_s() const;
  // `line` with every occurrence of the API key replaced by "***".
  std::string redact(std::string line) const;
  // Removes the transfer and hands out its record.
  void end_transfer(Transfer& transfer, std::vector<GenerationRecord>& ended);
  PlainResponse plain_request(const std::string& path, const std::string* post_body) const;
};

}  // namespace uaqf::backend::openai
