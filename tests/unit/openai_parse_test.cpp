#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/openai/chunks.h"
#include "backend/openai/client.h"
#include "core/error.h"

namespace uaqf::backend::openai {
namespace {

using nlohmann::json;

TEST(OpenAiRequest, ChatBody) {
  GenerationRequest request{.id = 3, .api = Api::kChat, .prompt = "Hi \"you\"", .max_tokens = 16};
  const auto body = json::parse(build_request_body(request, "tiny"));
  EXPECT_EQ(body["model"], "tiny");
  EXPECT_EQ(body["messages"], json::parse(R"([{"role": "user", "content": "Hi \"you\""}])"));
  EXPECT_EQ(body["max_tokens"], 16);
  EXPECT_EQ(body["temperature"], 0.0);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"], json::parse(R"({"include_usage": true})"));
  // Extensions and options go out only when asked for.
  for (const char* absent : {"prompt", "ignore_eos", "seed", "logprobs", "top_logprobs", "stop"}) {
    EXPECT_FALSE(body.contains(absent)) << absent;
  }
}

TEST(OpenAiRequest, CompletionsBodyWithOptions) {
  GenerationRequest request{.api = Api::kCompletions,
                            .prompt = "Once",
                            .max_tokens = 4,
                            .ignore_eos = true,
                            .top_logprobs = 3,
                            .temperature = 0.5,
                            .seed = 42,
                            .stop = {"Question:", "</s>"}};
  const auto body = json::parse(build_request_body(request, ""));
  EXPECT_EQ(body["stop"], json::parse(R"(["Question:", "</s>"])"));
  EXPECT_FALSE(body.contains("model"));  // empty model: the server's own
  EXPECT_FALSE(body.contains("messages"));
  EXPECT_EQ(body["prompt"], "Once");
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["seed"], 42);
  EXPECT_EQ(body["temperature"], 0.5);
  EXPECT_EQ(body["logprobs"], 3);  // the legacy API's count
  EXPECT_FALSE(body.contains("top_logprobs"));
}

TEST(OpenAiRequest, ChatTopLogprobs) {
  GenerationRequest request{.api = Api::kChat, .prompt = "x", .top_logprobs = 2};
  const auto body = json::parse(build_request_body(request, "m"));
  EXPECT_EQ(body["logprobs"], true);
  EXPECT_EQ(body["top_logprobs"], 2);
}

TEST(OpenAiRequest, Urls) {
  EXPECT_EQ(endpoint_url("http://h:1/v1", api_path(Api::kChat)), "http://h:1/v1/chat/completions");
  EXPECT_EQ(endpoint_url("http://h:1/v1//", api_path(Api::kCompletions)), "http://h:1/v1/completions");
}

TEST(OpenAiClient, UnsetKeyVariableThrowsNamingIt) {
  ::unsetenv("UAQF_TEST_UNSET_KEY");
  try {
    Client client({.base_url = "http://127.0.0.1:1/v1", .api_key_env = "UAQF_TEST_UNSET_KEY"});
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("UAQF_TEST_UNSET_KEY"), std::string::npos) << error.what();
  }
}

TEST(OpenAiClient, KeyNeverInTheRequestBody) {
  ::setenv("UAQF_TEST_KEY", "sk-secret-123", 1);
  Client client({.base_url = "http://127.0.0.1:1/v1", .model = "m", .api_key_env = "UAQF_TEST_KEY"});
  for (const auto api : {Api::kChat, Api::kCompletions}) {
    const auto body = build_request_body({.api = api, .prompt = "p", .top_logprobs = 1}, client.config().model);
    EXPECT_EQ(body.find("sk-secret"), std::string::npos);
  }
  ::unsetenv("UAQF_TEST_KEY");
}

// Chunks as llama-server sends them (tools/server/server-task.cpp), trimmed.
constexpr const char* kRoleChunk =
    R"({"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"})";
constexpr const char* kContentChunk =
    R"({"choices":[{"finish_reason":null,"index":0,"delta":{"content":" Hello"}}],"object":"chat.completion.chunk"})";
constexpr const char* kFinishChunk =
    R"({"choices":[{"finish_reason":"length","index":0,"delta":{}}],"object":"chat.completion.chunk"})";
constexpr const char* kUsageChunk =
    R"({"choices":[],"usage":{"completion_tokens":2,"prompt_tokens":5,"total_tokens":7},
        "timings":{"prompt_n":5,"prompt_ms":1.5,"prompt_per_token_ms":0.3,"predicted_n":2,"predicted_ms":4.25}})";

