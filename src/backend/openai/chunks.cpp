#include "backend/openai/chunks.h"

#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace uaqf::backend::openai {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxErrorChars = 300;  // error lines stay one readable line

json parse_or_discarded(std::string_view text) { return json::parse(text.begin(), text.end(), nullptr, false); }

// `text` as one line: line breaks become spaces, long text is cut with "...".
std::string one_line(std::string_view text, std::size_t max_chars) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  std::string line(text.substr(0, max_chars));
  for (auto& c : line) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (text.size() > max_chars) line += "...";
  return line;
}

const json* find_member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const std::string* find_string(const json& object, const char* key) {
  const json* value = find_member(object, key);
  return value != nullptr && value->is_string() ? value->get_ptr<const std::string*>() : nullptr;
}

template <typename T>
void read_number(const json& object, const char* key, T& out) {
  const json* value = find_member(object, key);
  if (value != nullptr && value->is_number()) out = value->get<T>();
}

const json* first_choice(const json& body) {
  const json* choices = find_member(body, "choices");
  return choices != nullptr && choices->is_array() && !choices->empty() ? &choices->front() : nullptr;
}

// An "error" member's message: {"error": {"message": ...}} or {"error": "..."}.
std::string error_message(const json& error) {
  if (error.is_string()) return error.get<std::string>();
  if (const auto* message = find_string(error, "message")) return *message;
  return error.dump();
}

double logprob_of(const json& value) { return value.is_number() ? value.get<double>() : 0.0; }

// choices[0].logprobs of one chunk: the chat shape {content: [{token, logprob, top_logprobs: [...]}]}
// (llama-server uses it for /completions too) or the legacy completions shape {tokens,
// token_logprobs, top_logprobs: [{token: logprob}]}.
void append_logprobs(const json& logprobs, std::vector<GeneratedToken>& tokens) {
  if (const json* content = find_member(logprobs, "content"); content != nullptr && content->is_array()) {
    for (const auto& entry : *content) {
      auto& token = tokens.emplace_back();
      if (const auto* text = find_string(entry, "token")) token.text = *text;
      read_number(entry, "logprob", token.logprob);
      if (const json* top = find_member(entry, "top_logprobs"); top != nullptr && top->is_array()) {
        for (const auto& alternative : *top) {
          auto& out = token.top.emplace_back();
          if (const auto* text = find_string(alternative, "token")) out.token = *text;
          read_number(alternative, "logprob", out.logprob);
        }
      }
    }
    return;
  }
  const json* texts = find_member(logprobs, "tokens");
  const json* values = find_member(logprobs, "token_logprobs");
  if (texts == nullptr || !texts->is_array()) return;
  const json* tops = find_member(logprobs, "top_logprobs");
  for (std::size_t i = 0; i < texts->size(); ++i) {
    auto& token = tokens.emplace_back();
    if ((*texts)[i].is_string()) token.text = (*texts)[i].get<std::string>();
    if (values != nullptr && values->is_array() && i < values->size()) token.logprob = logprob_of((*values)[i]);
    if (tops != nullptr && tops->is_array() && i < tops->size() && (*tops)[i].is_object()) {
      for (const auto& [text, value] : (*tops)[i].items()) token.top.push_back({text, logprob_of(value)});
    }
  }
}

// The generated text of choices[0]: delta.content and delta.reasoning_content (chat) or text.
void append_choice_text(const json& choice, std::string& out) {
  if (const json* delta = find_member(choice, "delta")) {
    if (const auto* reasoning = find_string(*delta, "reasoning_content")) out += *reasoning;
    if (const auto* content = find_string(*delta, "content")) out += *content;
  } else if (const auto* text = find_string(choice, "text")) {
    out += *text;
  }
}

}  // namespace

std::string endpoint_url(const std::string& base_url, std::string_view path) {
  std::string_view base = base_url;
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  std::string url(base);
  url += path;
  return url;
}

std::string api_path(Api api) { return api == Api::kChat ? "/chat/completions" : "/completions"; }

std::string build_request_body(const GenerationRequest& request, const std::string& model,
                               const std::string& extra_body) {
  json body = json::object();
  if (!model.empty()) body["model"] = model;
  if (request.api == Api::kChat) {
    body["messages"] = json::array({{{"role", "user"}, {"content", request.prompt}}});
  } else {
    body["prompt"] = request.prompt;
  }
  body["max_tokens"] = request.max_tokens;
  body["temperature"] = request.temperature;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  if (request.ignore_eos) body["ignore_eos"] = true;
  if (request.seed) body["seed"] = *request.seed;
  if (!request.stop.empty()) body["stop"] = request.stop;
  if (request.top_logprobs) {
    // Chat asks with a flag and a count; the legacy completions API with the count alone.
    if (request.api == Api::kChat) {
      body["logprobs"] = true;
      body["top_logprobs"] = *request.top_logprobs;
    } else {
      body["logprobs"] = *request.top_logprobs;
    }
  }
  if (!extra_body.empty()) {
    body.merge_patch(json::parse(extra_body));
  }
  return body.dump();
}

