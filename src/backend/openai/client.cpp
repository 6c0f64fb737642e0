#include "backend/openai/client.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend/openai/chunks.h"
#include "backend/openai/client_impl.h"
#include "core/error.h"

namespace uaqf::backend::openai {

// One streaming request in flight.
struct Transfer {
  std::chrono::steady_clock::time_point clock_start;  // the client's clock (Client::now_s)
  uint64_t serial = 0;
  CURL* easy = nullptr;
  GenerationRecord record;
  SseParser parser;
  std::string body;        // the request body; curl reads it in place, so it lives as long as the transfer
  std::string error_body;  // the start of a non-2xx response's body
  bool want_logprobs = false;
  bool status_known = false;
  bool http_ok = true;
  bool saw_done = false;  // "data: [DONE]" arrived
  bool failed = false;    // the stream itself failed (record.error says why)
  double last_bytes_s = 0;
  char curl_error[CURL_ERROR_SIZE] = {};

  double now_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - clock_start).count(); }
};

namespace {

constexpr std::size_t kMaxErrorBodyBytes = 4096;  // enough for any error message

long to_ms(double seconds) { return static_cast<long>(std::llround(std::max(0.0, seconds) * 1000.0)); }

void check_curl(CURLcode code, const char* what) {
  if (code != CURLE_OK) {
    throw Error(ErrorCode::kInternal, fmt::format("openai client: {}: {}", what, curl_easy_strerror(code)));
  }
}

// Response bytes: timestamped first (every event of this read shares the time), then parsed.
size_t on_body(char* bytes, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const size_t n_bytes = size * count;
  const double arrival_s = transfer.now_s();
  transfer.last_bytes_s = arrival_s;
  if (!transfer.status_known) {
    curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &transfer.record.http_status);
    transfer.http_ok = transfer.record.http_status >= 200 && transfer.record.http_status < 300;
    transfer.status_known = true;
  }
  if (!transfer.http_ok) {
    const auto room = kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes, transfer.error_body.size());
    transfer.error_body.append(bytes, std::min(room, n_bytes));
    return n_bytes;
  }
  if (transfer.saw_done) return n_bytes;  // nothing counts after [DONE]
  transfer.parser.feed_each(std::string_view(bytes, n_bytes), [&](SseEvent& event) {
    if (transfer.saw_done || transfer.failed) return;
    switch (apply_stream_data(event.data, arrival_s, transfer.want_logprobs, transfer.record)) {
      case StreamStep::kMore:
        break;
      case StreamStep::kDone:
        transfer.saw_done = true;
        break;
      case StreamStep::kFailed:
        transfer.failed = true;
        break;
    }
  });
  return transfer.failed ? 0 : n_bytes;  // 0 makes curl end the transfer
}

// Header bytes count as data for stall detection.
size_t on_header(char* /*bytes*/, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  transfer.last_bytes_s = transfer.now_s();
  return size * count;
}

std::string curl_detail(const Transfer& transfer, CURLcode code) {
  return transfer.curl_error[0] != '\0' ? std::string(transfer.curl_error) : curl_easy_strerror(code);
}

// The record's outcome once curl has ended the transfer with `code`.
void settle(Transfer& transfer, CURLcode code, const EndpointConfig& config) {
  auto& record = transfer.record;
  curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &record.http_status);
  record.ok = false;
  if (transfer.failed) return;  // record.error is set
  if (record.http_status != 0 && (record.http_status < 200 || record.http_status >= 300)) {
    record.error = http_error_line(record.http_status, transfer.error_body);
    return;
  }
  // After [DONE] (or a finish_reason on a cleanly ended stream) the generation is complete,
  // whatever happened to the connection afterwards.
  if (transfer.saw_done || (!record.finish_reason.empty() && code == CURLE_OK)) {
    record.ok = true;
    return;
  }
  switch (code) {
    case CURLE_OK:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
      record.error = "server closed the stream before [DONE]";
      break;
    case CURLE_GOT_NOTHING:
      record.error = "server closed the connection without a response";
      break;
    case CURLE_COULDNT_CONNECT:
      record.error = "connection refused: " + curl_detail(transfer, code);
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
      record.error = "could not resolve host: " + curl_detail(transfer, code);
      break;
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connect_us = 0;
      curl_easy_getinfo(transfer.easy, CURLINFO_CONNECT_TIME_T, &connect_us);
      record.error = connect_us == 0 ? "connect timed out after " + format_seconds(config.connect_timeout_s) + " s"
                                     : "timed out after " + format_seconds(config.request_timeout_s) + " s";
      break;
    }
    default:
      record.error = "curl: " + curl_detail(transfer, code);
      break;
  }
}

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { check_curl(curl_global_init(CURL_GLOBAL_DEFAULT), "curl_global_init"); });
}

}  // namespace

