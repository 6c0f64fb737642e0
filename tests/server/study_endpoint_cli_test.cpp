// `uaqf run` on a study that mixes the in-process baseline (also served by a managed llama-server)
// with an endpoint variant: a llama-server this test starts on loopback with an API key, as
// someone else's server would be (label `server`). The endpoint's generation tasks are answered
// over HTTP and judged by uaqf's scorers, its serving numbers come from it, the key's value is in
// no file uaqf writes, a profile that weights perplexity on it is refused before any work, and no
// llama-server of uaqf's outlives the run.

#include <dirent.h>
#include <sys/prctl.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "../integration/cli_support.h"
#include "child_process.h"

namespace {

using namespace uaqf_test;
using nlohmann::json;

// llama-server processes that are children of this process (orphans come here: it is a
// subreaper), other than `ours`.
std::vector<std::string> other_llama_servers(int ours) {
  std::vector<std::string> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return {"cannot read /proc"};
  const std::string self = std::to_string(getpid());
  while (const dirent* entry = readdir(proc)) {
    const std::string pid = entry->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == std::to_string(ours)) {
      continue;
    }
    const std::string stat = slurp("/proc/" + pid + "/stat");  // "PID (COMM) STATE PPID ..."
    const auto open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (stat.substr(open + 1, close - open - 1).rfind("llama-server", 0) == 0 && ppid == self) {
      found.push_back(pid);
    }
  }
  closedir(proc);
  return found;
}

class StudyEndpointCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      setup_error_ = "prctl(PR_SET_CHILD_SUBREAPER) failed";
      return;
    }
    if (!fs::exists(tiny_model())) {
      setup_error_ = "tiny model missing: " + tiny_model().string();
      return;
    }
    // A key no file may contain: random, so that a match cannot be a coincidence of the data.
    std::random_device random;
    key_ = "uaqf-test-key-" + std::to_string(random()) + std::to_string(random());
    port_ = uaqf::testing::free_loopback_port();
    log_path_ = (work_dir() / "endpoint-server.log").string();
    server_ = uaqf::testing::ChildProcess::start(
        {UAQF_LLAMA_SERVER_BINARY, "-m", tiny_model().string(), "--host", "127.0.0.1", "--port", std::to_string(port_),
         "-c", "4096", "-np", "2", "-t", "2", "--no-warmup", "--api-key", key_, "-a", "tiny-remote",
         // GSM8K's 5-shot prompts are longer than the 512 tokens the tiny model was trained on, which
         // llama-server caps slots at; the in-process baseline runs them past it too.
         "--override-kv", "llama.context_length=int:2048"},
        {}, log_path_, false);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    long status = 0;
    while (uaqf::testing::http_get(base_url() + "/health", &status), status != 200) {
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
    ASSERT_EQ(setenv("UAQF_LLAMA_SERVER", UAQF_LLAMA_SERVER_BINARY, 1), 0);
    ASSERT_EQ(setenv("UAQF_TEST_ENDPOINT_KEY", key_.c_str(), 1), 0);
  }

  static std::string base_url() { return "http://127.0.0.1:" + std::to_string(port_); }

  // The baseline in-process (bench and tasks) and served by uaqf's own llama-server; the endpoint
  // "remote" on the test's server; `profile` ends the file.
  static fs::path write_study(const std::string& name, const std::string& profile) {
    const fs::path file = work_dir() / (name + ".toml");
    std::ofstream(file)
        << "[study]\nname = \"" << name << "\"\noutput = \"" << (work_dir() / name).string()
        << "\"\n\n[model]\npath = \"" << tiny_model().string() << "\"\n\n[model.endpoints.remote]\nurl = \""
        << base_url()
        << "/v1\"\nmodel = \"tiny-remote\"\napi_key_env = \"UAQF_TEST_ENDPOINT_KEY\"\ntimeout_s = 120\n"
           "concurrency = 2\n\n[runtime]\nthreads = 2\n\n"
           "[workload]\nprompt_tokens = [32]\ngen_tokens = 8\nreps = 2\nwarmup = 1\n\n"
           "[workload.serving]\nprompts = \"gsm8k\"\nrequests = 4\nconcurrency = [1, 2]\n"
           "max_new_tokens = 8\nslos = [\"ttft_ms<=20000\", \"tpot_ms<=5000\"]\nsearch_budget_s = 2\n"
           "warmup_requests = 1\nctx_per_slot = 1024\n\n"
           "[quality]\nperplexity = false\nkld = false\ntasks = [\"gsm8k\", \"ifeval\", \"divergence\"]\n"
           "limit = 4\ndata_dir = \""
        << (shared_dir() / "data").string() << "\"\n\n[profile]\n"
        << profile;
    return file;
  }

  static inline std::unique_ptr<uaqf::testing::ChildProcess> server_;
  static inline std::string key_;
  static inline std::string log_path_;
  static inline std::string setup_error_;
  static inline int port_ = 0;
};

