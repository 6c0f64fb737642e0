// Runs the real uaqf binary: quantize, bench, and the errors users meet.

#include "cli_support.h"

#include <cstdint>
#include <nlohmann/json.hpp>

#include "gguf.h"

namespace {

using namespace uaqf_test;
namespace fs = std::filesystem;

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::exists(tiny_model()))
        << "tiny model not found at " << tiny_model() << "; set UAQF_SHARED_DIR to the shared folder";
    variants_ = work_dir() / "variants";
    const auto result = run_uaqf("quantize " + q(tiny_model()) + " --types Q8_0,Q4_0 --out " + q(variants_));
    ASSERT_EQ(result.exit_code, 0) << result.err;
  }
  static fs::path variant(const std::string& type) { return variants_ / ("uaqf-tiny-15m-" + type + ".gguf"); }
  static inline fs::path variants_;
};

TEST_F(Cli, QuantizeWritesVariantsAndSecondCallDoesNoWork) {
  ASSERT_TRUE(fs::exists(variant("Q8_0")));
  ASSERT_TRUE(fs::exists(variant("Q4_0")));
  EXPECT_LT(fs::file_size(variant("Q4_0")), fs::file_size(variant("Q8_0")));
  const auto before = fs::last_write_time(variant("Q8_0"));
  const auto again = run_uaqf("quantize " + q(tiny_model()) + " --types Q8_0,Q4_0 --out " + q(variants_));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("Q8_0       up-to-date"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("Q4_0       up-to-date"), std::string::npos) << again.out;
  EXPECT_EQ(fs::last_write_time(variant("Q8_0")), before);
}

TEST_F(Cli, BenchRunsVariantsAndWritesRawSamples) {
  const fs::path json_path = work_dir() / "bench.json";
  const fs::path csv_path = work_dir() / "bench.csv";
  const auto result = run_uaqf("bench " + q(variant("Q8_0")) + " " + q(variant("Q4_0")) +
                               " -t 2 -p 64 -n 8 -r 2 --warmup 1 --json " + q(json_path) + " --csv " + q(csv_path));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("prefill t/s"), std::string::npos) << result.out;
  const auto json = nlohmann::json::parse(slurp(json_path));
  EXPECT_TRUE(json["complete"].get<bool>());
  EXPECT_EQ(json["environment"]["llama_commit"], "80fb11ac73e66d89eae2c6a91d8a77428fa733ed");
  // Which engine build ran: the source build's flags, or the prebuilt package and its CPU variant.
  const std::string engine_build = json["environment"]["engine_build"];
  EXPECT_TRUE(engine_build.starts_with("source ") || engine_build.starts_with("prebuilt ")) << engine_build;
  ASSERT_EQ(json["models"].size(), 2U);
  for (const auto& model : json["models"]) {
    EXPECT_EQ(model["status"], "ok");
    EXPECT_EQ(model["sha256"].get<std::string>().size(), 64U);
    EXPECT_EQ(model["info"]["n_params"].get<uint64_t>() > 10'000'000, true);
    EXPECT_GT(model["peak_rss_bytes"].get<uint64_t>(), 0U);
    std::set<std::string> names;
    for (const auto& metric : model["metrics"]) {
      names.insert(metric["name"].get<std::string>());
      if (metric["name"] == "prefill_tps" || metric["name"] == "decode_tps") {
        EXPECT_EQ(metric["samples"].size(), 2U);
        EXPECT_GT(metric["summary"]["mean"].get<double>(), 0.0);
      }
    }
    // The host's memory bandwidth is always measurable, so decode efficiency is there too.
    EXPECT_EQ(names, (std::set<std::string>{"load_ms", "prefill_tps", "decode_tps", "decode_bandwidth_share", "ttft_ms",
                                            "itl_ms", "e2e_ms"}));
    EXPECT_GT(model["memory_bandwidth_bytes_per_s"].get<double>(), 1e8) << "implausibly slow memory";
  }
  EXPECT_NE(slurp(csv_path).find(",prefill_tps,tokens/s,sample,0,"), std::string::npos);
}

TEST_F(Cli, MissingModelFile) {
  const fs::path json_path = work_dir() / "missing.json";
  const auto result = run_uaqf("bench " + q(work_dir() / "nope.gguf") + " --json " + q(json_path));
  expect_one_error_line(result, "model file not found");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_FALSE(fs::exists(json_path));
}

TEST_F(Cli, UnknownKvCacheTypeIsRefusedBeforeAnyModelIsMeasured) {
  const fs::path json_path = work_dir() / "kv.json";
  const auto result = run_uaqf("bench " + q(variant("Q8_0")) + " --kv-type q3_x --json " + q(json_path));
  expect_one_error_line(result, "unknown KV-cache type 'q3_x'");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_FALSE(fs::exists(json_path));
}

TEST_F(Cli, NotAGgufFile) {
  const fs::path text = work_dir() / "notes.gguf";
  std::ofstream(text) << "just some text, not a model\n";
  const auto result = run_uaqf("bench " + q(text));
  expect_one_error_line(result, "is not a GGUF model file");
}

