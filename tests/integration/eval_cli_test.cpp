// `uaqf eval` on the tiny model: perplexity and KLD output, the baseline cache, and bad input.

#include "cli_support.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

namespace {

using namespace uaqf_test;
namespace fs = std::filesystem;

fs::path corpus() { return shared_dir() / "data" / "wikitext-2-raw" / "wiki.test.raw"; }

std::string eval_args(const fs::path& cache) {
  return " --baseline " + q(tiny_model()) + " --data " + q(corpus()) + " --chunks 4 -t 2 --cache-dir " + q(cache);
}

TEST(EvalCli, PerplexityAndKldWithPerChunkRecords) {
  const fs::path cache = work_dir() / "eval-cache";
  const fs::path json_path = work_dir() / "eval.json";
  const auto result =
      run_uaqf("eval " + q(variant("Q4_0")) + " --tasks perplexity,kld" + eval_args(cache) + " --json " + q(json_path));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("KLD mean"), std::string::npos) << result.out;
  const auto json = nlohmann::json::parse(slurp(json_path));
  EXPECT_TRUE(json["complete"].get<bool>());
  EXPECT_EQ(json["baseline"]["cache_status"], "built");
  const auto& model = json["models"][0];
  EXPECT_EQ(model["chunks"].size(), 4U);
  EXPECT_EQ(model["chunks"][0]["n_scored"], 255);
  EXPECT_GT(model["perplexity"]["ppl"].get<double>(), 10.0);
  EXPECT_GT(model["kld"]["kld_mean"].get<double>(), 0.0);
  EXPECT_GT(model["kld"]["same_top_rate"].get<double>(), 0.5);
  EXPECT_LT(model["kld"]["same_top_rate"].get<double>(), 1.0);

  // The second run reuses the baseline's cached distributions and gets the same numbers.
  const fs::path again_path = work_dir() / "eval-again.json";
  const auto again = run_uaqf("eval " + q(variant("Q4_0")) + " --tasks perplexity,kld" + eval_args(cache) + " --json " +
                              q(again_path));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const auto again_json = nlohmann::json::parse(slurp(again_path));
  EXPECT_EQ(again_json["baseline"]["cache_status"], "reused");
  EXPECT_DOUBLE_EQ(again_json["models"][0]["kld"]["kld_mean"].get<double>(), model["kld"]["kld_mean"].get<double>());
}

TEST(EvalCli, CorpusTooShortForOneChunk) {
  const fs::path text = work_dir() / "short.txt";
  std::ofstream(text) << "Only a handful of words here.\n";
  const auto result = run_uaqf("eval " + q(variant("Q4_0")) + " --data " + q(text));
  expect_one_error_line(result, "is too short: it tokenizes to");
}

TEST(EvalCli, BaselineWithAnotherVocabulary) {
  const fs::path other = work_dir() / "other-vocab.gguf";
  const std::string make = std::string("'") + UAQF_SWAP_TOKENS_BINARY + "' " + q(tiny_model()) + " " + q(other);
  ASSERT_EQ(std::system(make.c_str()), 0);
  const auto result = run_uaqf("eval " + q(variant("Q4_0")) + " --tasks kld --baseline " + q(other) + " --data " +
                               q(corpus()) + " --chunks 2");
  expect_one_error_line(result, "has another vocabulary");
}

TEST(EvalCli, UnreadableCorpus) {
  expect_one_error_line(run_uaqf("eval " + q(variant("Q4_0")) + " --data " + q(work_dir() / "missing.txt")),
                        "not found");
  expect_one_error_line(run_uaqf("eval " + q(variant("Q4_0")) + " --data " + q(work_dir())), "is a folder");
}

TEST(EvalCli, CorruptCacheFile) {
  const fs::path cache = work_dir() / "corrupt-cache";
  const auto first = run_uaqf("eval " + q(variant("Q8_0")) + " --tasks kld" + eval_args(cache));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  fs::path file;
  for (const auto& entry : fs::directory_iterator(cache)) {
    file = entry.path();
  }
  ASSERT_FALSE(file.empty());
  {
    std::fstream bytes(file, std::ios::in | std::ios::out | std::ios::binary);
    bytes.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2));
    bytes.put('\x7f');
  }
  const auto result = run_uaqf("eval " + q(variant("Q8_0")) + " --tasks kld" + eval_args(cache));
  expect_one_error_line(result, "is damaged (checksum mismatch); delete it to rebuild");
}

