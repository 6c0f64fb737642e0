#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "backend/fake/fake_engine.h"
#include "core/error.h"
#include "core/files.h"
#include "tasks/baseline_cache.h"
#include "tasks/perplexity.h"

namespace uaqf::tasks {
namespace {

namespace fs = std::filesystem;
using backend::FakeEngine;
using backend::FakeModelSpec;

PerplexityOptions small_options() {
  PerplexityOptions options;
  options.n_ctx = 16;
  options.n_batch = 32;  // two chunks per pass
  options.top_k = 8;
  options.tail_samples = 16;
  options.n_threads = 2;
  return options;
}

std::vector<backend::Token> corpus_tokens(std::size_t n) {
  std::vector<backend::Token> tokens(n);
  for (std::size_t i = 0; i < n; ++i) {
    tokens[i] = static_cast<backend::Token>((i * 37 + 11) % 50);
  }
  return tokens;
}

struct Fixture {
  ManualClock clock;
  FakeEngine engine{clock};
  Fixture() {
    engine.add_model("base", FakeModelSpec{.n_vocab = 50});
    engine.add_model("same", FakeModelSpec{.n_vocab = 50});
    engine.add_model("noisy", FakeModelSpec{.n_vocab = 50, .logit_noise = 0.3});
  }
};

TEST(PlanChunks, CutsWholeChunksAndScoresTheSecondHalf) {
  const auto plan = plan_chunks(corpus_tokens(100), small_options(), "corpus");
  EXPECT_EQ(plan.n_chunks, 6);  // 100 / 16
  EXPECT_EQ(plan.first_scored, 8);
  EXPECT_EQ(plan.scored_per_chunk(), 7);  // positions 8..14 predict 9..15
  EXPECT_EQ(plan.n_scored(), 42U);
  auto limited = small_options();
  limited.max_chunks = 2;
  EXPECT_EQ(plan_chunks(corpus_tokens(100), limited, "corpus").n_chunks, 2);
}

TEST(PlanChunks, RejectsACorpusShorterThanTwoContexts) {
  try {
    plan_chunks(corpus_tokens(31), small_options(), "tiny.txt");
    FAIL();
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("tiny.txt is too short: it tokenizes to 31 tokens"), std::string::npos);
  }
}

TEST(Perplexity, MatchesTheHandComputedValue) {
  Fixture f;
  auto model = f.engine.load("base", {});
  const auto options = small_options();
  const auto plan = plan_chunks(corpus_tokens(64), options, "corpus");
  const auto result = evaluate_perplexity(*model, plan, options, nullptr, nullptr);
  // Recompute every scored token's NLL from the fake model's logits with a plain log-softmax.
  double nll_sum = 0;
  for (int c = 0; c < plan.n_chunks; ++c) {
    for (int pos = plan.first_scored; pos < plan.n_ctx - 1; ++pos) {
      const auto current = plan.tokens[static_cast<std::size_t>(c * plan.n_ctx + pos)];
      const auto target = plan.tokens[static_cast<std::size_t>(c * plan.n_ctx + pos + 1)];
      const auto favourite = (current * 31 + 7) % 50;
      double z = 0;
      for (int v = 0; v < 50; ++v) {
        z += std::exp(-0.05 * ((v + 50 - favourite) % 50));
      }
      nll_sum += -(-0.05 * ((target + 50 - favourite) % 50) - std::log(z));
    }
  }
  const double expected_nll = nll_sum / static_cast<double>(plan.n_scored());
  EXPECT_NEAR(result.nll_mean, expected_nll, 1e-5);
  EXPECT_NEAR(result.ppl, std::exp(expected_nll), 1e-3);
  EXPECT_EQ(result.chunks.size(), 4U);
  EXPECT_EQ(result.n_scored, 28U);
}

TEST(Perplexity, IdenticalModelHasZeroDivergence) {
  Fixture f;
  const auto options = small_options();
  auto base = f.engine.load("base", {});
  const auto plan = plan_chunks(corpus_tokens(64), options, "corpus");
  BaselineDistributions captured;
  const auto base_result = evaluate_perplexity(*base, plan, options, nullptr, &captured);
  auto same = f.engine.load("same", {});
  const auto result = evaluate_perplexity(*same, plan, options, &captured, nullptr);
  ASSERT_TRUE(result.kld);
  EXPECT_NEAR(result.kld->mean, 0.0, 1e-6);
  EXPECT_DOUBLE_EQ(result.kld->same_top_rate, 1.0);
  EXPECT_NEAR(result.kld->delta_p_rms, 0.0, 1e-6);
  EXPECT_NEAR(result.kld->ln_ppl_ratio, 0.0, 1e-6);
  EXPECT_NEAR(result.kld->base_ppl, base_result.ppl, 1e-3);
}

// A study resumes a perplexity pass from the chunks its journal holds: restored chunks give the
// very numbers an uninterrupted pass gives, and only the missing chunks are recorded again.
TEST(Perplexity, JournaledChunksResumeToTheSameResult) {
  Fixture f;
  const auto options = small_options();
  auto base = f.engine.load("base", {});
  auto noisy = f.engine.load("noisy", {});
  const auto plan = plan_chunks(corpus_tokens(96), options, "corpus");  // 5 chunks of 16
  BaselineDistributions captured;
  evaluate_perplexity(*base, plan, options, nullptr, &captured);
  std::map<std::string, nlohmann::json> store;
  std::vector<std::string> recorded;
  ItemJournal journal;
  journal.find = [&](const std::string& task, const std::string& id, const std::string& fp) {
    const auto it = store.find(task + "/" + id + "/" + fp);
    return it == store.end() ? std::nullopt : std::optional<nlohmann::json>(it->second);
  };
  journal.record = [&](const std::string& task, const std::string& id, const std::string& fp,
                       const nlohmann::json& payload) {
    recorded.push_back(id);
    store[task + "/" + id + "/" + fp] = payload;
  };
  const auto whole = evaluate_perplexity(*noisy, plan, options, &captured, nullptr, &journal);
  ASSERT_EQ(recorded.size(), static_cast<std::size_t>(plan.n_chunks));
  // Lose two chunks, as a killed run would have never recorded them.
  store.erase(std::next(store.begin(), 1));
  store.erase(std::next(store.begin(), 2));
  recorded.clear();
  const auto resumed = evaluate_perplexity(*noisy, plan, options, &captured, nullptr, &journal);
  EXPECT_EQ(recorded.size(), 2U);
  EXPECT_EQ(resumed.ppl, whole.ppl);
  ASSERT_TRUE(resumed.kld);
  EXPECT_EQ(resumed.kld->mean, whole.kld->mean);
  EXPECT_EQ(resumed.kld->p99, whole.kld->p99);
  EXPECT_EQ(resumed.kld->same_top_rate, whole.kld->same_top_rate);
  // A changed corpus is not served from the journal.
  auto other_tokens = corpus_tokens(96);
  std::reverse(other_tokens.begin(), other_tokens.end());
  recorded.clear();
  evaluate_perplexity(*noisy, plan_chunks(other_tokens, options, "corpus"), options, &captured, nullptr, &journal);
  EXPECT_GE(recorded.size(), 4U);  // BOS-only overlap aside, every chunk's tokens differ
}

TEST(Perplexity, KldEstimateMatchesTheExactDivergence) {
  Fixture f;
  auto options = small_options();
  options.top_k = 4;           // most of the 50-token vocabulary is in the sampled tail
  options.tail_samples = 400;  // enough samples that the estimate is tight
  auto base = f.engine.load("base", {});
  auto noisy = f.engine.load("noisy", {});
  const auto plan = plan_chunks(corpus_tokens(64), options, "corpus");
  BaselineDistributions captured;
  evaluate_perplexity(*base, plan, options, nullptr, &captured);
  const auto result = evaluate_perplexity(*noisy, plan, options, &captured, nullptr);
  ASSERT_TRUE(result.kld);

  // Exact KLD from the full distributions.
  auto full = options;
  full.top_k = 50;
  full.tail_samples = 0;
  BaselineDistributions exact_base;
  evaluate_perplexity(*base, plan, full, nullptr, &exact_base);
  const auto exact = evaluate_perplexity(*noisy, plan, full, &exact_base, nullptr);
  ASSERT_TRUE(exact.kld);
  EXPECT_GT(exact.kld->mean, 0.001);
  EXPECT_NEAR(exact.kld->tail_mass_mean, 0.0, 1e-6);
  EXPECT_GT(result.kld->tail_mass_mean, 0.5);
  // The estimate lies within 4 of its own reported sampling standard errors of the exact value.
  EXPECT_NEAR(result.kld->mean, exact.kld->mean, 4 * result.kld->tail_sampling_stderr + 1e-9);
  EXPECT_LT(result.kld->same_top_rate, 1.0);
  EXPECT_DOUBLE_EQ(result.kld->same_top_rate, exact.kld->same_top_rate);
}

class BaselineCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("uaqf-cache-test-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    base_.top_k = 2;
    base_.tail_samples = 1;
    base_.tokens = {{1.5F, 3, 0.25F}, {0.5F, 7, 0.0F}};
    base_.top_ids = {3, 4, 7, 1};
    base_.top_logprobs = {-0.5F, -1.5F, -0.1F, -3.0F};
    base_.tail_ids = {9, 0};
    base_.tail_logprobs = {-4.0F, -9.0F};
  }
  void TearDown() override { fs::remove_all(dir_); }
  BaselineKey key_{.baseline_sha256 = "aa",
                   .corpus_sha256 = "bb",
                   .n_ctx = 16,
                   .n_chunks = 1,
                   .top_k = 2,
                   .tail_samples = 1,
                   .n_vocab = 50,
                   .engine_commit = "c"};
  BaselineDistributions base_;
  fs::path dir_;
};