TEST_F(Cli, TruncatedGguf) {
  const fs::path cut = work_dir() / "truncated.gguf";
  fs::copy_file(variant("Q4_0"), cut, fs::copy_options::overwrite_existing);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  const fs::path json_path = work_dir() / "truncated.json";
  const auto result = run_uaqf("bench " + q(cut) + " --json " + q(json_path));
  expect_one_error_line(result, "is truncated");
  EXPECT_FALSE(fs::exists(json_path));
  // A cut inside the header is caught as well.
  fs::resize_file(cut, 1000);
  expect_one_error_line(run_uaqf("bench " + q(cut)), "damaged or truncated");
  // And quantize refuses it before writing anything.
  const fs::path out = work_dir() / "from-truncated";
  expect_one_error_line(run_uaqf("quantize " + q(cut) + " --types Q4_0 --out " + q(out)), "truncated");
  EXPECT_FALSE(fs::exists(out / "truncated-Q4_0.gguf"));
}

TEST_F(Cli, UnknownQuantType) {
  const auto result = run_uaqf("quantize " + q(tiny_model()) + " --types Q8_0,Q3_X --out " + q(work_dir() / "unk"));
  expect_one_error_line(result, "unknown quantization type 'Q3_X' (valid: F32, F16, BF16, Q8_0");
  EXPECT_FALSE(fs::exists(work_dir() / "unk" / "uaqf-tiny-15m-Q8_0.gguf"));
}

TEST_F(Cli, UnwritableOutputFolder) {
  const fs::path blocker = work_dir() / "a-file";
  std::ofstream(blocker) << "x";
  const auto result = run_uaqf("quantize " + q(tiny_model()) + " --types Q4_0 --out " + q(blocker / "sub"));
  expect_one_error_line(result, "output folder");
  const auto bench = run_uaqf("bench " + q(variant("Q4_0")) + " --json " + q(blocker / "sub" / "x.json"));
  expect_one_error_line(bench, "JSON output folder");
}

TEST_F(Cli, PromptLongerThanContext) {
  const fs::path json_path = work_dir() / "ctx.json";
  const auto result = run_uaqf("bench " + q(variant("Q4_0")) + " -p 1024 -c 512 --json " + q(json_path));
  expect_one_error_line(result, "a prompt of 1024 tokens does not fit the context of 512 tokens");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_FALSE(fs::exists(json_path));
}

TEST_F(Cli, TypesListsEveryEngineType) {
  const auto result = run_uaqf("types");
  ASSERT_EQ(result.exit_code, 0);
  for (const char* type : {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K", "IQ4_XS", "F16", "BF16"}) {
    EXPECT_NE(result.out.find(std::string(type) + " "), std::string::npos) << type;
  }
}

}  // namespace

namespace {

using namespace uaqf_test;

// The GGUF header and tensor table of a file: everything before its tensor data.
std::string gguf_header(const fs::path& file) {
  gguf_context* ctx = gguf_init_from_file(file.c_str(), gguf_init_params{.no_alloc = true, .ctx = nullptr});
  EXPECT_NE(ctx, nullptr) << file;
  if (ctx == nullptr) {
    return {};
  }
  const std::size_t data_offset = gguf_get_data_offset(ctx);
  gguf_free(ctx);
  return slurp(file).substr(0, data_offset);
}

// Synthetic weights are quantized by repeating a few quantized rows: the file must be what
// llama-quantize writes, type for type and byte for byte up to the tensor data, and the same size.
TEST(SyntheticQuantize, TiledRowsGiveLlamaQuantizesLayoutAndSize) {
  const fs::path model = work_dir() / "synthetic-q.gguf";
  const auto synth =
      run_uaqf("synth --shape custom:n_embd=256,n_layer=2,n_head=4,n_head_kv=2,n_ff=768,n_ctx=256 -o " + q(model) +
               " --vocab " + q(shared_dir() / "models" / "gguf-vocab" / "ggml-vocab-llama-spm.gguf"));
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  const std::string types = "Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,Q3_K_M,Q2_K";
  const auto tiled = run_uaqf("quantize " + q(model) + " --types " + types + " --out " + q(work_dir() / "tiled"));
  ASSERT_EQ(tiled.exit_code, 0) << tiled.err;
  const auto exact =
      run_uaqf("quantize " + q(model) + " --types " + types + " --exact --out " + q(work_dir() / "exact"));
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  for (const std::string type : {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"}) {
    const fs::path a = work_dir() / "tiled" / ("synthetic-q-" + type + ".gguf");
    const fs::path b = work_dir() / "exact" / ("synthetic-q-" + type + ".gguf");
    EXPECT_EQ(fs::file_size(a), fs::file_size(b)) << type;
    const std::string header = gguf_header(a);
    EXPECT_FALSE(header.empty());
    EXPECT_EQ(header, gguf_header(b)) << type;
    const auto sidecar = nlohmann::json::parse(slurp(a.string() + ".uaqf.json"));
    EXPECT_EQ(sidecar["made_from"]["method"], "tiled rows (synthetic weights)") << type;
  }
  // And it runs.
  const auto bench = run_uaqf("bench " + q(work_dir() / "tiled" / "synthetic-q-Q4_K_M.gguf") +
                              " --prompt-tokens 16 --gen-tokens 4 --reps 1 --threads 2");
  EXPECT_EQ(bench.exit_code, 0) << bench.err;
}

}  // namespace
