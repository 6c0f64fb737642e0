// `uaqf run` on a tiny study with [workload.serving] (label `server`): the tiny model at F16 and
// Q8_0, each also served by a managed llama-server at concurrency 1 and 4, ranked under the
// serving profile; the serving metrics reach the results per variant, a variant is recommended,
// and no llama-server outlives the run. A missing model fails the test; it never skips.

#include <dirent.h>
#include <sys/prctl.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "../integration/cli_support.h"

namespace {

using namespace uaqf_test;
using nlohmann::json;

// The processes named llama-server that are children of this process (orphans come here: it is a
// subreaper) or whose command line names `marker`.
std::vector<std::string> llama_servers_left(const std::string& marker) {
  std::vector<std::string> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) {
    ADD_FAILURE() << "cannot read /proc";
    return found;
  }
  const std::string self = std::to_string(getpid());
  while (const dirent* entry = readdir(proc)) {
    const std::string pid = entry->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = slurp("/proc/" + pid + "/stat");  // "PID (COMM) STATE PPID ..."
    const auto open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;  // gone meanwhile
    const std::string comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    std::string cmdline = slurp("/proc/" + pid + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (comm.rfind("llama-server", 0) == 0 && (ppid == self || cmdline.find(marker) != std::string::npos)) {
      found.push_back(pid + " " + cmdline);
    }
  }
  closedir(proc);
  return found;
}

fs::path write_serving_study(const std::string& name, const std::string& profile) {
  const fs::path file = work_dir() / (name + ".toml");
  std::ofstream(file) << "[study]\nname = \"" << name << "\"\noutput = \"" << (work_dir() / name).string()
                      << "\"\n\n[model]\npath = \"" << tiny_model().string()
                      << "\"\ntypes = [\"Q8_0\"]\n\n[runtime]\nthreads = 2\n\n"
                         "[workload]\nprompt_tokens = [32]\ngen_tokens = 8\nreps = 2\nwarmup = 1\n\n"
                         "[workload.serving]\nprompts = \"gsm8k\"\nrequests = 6\nconcurrency = [1, 4]\n"
                         "max_new_tokens = 16\nslos = [\"ttft_ms<=20000\", \"tpot_ms<=5000\"]\nsearch_budget_s = 5\n"
                         "warmup_requests = 1\nctx_per_slot = 512\n\n"
                         "[quality]\nctx = 128\nchunks = 2\ndata_dir = \""
                      << (shared_dir() / "data").string() << "\"\n\n[profile]\n"
                      << profile;
  return file;
}

TEST(StudyServingCli, ServedVariantsReachTheDecisionAndNoServerIsLeft) {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  ASSERT_TRUE(fs::exists(tiny_model())) << "tiny model missing: " << tiny_model();
  ASSERT_EQ(setenv("UAQF_LLAMA_SERVER", UAQF_LLAMA_SERVER_BINARY, 1), 0);
  const std::string name = "serving-" + std::to_string(getpid());
  const fs::path study = write_serving_study(name, "name = \"serving\"\nbootstrap = 100\n");
  const auto result = run_uaqf("run " + q(study));
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  EXPECT_NE(result.out.find("Recommended for profile \"serving\""), std::string::npos) << result.out;
  EXPECT_TRUE(llama_servers_left(name).empty()) << llama_servers_left(name).front();

  const json results = json::parse(slurp(work_dir() / name / "results.json"));
  EXPECT_EQ(results["profile"]["name"], "serving");
  ASSERT_EQ(results["variants"].size(), 2U);
  for (const auto& variant : results["variants"]) {
    ASSERT_EQ(variant["status"], "ok") << variant.dump();
    const json& serving = variant.at("serving");
    EXPECT_EQ(serving["server"]["engine"], "llama-server");
    EXPECT_EQ(serving["server"]["parallel"], 4);
    EXPECT_EQ(serving["server"]["n_ctx"], 2048);
    // The served file is the variant's own.
    const auto& argv = serving["server"]["argv"];
    EXPECT_NE(std::find(argv.begin(), argv.end(), variant["file"]), argv.end()) << argv.dump();
    ASSERT_GE(serving["levels"].size(), 2U);
    for (const auto& level : serving["levels"]) {
      EXPECT_EQ(level["ok"], level["requests"]) << level.dump();
      EXPECT_GT(level["output_tps"].get<double>(), 0.0);
    }
    // ignore_eos: every request generated max_new_tokens.
    for (const auto& request : serving["requests"]) {
      EXPECT_EQ(request["output_tokens"], 16) << request.dump();
    }
    EXPECT_TRUE(serving.contains("at_slo"));
  }
  for (const auto& inputs : results["decision_inputs"]) {
    const json& metrics = inputs["metrics"];
    for (const char* metric : {"goodput_rps", "slo_attainment", "serving_output_tps", "serving_ttft_p99_ms",
                               "serving_tpot_p99_ms", "max_concurrency_at_slo", "kld_mean", "same_top_rate"}) {
      ASSERT_TRUE(metrics.contains(metric)) << inputs["name"] << " lacks " << metric;
      EXPECT_EQ(metrics[metric]["samples"].size(), 1U) << metric;
    }
    EXPECT_GT(metrics["goodput_rps"]["samples"][0].get<double>(), 0.0);
    EXPECT_GE(metrics["max_concurrency_at_slo"]["samples"][0].get<double>(), 1.0);
  }
  EXPECT_TRUE(results["decision"]["recommended"].is_string()) << results["decision"].dump();

  // The report shows each variant's curve and says where its numbers came from.
  const auto report = run_uaqf("report " + q(work_dir() / name) + " --format md");
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(report.out.find("## Serving (llama-server)"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("| concurrency 4 |"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("from the in-process engine"), std::string::npos);
}

TEST(StudyServingCli, ServingProfileWithoutServingIsOneLine) {
  const fs::path file = work_dir() / "no-serving.toml";
  std::ofstream(file) << "[model]\npath = \"" << tiny_model().string() << "\"\n\n[profile]\nname = \"serving\"\n";
  expect_one_error_line(run_uaqf("run " + q(file)),
                        "cannot give goodput_rps, which profile \"serving\" needs: it is measured by serving the "
                        "variant with llama-server, and the study has no [workload.serving]");
}

}  // namespace
