// The bad-input corpus through the real binary (issue #17): each case is one line in uaqf's error
// format with exit status 2 (1 for an environment fault), naming the flag or the file and line,
// found before any unit runs. Every case fails fast; the library-level corpus is in
// tests/unit/bad_input_test.cpp.

#include "cli_support.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ggml.h"
#include "gguf.h"

namespace {

using namespace uaqf_test;
namespace fs = std::filesystem;

// A study of the tiny model with `extra` appended; its output folder is work_dir()/name.
fs::path bad_study(const std::string& name, const std::string& model_extra, const std::string& extra = "") {
  const fs::path file = work_dir() / (name + ".toml");
  std::ofstream(file) << "[study]\nname = \"" << name << "\"\noutput = \"" << (work_dir() / name).string()
                      << "\"\n\n[model]\npath = \"" << tiny_model().string() << "\"\n"
                      << model_extra << "\n[runtime]\nthreads = 2\n\n[workload]\nprompt_tokens = [16]\n"
                      << "gen_tokens = 4\nreps = 1\n\n[quality]\nctx = 32\nchunks = 2\n"
                      << extra;
  return file;
}

void expect_usage_error(const RunResult& result, const std::string& fragment) {
  expect_one_error_line(result, fragment);
  EXPECT_EQ(result.exit_code, 2) << result.err;
}

TEST(BadInputCli, FlagsOutOfRangeAreUsageErrors) {
  const std::string model = q(tiny_model());
  expect_usage_error(run_uaqf("bench " + model + " --threads 100000"), "--threads must be between 1 and");
  expect_usage_error(run_uaqf("quantize " + model + " --types Q4_0 --threads 100000"),
                     "--threads must be between 1 and");
  expect_usage_error(run_uaqf("bench " + model + " --threads many"), "--threads");
  expect_usage_error(run_uaqf("bench " + model + " --no-such-flag"), "--no-such-flag");
  expect_usage_error(run_uaqf("eval " + model + " --ctx 0"), "--ctx");
  expect_usage_error(run_uaqf("eval " + model + " --data /dev/zero"), "/dev/zero is a device");
  expect_usage_error(run_uaqf("rank x.json --profile edge --bootstrap 2000000000"), "--bootstrap");
}

TEST(BadInputCli, StudyValuesAreRefusedWithTheirLineBeforeAnyWork) {
  struct Case {
    std::string name, model_extra, extra, fragment;
  };
  const std::vector<Case> cases = {
      // The baseline's own type would be a second variant of the same name.
      {"own-type", "types = [\"F16\"]\n", "", "own-type.toml:7: 'F16' is the type of the baseline"},
      {"unknown-type", "types = [\"Q9_9\"]\n", "", "unknown-type.toml:7: unknown quantization type 'Q9_9'"},
      {"imatrix-type", "types = [\"IQ2_XXS\"]\n", "", "imatrix-type.toml:7: IQ2_XXS quantization"},
      {"no-item-bytes", "", "max_item_bytes = 0\n", "no-item-bytes.toml:19: 'max_item_bytes' must be at least 1"},
      {"unknown-task", "", "tasks = [\"arc_easy\", \"trivia\"]\n", "unknown-task.toml:19: unknown task 'trivia'"},
  };
  for (const auto& c : cases) {
    const auto result = run_uaqf("run " + q(bad_study(c.name, c.model_extra, c.extra)));
    expect_usage_error(result, c.fragment);
    EXPECT_FALSE(fs::exists(work_dir() / c.name / "results.json")) << c.name;
    EXPECT_FALSE(fs::exists(work_dir() / c.name / "study.db")) << c.name << ": refused after the store was opened";
  }
}

TEST(BadInputCli, BadTaskDataIsRefusedWithItsLineBeforeAnyUnit) {
  const fs::path data = work_dir() / "bad-data";
  fs::create_directories(data / "arc");
  std::ofstream(data / "arc" / "arc_easy.jsonl") << R"({"query": "Question: 2+2?", "choices": ["3", "4"], "gold": 1})"
                                                 << "\n\n"
                                                 << R"({"query": "Question: none?", "choices": [], "gold": 0})"
                                                 << "\n";
  const auto result =
      run_uaqf("run " + q(bad_study("bad-data", "", "tasks = [\"arc_easy\"]\ndata_dir = \"" + data.string() + "\"\n")));
  expect_usage_error(result, (data / "arc" / "arc_easy.jsonl").string() + ":3: item arc-easy-2 has 0 choices");
  EXPECT_EQ(result.out.find("measure"), std::string::npos) << result.out;
  EXPECT_FALSE(fs::exists(work_dir() / "bad-data" / "study.db")) << "refused after the store was opened";
}

TEST(BadInputCli, ProfileFileWithAMisspeltKeyNamesItsLine) {
  const fs::path profile = work_dir() / "misspelt.toml";
  std::ofstream(profile) << "[profile]\nname = \"edge\"\nweigths = { decode_tps = 1.0 }\n";
  const fs::path results = fs::path(UAQF_SOURCE_DIR) / "tests" / "data" / "report" / "results.json";
  expect_usage_error(run_uaqf("rank " + q(results) + " --profile " + q(profile)),
                     "misspelt.toml:3: unknown profile key 'weigths'");
}

TEST(BadInputCli, ADamagedStoreIsAnEnvironmentFaultWithWhatToDo) {
  const fs::path study = bad_study("damaged-store", "");
  fs::create_directories(work_dir() / "damaged-store");
  std::ofstream(work_dir() / "damaged-store" / "study.db") << std::string(8192, 'x');
  const auto result = run_uaqf("run " + q(study));
  expect_one_error_line(result, "the results store is damaged: move it aside");
  EXPECT_EQ(result.exit_code, 1) << result.err;
}

// A copy of the tiny model whose output norm is all NaN (an F32 tensor): every logit is NaN.
fs::path nan_model() {
  const fs::path out = work_dir() / "nan-weights-f16.gguf";
  fs::copy_file(tiny_model(), out, fs::copy_options::overwrite_existing);
  gguf_context* ctx = gguf_init_from_file(out.c_str(), {.no_alloc = true, .ctx = nullptr});
  EXPECT_NE(ctx, nullptr);
  const int64_t id = gguf_find_tensor(ctx, "output_norm.weight");
  EXPECT_GE(id, 0);
  const auto offset = static_cast<std::streamoff>(gguf_get_data_offset(ctx) + gguf_get_tensor_offset(ctx, id));
  const std::size_t n = gguf_get_tensor_size(ctx, id) / sizeof(float);
  gguf_free(ctx);
  const std::vector<float> nans(n, std::numeric_limits<float>::quiet_NaN());
  std::fstream file(out, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(offset);
  file.write(reinterpret_cast<const char*>(nans.data()), static_cast<std::streamsize>(n * sizeof(float)));
  return out;
}

// A GGUF whose token list holds integers, not strings (found by fuzz_gguf): inspect read it with
// gguf_get_arr_str, on which ggml aborts the process (GGML_ASSERT) instead of an error line.
TEST(BadInputCli, GgufTokenListOfIntegersIsRefused) {
  const fs::path file = work_dir() / "tokens-u32.gguf";
  ggml_context* meta = ggml_init({.mem_size = 1 << 16, .mem_buffer = nullptr, .no_alloc = false});
  ggml_tensor* tensor = ggml_new_tensor_2d(meta, GGML_TYPE_F32, 4, 3);
  ggml_set_name(tensor, "token_embd.weight");
  gguf_context* ctx = gguf_init_empty();
  gguf_set_val_str(ctx, "general.architecture", "llama");
  const uint32_t tokens[] = {1, 2, 3};
  gguf_set_arr_data(ctx, "tokenizer.ggml.tokens", GGUF_TYPE_UINT32, tokens, 3);
  gguf_add_tensor(ctx, tensor);
  ASSERT_TRUE(gguf_write_to_file(ctx, file.c_str(), false));
  gguf_free(ctx);
  ggml_free(meta);
  expect_usage_error(run_uaqf("bench " + q(file) + " --threads 2"), "tokenizer.ggml.tokens is not a list of strings");
}

TEST(BadInputCli, NanWeightsFailTheModelWithTheReason) {
  const auto result = run_uaqf("eval " + q(nan_model()) + " --chunks 2 --ctx 64 --threads 2");
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.out.find("FAILED: PPL is"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("not a finite number"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("(0 tokens)"), std::string::npos) << result.out;
}

}  // namespace
