// The OpenAI client against tests/server/fault_server.py, a loopback server that misbehaves on
// request: every request must end in bounded time with the right outcome, exactly once.

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "backend/openai/client.h"
#include "child_process.h"

namespace uaqf::backend::openai {
namespace {

constexpr const char* kServerKey = "fault-key-123";  // what the fault server accepts in "auth"

class OpenAiFault : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log_path_ = ::testing::TempDir() + "uaqf_fault_server.log";
    server_ = uaqf::testing::ChildProcess::start({UAQF_PYTHON, "-u", UAQF_FAULT_SERVER_SCRIPT, "0"},
                                                 {{"FAULT_SERVER_KEY", kServerKey}}, log_path_, true);
    port_ = std::stoi(server_->read_line(20));
  }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override { ASSERT_TRUE(server_->running()) << uaqf::testing::file_tail(log_path_); }

  // Short timeouts, so that every failure shows within seconds.
  static EndpointConfig config() {
    return {.base_url = "http://127.0.0.1:" + std::to_string(port_) + "/v1",
            .connect_timeout_s = 2,
            .request_timeout_s = 5,
            .stall_timeout_s = 2};
  }
  // The fault server reads its behaviour from the model field, or without one from the prompt.
  static GenerationRecord run(const std::string& behaviour, EndpointConfig endpoint = config(), Api api = Api::kChat) {
    endpoint.model = behaviour;
    Client client(endpoint);
    return client.generate({.api = api, .prompt = "hello", .max_tokens = 8});
  }

  static inline std::unique_ptr<uaqf::testing::ChildProcess> server_;
  static inline std::string log_path_;
  static inline int port_ = 0;
};

void expect_increasing(const std::vector<double>& times) {
  for (std::size_t i = 1; i < times.size(); ++i) EXPECT_GE(times[i], times[i - 1]) << "token " << i;
}

TEST_F(OpenAiFault, NormalChatStream) {
  const auto record = run("normal:5");
  ASSERT_TRUE(record.ok) << record.error;
  EXPECT_EQ(record.http_status, 200);
  EXPECT_EQ(record.text, "t0 t1 t2 t3 t4 ");
  EXPECT_EQ(record.content_chunks, 5);
  EXPECT_EQ(record.completion_tokens, 5);
  EXPECT_EQ(record.prompt_tokens, 3);
  EXPECT_EQ(record.output_tokens(), 5);
  EXPECT_EQ(record.finish_reason, "length");
  ASSERT_TRUE(record.server_timings.has_value());
  EXPECT_EQ(record.server_timings->predicted_n, 5);
  ASSERT_EQ(record.token_arrival_s.size(), 5U);
  EXPECT_EQ(record.first_token_s, record.token_arrival_s.front());
  EXPECT_GE(record.first_token_s, record.sent_s);
  EXPECT_GE(record.done_s, record.token_arrival_s.back());
  expect_increasing(record.token_arrival_s);
}

TEST_F(OpenAiFault, NormalCompletionsStream) {
  const auto record = run("normal:3", config(), Api::kCompletions);
  ASSERT_TRUE(record.ok) << record.error;
  EXPECT_EQ(record.text, "t0 t1 t2 ");
  EXPECT_EQ(record.content_chunks, 3);
  EXPECT_EQ(record.completion_tokens, 3);
}

TEST_F(OpenAiFault, TokensAreTimedOnArrival) {
  // 100 ms between tokens: the arrival times must show the gaps, not the end of the stream.
  const auto record = run("normal:4:100");
  ASSERT_TRUE(record.ok) << record.error;
  ASSERT_EQ(record.token_arrival_s.size(), 4U);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_GT(record.token_arrival_s[i] - record.token_arrival_s[i - 1], 0.07) << "token " << i;
  }
  EXPECT_GT(record.first_token_s - record.sent_s, 0.07);
}