const json& task_named(const json& tasks, const std::string& name) {
  for (const auto& task : tasks) {
    if (task["task"] == name) return task;
  }
  static const json none;
  ADD_FAILURE() << "no task " << name << " in " << tasks.dump().substr(0, 400);
  return none;
}

// Every regular file under `dir` whose bytes contain `needle`.
std::vector<std::string> files_containing(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && slurp(entry.path()).find(needle) != std::string::npos) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

TEST_F(StudyEndpointCli, EndpointTasksAndServingComeOverHttpAndTheKeyIsInNoFile) {
  const std::string name = "endpoint-" + std::to_string(getpid());
  const fs::path study =
      write_study(name,
                  "weights = { \"divergence.identical_rate\" = 0.5, \"gsm8k.exact_match_flexible\" = 0.25, "
                  "\"goodput_rps\" = 0.25 }\nbuiltin_constraints = false\nconstraints = [\"slo_attainment >= 0.5\"]\n"
                  "bootstrap = 100\n");
  const auto result = run_uaqf("run " + q(study));
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  EXPECT_TRUE(other_llama_servers(server_->pid()).empty());
  EXPECT_TRUE(server_->running());

  const json results = json::parse(slurp(work_dir() / name / "results.json"));
  ASSERT_EQ(results["variants"].size(), 2U);
  const json& baseline = results["variants"][0];
  const json& remote = results["variants"][1];
  ASSERT_EQ(baseline["status"], "ok") << baseline.dump().substr(0, 2000);
  ASSERT_EQ(remote["status"], "ok") << remote.dump().substr(0, 2000);
  EXPECT_EQ(remote["name"], "remote");
  EXPECT_FALSE(remote.contains("bench"));  // no GGUF: no in-process speed or memory

  // Which engine made every number.
  EXPECT_NE(baseline["engines"]["bench"].get<std::string>().find("in-process"), std::string::npos);
  EXPECT_NE(baseline["engines"]["tasks"].get<std::string>().find("in-process"), std::string::npos);
  EXPECT_EQ(baseline["engines"]["serving"], "llama-server (managed by uaqf)");
  const std::string engine = "endpoint (llama.cpp) " + base_url() + "/v1 model tiny-remote";
  EXPECT_EQ(remote["engines"]["tasks"], engine);
  EXPECT_EQ(remote["engines"]["serving"], engine);
  EXPECT_EQ(remote["serving"]["server"]["engine"], engine);
  EXPECT_EQ(remote["endpoint"]["api_key_env"], "UAQF_TEST_ENDPOINT_KEY");
  EXPECT_EQ(remote["endpoint"]["probe"]["prompt_logprobs"], false);  // this llama-server ignores echo
  EXPECT_EQ(remote["endpoint"]["probe"]["generation"], true);

  // The same tasks, items and judges for both; the endpoint's answers are its own text.
  for (const char* task : {"gsm8k", "ifeval", "divergence"}) {
    const json& ours = task_named(baseline["tasks"], task);
    const json& theirs = task_named(remote["tasks"], task);
    ASSERT_EQ(theirs["records"].size(), 4U) << task;
    ASSERT_EQ(ours["records"].size(), 4U) << task;
    EXPECT_EQ(theirs["engine"], engine);
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(theirs["records"][i]["id"], ours["records"][i]["id"]) << task;
    }
    EXPECT_EQ(theirs["metrics"].size(), ours["metrics"].size()) << task;
  }
  const json& gsm8k = task_named(remote["tasks"], "gsm8k");
  for (const auto& record : gsm8k["records"]) {
    EXPECT_TRUE(record["generation"].is_string());
    EXPECT_EQ(record["generation"].get<std::string>().find("Question:"), std::string::npos);  // cut at the stop
    EXPECT_GT(record["generated_tokens"].get<int>(), 0) << record.dump();
  }
  EXPECT_TRUE(task_named(remote["tasks"], "ifeval")["records"][0]["response"].is_string());
  // The same weights answering greedily in-process and over HTTP: the same answers, mostly.
  EXPECT_GE(task_named(remote["tasks"], "divergence")["metrics"]["identical_rate"]["value"].get<double>(), 0.5)
      << task_named(remote["tasks"], "divergence").dump().substr(0, 1500);

  // Per-item outcomes reach the decision as for in-process variants (paired tests).
  for (const auto& inputs : results["decision_inputs"]) {
    for (const char* metric :
         {"gsm8k.exact_match_flexible", "ifeval.prompt_level_strict_acc", "divergence.identical_rate", "goodput_rps"}) {
      EXPECT_TRUE(inputs["metrics"].contains(metric)) << inputs["name"] << " lacks " << metric;
    }
  }
  EXPECT_EQ(results["decision"]["ranking"].size(), 2U);

  // The key's value: in no file uaqf wrote (results, store, report, logs), nor on its output.
  const auto report = run_uaqf("report " + q(work_dir() / name) + " --format md");
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(report.out.find("| remote | tasks | " + engine + " |"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("### remote\n\n" + engine + "; SLOs:"), std::string::npos) << report.out;
  EXPECT_TRUE(files_containing(work_dir() / name, key_).empty()) << files_containing(work_dir() / name, key_).front();
  EXPECT_EQ(result.out.find(key_), std::string::npos);
  EXPECT_EQ(result.err.find(key_), std::string::npos);
  EXPECT_EQ(report.out.find(key_), std::string::npos);
}

TEST_F(StudyEndpointCli, PerplexityOnAnEndpointWithoutPromptLogprobsIsRefusedBeforeAnyWork) {
  const std::string name = "endpoint-ppl-" + std::to_string(getpid());
  const fs::path study =
      write_study(name, "weights = { ppl = 0.5, \"divergence.identical_rate\" = 0.5 }\nbuiltin_constraints = false\n");
  // The study measures perplexity in-process for the baseline; the endpoint cannot give it.
  std::string text = slurp(study);
  text.replace(text.find("perplexity = false"), 18, "perplexity = true");
  std::ofstream(study) << text;
  const auto result = run_uaqf("run " + q(study));
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result,
                        "variant 'remote' cannot give ppl, which profile \"interactive (custom weights) (own "
                        "constraints)\" needs: its engine is "
                        "endpoint (llama.cpp) " +
                            base_url() +
                            "/v1 model tiny-remote, and perplexity needs prompt log-probabilities (echo+logprobs or "
                            "prompt_logprobs on /v1/completions), and the endpoint returned none when probed");
  EXPECT_FALSE(fs::exists(work_dir() / name / "study.db"));
  EXPECT_TRUE(other_llama_servers(server_->pid()).empty());
}

}  // namespace
