// Client::probe(): what an endpoint can do, found out with a few tiny requests, never assumed.

#include <nlohmann/json.hpp>

#include "backend/openai/chunks.h"
#include "backend/openai/client.h"
#include "backend/openai/client_impl.h"

namespace uaqf::backend::openai {
namespace {

using nlohmann::json;

size_t append_body(char* bytes, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(bytes, size * count);
  return size * count;
}

}  // namespace

PlainResponse Client::Impl::plain_request(const std::string& path, const std::string* post_body) const {
  PlainResponse response;
  CURL* easy = curl_easy_init();
  if (easy == nullptr) {
    response.error = "curl_easy_init failed";
    return response;
  }
  char curl_error[CURL_ERROR_SIZE] = {};
  configure(easy, endpoint_url(config.base_url, path));
  if (post_body != nullptr) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body->size()));
  }
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_error);
  const CURLcode code = curl_easy_perform(easy);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.http_status);
  if (code != CURLE_OK) response.error = curl_error[0] != '\0' ? curl_error : curl_easy_strerror(code);
  curl_easy_cleanup(easy);
  return response;
}

ProbeResult Client::probe() {
  auto& m = *impl_;
  ProbeResult result;
  const auto ok = [](const PlainResponse& response) {
    return response.error.empty() && response.http_status >= 200 && response.http_status < 300;
  };
  const auto post = [&](json body) {
    if (!m.config.model.empty()) body["model"] = m.config.model;
    const std::string text = body.dump();
    return m.plain_request("/completions", &text);
  };

  if (const auto models = m.plain_request("/models", nullptr); ok(models)) {
    result.models = parse_model_ids(models.body);
    result.server_hint = server_hint_from_models(models.body);
  }

  const auto plain = post({{"prompt", "Hello"}, {"max_tokens", 1}, {"temperature", 0}});
  result.generation = ok(plain) && has_generation(plain.body);
  if (result.server_hint.empty() && ok(plain) && json::parse(plain.body, nullptr, false).contains("timings")) {
    result.server_hint = "llama.cpp";  // its own "timings" object
  }

  const auto streamed = generate({.api = Api::kCompletions, .prompt = "Hello", .max_tokens = 2});
  result.streaming = streamed.ok && streamed.content_chunks > 0;
  result.usage_in_stream = streamed.ok && streamed.completion_tokens.has_value();

  // Prompt logprobs: the legacy echo, then vLLM's own field. A 4xx only means "not supported".
  const auto echoed = post({{"prompt", "Hello world"}, {"max_tokens", 1}, {"echo", true}, {"logprobs", 1}});
  result.prompt_logprobs = ok(echoed) && has_prompt_logprobs(echoed.body);
  if (!result.prompt_logprobs) {
    const auto vllm = post({{"prompt", "Hello world"}, {"max_tokens", 1}, {"prompt_logprobs", 1}});
    result.prompt_logprobs = ok(vllm) && has_prompt_logprobs(vllm.body);
  }

  json chat = {{"messages", json::array({{{"role", "user"}, {"content", "Hello"}}})},
               {"max_tokens", 2},
               {"temperature", 0},
               {"logprobs", true},
               {"top_logprobs", 2}};
  if (!m.config.model.empty()) chat["model"] = m.config.model;
  const std::string chat_text = chat.dump();
  const auto top = m.plain_request("/chat/completions", &chat_text);
  result.top_logprobs = ok(top) && has_top_logprobs(top.body);
  return result;
}

}  // namespace uaqf::backend::openai