TEST_F(BaselineCacheTest, RoundTrips) {
  const auto file = baseline_cache_path(dir_, key_);
  save_baseline(file, key_, base_);
  const auto loaded = load_baseline(file, key_, nullptr);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->top_ids, base_.top_ids);
  EXPECT_EQ(loaded->tail_logprobs, base_.tail_logprobs);
  EXPECT_FLOAT_EQ(loaded->tokens[0].tail_mass, 0.25F);
  EXPECT_EQ(loaded->tokens[1].top1, 7);
}

TEST_F(BaselineCacheTest, OtherInputsMakeItStaleNotWrong) {
  const auto file = baseline_cache_path(dir_, key_);
  save_baseline(file, key_, base_);
  auto other = key_;
  other.corpus_sha256 = "changed";
  EXPECT_NE(baseline_cache_path(dir_, other), file);
  std::string why;
  EXPECT_FALSE(load_baseline(file, other, &why));
  EXPECT_EQ(why, "cached baseline was made for other inputs");
  EXPECT_FALSE(load_baseline(dir_ / "absent.uaqfbase", key_, &why));
}

TEST_F(BaselineCacheTest, DamagedFileIsAnError) {
  const auto file = baseline_cache_path(dir_, key_);
  save_baseline(file, key_, base_);
  std::string bytes = read_text_file(file);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5A);
  write_file_atomic(file, bytes);
  EXPECT_THROW(load_baseline(file, key_, nullptr), Error);
  write_file_atomic(file, "UAQFBASE but nothing else of use, far too short to be a cache file at all..........");
  EXPECT_THROW(load_baseline(file, key_, nullptr), Error);
  write_file_atomic(file, "not a cache");
  EXPECT_THROW(load_baseline(file, key_, nullptr), Error);
}

}  // namespace
}  // namespace uaqf::tasks

