// The tiny model placed on two rpc-servers that uaqf starts on loopback (--rpc-local 2): the same
// perplexity and greedy answers as in-process, one clear error and no hang when a server is killed
// mid-run, and no server left behind. One test, so that no other test's servers are counted.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_support.h"

namespace uaqf_test {
namespace {

constexpr const char* kRpcServerName = "ggml-rpc-serve";  // /proc/PID/comm keeps 15 characters

fs::path corpus() { return shared_dir() / "data" / "wikitext-2-raw" / "wiki.test.raw"; }

// The pids of live (not zombie) processes named like the rpc-server whose parent is `parent`.
std::vector<int> rpc_servers_of(int parent) {
  std::vector<int> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos || line.find(kRpcServerName) == std::string::npos) {
      continue;
    }
    char state = ' ';
    int ppid = 0;
    std::istringstream rest(line.substr(close + 2));
    rest >> state >> ppid;
    if (state != 'Z' && (parent == 0 || ppid == parent)) {
      pids.push_back(std::stoi(name));
    }
  }
  return pids;
}

std::vector<std::string> generations(const fs::path& json_path) {
  const auto json = nlohmann::json::parse(slurp(json_path));
  std::vector<std::string> texts;
  for (const auto& record : json["models"][0]["tasks"][0]["records"]) {
    texts.push_back(record["generation"].get<std::string>());
  }
  return texts;
}

TEST(RpcPlacement, ManagedRpcServersMatchInProcessAndFailCleanly) {
  const int servers_before = static_cast<int>(rpc_servers_of(0).size());
  const std::string data = " --data " + q(corpus()) + " --chunks 3 -t 2";
  // Perplexity: in-process, then through two rpc-servers.
  const fs::path local_json = work_dir() / "rpc-local-ppl.json";
  const fs::path rpc_json = work_dir() / "rpc-ppl.json";
  auto local = run_uaqf("eval " + q(tiny_model()) + " --tasks perplexity" + data + " --json " + q(local_json));
  ASSERT_EQ(local.exit_code, 0) << local.err;
  auto rpc =
      run_uaqf("eval " + q(tiny_model()) + " --tasks perplexity --rpc-local 2" + data + " --json " + q(rpc_json));
  ASSERT_EQ(rpc.exit_code, 0) << rpc.err;
  const double ppl_local = nlohmann::json::parse(slurp(local_json))["models"][0]["perplexity"]["ppl"].get<double>();
  const double ppl_rpc = nlohmann::json::parse(slurp(rpc_json))["models"][0]["perplexity"]["ppl"].get<double>();
  EXPECT_EQ(fmt::format("{:.4f}", ppl_rpc), fmt::format("{:.4f}", ppl_local));
  EXPECT_GT(ppl_local, 1.0);

  // Greedy answers.
  const std::string gsm8k =
      " --tasks gsm8k --limit 4 --max-new-tokens 24 -t 2 --data-dir " + q(shared_dir() / "data") + " --json ";
  const fs::path local_answers = work_dir() / "rpc-local-gsm8k.json";
  const fs::path rpc_answers = work_dir() / "rpc-gsm8k.json";
  local = run_uaqf("eval " + q(tiny_model()) + gsm8k + q(local_answers));
  ASSERT_EQ(local.exit_code, 0) << local.err;
  rpc = run_uaqf("eval " + q(tiny_model()) + " --rpc-local 2" + gsm8k + q(rpc_answers));
  ASSERT_EQ(rpc.exit_code, 0) << rpc.err;
  EXPECT_EQ(generations(rpc_answers), generations(local_answers));
  EXPECT_EQ(generations(local_answers).size(), 4U);
  EXPECT_EQ(static_cast<int>(rpc_servers_of(0).size()), servers_before) << "a finished run left rpc-servers behind";

  // A server killed mid-run: one error line, a non-zero exit within bounded time, nothing left.
  const fs::path err_path = work_dir() / "rpc-killed.err";
  const std::string command = "exec '" + std::string(UAQF_BINARY) + "' eval " + q(tiny_model()) +
                              " --tasks perplexity --rpc-local 2 --data " + q(corpus()) + " -t 2 >/dev/null 2>" +
                              q(err_path) + " </dev/null";
  const pid_t uaqf = fork();
  ASSERT_GE(uaqf, 0);
  if (uaqf == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::vector<int> children;
  const auto start = std::chrono::steady_clock::now();
  while (children.size() < 2 && std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    children = rpc_servers_of(uaqf);
  }
  ASSERT_EQ(children.size(), 2U) << "uaqf did not start two rpc-servers";
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the weights are on the servers, chunks are running
  kill(children.front(), SIGKILL);
  int status = 0;
  pid_t waited = 0;
  while ((waited = waitpid(uaqf, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (waited == 0) {
    kill(uaqf, SIGKILL);
    waitpid(uaqf, &status, 0);
    FAIL() << "uaqf hung after its rpc-server was killed";
  }
  ASSERT_TRUE(WIFEXITED(status)) << "uaqf died of signal " << WTERMSIG(status) << ": " << slurp(err_path);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string err = slurp(err_path);
  size_t error_lines = 0;
  for (size_t at = err.find("uaqf: error: "); at != std::string::npos; at = err.find("uaqf: error: ", at + 1)) {
    ++error_lines;
  }
  EXPECT_EQ(error_lines, 1U) << err;
  EXPECT_NE(err.find("RPC server"), std::string::npos) << err;
  // The other server dies with uaqf (PR_SET_PDEATHSIG): give the kernel a moment.
  for (int i = 0; i < 100 && static_cast<int>(rpc_servers_of(0).size()) > servers_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(static_cast<int>(rpc_servers_of(0).size()), servers_before) << "rpc-servers outlived uaqf";
}

// The placement reaches the benchmark's record: the flags it ran with and where the memory went.
TEST(RpcPlacement, BenchRecordsThePlacementAndItsMemory) {
  const fs::path json_path = work_dir() / "placement-bench.json";
  const auto result =
      run_uaqf("bench " + q(tiny_model()) + " -p 32 -n 8 -r 1 --no-latency --gpu-layers 0 -t 2 --json " + q(json_path));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto model = nlohmann::json::parse(slurp(json_path))["models"][0];
  EXPECT_EQ(model["placement"], "--gpu-layers 0");
  uint64_t weights = 0;
  for (const auto& placed : model["memory_placement"]) {
    EXPECT_TRUE(placed["host"].get<bool>()) << placed.dump();  // nothing offloaded
    weights += placed["weights_bytes"].get<uint64_t>();
  }
  // llama.cpp's breakdown holds the weights (the tiny model's file is a little larger: its header).
  EXPECT_GT(weights, 0U);
  EXPECT_LE(weights, fs::file_size(tiny_model()));
  const auto bad = run_uaqf("bench " + q(tiny_model()) + " --gpu-layers most");
  expect_one_error_line(bad, "--gpu-layers must be a layer count, 'all' or 'auto'");
  EXPECT_EQ(bad.exit_code, 2);
}

}  // namespace
}  // namespace uaqf_test