int GenerationRecord::output_tokens() const { return completion_tokens.value_or(content_chunks); }

void Client::Impl::configure(CURL* easy, const std::string& url) const {
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we share the process
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, to_ms(config.connect_timeout_s));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, to_ms(config.request_timeout_s));
}

Client::Client(EndpointConfig config) : impl_(std::make_unique<Impl>()) {
  if (config.base_url.empty()) throw Error(ErrorCode::kInvalidArgument, "openai client: the endpoint has no base_url");
  std::string authorization;
  auto& m = *impl_;
  if (!config.api_key_env.empty()) {
    const char* key = std::getenv(config.api_key_env.c_str());
    if (key == nullptr || *key == '\0') {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("openai client: the environment variable {} (the endpoint's api_key_env) is not set",
                              config.api_key_env));
    }
    authorization = std::string("Authorization: Bearer ") + key;
    m.api_key = key;
  }
  if (!config.extra_body.empty()) {
    const auto extra = nlohmann::json::parse(config.extra_body, nullptr, false);
    if (!extra.is_object()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "openai client: the extra request body is not a JSON object: " + config.extra_body.substr(0, 80));
    }
  }
  init_curl_once();
  m.config = std::move(config);
  m.headers = curl_slist_append(m.headers, "Content-Type: application/json");
  m.headers = curl_slist_append(m.headers, "Expect:");  // no 100-continue round trip before the body
  if (!authorization.empty()) m.headers = curl_slist_append(m.headers, authorization.c_str());
  std::fill(authorization.begin(), authorization.end(), '\0');
  m.multi = curl_multi_init();
  if (m.multi == nullptr || m.headers == nullptr) throw Error(ErrorCode::kInternal, "openai client: curl init failed");
  // Many streams to one host, each on its own connection, kept for reuse.
  curl_multi_setopt(m.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  curl_multi_setopt(m.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  curl_multi_setopt(m.multi, CURLMOPT_MAXCONNECTS, 1024L);
}

Client::Impl::~Impl() {
  for (auto& [raw, transfer] : transfers) {
    curl_multi_remove_handle(multi, transfer->easy);
    curl_easy_cleanup(transfer->easy);
  }
  if (multi != nullptr) curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
}

Client::~Client() = default;

const EndpointConfig& Client::config() const { return impl_->config; }

double Client::now_s() const { return impl_->now_s(); }

std::size_t Client::in_flight() const { return impl_->transfers.size(); }

Transfer& Client::Impl::start_transfer(GenerationRequest request) {
  auto owned = std::make_unique<Transfer>();
  auto& transfer = *owned;
  transfer.clock_start = start;
  transfer.serial = next_serial++;
  transfer.record.id = request.id;
  transfer.want_logprobs = request.top_logprobs.has_value();
  transfer.body = build_request_body(request, config.model, config.extra_body);
  transfer.easy = curl_easy_init();
  if (transfer.easy == nullptr) throw Error(ErrorCode::kInternal, "openai client: curl_easy_init failed");
  configure(transfer.easy, endpoint_url(config.base_url, api_path(request.api)));
  curl_easy_setopt(transfer.easy, CURLOPT_POSTFIELDS, transfer.body.data());
  curl_easy_setopt(transfer.easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(transfer.body.size()));
  curl_easy_setopt(transfer.easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(transfer.easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(transfer.easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(transfer.easy, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(transfer.easy, CURLOPT_ERRORBUFFER, transfer.curl_error);
  curl_easy_setopt(transfer.easy, CURLOPT_PRIVATE, &transfer);
  transfer.record.sent_s = now_s();
  transfer.last_bytes_s = transfer.record.sent_s;
  const CURLMcode added = curl_multi_add_handle(multi, transfer.easy);
  if (added != CURLM_OK) {
    curl_easy_cleanup(transfer.easy);
    throw Error(ErrorCode::kInternal,
                fmt::format("openai client: curl_multi_add_handle: {}", curl_multi_strerror(added)));
  }
  transfers.emplace(&transfer, std::move(owned));
  return transfer;
}

void Client::submit(GenerationRequest request) {
  impl_->start_transfer(std::move(request));
  // Start connecting and sending now rather than at the next poll, so that sent_s is when the
  // request really left.
  int running = 0;
  curl_multi_perform(impl_->multi, &running);
}

std::string Client::Impl::redact(std::string line) const {
  if (api_key.empty()) return line;
  for (auto at = line.find(api_key); at != std::string::npos; at = line.find(api_key, at + 3)) {
    line.replace(at, api_key.size(), "***");
  }
  return line;
}

void Client::Impl::end_transfer(Transfer& transfer, std::vector<GenerationRecord>& ended) {
  transfer.record.done_s = now_s();
  if (!transfer.record.error.empty()) transfer.record.error = redact(std::move(transfer.record.error));
  curl_multi_remove_handle(multi, transfer.easy);
  curl_easy_cleanup(transfer.easy);
  const auto it = transfers.find(&transfer);
  auto owned = std::move(it->second);
  transfers.erase(it);
  if (owned->serial == watched_serial) {
    watched = std::move(owned->record);
  } else {
    ended.push_back(std::move(owned->record));
  }
}

void Client::Impl::collect_done(std::vector<GenerationRecord>& ended, int& n_ended) {
  int n_left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &n_left)) {
    if (message->msg != CURLMSG_DONE) continue;
    Transfer* transfer = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &transfer);
    const CURLcode code = message->data.result;  // `message` dies when the handle is removed
    settle(*transfer, code, config);
    end_transfer(*transfer, ended);
    ++n_ended;
  }
}

void Client::Impl::check_stalls(std::vector<GenerationRecord>& ended, int& n_ended) {
  if (config.stall_timeout_s <= 0) return;  // no stall detection
  const double now = now_s();
  std::vector<Transfer*> stalled;
  for (const auto& [raw, transfer] : transfers) {
    if (now - transfer->last_bytes_s >= config.stall_timeout_s) stalled.push_back(raw);
  }
  for (Transfer* transfer : stalled) {
    transfer->record.ok = transfer->saw_done;  // the stream was complete; only its end never came
    if (!transfer->saw_done) {
      transfer->record.error = "stalled: no data for " + format_seconds(config.stall_timeout_s) + " s";
    }
    end_transfer(*transfer, ended);
    ++n_ended;
  }
}

double Client::Impl::next_stall_s() const {
  if (config.stall_timeout_s <= 0) return INFINITY;
  double earliest = INFINITY;
  for (const auto& [raw, transfer] : transfers) earliest = std::min(earliest, transfer->last_bytes_s);
  return earliest + config.stall_timeout_s;
}

void Client::Impl::drive(double max_wait_s, std::vector<GenerationRecord>& ended) {
  const double deadline_s = now_s() + std::max(0.0, max_wait_s);
  while (true) {
    int running = 0;
    curl_multi_perform(multi, &running);
    int n_ended = 0;
    collect_done(ended, n_ended);
    check_stalls(ended, n_ended);
    if (n_ended > 0 || transfers.empty()) return;
    const double now = now_s();
    const double wait_s = std::min(deadline_s, next_stall_s()) - now;
    if (now >= deadline_s) return;
    const double wait_ms = std::clamp(std::ceil(wait_s * 1000.0), 0.0, static_cast<double>(INT_MAX));
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait_ms), nullptr);
  }
}

