#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "backend/fake/fake_engine.h"
#include "core/error.h"
#include "core/files.h"
#include "quant/quantize.h"

namespace uaqf::quant {
namespace {

namespace fs = std::filesystem;

class QuantizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("uaqf-quant-test-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    model_ = dir_ / "tiny-f16.gguf";
    write_file_atomic(model_, "GGUF source");
  }
  void TearDown() override { fs::remove_all(dir_); }

  QuantizeOptions options(std::vector<std::string> types) {
    return QuantizeOptions{.model = model_, .types = std::move(types), .out_dir = dir_ / "out"};
  }

  fs::path dir_;
  fs::path model_;
  ManualClock clock_;
  backend::FakeEngine engine_{clock_};
};

TEST_F(QuantizeTest, OutputNameDropsPrecisionSuffix) {
  EXPECT_EQ(output_path_for("a/tiny-f16.gguf", "Q8_0", "o"), fs::path("o/tiny-Q8_0.gguf"));
  EXPECT_EQ(output_path_for("a/tiny-BF16.gguf", "Q4_0", "o"), fs::path("o/tiny-Q4_0.gguf"));
  EXPECT_EQ(output_path_for("model.gguf", "Q4_K_M", "o"), fs::path("o/model-Q4_K_M.gguf"));
}

TEST_F(QuantizeTest, WritesEachTypeThenSkipsUpToDateOutputs) {
  const auto first = quantize_all(engine_, options({"Q8_0", "q4_0"}), {});
  ASSERT_EQ(first.size(), 2U);
  EXPECT_EQ(first[0].status, QuantizeStatus::kQuantized);
  EXPECT_EQ(first[1].type, "Q4_0");  // canonical spelling
  EXPECT_TRUE(fs::exists(dir_ / "out" / "tiny-Q8_0.gguf"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "tiny-Q8_0.gguf.partial"));
  EXPECT_EQ(engine_.quantize_calls(), 2);

  const auto second = quantize_all(engine_, options({"Q8_0", "Q4_0"}), {});
  EXPECT_EQ(second[0].status, QuantizeStatus::kUpToDate);
  EXPECT_EQ(second[1].status, QuantizeStatus::kUpToDate);
  EXPECT_EQ(engine_.quantize_calls(), 2);  // no work the second time
}

TEST_F(QuantizeTest, ChangedSourceOrDamagedOutputIsRedone) {
  quantize_all(engine_, options({"Q8_0"}), {});
  write_file_atomic(model_, "GGUF source, changed and longer");
  EXPECT_EQ(quantize_all(engine_, options({"Q8_0"}), {})[0].status, QuantizeStatus::kQuantized);
  // An output whose size no longer matches its record (e.g. truncated) is redone too.
  write_file_atomic(dir_ / "out" / "tiny-Q8_0.gguf", "GG");
  EXPECT_EQ(quantize_all(engine_, options({"Q8_0"}), {})[0].status, QuantizeStatus::kQuantized);
  EXPECT_EQ(engine_.quantize_calls(), 3);
}

TEST_F(QuantizeTest, UnknownTypeIsRejectedBeforeAnyWork) {
  try {
    quantize_all(engine_, options({"Q8_0", "Q9_X"}), {});
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    const std::string message = error.what();
    EXPECT_NE(message.find("unknown quantization type 'Q9_X'"), std::string::npos);
    EXPECT_NE(message.find("valid: F16, Q8_0, Q4_0"), std::string::npos);
  }
  EXPECT_EQ(engine_.quantize_calls(), 0);
}

TEST_F(QuantizeTest, TypeNeedingImatrixIsRejectedBeforeAnyWork) {
  EXPECT_THROW(quantize_all(engine_, options({"Q8_0", "IQ2_XXS"}), {}), Error);
  EXPECT_EQ(engine_.quantize_calls(), 0);
}

TEST_F(QuantizeTest, MissingModelIsNotFound) {
  auto opts = options({"Q8_0"});
  opts.model = dir_ / "missing.gguf";
  try {
    quantize_all(engine_, opts, {});
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kNotFound);
  }
}

TEST_F(QuantizeTest, FailedTypeLeavesNoOutputAndOthersGoOn) {
  engine_.fail_quantize_type("Q8_0");
  const auto results = quantize_all(engine_, options({"Q8_0", "Q4_0"}), {});
  EXPECT_EQ(results[0].status, QuantizeStatus::kFailed);
  EXPECT_FALSE(fs::exists(results[0].output));
  EXPECT_FALSE(fs::exists(partial_path_for(results[0].output)));
  EXPECT_EQ(results[1].status, QuantizeStatus::kQuantized);
}

TEST_F(QuantizeTest, ProgressIsReported) {
  long last_done = 0;
  long last_total = 0;
  QuantizeObserver observer{.on_progress = [&](long done, long total) {
    last_done = done;
    last_total = total;
  }};
  quantize_all(engine_, options({"Q4_0"}), observer);
  EXPECT_EQ(last_done, 3);
  EXPECT_EQ(last_total, 3);
}

}  // namespace
}  // namespace uaqf::quant