TEST(EvalCli, KldWithoutBaselineIsRejected) {
  expect_one_error_line(run_uaqf("eval " + q(variant("Q8_0")) + " --tasks kld"), "needs --baseline");
  expect_one_error_line(run_uaqf("eval " + q(variant("Q8_0")) + " --tasks bleu"), "unknown task 'bleu'");
}

TEST(EvalCli, EveryTaskRunsAndKeepsItsItems) {
  const fs::path json_path = work_dir() / "tasks.json";
  const auto result = run_uaqf(
      "eval " + q(variant("Q4_0")) +
      " --tasks gsm8k,commonsense_qa,hellaswag_llamacpp,arc_easy,arc_challenge,piqa,winogrande,mmlu,ifeval,divergence"
      " --limit 2 --data-dir " +
      q(shared_dir() / "data") + " --baseline " + q(tiny_model()) +
      " --max-new-tokens 12 --divergence-tokens 8 --mmlu-shots 1 -t 2" + " --json " + q(json_path));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("exact_match_strict"), std::string::npos) << result.out;
  const auto json = nlohmann::json::parse(slurp(json_path));
  std::set<std::string> seen;
  for (const auto& task : json["models"][0]["tasks"]) {
    seen.insert(task["task"].get<std::string>());
    EXPECT_EQ(task["records"].size(), 2U) << task["task"];
    EXPECT_EQ(task["version"], task["task"] == "divergence" ? 1 : 2) << task["task"];
    const bool generates = task["task"] == "gsm8k" || task["task"] == "ifeval" || task["task"] == "divergence";
    EXPECT_EQ(task.value("prompt_format", ""), generates ? "lm-eval" : "") << task["task"];
    for (const auto& metric : task["metrics"]) {
      EXPECT_GE(metric["value"].get<double>(), 0.0);
      EXPECT_TRUE(metric.contains("stderr"));
    }
  }
  EXPECT_EQ(seen.size(), 10U);
  EXPECT_TRUE(json["models"][0]["tasks"][0]["records"][0].contains("generation"));
}

// Batched generation against one prompt at a time, both --batch-invariant. A build with
// -DUAQF_BATCH_INVARIANT=ON (the ci preset) must give the same answers token for token; a build
// with llama.cpp's tinyBLAS must say that it cannot promise them.
TEST(EvalCli, BatchInvariantGeneration) {
  auto answers = [](int gen_batch, const std::string& model_type) {
    const fs::path json_path =
        work_dir() / ("batch-invariant-" + model_type + "-" + std::to_string(gen_batch) + ".json");
    const auto result = run_uaqf("eval " + q(model_type == "F16" ? tiny_model() : variant(model_type)) +
                                 " --tasks gsm8k --limit 12 --max-new-tokens 40 --batch-invariant --gen-batch " +
                                 std::to_string(gen_batch) + " --data-dir " + q(shared_dir() / "data") +
                                 " -t 2 --json " + q(json_path));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    const auto json = nlohmann::json::parse(slurp(json_path));
    EXPECT_TRUE(json["options"]["batch_invariant"].get<bool>());
    std::vector<std::string> texts;
    for (const auto& record : json["models"][0]["tasks"][0]["records"]) {
      texts.push_back(record["generation"].get<std::string>());
    }
    return std::make_tuple(json["models"][0]["batch_invariant_kernels"].get<bool>(), texts, result.err);
  };
  // F16 (plain products) and Q4_K_M (whose repacked kernels differ by batch width unless turned off).
  for (const std::string type : {"F16", "Q4_K_M"}) {
    const auto [invariant_alone, alone, alone_err] = answers(1, type);
    const auto [invariant_batched, batched, batched_err] = answers(12, type);
#if UAQF_BATCH_INVARIANT_BUILD
    EXPECT_TRUE(invariant_alone && invariant_batched) << type;
    EXPECT_EQ(batched, alone) << type;
    EXPECT_EQ(batched_err.find("warning"), std::string::npos) << batched_err;
#else
    EXPECT_FALSE(invariant_alone || invariant_batched) << type;
    EXPECT_NE(batched_err.find("batch-invariant tasks asked for, but"), std::string::npos) << batched_err;
#endif
    ASSERT_EQ(alone.size(), 12U);
  }
}