StreamStep apply_stream_data(std::string_view data, double arrival_s, bool want_logprobs, GenerationRecord& record) {
  if (data == "[DONE]") return StreamStep::kDone;
  const json chunk = parse_or_discarded(data);
  if (!chunk.is_object()) {
    record.error = "malformed SSE: " + one_line(data, 80);
    return StreamStep::kFailed;
  }
  if (const json* error = find_member(chunk, "error"); error != nullptr && !error->is_null()) {
    record.error = "error in stream: " + one_line(error_message(*error), kMaxErrorChars);
    return StreamStep::kFailed;
  }
  if (const json* choice = first_choice(chunk)) {
    const auto before = record.text.size();
    append_choice_text(*choice, record.text);
    if (record.text.size() > before) {
      ++record.content_chunks;
      record.token_arrival_s.push_back(arrival_s);
      if (record.first_token_s < 0) record.first_token_s = arrival_s;
    }
    if (const auto* finish = find_string(*choice, "finish_reason")) record.finish_reason = *finish;
    if (want_logprobs) {
      if (const json* logprobs = find_member(*choice, "logprobs"); logprobs != nullptr && logprobs->is_object()) {
        append_logprobs(*logprobs, record.tokens);
      }
    }
  }
  if (const json* usage = find_member(chunk, "usage"); usage != nullptr && usage->is_object()) {
    if (const json* n = find_member(*usage, "prompt_tokens"); n != nullptr && n->is_number_integer()) {
      record.prompt_tokens = n->get<int>();
    }
    if (const json* n = find_member(*usage, "completion_tokens"); n != nullptr && n->is_number_integer()) {
      record.completion_tokens = n->get<int>();
    }
  }
  if (const json* timings = find_member(chunk, "timings"); timings != nullptr && timings->is_object()) {
    auto& out = record.server_timings.emplace();
    read_number(*timings, "prompt_ms", out.prompt_ms);
    read_number(*timings, "prompt_n", out.prompt_n);
    read_number(*timings, "predicted_ms", out.predicted_ms);
    read_number(*timings, "predicted_n", out.predicted_n);
  }
  return StreamStep::kMore;
}

std::string http_error_line(long http_status, std::string_view body) {
  std::string line = fmt::format("HTTP {}", http_status);
  const json parsed = parse_or_discarded(body);
  std::string message;
  if (const json* error = find_member(parsed, "error"); error != nullptr && !error->is_null()) {
    message = error_message(*error);
  } else if (const auto* detail = find_string(parsed, "detail")) {
    message = *detail;  // FastAPI-style servers
  } else if (const auto* text = find_string(parsed, "message")) {
    message = *text;
  } else if (!parsed.is_discarded()) {
    message = parsed.dump();
  } else {
    // A text body: its first non-blank line.
    const auto start = body.find_first_not_of(" \t\r\n");
    const std::string_view rest = start == std::string_view::npos ? std::string_view() : body.substr(start);
    message = rest.substr(0, rest.find_first_of("\r\n"));
  }
  message = one_line(message, kMaxErrorChars);
  if (!message.empty()) line += ": " + message;
  return line;
}

std::string format_seconds(double seconds) { return fmt::format("{:g}", seconds); }

std::vector<std::string> parse_model_ids(std::string_view models_body) {
  std::vector<std::string> ids;
  const json parsed = parse_or_discarded(models_body);
  if (const json* data = find_member(parsed, "data"); data != nullptr && data->is_array()) {
    for (const auto& model : *data) {
      if (const auto* id = find_string(model, "id")) ids.push_back(*id);
    }
  }
  return ids;
}

std::string server_hint_from_models(std::string_view models_body) {
  const json parsed = parse_or_discarded(models_body);
  const json* data = find_member(parsed, "data");
  if (data == nullptr || !data->is_array() || data->empty()) return "";
  const auto* owner = find_string(data->front(), "owned_by");
  if (owner == nullptr) return "";
  if (*owner == "llamacpp") return "llama.cpp";
  if (*owner == "vllm") return "vLLM";
  if (*owner == "sglang") return "SGLang";
  return "";
}

bool has_prompt_logprobs(std::string_view completion_body) {
  const json parsed = parse_or_discarded(completion_body);
  const json* choice = first_choice(parsed);
  if (choice == nullptr) return false;
  // vLLM: one entry per prompt token (the first null).
  if (const json* prompt = find_member(*choice, "prompt_logprobs"); prompt != nullptr && prompt->is_array()) {
    if (prompt->size() >= 2) return true;
  }
  // Echo: token_logprobs (legacy shape) or content (llama-server's shape) covers the prompt tokens
  // and then the generated ones. (llama-server ignores echo and returns the generated ones only.)
  const json* logprobs = find_member(*choice, "logprobs");
  const json* values = logprobs != nullptr ? find_member(*logprobs, "token_logprobs") : nullptr;
  if (values == nullptr && logprobs != nullptr) values = find_member(*logprobs, "content");
  if (values == nullptr || !values->is_array()) return false;
  int generated = 1;
  if (const json* usage = find_member(parsed, "usage")) read_number(*usage, "completion_tokens", generated);
  return values->size() > static_cast<std::size_t>(generated);
}

bool has_top_logprobs(std::string_view chat_body) {
  const json parsed = parse_or_discarded(chat_body);
  const json* choice = first_choice(parsed);
  const json* logprobs = choice != nullptr ? find_member(*choice, "logprobs") : nullptr;
  const json* content = logprobs != nullptr ? find_member(*logprobs, "content") : nullptr;
  if (content == nullptr || !content->is_array() || content->empty()) return false;
  for (const auto& entry : *content) {
    const json* top = find_member(entry, "top_logprobs");
    if (top == nullptr || !top->is_array() || top->empty()) return false;
  }
  return true;
}

bool has_generation(std::string_view body) {
  const json parsed = parse_or_discarded(body);
  const json* choice = first_choice(parsed);
  if (choice == nullptr) return false;
  if (const json* message = find_member(*choice, "message")) return find_string(*message, "content") != nullptr;
  return find_string(*choice, "text") != nullptr;
}

}  // namespace uaqf::backend::openai
