// `uaqf serve-bench`, the real binary: against a managed llama-server on the tiny model (closed
// loop at 1/4/8, a Poisson run, goodput recomputed from the request records) and against
// fault_server.py (every request accounted for, results kept, one error line, nothing left running).

#include <dirent.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../integration/cli_support.h"
#include "child_process.h"

namespace {

using nlohmann::json;
using uaqf_test::q;
using uaqf_test::run_uaqf;

// llama-server processes whose parent is this test process: a uaqf that died and left its
// server behind (this process is their subreaper).
std::vector<int> orphaned_servers() {
  std::vector<int> pids;
  DIR* proc = opendir("/proc");
  while (dirent* entry = proc ? readdir(proc) : nullptr) {
    const std::string name = entry->d_name;
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream stat("/proc/" + name + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos || line.find("(llama-server)") == std::string::npos) {
      continue;
    }
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == getpid() && state != 'Z') {
      pids.push_back(std::stoi(name));
    }
  }
  if (proc) {
    closedir(proc);
  }
  return pids;
}

class ServeBenchCli : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }
  void TearDown() override { EXPECT_TRUE(orphaned_servers().empty()); }

  json read_json(const std::string& name) {
    std::ifstream in(uaqf_test::work_dir() / name);
    return json::parse(in);
  }
  static std::string last_line(const std::string& text) {
    auto trimmed = text;
    while (!trimmed.empty() && trimmed.back() == '\n') {
      trimmed.pop_back();
    }
    return trimmed.substr(trimmed.rfind('\n') == std::string::npos ? 0 : trimmed.rfind('\n') + 1);
  }
};

// The largest number of requests of one level whose [sent, done] intervals overlap.
int max_overlap(const json& requests, std::size_t level) {
  std::vector<std::pair<double, int>> events;
  for (const auto& request : requests) {
    if (request["level"] == level) {
      events.emplace_back(request["sent_s"].get<double>(), 1);
      events.emplace_back(request["done_s"].get<double>(), -1);
    }
  }
  std::sort(events.begin(), events.end());
  int current = 0, most = 0;
  for (const auto& [time, delta] : events) {
    current += delta;
    most = std::max(most, current);
  }
  return most;
}

TEST_F(ServeBenchCli, ManagedServerConcurrencySweepWithGoodputFromTheRecords) {
  const auto json_path = uaqf_test::work_dir() / "sweep.json";
  const auto result = run_uaqf("serve-bench --serve " + q(uaqf_test::tiny_model()) +
                               " --prompts gsm8k --requests 16 --concurrency 1,4,8 --max-new-tokens 12 --ignore-eos"
                               " --slo 'ttft_ms<=400' --slo 'tpot_ms<=40' --search-budget 0 --threads 1 --json " +
                               q(json_path));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("concurrency 8"), std::string::npos) << result.out;
  const auto out = read_json("sweep.json");
  ASSERT_EQ(out["levels"].size(), 3U);
  EXPECT_EQ(out["endpoint"]["capabilities"]["usage_in_stream"], true);
  EXPECT_EQ(out["endpoint"]["server_hint"], "llama.cpp");
  const std::vector<int> concurrency{1, 4, 8};
  for (std::size_t level = 0; level < 3; ++level) {
    const auto& summary = out["levels"][level];
    EXPECT_EQ(summary["ok"], 16);
    EXPECT_LE(max_overlap(out["requests"], level), concurrency[level]);
    EXPECT_GE(max_overlap(out["requests"], level), std::min(concurrency[level], 2));
    // Goodput and attainment recomputed by hand from the raw records.
    double first_sent_s = 1e300, last_done_s = 0;
    int good = 0, n = 0;
    for (const auto& request : out["requests"]) {
      if (request["level"] != level) {
        continue;
      }
      ++n;
      EXPECT_EQ(request["output_tokens"], 12);  // usage from the server, ignore_eos honoured
      EXPECT_FALSE(request["output_tokens_counted"].get<bool>());
      EXPECT_EQ(request["itl_ms"].size(), 11U);  // every token streamed on its own
      first_sent_s = std::min(first_sent_s, request["sent_s"].get<double>());
      last_done_s = std::max(last_done_s, request["done_s"].get<double>());
      const bool meets = request["ok"].get<bool>() && request["ttft_ms"].get<double>() <= 400 &&
                         request["tpot_ms"].get<double>() <= 40;
      EXPECT_EQ(meets, request["meets_slos"].get<bool>());
      good += meets ? 1 : 0;
    }
    EXPECT_EQ(n, 16);
    EXPECT_NEAR(summary["duration_s"].get<double>(), last_done_s - first_sent_s, 1e-9);
    EXPECT_NEAR(summary["goodput_rps"].get<double>(), good / (last_done_s - first_sent_s), 1e-9);
    EXPECT_NEAR(summary["slo_attainment"].get<double>(), good / 16.0, 1e-12);
    EXPECT_NEAR(summary["output_tps"].get<double>(), 16 * 12 / (last_done_s - first_sent_s), 1e-6);
  }
}

