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

namespace {

using namespace uaqf_test;

// Synthetic weights (uaqf synth): quality is skipped, the profile's quality weights and
// constraints are dropped with notes, and the concurrency level gives parallel_decode_tps, which
// a batch-serving profile can rank on.
TEST(StudyCli, SyntheticStudyRanksOnSpeedAndMemoryOnly) {
  const fs::path model = work_dir() / "synthetic.gguf";
  const auto synth = run_uaqf("synth --shape custom:n_embd=128,n_layer=2,n_head=4,n_head_kv=4,n_ff=256,n_ctx=256 -o " +
                              q(model) + " --vocab " + q(shared_dir() / "models" / "gguf-vocab" / "ggml-vocab-llama-spm.gguf"));
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  const fs::path study = work_dir() / "synthetic.toml";
  std::ofstream(study) << "[study]\nname = \"synthetic\"\noutput = \"" << (work_dir() / "synthetic").string()
                       << "\"\n[model]\npath = \"" << model.string()
                       << "\"\ntypes = [\"Q4_0\"]\n[runtime]\nthreads = 2\n[workload]\nprompt_tokens = [32]\n"
                          "gen_tokens = 8\nreps = 2\nparallel = [1, 4]\n[quality]\ntasks = [\"arc_easy\"]\n"
                          "[profile]\nname = \"interactive\"\nbootstrap = 100\n";
  const auto result = run_uaqf("run " + q(study));
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  EXPECT_NE(result.err.find("synthetic weights"), std::string::npos) << result.err;
  EXPECT_NE(result.out.find("weight on same_top_rate dropped: not measured (synthetic weights)"), std::string::npos)
      << result.out;
  const auto json = nlohmann::json::parse(slurp(work_dir() / "synthetic" / "results.json"));
  EXPECT_TRUE(json["synthetic_weights"].get<bool>());
  for (const auto& variant : json["decision_inputs"]) {
    EXPECT_TRUE(variant["metrics"].contains("parallel_decode_tps")) << variant.dump();
    EXPECT_FALSE(variant["metrics"].contains("kld_mean"));
  }
  for (const auto& variant : json["variants"]) {
    EXPECT_FALSE(variant.contains("tasks"));
    EXPECT_FALSE(variant.contains("perplexity"));
  }
  const fs::path profile = work_dir() / "batch4.toml";
  std::ofstream(profile) << "name = \"batch-throughput\"\n"
                            "weights = { prefill_tps = 0.3, parallel_decode_tps = 0.6, peak_memory_gib = 0.1 }\n";
  const auto ranked = run_uaqf("rank " + q(work_dir() / "synthetic" / "results.json") + " --profile " + q(profile) +
                               " --bootstrap 100");
  ASSERT_EQ(ranked.exit_code, 0) << ranked.err;
  EXPECT_NE(ranked.out.find("constraint kld_mean <= 0.1 dropped"), std::string::npos) << ranked.out;
}

// [quality] batch_invariant: a study's GSM8K answers are those of `uaqf eval --batch-invariant
// --gen-batch 1` on the same file and items (seed 42 is the study's default; on a build with batch-invariant kernels; elsewhere it warns).
TEST(StudyCli, BatchInvariantAnswersMatchOneAtATime) {
  const fs::path study = work_dir() / "invariant.toml";
  std::ofstream(study) << "[study]\nname = \"invariant\"\noutput = \"" << (work_dir() / "invariant").string()
                       << "\"\n[model]\npath = \"" << tiny_model().string()
                       << "\"\ntypes = [\"Q4_K_M\"]\n[runtime]\nthreads = 2\n[workload]\nprompt_tokens = [32]\n"
                          "gen_tokens = 8\nreps = 2\n[quality]\nchunks = 3\n"
                          "tasks = [\"gsm8k\"]\nlimit = 6\nbatch_invariant = true\ndata_dir = \""
                       << (shared_dir() / "data").string() << "\"\n[profile]\nname = \"interactive\"\nbootstrap = 100\n";
  const auto result = run_uaqf("run " + q(study));
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  const auto json = nlohmann::json::parse(slurp(work_dir() / "invariant" / "results.json"));
  ASSERT_EQ(json["variants"].size(), 2U);
  for (const auto& variant : json["variants"]) {
    ASSERT_EQ(variant["status"], "ok") << variant.dump();
    const fs::path file = variant["file"].get<std::string>();
    const fs::path alone_json = work_dir() / ("invariant-alone-" + file.stem().string() + ".json");
    const auto alone = run_uaqf("eval " + q(file) + " --tasks gsm8k --limit 6 --seed 42 --batch-invariant --gen-batch 1 --data-dir " +
                                q(shared_dir() / "data") + " -t 2 --json " + q(alone_json));
    ASSERT_EQ(alone.exit_code, 0) << alone.err;
    const auto& study_records = variant["tasks"][0]["records"];
    const auto alone_records = nlohmann::json::parse(slurp(alone_json))["models"][0]["tasks"][0]["records"];
    ASSERT_EQ(study_records.size(), 6U);
    ASSERT_EQ(alone_records.size(), 6U);
    std::size_t same = 0;
    for (std::size_t i = 0; i < 6; ++i) {
      EXPECT_EQ(study_records[i]["id"], alone_records[i]["id"]);
      same += study_records[i]["generation"] == alone_records[i]["generation"] ? 1 : 0;
    }
#if UAQF_BATCH_INVARIANT_BUILD
    EXPECT_EQ(same, 6U) << file;
    EXPECT_EQ(result.err.find("batch-invariant tasks asked for, but"), std::string::npos) << result.err;
#else
    EXPECT_NE(result.err.find("batch-invariant tasks asked for, but"), std::string::npos) << result.err;
#endif
  }
}

}  // namespace

namespace {

using namespace uaqf_test;

// The documented reference study parses: running it stops only at its placeholder model path.
TEST(StudyCli, ReferenceStudyFileParses) {
  const auto result = run_uaqf("run " + q(fs::path(UAQF_SOURCE_DIR) / "examples" / "study-reference.toml") +
                               " --output " + q(work_dir() / "reference"));
  expect_one_error_line(result, "model-f16.gguf");
}

}  // namespace
