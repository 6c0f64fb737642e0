// `uaqf run` and `uaqf rank` on the tiny model: a small whole study, and bad study files.

#include "cli_support.h"

#include <nlohmann/json.hpp>

namespace {

using namespace uaqf_test;
namespace fs = std::filesystem;

fs::path write_study(const std::string& name, const std::string& extra_profile,
                     const std::string& extra_workload = "") {
  const fs::path file = work_dir() / (name + ".toml");
  std::ofstream(file) << "[study]\nname = \"" << name << "\"\noutput = \"" << (work_dir() / name).string()
                      << "\"\n\n[model]\npath = \"" << tiny_model().string()
                      << "\"\ntypes = [\"Q4_0\"]\n\n[runtime]\nthreads = 2\n\n[workload]\nprompt_tokens = [64]\n"
                         "gen_tokens = 8\nreps = 2\n"
                      << extra_workload
                      << "\n[workload.prompts]\nsource = \"gsm8k\"\ncount = 3\nmax_new_tokens = 16\n\n"
                         "[quality]\nchunks = 3\ntasks = [\"arc_easy\"]\nlimit = 10\ndata_dir = \""
                      << (shared_dir() / "data").string() << "\"\n\n[profile]\n"
                      << extra_profile;
  return file;
}

TEST(StudyCli, RunsAWholeStudyThenReRanks) {
  const fs::path study = write_study("small", "name = \"interactive\"\nbootstrap = 200\n");
  const auto result = run_uaqf("run " + q(study));
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  EXPECT_NE(result.out.find("Recommended for profile \"interactive\""), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("answer tokens"), std::string::npos);
  const auto json = nlohmann::json::parse(slurp(work_dir() / "small" / "results.json"));
  EXPECT_EQ(json["schema"], "uaqf.study/1");
  ASSERT_EQ(json["variants"].size(), 2U);
  for (const auto& variant : json["variants"]) {
    EXPECT_EQ(variant["status"], "ok");
    const auto& requests = variant["prompt_workload"]["requests"];
    ASSERT_FALSE(requests.empty());
    for (const auto& request : requests) {
      EXPECT_GT(request["ttft_ms"].get<double>(), 0.0);
      EXPECT_GE(request["e2e_ms"].get<double>(), request["ttft_ms"].get<double>());
      EXPECT_EQ(request["itl_ms"].size() + 1, request["steps"].get<std::size_t>());
      EXPECT_LE(request["output_tokens"].get<std::size_t>(), request["steps"].get<std::size_t>());
    }
    EXPECT_TRUE(variant.contains("kld"));
    EXPECT_EQ(variant["tasks"][0]["task"], "arc_easy");
  }
  EXPECT_TRUE(json["decision"]["recommended"].is_string());

  const auto ranked = run_uaqf("rank " + q(work_dir() / "small" / "results.json") + " --profile edge --bootstrap 200");
  ASSERT_EQ(ranked.exit_code, 0) << ranked.err;
  EXPECT_NE(ranked.out.find("Recommended for profile \"edge\""), std::string::npos) << ranked.out;
}

TEST(StudyCli, UnknownKeyNamesTheLine) {
  const fs::path study = write_study("badkey", "name = \"interactive\"\n", "colour = \"blue\"\n");
  const auto result = run_uaqf("run " + q(study));
  expect_one_error_line(result, "badkey.toml:16: unknown key 'colour' in [workload]");
}

TEST(StudyCli, BadValueNamesTheKey) {
  const fs::path study = write_study("badvalue", "name = \"interactive\"\n", "warmup = \"two\"\n");
  expect_one_error_line(run_uaqf("run " + q(study)), "badvalue.toml:16: 'warmup' must be an integer");
  const fs::path broken = work_dir() / "broken.toml";
  std::ofstream(broken) << "[study\nname = 1\n";
  expect_one_error_line(run_uaqf("run " + q(broken)), "broken.toml:1:");
}

TEST(StudyCli, UnknownMetricInProfile) {
  const fs::path study = write_study("badmetric", "name = \"interactive\"\nweights = { speed_of_light = 1.0 }\n");
  expect_one_error_line(run_uaqf("run " + q(study)), "badmetric.toml:30: profile");
  expect_one_error_line(run_uaqf("run " + q(study)), "unknown metric \"speed_of_light\"");
}

TEST(StudyCli, WeightsMustSumToAPositiveNumber) {
  const fs::path study = write_study("zeroweights", "name = \"interactive\"\nweights = { decode_tps = 0.0 }\n");
  expect_one_error_line(run_uaqf("run " + q(study)), "zeroweights.toml:30: profile");
  expect_one_error_line(run_uaqf("run " + q(study)), "weights must sum to more than 0");
}

}  // namespace
