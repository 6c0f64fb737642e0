// The OpenAI client against a real llama-server, built from this tree's pinned llama.cpp, serving
// the tiny model from the shared folder on a loopback port.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "backend/openai/client.h"
#include "child_process.h"

namespace uaqf::backend::openai {
namespace {

// The HTTP status of GET url (0 when nothing answered).
long http_get_status(const std::string& url) {
  long status = 0;
  uaqf::testing::http_get(url, &status);
  return status;
}

class OpenAiLlamaServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* shared = std::getenv("UAQF_SHARED_DIR");
    if (shared == nullptr || *shared == '\0') {
      setup_error_ = "UAQF_SHARED_DIR is not set (the tiny model lives there)";
      return;
    }
    const auto model = std::filesystem::path(shared) / "models/uaqf-tiny/uaqf-tiny-15m-f16.gguf";
    if (!std::filesystem::exists(model)) {
      setup_error_ = model.string() + " is missing";
      return;
    }
    if (!std::filesystem::exists(UAQF_LLAMA_SERVER_BINARY)) {
      setup_error_ = std::string("llama-server is not built: ") + UAQF_LLAMA_SERVER_BINARY;
      return;
    }
    port_ = uaqf::testing::free_loopback_port();
    log_path_ = ::testing::TempDir() + "uaqf_llama_server.log";
    // 4 slots of 512 tokens (the model's training context), 2 threads: the test machine is small.
    server_ = uaqf::testing::ChildProcess::start(
        {UAQF_LLAMA_SERVER_BINARY, "-m", model.string(), "--host", "127.0.0.1", "--port", std::to_string(port_), "-c",
         "2048", "-np", "4", "-t", "2", "--no-warmup"},
        {}, log_path_, false);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (http_get_status(base_url() + "/health") != 200) {
      if (!server_->running() || std::chrono::steady_clock::now() > deadline) {
        setup_error_ = "llama-server did not become healthy; its log ends:\n" + uaqf::testing::file_tail(log_path_);
        server_.reset();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  static void TearDownTestSuite() { server_.reset(); }
  // Fails (never skips) every test when the server could not start.
  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_TRUE(server_ && server_->running()) << uaqf::testing::file_tail(log_path_);
  }

  static std::string base_url() { return "http://127.0.0.1:" + std::to_string(port_); }
  static EndpointConfig config() {
    return {.base_url = base_url() + "/v1", .request_timeout_s = 60, .stall_timeout_s = 30};
  }

  static inline std::unique_ptr<uaqf::testing::ChildProcess> server_;
  static inline std::string log_path_;
  static inline std::string setup_error_;
  static inline int port_ = 0;
};

// One token per chunk, timed on arrival: the times rise, and usage and timings agree with them.
void expect_streamed(const GenerationRecord& record, int max_tokens) {
  ASSERT_TRUE(record.ok) << record.error;
  EXPECT_EQ(record.http_status, 200);
  ASSERT_TRUE(record.completion_tokens.has_value());
  EXPECT_EQ(*record.completion_tokens, max_tokens);  // ignore_eos: all of them
  EXPECT_EQ(record.content_chunks, *record.completion_tokens);
  ASSERT_TRUE(record.prompt_tokens.has_value());
  EXPECT_GT(*record.prompt_tokens, 0);
  EXPECT_EQ(record.finish_reason, "length");
  ASSERT_TRUE(record.server_timings.has_value());
  EXPECT_EQ(record.server_timings->predicted_n, max_tokens);
  EXPECT_GT(record.server_timings->predicted_ms, 0);
  ASSERT_EQ(record.token_arrival_s.size(), static_cast<std::size_t>(max_tokens));
  EXPECT_EQ(record.first_token_s, record.token_arrival_s.front());
  EXPECT_GT(record.first_token_s, record.sent_s);
  for (std::size_t i = 1; i < record.token_arrival_s.size(); ++i) {
    EXPECT_GE(record.token_arrival_s[i], record.token_arrival_s[i - 1]);
  }
  // Tokens come one by one, not in one burst at the end.
  const std::set<double> distinct(record.token_arrival_s.begin(), record.token_arrival_s.end());
  EXPECT_GT(distinct.size(), static_cast<std::size_t>(max_tokens) / 2);
  EXPECT_GE(record.done_s, record.token_arrival_s.back());
  EXPECT_FALSE(record.text.empty());
}

TEST_F(OpenAiLlamaServer, StreamingChat) {
  Client client(config());
  expect_streamed(
      client.generate(
          {.api = Api::kChat, .prompt = "Tell me a story.", .max_tokens = 24, .ignore_eos = true, .seed = 1}),
      24);
}

TEST_F(OpenAiLlamaServer, StreamingCompletions) {
  Client client(config());
  expect_streamed(
      client.generate({.api = Api::kCompletions, .prompt = "Once upon a time", .max_tokens = 24, .ignore_eos = true}),
      24);
}

TEST_F(OpenAiLlamaServer, TopLogprobsInTheStream) {
  Client client(config());
  for (const auto api : {Api::kChat, Api::kCompletions}) {
    const auto record = client.generate(
        {.api = api, .prompt = "Once upon a time", .max_tokens = 6, .ignore_eos = true, .top_logprobs = 2});
    ASSERT_TRUE(record.ok) << record.error;
    ASSERT_EQ(record.tokens.size(), 6U);
    std::string joined;
    for (const auto& token : record.tokens) {
      EXPECT_LE(token.logprob, 0.0);
      EXPECT_EQ(token.top.size(), 2U);
      joined += token.text;
    }
    EXPECT_EQ(joined, record.text);
  }
}

TEST_F(OpenAiLlamaServer, Probe) {
  Client client(config());
  const auto probe = client.probe();
  // What this tree's llama-server gives: generation, streaming, usage in the stream (the last
  // chunk), top-k logprobs of generated tokens (chat: logprobs + top_logprobs); no prompt logprobs
  // (/completions ignores "echo" and returns the generated token's logprobs only; no vLLM
  // prompt_logprobs). /v1/models lists the model file, owned_by "llamacpp".
  EXPECT_TRUE(probe.generation);
  EXPECT_TRUE(probe.streaming);
  EXPECT_TRUE(probe.usage_in_stream);
  EXPECT_TRUE(probe.top_logprobs);
  EXPECT_FALSE(probe.prompt_logprobs);
  ASSERT_EQ(probe.models.size(), 1U);
  EXPECT_NE(probe.models[0].find("uaqf-tiny-15m-f16.gguf"), std::string::npos);
  EXPECT_EQ(probe.server_hint, "llama.cpp");
}

TEST_F(OpenAiLlamaServer, EightConcurrentRequests) {
  Client client(config());
  constexpr int kRequests = 8;  // twice the server's slots: some wait for a slot
  for (int i = 0; i < kRequests; ++i) {
    client.submit({.id = static_cast<uint64_t>(i),
                   .api = i % 2 == 0 ? Api::kChat : Api::kCompletions,
                   .prompt = "Story number " + std::to_string(i),
                   .max_tokens = 16,
                   .ignore_eos = true});
  }
  std::set<uint64_t> ids;
  const double until_s = client.now_s() + 60;
  while (client.in_flight() > 0 && client.now_s() < until_s) {
    for (const auto& record : client.poll(1.0)) {
      EXPECT_TRUE(ids.insert(record.id).second) << "twice: " << record.id;
      expect_streamed(record, 16);
    }
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kRequests));
}

TEST_F(OpenAiLlamaServer, ServerErrorIsOneLine) {
  // A prompt longer than a slot's context: llama-server answers with an HTTP error.
  Client client(config());
  std::string long_prompt;
  for (int i = 0; i < 600; ++i) long_prompt += "word ";
  const auto record = client.generate({.api = Api::kCompletions, .prompt = long_prompt, .max_tokens = 4});
  EXPECT_FALSE(record.ok);
  EXPECT_EQ(record.error.rfind("HTTP 4", 0), 0U) << record.error;
  EXPECT_EQ(record.error.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace uaqf::backend::openai