namespace uaqf::tasks {
namespace {

TEST(TokenizeCorpus, PrefixEqualsTheStartOfTheWholeTokenization) {
  ManualClock clock;
  backend::FakeEngine engine(clock);
  engine.add_model("v", backend::FakeModelSpec{.n_vocab = 300});
  const auto vocabulary = engine.load_vocabulary("v");
  std::string text;
  for (int line = 0; line < 2000; ++line) {
    text += "line " + std::to_string(line) + " of a corpus that is long enough\n";
  }
  const auto whole = tokenize_corpus(*vocabulary, text, std::nullopt);
  EXPECT_TRUE(whole.complete);
  EXPECT_EQ(whole.tokens.size(), text.size() + 1);  // one per byte, plus BOS
  const auto prefix = tokenize_corpus(*vocabulary, text, 5000);
  EXPECT_FALSE(prefix.complete);
  ASSERT_EQ(prefix.tokens.size(), 5000U);
  EXPECT_TRUE(std::equal(prefix.tokens.begin(), prefix.tokens.end(), whole.tokens.begin()));
  // Asking for more than the text holds tokenizes everything.
  const auto all = tokenize_corpus(*vocabulary, text, text.size() * 10);
  EXPECT_TRUE(all.complete);
  EXPECT_EQ(all.tokens.size(), whole.tokens.size());
}

}  // namespace
}  // namespace uaqf::tasks