// Multiple choice scored with the shared context against each choice on its own. Predictions must
// agree on any build; with --batch-invariant on a build with -DUAQF_BATCH_INVARIANT=ON, every
// log-likelihood must be bit-identical. PIQA's solutions often begin alike (their common tokens are
// scored from the shared pass), WinoGrande's contexts differ, HellaSwag's share the context.
TEST(EvalCli, SharedContextScoresMatchTheNaiveWay) {
  auto scores = [](const std::string& mode, const std::string& model_type) {
    const fs::path json_path = work_dir() / ("mc-" + mode + "-" + model_type + ".json");
    const auto result =
        run_uaqf("eval " + q(model_type == "F16" ? tiny_model() : variant(model_type)) +
                 " --tasks piqa,winogrande,hellaswag_llamacpp --limit 16 --batch-invariant --data-dir " +
                 q(shared_dir() / "data") + " -t 2 --json " + q(json_path) + (mode == "naive" ? " --mc-naive" : ""));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(slurp(json_path))["models"][0]["tasks"];
  };
  for (const std::string type : {"F16", "Q4_K_M"}) {
    const auto shared = scores("shared", type);
    const auto naive = scores("naive", type);
    ASSERT_EQ(shared.size(), 3U);
    ASSERT_EQ(naive.size(), 3U);
    for (std::size_t t = 0; t < shared.size(); ++t) {
      const auto& a = shared[t]["records"];
      const auto& b = naive[t]["records"];
      ASSERT_EQ(a.size(), 16U);
      ASSERT_EQ(b.size(), 16U);
      for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string where = type + " " + shared[t]["task"].get<std::string>() + " item " + std::to_string(i);
        EXPECT_EQ(a[i]["prediction"], b[i]["prediction"]) << where;
        EXPECT_EQ(a[i]["prediction_norm"], b[i]["prediction_norm"]) << where;
        const auto x = a[i]["loglikelihoods"].get<std::vector<double>>();
        const auto y = b[i]["loglikelihoods"].get<std::vector<double>>();
        ASSERT_EQ(x.size(), y.size()) << where;
        for (std::size_t c = 0; c < x.size(); ++c) {
#if UAQF_BATCH_INVARIANT_BUILD
          EXPECT_EQ(x[c], y[c]) << where << " choice " << c;
#else
          // Kernels that change with batch width (tinyBLAS, repacking) move sums by well under 1 %.
          EXPECT_NEAR(x[c], y[c], 0.01 * std::abs(y[c]) + 0.05) << where << " choice " << c;
#endif
        }
      }
    }
  }
}

TEST(EvalCli, MissingAndMalformedTaskData) {
  const fs::path empty = work_dir() / "no-data";
  fs::create_directories(empty);
  expect_one_error_line(run_uaqf("eval " + q(variant("Q4_0")) + " --tasks piqa --data-dir " + q(empty)),
                        "PIQA data not found: expected");
  const fs::path broken = work_dir() / "broken-data" / "gsm8k";
  fs::create_directories(broken);
  std::ofstream(broken / "train.jsonl") << "{\"question\": \"q\", \"answer\": \"#### 1\"}\n";
  std::ofstream(broken / "test.jsonl") << "{\"question\": \"q\", \"answer\": \"#### 1\"}\n{not json\n";
  expect_one_error_line(run_uaqf("eval " + q(variant("Q4_0")) + " --tasks gsm8k --data-dir " + q(broken.parent_path())),
                        "test.jsonl:2: malformed JSON line");
}

// --responses: IFEval's verdicts on responses made elsewhere (GPT-4's published ones), no model.
fs::path gpt4_responses() { return shared_dir() / "data" / "ifeval" / "reference" / "gpt4_responses.jsonl"; }