TEST_F(OpenAiFault, DiesMidStream) {
  const auto record = run("die:2");
  EXPECT_FALSE(record.ok);
  EXPECT_EQ(record.error, "server closed the stream before [DONE]");
  EXPECT_EQ(record.text, "t0 t1 ");  // what came before stays in the record
  EXPECT_EQ(record.content_chunks, 2);
}

TEST_F(OpenAiFault, CleanEndWithoutDoneOrFinishFails) {
  const auto record = run("nodone:1");
  EXPECT_FALSE(record.ok);
  EXPECT_EQ(record.error, "server closed the stream before [DONE]");
}

TEST_F(OpenAiFault, CleanEndWithFinishReasonButNoDoneIsOk) {
  const auto record = run("finish_nodone:2");
  EXPECT_TRUE(record.ok) << record.error;
  EXPECT_EQ(record.finish_reason, "stop");
  EXPECT_EQ(record.completion_tokens, 2);
}

TEST_F(OpenAiFault, StallFailsAfterTheStallTimeout) {
  auto endpoint = config();
  endpoint.stall_timeout_s = 1;
  const auto record = run("stall:2", endpoint);
  EXPECT_FALSE(record.ok);
  EXPECT_EQ(record.error, "stalled: no data for 1 s");
  EXPECT_EQ(record.content_chunks, 2);
  EXPECT_GE(record.done_s - record.token_arrival_s.back(), 1.0);
  EXPECT_LT(record.done_s - record.sent_s, 3.0);
}

TEST_F(OpenAiFault, MalformedSse) {
  const auto record = run("malformed");
  EXPECT_FALSE(record.ok);
  EXPECT_EQ(record.error, R"(malformed SSE: {"choices": [{"delta": {"content": "broken")");
}

TEST_F(OpenAiFault, ErrorInsideTheStream) {
  const auto record = run("stream_error");
  EXPECT_FALSE(record.ok);
  EXPECT_EQ(record.error, "error in stream: the model fell over");
}

TEST_F(OpenAiFault, HttpErrors) {
  const auto e500 = run("http500");
  EXPECT_FALSE(e500.ok);
  EXPECT_EQ(e500.http_status, 500);
  EXPECT_EQ(e500.error, "HTTP 500: internal trouble");
  const auto e429 = run("http429");
  EXPECT_EQ(e429.http_status, 429);
  EXPECT_EQ(e429.error, "HTTP 429: too many requests");
  const auto e502 = run("text502");
  EXPECT_EQ(e502.error, "HTTP 502: bad gateway");
  EXPECT_EQ(e502.content_chunks, 0);
}

TEST_F(OpenAiFault, SlowFirstByteHitsTheRequestTimeout) {
  auto endpoint = config();
  endpoint.request_timeout_s = 1.5;
  endpoint.stall_timeout_s = 60;
  const auto record = run("slow:10", endpoint);
  EXPECT_FALSE(record.ok);
  EXPECT_EQ(record.error, "timed out after 1.5 s");
  EXPECT_LT(record.done_s - record.sent_s, 3.0);
}

TEST_F(OpenAiFault, SlowFirstByteHitsTheStallTimeout) {
  auto endpoint = config();
  endpoint.stall_timeout_s = 1;
  const auto record = run("slow:10", endpoint);
  EXPECT_FALSE(record.ok);
  EXPECT_EQ(record.error, "stalled: no data for 1 s");
  EXPECT_EQ(record.first_token_s, -1);
}

TEST_F(OpenAiFault, ConnectionRefused) {
  auto endpoint = config();
  endpoint.base_url = "http://127.0.0.1:" + std::to_string(uaqf::testing::free_loopback_port()) + "/v1";
  const auto record = run("normal:1", endpoint);
  EXPECT_FALSE(record.ok);
  EXPECT_EQ(record.error.rfind("connection refused: ", 0), 0U) << record.error;
  EXPECT_EQ(record.http_status, 0);
}