TEST(OpenAiChunks, ChatStream) {
  GenerationRecord record;
  EXPECT_EQ(apply_stream_data(kRoleChunk, 1.0, false, record), StreamStep::kMore);
  EXPECT_EQ(record.content_chunks, 0);  // the role alone is no generated text
  EXPECT_EQ(record.first_token_s, -1);
  EXPECT_EQ(apply_stream_data(kContentChunk, 1.5, false, record), StreamStep::kMore);
  EXPECT_EQ(apply_stream_data(kContentChunk, 2.0, false, record), StreamStep::kMore);
  EXPECT_EQ(apply_stream_data(kFinishChunk, 2.0, false, record), StreamStep::kMore);
  EXPECT_EQ(apply_stream_data(kUsageChunk, 2.5, false, record), StreamStep::kMore);
  EXPECT_EQ(apply_stream_data("[DONE]", 2.5, false, record), StreamStep::kDone);
  EXPECT_EQ(record.text, " Hello Hello");
  EXPECT_EQ(record.content_chunks, 2);
  EXPECT_EQ(record.token_arrival_s, (std::vector<double>{1.5, 2.0}));
  EXPECT_EQ(record.first_token_s, 1.5);
  EXPECT_EQ(record.finish_reason, "length");
  EXPECT_EQ(record.prompt_tokens, 5);
  EXPECT_EQ(record.completion_tokens, 2);
  EXPECT_EQ(record.output_tokens(), 2);
  ASSERT_TRUE(record.server_timings.has_value());
  EXPECT_EQ(record.server_timings->prompt_n, 5);
  EXPECT_EQ(record.server_timings->prompt_ms, 1.5);
  EXPECT_EQ(record.server_timings->predicted_n, 2);
  EXPECT_EQ(record.server_timings->predicted_ms, 4.25);
  EXPECT_TRUE(record.tokens.empty());
}

TEST(OpenAiChunks, ReasoningCountsAsGeneratedText) {
  GenerationRecord record;
  apply_stream_data(R"({"choices":[{"delta":{"reasoning_content":"hmm"}}]})", 1, false, record);
  apply_stream_data(R"({"choices":[{"delta":{"reasoning_content":"","content":"ok"}}]})", 2, false, record);
  EXPECT_EQ(record.text, "hmmok");
  EXPECT_EQ(record.content_chunks, 2);
}

TEST(OpenAiChunks, CompletionsStream) {
  GenerationRecord record;
  apply_stream_data(R"({"choices":[{"text":"Once","index":0,"logprobs":null,"finish_reason":null}]})", 1, true, record);
  apply_stream_data(R"({"choices":[{"text":"","index":0,"finish_reason":"stop"}],"usage":{"completion_tokens":1}})", 2,
                    true, record);
  EXPECT_EQ(record.text, "Once");
  EXPECT_EQ(record.content_chunks, 1);
  EXPECT_EQ(record.finish_reason, "stop");
  EXPECT_EQ(record.completion_tokens, 1);
  EXPECT_FALSE(record.prompt_tokens.has_value());
  EXPECT_TRUE(record.tokens.empty());  // logprobs null
}

TEST(OpenAiChunks, WithoutUsageOutputTokensAreChunks) {
  GenerationRecord record;
  apply_stream_data(kContentChunk, 1, false, record);
  EXPECT_EQ(record.output_tokens(), 1);
}

TEST(OpenAiChunks, ChatLogprobs) {
  const char* chunk = R"({"choices":[{"delta":{"content":" a"},"logprobs":{"content":[
      {"id":1,"token":" a","logprob":-0.5,"top_logprobs":[{"token":" a","logprob":-0.5},{"token":" b","logprob":-1.25}]}]}}]})";
  GenerationRecord wanted;
  apply_stream_data(chunk, 1, true, wanted);
  ASSERT_EQ(wanted.tokens.size(), 1U);
  EXPECT_EQ(wanted.tokens[0].text, " a");
  EXPECT_EQ(wanted.tokens[0].logprob, -0.5);
  ASSERT_EQ(wanted.tokens[0].top.size(), 2U);
  EXPECT_EQ(wanted.tokens[0].top[1].token, " b");
  EXPECT_EQ(wanted.tokens[0].top[1].logprob, -1.25);
  GenerationRecord unwanted;
  apply_stream_data(chunk, 1, false, unwanted);
  EXPECT_TRUE(unwanted.tokens.empty());
}

TEST(OpenAiChunks, LegacyCompletionLogprobs) {
  GenerationRecord record;
  apply_stream_data(R"({"choices":[{"text":" a","logprobs":{"tokens":[" a"],"token_logprobs":[-0.25],
                        "top_logprobs":[{" a":-0.25," c":-2.0}]}}]})",
                    1, true, record);
  ASSERT_EQ(record.tokens.size(), 1U);
  EXPECT_EQ(record.tokens[0].text, " a");
  EXPECT_EQ(record.tokens[0].logprob, -0.25);
  EXPECT_EQ(record.tokens[0].top.size(), 2U);
}