TEST(EvalCli, ResponsesAreScoredWithoutAModel) {
  const fs::path json_path = work_dir() / "responses.json";
  const auto result = run_uaqf("eval --tasks ifeval --responses " + q(gpt4_responses()) + " --data-dir " +
                               q(shared_dir() / "data") + " --json " + q(json_path));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("prompt_level_strict_acc"), std::string::npos) << result.out;
  const auto json = nlohmann::json::parse(slurp(json_path));
  const auto& task = json["models"][0]["tasks"][0];
  EXPECT_EQ(task["task"], "ifeval");
  ASSERT_EQ(task["records"].size(), 541U);
  const auto& record = task["records"][0];
  EXPECT_EQ(record["id"], "1000");
  EXPECT_EQ(record["strict"].size(), record["instruction_ids"].size());
  EXPECT_EQ(record["loose"].size(), record["instruction_ids"].size());
  // The official aggregates on these responses (langdetect seeded with 0), in %.
  const std::map<std::string, double> official = {{"prompt_level_strict_acc", 77.08},
                                                  {"inst_level_strict_acc", 83.69},
                                                  {"prompt_level_loose_acc", 79.67},
                                                  {"inst_level_loose_acc", 85.61}};
  ASSERT_EQ(task["metrics"].size(), 4U);
  for (const auto& metric : task["metrics"]) {
    EXPECT_NEAR(100 * metric["value"].get<double>(), official.at(metric["name"].get<std::string>()), 0.2)
        << metric["name"];
    EXPECT_GT(metric["stderr"].get<double>(), 0.0);
  }
}

TEST(EvalCli, ResponsesComparedWithBaselineResponsesPerPrompt) {
  // The same responses with every tenth one empty: an empty response is scored and follows nothing.
  const fs::path worse = work_dir() / "worse-responses.jsonl";
  {
    std::ifstream in(gpt4_responses());
    std::ofstream out(worse);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line); ++n) {
      auto row = nlohmann::json::parse(line);
      if (n % 10 == 0) row["response"] = "";
      out << row.dump() << '\n';
    }
  }
  const fs::path json_path = work_dir() / "responses-paired.json";
  const auto result =
      run_uaqf("eval --tasks ifeval --responses " + q(worse) + " --baseline-responses " + q(gpt4_responses()) +
               " --data-dir " + q(shared_dir() / "data") + " --json " + q(json_path));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("McNemar"), std::string::npos) << result.out;
  const auto json = nlohmann::json::parse(slurp(json_path));
  ASSERT_EQ(json["models"].size(), 2U);  // the baseline's responses, then the variant's
  const auto& empty_record = json["models"][1]["tasks"][0]["records"][0];
  EXPECT_EQ(empty_record["response"], "");
  for (const auto& verdict : empty_record["strict"]) EXPECT_FALSE(verdict.get<bool>());
  const auto& comparisons = json["responses"]["comparisons"];
  ASSERT_EQ(comparisons.size(), 2U);
  for (const auto& c : comparisons) {
    EXPECT_EQ(c["n"], 541);
    EXPECT_EQ(c["variant_only"], 0) << c;  // emptying a response never makes it follow more
    EXPECT_GT(c["baseline_only"].get<int>(), 20) << c;
    EXPECT_LT(c["p_value"].get<double>(), 1e-4) << c;
    EXPECT_LT(c["variant"].get<double>(), c["baseline"].get<double>());
  }
}