TEST_F(OpenAiFault, KeyGoesInTheHeaderOnly) {
  ::setenv("UAQF_FAULT_KEY", kServerKey, 1);
  auto endpoint = config();
  endpoint.api_key_env = "UAQF_FAULT_KEY";
  const auto good = run("auth", endpoint);  // the server also rejects bodies that hold its key
  EXPECT_TRUE(good.ok) << good.error;
  // A server that echoes a wrong key: the error line must not carry it.
  ::setenv("UAQF_FAULT_WRONG_KEY", "wrong-secret-456", 1);
  endpoint.api_key_env = "UAQF_FAULT_WRONG_KEY";
  const auto bad = run("auth", endpoint);
  EXPECT_EQ(bad.http_status, 401);
  EXPECT_EQ(bad.error, "HTTP 401: wrong key: Bearer ***");
  ::unsetenv("UAQF_FAULT_KEY");
  ::unsetenv("UAQF_FAULT_WRONG_KEY");
}

// Polls until nothing is in flight or `limit_s` passes; every record, in the order they ended.
std::vector<GenerationRecord> poll_all(Client& client, double limit_s) {
  std::vector<GenerationRecord> records;
  const double until_s = client.now_s() + limit_s;
  while (client.in_flight() > 0 && client.now_s() < until_s) {
    for (auto& record : client.poll(0.5)) records.push_back(std::move(record));
  }
  for (auto& record : client.poll(0)) records.push_back(std::move(record));
  return records;
}

TEST_F(OpenAiFault, ManyAtOnceEachComesBackOnce) {
  // 16 requests of every behaviour at once on one client; each must end, once, as its behaviour says.
  const std::vector<std::pair<std::string, std::string>> behaviours = {
      {"normal:20:5", ""},
      {"die:2", "server closed the stream before [DONE]"},
      {"stall:1", "stalled: no data for 2 s"},
      {"slow:10", "stalled: no data for 2 s"},
      {"malformed", "malformed SSE: "},
      {"http500", "HTTP 500: internal trouble"},
      {"http429", "HTTP 429: too many requests"}};
  Client client(config());
  constexpr int kEach = 16;
  for (int i = 0; i < kEach; ++i) {
    for (std::size_t b = 0; b < behaviours.size(); ++b) {
      const auto id = static_cast<uint64_t>(i) * behaviours.size() + b;
      client.submit({.id = id, .api = i % 2 == 0 ? Api::kChat : Api::kCompletions, .prompt = behaviours[b].first});
    }
  }
  EXPECT_EQ(client.in_flight(), kEach * behaviours.size());
  const double started_s = client.now_s();
  const auto records = poll_all(client, 20);
  EXPECT_LT(client.now_s() - started_s, 10.0);
  EXPECT_EQ(client.in_flight(), 0U);
  ASSERT_EQ(records.size(), kEach * behaviours.size());
  std::set<uint64_t> seen;
  for (const auto& record : records) {
    EXPECT_TRUE(seen.insert(record.id).second) << "twice: " << record.id;
    const auto& [behaviour, error] = behaviours[record.id % behaviours.size()];
    if (error.empty()) {
      EXPECT_TRUE(record.ok) << behaviour << ": " << record.error;
      EXPECT_EQ(record.content_chunks, 20);
      EXPECT_EQ(record.completion_tokens, 20);
    } else {
      EXPECT_FALSE(record.ok) << behaviour;
      EXPECT_EQ(record.error.rfind(error, 0), 0U) << behaviour << ": " << record.error;
    }
  }
}

TEST_F(OpenAiFault, ManyRefusedAtOnce) {
  auto endpoint = config();
  endpoint.base_url = "http://127.0.0.1:" + std::to_string(uaqf::testing::free_loopback_port()) + "/v1";
  Client client(endpoint);
  for (uint64_t id = 0; id < 16; ++id) client.submit({.id = id, .prompt = "normal:1"});
  const auto records = poll_all(client, 10);
  ASSERT_EQ(records.size(), 16U);
  std::set<uint64_t> seen;
  for (const auto& record : records) {
    EXPECT_TRUE(seen.insert(record.id).second);
    EXPECT_EQ(record.error.rfind("connection refused: ", 0), 0U) << record.error;
  }
}