TEST(OpenAiChunks, ErrorObjectFails) {
  GenerationRecord record;
  EXPECT_EQ(
      apply_stream_data(R"({"error":{"code":500,"message":"out of\nmemory","type":"server_error"}})", 1, false, record),
      StreamStep::kFailed);
  EXPECT_EQ(record.error, "error in stream: out of memory");
}

TEST(OpenAiChunks, MalformedJsonFailsWithItsStart) {
  GenerationRecord record;
  const std::string data = "{\"choices\": [" + std::string(200, 'x');
  EXPECT_EQ(apply_stream_data(data, 1, false, record), StreamStep::kFailed);
  EXPECT_EQ(record.error, "malformed SSE: " + data.substr(0, 80) + "...");
  GenerationRecord other;
  EXPECT_EQ(apply_stream_data("not json", 1, false, other), StreamStep::kFailed);
  EXPECT_EQ(other.error, "malformed SSE: not json");
  GenerationRecord scalar;
  EXPECT_EQ(apply_stream_data("42", 1, false, scalar), StreamStep::kFailed);
}

TEST(OpenAiErrors, HttpErrorLines) {
  EXPECT_EQ(http_error_line(500, R"({"error":{"code":500,"message":"boom","type":"server_error"}})"), "HTTP 500: boom");
  EXPECT_EQ(http_error_line(429, R"({"error":"slow down"})"), "HTTP 429: slow down");
  EXPECT_EQ(http_error_line(422, R"({"detail":"bad field"})"), "HTTP 422: bad field");
  EXPECT_EQ(http_error_line(502, "\n  Bad gateway\nmore\n"), "HTTP 502: Bad gateway");
  EXPECT_EQ(http_error_line(503, ""), "HTTP 503");
  EXPECT_EQ(http_error_line(404, std::string(1000, 'y')).size(), std::string("HTTP 404: ").size() + 300 + 3);
}

TEST(OpenAiErrors, Seconds) {
  EXPECT_EQ(format_seconds(60), "60");
  EXPECT_EQ(format_seconds(2.5), "2.5");
}

TEST(OpenAiProbe, Models) {
  const char* body = R"({"object":"list","data":[{"id":"tiny.gguf","object":"model","owned_by":"llamacpp"}]})";
  EXPECT_EQ(parse_model_ids(body), (std::vector<std::string>{"tiny.gguf"}));
  EXPECT_EQ(server_hint_from_models(body), "llama.cpp");
  EXPECT_EQ(server_hint_from_models(R"({"data":[{"id":"m","owned_by":"vllm"}]})"), "vLLM");
  EXPECT_EQ(server_hint_from_models(R"({"data":[{"id":"m","owned_by":"someone"}]})"), "");
  EXPECT_TRUE(parse_model_ids("<html>").empty());
}

TEST(OpenAiProbe, PromptLogprobs) {
  // Legacy echo: the prompt's 2 tokens (the first without a value) and the generated one.
  EXPECT_TRUE(has_prompt_logprobs(
      R"({"choices":[{"text":"Hi x","logprobs":{"tokens":["Hi"," there"," x"],"token_logprobs":[null,-1.0,-0.5]}}],
          "usage":{"completion_tokens":1}})"));
  // Logprobs of the generated token alone.
  EXPECT_FALSE(has_prompt_logprobs(
      R"({"choices":[{"text":" x","logprobs":{"tokens":[" x"],"token_logprobs":[-0.5]}}],"usage":{"completion_tokens":1}})"));
  EXPECT_TRUE(has_prompt_logprobs(R"({"choices":[{"text":" x","prompt_logprobs":[null,{"11":{"logprob":-1.0}}]}]})"));
  // llama-server ignores echo: logprobs of the generated token only.
  EXPECT_FALSE(has_prompt_logprobs(
      R"({"choices":[{"text":"-","logprobs":{"content":[{"token":"-","logprob":-3.8,"top_logprobs":[]}]}}],
          "usage":{"completion_tokens":1,"prompt_tokens":3}})"));
  EXPECT_FALSE(has_prompt_logprobs(R"({"error":{"message":"Only no echo is supported"}})"));
}

TEST(OpenAiProbe, TopLogprobs) {
  EXPECT_TRUE(has_top_logprobs(R"({"choices":[{"message":{"content":"a"},"logprobs":{"content":[
      {"token":"a","logprob":-1,"top_logprobs":[{"token":"a","logprob":-1},{"token":"b","logprob":-2}]}]}}]})"));
  EXPECT_FALSE(has_top_logprobs(R"({"choices":[{"message":{"content":"a"},"logprobs":null}]})"));
  EXPECT_TRUE(has_generation(R"({"choices":[{"message":{"content":"a"}}]})"));
  EXPECT_TRUE(has_generation(R"({"choices":[{"text":""}]})"));
  EXPECT_FALSE(has_generation(R"({"choices":[]})"));
}

}  // namespace
}  // namespace uaqf::backend::openai