TEST(EvalCli, ResponsesWithAMalformedLineOrAnUnknownPrompt) {
  const std::string data = " --data-dir " + q(shared_dir() / "data");
  std::string first_line;
  {
    std::ifstream in(gpt4_responses());
    std::getline(in, first_line);
  }
  const fs::path malformed = work_dir() / "malformed-responses.jsonl";
  std::ofstream(malformed) << first_line << "\n{\"prompt\": \"p\"\n";
  auto result = run_uaqf("eval --tasks ifeval --responses " + q(malformed) + data);
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result, malformed.string() + ":2: not valid JSON");

  const fs::path missing_response = work_dir() / "no-response.jsonl";
  std::ofstream(missing_response) << "\n" << first_line << "\n{\"prompt\": \"p\"}\n";
  result = run_uaqf("eval --tasks ifeval --responses " + q(missing_response) + data);
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result, missing_response.string() + ":3: expected an object");

  const fs::path unknown = work_dir() / "unknown-prompt.jsonl";
  std::ofstream(unknown) << first_line << "\n{\"prompt\": \"Write a haiku.\", \"response\": \"x\"}\n";
  result = run_uaqf("eval --tasks ifeval --responses " + q(unknown) + data);
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result, unknown.string() + ":2: the prompt is not one of IFEval's");

  const fs::path one = work_dir() / "one-response.jsonl";
  std::ofstream(one) << first_line << "\n";
  result =
      run_uaqf("eval --tasks ifeval --responses " + q(gpt4_responses()) + " --baseline-responses " + q(one) + data);
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result, "the paired comparison needs the same prompts");

  result = run_uaqf("eval " + q(tiny_model()) + " --tasks ifeval --responses " + q(unknown) + data);
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result, "give no model files");
}

// GSM8K generations made elsewhere: the test split's own worked solutions answer their questions
// (every one right, strict and flexible), one in lm-eval's samples-log layout, and a 30,000-character
// run of "0." that once overflowed std::regex's stack.
TEST(EvalCli, Gsm8kResponsesAreScoredWithoutAModel) {
  const fs::path test_split = shared_dir() / "data" / "gsm8k" / "test.jsonl";
  const fs::path responses = work_dir() / "gsm8k-responses.jsonl";
  std::size_t n = 0;
  {
    std::ifstream in(test_split);
    std::ofstream out(responses);
    for (std::string line; std::getline(in, line) && n < 40; ++n) {
      const auto row = nlohmann::json::parse(line);
      if (n == 1) {
        out << nlohmann::json{{"doc", row}, {"filter", "strict-match"}, {"resps", {{row["answer"]}}}}.dump() << "\n";
        out << nlohmann::json{{"doc", row}, {"filter", "flexible-extract"}, {"resps", {{row["answer"]}}}}.dump()
            << "\n";
      } else {
        out << nlohmann::json{{"question", row["question"]}, {"response", row["answer"]}}.dump() << "\n";
      }
    }
    std::string run;
    for (int i = 0; i < 15000; ++i) run += "0.";
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    out << nlohmann::json{{"question", nlohmann::json::parse(line)["question"]}, {"response", run}}.dump() << "\n";
  }
  const fs::path json_path = work_dir() / "gsm8k-responses.json";
  const auto result = run_uaqf("eval --tasks gsm8k --responses " + q(responses) + " --data-dir " +
                               q(shared_dir() / "data") + " --json " + q(json_path));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto json = nlohmann::json::parse(slurp(json_path));
  const auto& task = json["models"][0]["tasks"][0];
  EXPECT_EQ(task["task"], "gsm8k");
  ASSERT_EQ(task["records"].size(), 41U);
  std::size_t strict = 0, flexible = 0;
  for (const auto& record : task["records"]) {
    strict += record["correct_strict"].get<bool>() ? 1 : 0;
    flexible += record["correct_flexible"].get<bool>() ? 1 : 0;
  }
  EXPECT_EQ(strict, 40U);  // the run of "0." answers question 41, whose answer is not 0
  EXPECT_EQ(flexible, 40U);
  EXPECT_EQ(task["records"][40]["flexible_answer"].get<std::string>().size(), 30000U);
  EXPECT_DOUBLE_EQ(task["metrics"][0]["value"].get<double>(), 40.0 / 41.0);
}

TEST(EvalCli, ChatPromptsNeedAChatTemplate) {
  const std::string data = " --data-dir " + q(shared_dir() / "data");
  auto result = run_uaqf("eval " + q(tiny_model()) + " --tasks gsm8k --limit 1 --prompt-format chat" + data);
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result, "has no chat template: the chat prompt format needs one");
  result = run_uaqf("eval " + q(tiny_model()) + " --tasks gsm8k --limit 1 --chat-template chatml" + data);
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result, "--chat-template needs --prompt-format chat");
  result = run_uaqf("eval " + q(tiny_model()) + " --tasks gsm8k --limit 1 --prompt-format html" + data);
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result, "--prompt-format must be lm-eval");
}

}  // namespace