TEST_F(ServeBenchCli, PoissonArrivalsAtARate) {
  const auto json_path = uaqf_test::work_dir() / "poisson.json";
  const auto result = run_uaqf("serve-bench --serve " + q(uaqf_test::tiny_model()) +
                               " --prompts ifeval --requests 200 --rate 10 --arrivals poisson --duration 3"
                               " --max-new-tokens 8 --ignore-eos --seed 3 --threads 1 --json " +
                               q(json_path));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto out = read_json("poisson.json");
  ASSERT_EQ(out["levels"].size(), 1U);
  const int n = out["levels"][0]["requests"];
  EXPECT_GT(n, 10);  // about 30 in 3 s at 10/s
  EXPECT_LT(n, 60);
  EXPECT_EQ(out["levels"][0]["ok"], n);
  std::map<uint64_t, double> scheduled_by_id;  // records come in the order requests ended
  for (const auto& request : out["requests"]) {
    scheduled_by_id[request["id"].get<uint64_t>()] = request["scheduled_s"].get<double>();
    EXPECT_LT(request["sent_s"].get<double>() - request["scheduled_s"].get<double>(), 0.5);
  }
  std::vector<double> scheduled;
  for (const auto& [id, scheduled_s] : scheduled_by_id) {
    scheduled.push_back(scheduled_s);
  }
  EXPECT_TRUE(std::is_sorted(scheduled.begin(), scheduled.end()));
  EXPECT_LT(scheduled.back() - scheduled.front(), 3.0);
}