TEST_F(OpenAiFault, CancelAllEndsEverything) {
  Client client(config());
  for (uint64_t id = 0; id < 4; ++id) client.submit({.id = id, .prompt = "stall:1"});
  client.submit({.id = 9, .prompt = "http500"});
  // Until the HTTP 500 has ended (it stays unclaimed for cancel_all to hand out).
  const double until_s = client.now_s() + 1.5;
  std::vector<GenerationRecord> early;
  while (client.in_flight() == 5 && client.now_s() < until_s) early = client.poll(0.1);
  ASSERT_EQ(client.in_flight(), 4U);
  ASSERT_EQ(early.size(), 1U);
  EXPECT_EQ(early[0].id, 9U);
  const auto records = client.cancel_all();
  EXPECT_EQ(client.in_flight(), 0U);
  ASSERT_EQ(records.size(), 4U);
  for (const auto& record : records) {
    EXPECT_FALSE(record.ok);
    EXPECT_EQ(record.error, "cancelled");
    EXPECT_LE(record.content_chunks, 1);
  }
  EXPECT_TRUE(client.poll(0.1).empty());
}

TEST_F(OpenAiFault, GenerateLeavesOtherRecordsToPoll) {
  Client client(config());
  client.submit({.id = 1, .prompt = "normal:3"});
  client.submit({.id = 2, .prompt = "normal:3:50"});
  const auto mine = client.generate({.id = 3, .prompt = "normal:2:100"});
  EXPECT_EQ(mine.id, 3U);
  EXPECT_TRUE(mine.ok) << mine.error;
  std::multiset<uint64_t> ids;
  for (const auto& record : poll_all(client, 5)) {
    ids.insert(record.id);
    EXPECT_TRUE(record.ok) << record.error;
  }
  EXPECT_EQ(ids, (std::multiset<uint64_t>{1, 2}));
}

TEST_F(OpenAiFault, ConnectionsAreReused) {
  const auto accepted = [] {
    const auto body = uaqf::testing::http_get("http://127.0.0.1:" + std::to_string(port_) + "/connections");
    return std::stoi(body.substr(body.find(':') + 1));
  };
  Client client(config());
  const int before = accepted();
  for (uint64_t id = 0; id < 4; ++id) EXPECT_TRUE(client.generate({.id = id, .prompt = "normal:2"}).ok);
  // One connection for four requests in a row (plus the one that asked for the count).
  EXPECT_EQ(accepted() - before, 2);
}

TEST_F(OpenAiFault, ClientCpuPerTokenWith64Streams) {
  // The load generator's budget: >= 2,000 streamed tokens per CPU second of the client's thread,
  // with 64 streams at once (the server's CPU is not counted).
  Client client(config());
  constexpr int kStreams = 64;
  constexpr int kTokens = 200;
  const std::string behaviour = "normal:" + std::to_string(kTokens);
  rusage before{};
  ::getrusage(RUSAGE_THREAD, &before);
  for (int i = 0; i < kStreams; ++i) client.submit({.id = static_cast<uint64_t>(i), .prompt = behaviour});
  const auto records = poll_all(client, 60);
  rusage after{};
  ::getrusage(RUSAGE_THREAD, &after);
  const auto cpu_s = [](const rusage& usage) {
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  };
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kStreams));
  int tokens = 0;
  for (const auto& record : records) {
    EXPECT_TRUE(record.ok) << record.error;
    tokens += record.content_chunks;
  }
  EXPECT_EQ(tokens, kStreams * kTokens);
  const double used_s = std::max(1e-3, cpu_s(after) - cpu_s(before));
  const double tokens_per_cpu_s = tokens / used_s;
  std::printf("client: %d tokens in %.3f CPU s: %.0f tokens per CPU second\n", tokens, used_s, tokens_per_cpu_s);
  EXPECT_GE(tokens_per_cpu_s, 2000.0);
}

}  // namespace
}  // namespace uaqf::backend::openai