std::vector<GenerationRecord> Client::poll(double max_wait_s) {
  std::vector<GenerationRecord> ended = std::move(impl_->finished);
  impl_->finished.clear();
  if (ended.empty()) impl_->drive(max_wait_s, ended);
  return ended;
}

std::vector<GenerationRecord> Client::cancel_all() {
  auto& m = *impl_;
  // Records that ended before come out too, as they ended, so that every request comes back once.
  std::vector<GenerationRecord> ended = std::move(m.finished);
  m.finished.clear();
  std::vector<Transfer*> all;
  for (const auto& [raw, transfer] : m.transfers) all.push_back(raw);
  for (Transfer* transfer : all) {
    transfer->record.ok = false;
    transfer->record.error = "cancelled";
    m.end_transfer(*transfer, ended);
  }
  return ended;
}

GenerationRecord Client::generate(GenerationRequest request) {
  auto& m = *impl_;
  m.watched.reset();
  m.watched_serial = m.start_transfer(std::move(request)).serial;
  // Other requests that end meanwhile wait in `finished` for the next poll().
  while (!m.watched) m.drive(1.0, m.finished);
  m.watched_serial = 0;
  GenerationRecord record = std::move(*m.watched);
  m.watched.reset();
  return record;
}

}  // namespace uaqf::backend::openai