TEST_F(ServeBenchCli, CtrlCKeepsTheLevelsMeasuredAndLeavesNoServer) {
  const auto json_path = uaqf_test::work_dir() / "interrupted.json";
  std::filesystem::remove(json_path);
  auto uaqf = uaqf::testing::ChildProcess::start(
      {UAQF_BINARY, "serve-bench", "--serve", uaqf_test::tiny_model().string(), "--prompts", "gsm8k", "--requests", "4",
       "--concurrency", "1,1,1,1,1,1,1,1", "--max-new-tokens", "400", "--threads", "1", "--json", json_path},
      {}, ::testing::TempDir() + "uaqf_serve_bench_interrupted.log", false);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(json_path) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(std::filesystem::exists(json_path)) << "no level finished within 60 s";
  ASSERT_EQ(kill(uaqf->pid(), SIGINT), 0);
  while (uaqf->running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(uaqf->running());
  // The server goes with uaqf: give the kernel a moment to deliver its end.
  for (int i = 0; i < 100 && !orphaned_servers().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto out = read_json("interrupted.json");
  EXPECT_GE(out["levels"].size(), 1U);
  EXPECT_LT(out["levels"].size(), 8U);
  EXPECT_EQ(out["levels"][0]["ok"], 4);
}

class ServeBenchFaults : public ServeBenchCli {
 protected:
  void SetUp() override {
    ServeBenchCli::SetUp();
    server_ = uaqf::testing::ChildProcess::start({UAQF_PYTHON, "-u", UAQF_FAULT_SERVER_SCRIPT, "0"}, {},
                                                 ::testing::TempDir() + "uaqf_serve_bench_fault.log", true);
    url_ = "http://127.0.0.1:" + server_->read_line(10) + "/v1";
  }
  void TearDown() override {
    server_->stop();
    ServeBenchCli::TearDown();
  }
  std::unique_ptr<uaqf::testing::ChildProcess> server_;
  std::string url_;
};

TEST_F(ServeBenchFaults, EveryFaultEndsInBoundedTimeAndEveryRequestIsAccounted) {
  // The prompt picks the fault: every kind appears among the 24 requests of each level.
  const auto prompts = uaqf_test::work_dir() / "faults.txt";
  std::ofstream(prompts) << "normal:4\ndie:2\nstall:1\nmalformed\nhttp500\nhttp429\nslow:30\nnormal:3\n";
  const auto json_path = uaqf_test::work_dir() / "faults.json";
  const auto started = std::chrono::steady_clock::now();
  const auto result =
      run_uaqf("serve-bench --url " + url_ + " --prompts " + q(prompts) +
               " --requests 24 --concurrency 4,8 --warmup 0 --timeout 3 --stall-timeout 1 --json " + q(json_path));
  const double took_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_LT(took_s, 30);
  const auto out = read_json("faults.json");
  ASSERT_EQ(out["levels"].size(), 2U);
  for (const auto& level : out["levels"]) {
    EXPECT_EQ(level["requests"], 24);
    EXPECT_EQ(level["ok"].get<int>() + level["failed"].get<int>(), 24);
    EXPECT_EQ(level["ok"], 6);  // the two "normal" prompts, three times each
    std::map<std::string, int> reasons;
    for (const auto& [reason, count] : level["errors"].items()) {
      reasons[reason.substr(0, reason.find(':'))] += count.get<int>();
    }
    EXPECT_EQ(reasons["server closed the stream before [DONE]"], 3) << level["errors"].dump();
    EXPECT_EQ(reasons["malformed SSE"], 3) << level["errors"].dump();
    EXPECT_EQ(reasons["HTTP 500"], 3) << level["errors"].dump();
    EXPECT_EQ(reasons["HTTP 429"], 3) << level["errors"].dump();
    EXPECT_EQ(reasons["timed out after 3 s"] + reasons["stalled"], 6) << level["errors"].dump();
  }
  std::set<uint64_t> ids;
  for (const auto& request : out["requests"]) {
    ids.insert(request["id"].get<uint64_t>());
  }
  EXPECT_EQ(ids.size(), 48U);
}

TEST_F(ServeBenchFaults, AServerThatFailsEveryRequestStopsTheRunWithOneLineAndKeepsTheRecords) {
  const auto json_path = uaqf_test::work_dir() / "dead.json";
  const auto result =
      run_uaqf("serve-bench --url " + url_ +
               " --model die:1 --prompts gsm8k --requests 6 --concurrency 2,4 --warmup 0 --json " + q(json_path));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(last_line(result.err),
            "uaqf: error: serve-bench stopped early: every request at concurrency 2 failed (server closed the stream "
            "before [DONE])");
  const auto out = read_json("dead.json");
  EXPECT_TRUE(out["interrupted"].get<bool>());
  EXPECT_EQ(out["requests"].size(), 6U);
}

TEST_F(ServeBenchFaults, ConnectionRefusedIsOneLine) {
  const auto result =
      run_uaqf("serve-bench --url http://127.0.0.1:" + std::to_string(uaqf::testing::free_loopback_port()) +
               "/v1 --prompts gsm8k --requests 3 --warmup 0");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(last_line(result.err)
                .find("uaqf: error: serve-bench stopped early: every request at concurrency 1 "
                      "failed (connection refused"),
            std::string::npos)
      << result.err;
}

TEST_F(ServeBenchFaults, BadFlagsAreOneLineBeforeAnyRequest) {
  auto result = run_uaqf("serve-bench --url " + url_ + " --prompts gsm8k --slo 'ttft<=5'");
  uaqf_test::expect_one_error_line(result, "unknown SLO metric 'ttft'");
  result = run_uaqf("serve-bench --prompts gsm8k");
  uaqf_test::expect_one_error_line(result, "needs --url");
  result = run_uaqf("serve-bench --url " + url_ + " --prompts gsm8k --rate 0");
  uaqf_test::expect_one_error_line(result, "--rate: '0' is not a number above 0");
}

}  // namespace
