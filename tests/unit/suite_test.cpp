#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "backend/fake/fake_engine.h"
#include "core/error.h"
#include "tasks/registry.h"
#include "tasks/suite.h"

namespace uaqf::tasks {
namespace {

TEST(Gsm8k, StrictExtractionNeedsTheMarker) {
  EXPECT_EQ(gsm8k_strict_answer("so 3 + 4 = 7\n#### 7"), "7");
  EXPECT_EQ(gsm8k_strict_answer("#### -12"), "-12");
  EXPECT_EQ(gsm8k_strict_answer("#### 1,234.50 dollars"), "1,234.50");
  EXPECT_FALSE(gsm8k_strict_answer("The answer is 7."));
}

TEST(Gsm8k, FlexibleExtractionTakesTheLastNumber) {
  EXPECT_EQ(gsm8k_flexible_answer("He had 3 apples, then 10. The answer is $1,200."), "$1,200.");
  EXPECT_EQ(gsm8k_flexible_answer("first 5 then -3"), "-3");
  EXPECT_EQ(gsm8k_flexible_answer("x = 7"), "7");  // one digit: the second alternative
  EXPECT_FALSE(gsm8k_flexible_answer("no digits at all"));
}

TEST(Gsm8k, NormalizationDropsCommasDollarsAndTrailingDot) {
  EXPECT_EQ(gsm8k_normalize("$1,200."), "1200");
  EXPECT_EQ(gsm8k_normalize("-3"), "-3");
  EXPECT_EQ(gsm8k_normalize("7.5"), "7.5");
  EXPECT_EQ(gsm8k_target("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\n#### 1,018"), "1018");
  // A flexible answer with a dollar sign and comma matches the target after normalization.
  EXPECT_EQ(gsm8k_normalize(*gsm8k_flexible_answer("So she makes $1,018.")), gsm8k_target("#### 1018"));
}

TEST(Gsm8k, PromptHasExemplarsThenTheQuestion) {
  const std::vector<QaItem> shots{{"a", "What is 1+1?", "1+1=2\n#### 2"}};
  EXPECT_EQ(gsm8k_prompt(shots, {"b", "What is 2+2?", ""}),
            "Question: What is 1+1?\nAnswer: 1+1=2\n#### 2\n\nQuestion: What is 2+2?\nAnswer:");
}

// std::regex overflowed the stack on a run of about 27,000 digits, dots and commas; the scans are linear.
TEST(Gsm8k, LongRunsOfDigitsAndDotsDoNotCrash) {
  std::string run;
  for (int i = 0; i < 15000; ++i) run += "0.";
  EXPECT_EQ(gsm8k_flexible_answer("so " + run), run);
  EXPECT_EQ(gsm8k_strict_answer("#### " + run + " end"), run);
  const std::string long_run(200000, '7');
  EXPECT_EQ(gsm8k_flexible_answer(long_run + " and then 5"), "5");
  const auto verdict = judge_gsm8k(run, "#### 0");
  EXPECT_FALSE(verdict.correct_flexible);
}

TEST(Gsm8k, NormalizationFollowsLmEvalsRegexesToIgnore) {
  // ",", "$", "(?s).*#### " (up to the last marker), "\\.$" (a final dot, or one before a final
  // newline), then lower case.
  EXPECT_EQ(gsm8k_normalize("step 1\n#### 3\nmore\n#### 1,000."), "1000");
  EXPECT_EQ(gsm8k_normalize("12.\n"), "12\n");
  EXPECT_EQ(gsm8k_normalize("5.."), "5.");  // one dot only, as re.sub with "\\.$"
  EXPECT_EQ(gsm8k_normalize("ABC"), "abc");
}

// random.Random(1234).sample(range(7473), 5), three times in a row (Python 3.11.7), and the pool
// branch CPython takes for populations of 21 or fewer: Random(1234).sample(range(10), 3) twice.
TEST(Gsm8k, FewshotDrawsAreLmEvalsSeededSampler) {
  const auto draws = lm_eval_fewshot_draws(7473, 3, 5, 1234);
  ASSERT_EQ(draws.size(), 3U);
  EXPECT_EQ(draws[0], (std::vector<std::size_t>{6374, 3610, 957, 61, 742}));
  EXPECT_EQ(draws[1], (std::vector<std::size_t>{7462, 6610, 4769, 286, 5501}));
  EXPECT_EQ(draws[2], (std::vector<std::size_t>{5677, 687, 806, 6279, 2905}));
  const auto small = lm_eval_fewshot_draws(10, 2, 3, 1234);
  EXPECT_EQ(small[0], (std::vector<std::size_t>{7, 1, 0}));
  EXPECT_EQ(small[1], (std::vector<std::size_t>{1, 0, 9}));
}

TEST(Gsm8k, AnExemplarEqualToTheQuestionIsLeftOut) {
  const QaItem item{"t", "What is 2+2?", "#### 4"};
  const std::vector<QaItem> shots{{"a", "What is 1+1?", "#### 2"}, {"b", "What is 2+2?", "#### 4"}};
  EXPECT_EQ(gsm8k_prompt(shots, item), "Question: What is 1+1?\nAnswer: #### 2\n\nQuestion: What is 2+2?\nAnswer:");
}

TEST(Gsm8k, ResponsesAreReadInBothLayouts) {
  const auto dir = std::filesystem::temp_directory_path() / "uaqf-gsm8k-responses";
  std::filesystem::create_directories(dir);
  const std::vector<QaItem> items{{"gsm8k-test-0", "What is 2+2?", "2+2=4\n#### 4"},
                                  {"gsm8k-test-1", "What is 3+3?", "#### 6"}};
  const auto file = dir / "responses.jsonl";
  {
    std::ofstream out(file);
    out << R"({"question": "What is 2+2?", "response": "It is 4.\n#### 4"})"
        << "\n\n";
    // lm-eval's samples log: one line per filter for the same generation, counted once.
    out << R"({"doc_id": 1, "doc": {"question": "What is 3+3?", "answer": "#### 6"}, "filter": "strict-match", )"
        << R"("resps": [["3+3 = 6"]], "filtered_resps": ["[invalid]"]})"
        << "\n";
    out << R"({"doc_id": 1, "doc": {"question": "What is 3+3?", "answer": "#### 6"}, "filter": "flexible-extract", )"
        << R"("resps": [["3+3 = 6"]], "filtered_resps": ["6"]})"
        << "\n";
  }
  const auto responses = read_gsm8k_responses(items, file);
  ASSERT_EQ(responses.size(), 2U);
  EXPECT_EQ(responses[0].item->id, "gsm8k-test-0");
  EXPECT_EQ(responses[1].line, 3U);
  const auto verdict = judge_gsm8k(responses[1].response, responses[1].item->answer);
  EXPECT_FALSE(verdict.correct_strict);
  EXPECT_TRUE(verdict.correct_flexible);
  {
    std::ofstream out(file, std::ios::app);
    out << R"({"question": "What is 3+3?", "response": "something else"})"
        << "\n";
  }
  try {
    read_gsm8k_responses(items, file);
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("responses.jsonl:5: GSM8K item gsm8k-test-1 was already answered"),
              std::string::npos)
        << error.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(SelectItems, DeterministicSubsetInOriginalOrder) {
  const auto a = select_items(100, 10, 7);
  EXPECT_EQ(a, select_items(100, 10, 7));
  EXPECT_NE(a, select_items(100, 10, 8));
  EXPECT_EQ(a.size(), 10U);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<std::size_t>(a.begin(), a.end()).size(), 10U);
  EXPECT_EQ(select_items(5, std::nullopt, 1).size(), 5U);
  EXPECT_EQ(select_items(5, 50, 1).size(), 5U);
}

TEST(SelectItems, LlamaHellaswagDrawTakesFromWhatIsLeft) {
  const auto draw = select_items_like_llama_hellaswag(10042, 400);
  EXPECT_EQ(draw.size(), 400U);
  EXPECT_EQ(std::set<std::size_t>(draw.begin(), draw.end()).size(), 400U);  // no repeats
  // The first two draws by hand: from 10042 tasks, then from the 10041 left.
  std::mt19937 rng(1);
  const std::size_t first = std::uniform_int_distribution<std::size_t>(0, 10041)(rng);
  const std::size_t second = std::uniform_int_distribution<std::size_t>(0, 10040)(rng);
  EXPECT_EQ(draw[0], first);
  EXPECT_EQ(draw[1], second < first ? second : second + 1);
}

TEST(EditDistance, Levenshtein) {
  EXPECT_EQ(edit_distance({1, 2, 3}, {1, 2, 3}), 0U);
  EXPECT_EQ(edit_distance({1, 2, 3}, {1, 3}), 1U);
  EXPECT_EQ(edit_distance({}, {4, 5}), 2U);
  EXPECT_EQ(edit_distance({1, 2, 3, 4}, {2, 1, 3, 5}), 3U);
}

TEST(Divergence, IdenticalAndDifferingAnswers) {
  const auto result = compare_generations({"a", "b"}, {{1, 2, 3}, {1, 2, 3, 4}}, {{1, 2, 3}, {1, 9, 3}}, 1.0);
  EXPECT_DOUBLE_EQ(result.metrics[0].value, 0.5);  // identical_rate
  EXPECT_DOUBLE_EQ(result.records[1]["first_difference"].get<int>(), 1);
  EXPECT_DOUBLE_EQ(result.records[1]["normalized_edit_distance"].get<double>(), 2.0 / 4.0);
  EXPECT_TRUE(result.records[0]["first_difference"].is_null());
}

// Choices scored by the fake model; the continuation lengths differ so that acc and acc_norm can
// disagree.
std::vector<McItem> fake_items() {
  std::vector<McItem> items;
  for (int i = 0; i < 6; ++i) {
    McItem item;
    item.id = "item" + std::to_string(i);
    const std::string context = "Question " + std::to_string(i) + ": which?\nAnswer:";
    item.choices = {{context, " yes"}, {context, " no, certainly not at all"}, {context, " maybe"}};
    item.gold = i % 3;
    items.push_back(item);
  }
  return items;
}

TEST(MultipleChoice, SharedContextGivesTheSameScoresAsTheNaiveWay) {
  ManualClock clock;
  backend::FakeEngine engine(clock);
  engine.add_model("m", backend::FakeModelSpec{.n_vocab = 256});
  auto model = engine.load("m", {});
  auto items = fake_items();
  // Choices that begin alike: their common tokens are evaluated once but still scored.
  McItem alike{.id = "alike"};
  alike.choices = {{"Pick:", " the red one, then the blue"}, {"Pick:", " the red one, then the green"}};
  items.push_back(alike);
  for (const auto normalization : {McNormalization::kLmEval, McNormalization::kLlamaCpp}) {
    const auto fast =
        run_multiple_choice(*model, "fake", 1, items, McOptions{.normalization = normalization, .share_context = true});
    const auto naive = run_multiple_choice(*model, "fake", 1, items,
                                           McOptions{.normalization = normalization, .share_context = false});
    ASSERT_EQ(fast.records.size(), naive.records.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      for (const char* field : {"loglikelihoods", "normalized_scores"}) {
        const auto a = fast.records[i][field].get<std::vector<double>>();
        const auto b = naive.records[i][field].get<std::vector<double>>();
        ASSERT_EQ(a.size(), b.size());
        for (std::size_t c = 0; c < a.size(); ++c) {
          EXPECT_NEAR(a[c], b[c], 1e-4) << field << " of " << items[i].id;
        }
      }
      EXPECT_EQ(fast.records[i]["continuation_tokens"], naive.records[i]["continuation_tokens"]) << items[i].id;
      EXPECT_EQ(fast.records[i]["is_greedy"], naive.records[i]["is_greedy"]) << items[i].id;
    }
    ASSERT_EQ(fast.metrics.size(), naive.metrics.size());
    EXPECT_EQ(fast.metrics[0].name, "acc");
    for (std::size_t m = 0; m < fast.metrics.size(); ++m) {
      EXPECT_EQ(fast.metrics[m].name, naive.metrics[m].name);
      EXPECT_DOUBLE_EQ(fast.metrics[m].value, naive.metrics[m].value) << fast.metrics[m].name;
    }
  }
}

// A hand-computed example where the divisor decides: log-likelihoods -2.0 for " ab" and -2.9 for
// " abc". lm-eval divides by len("ab") = 2 and len("abc") = 3: -1.0 < -0.9667, choice 1 wins.
// Dividing by the continuation's length with its space (3 and 4) gives -0.667 > -0.725: choice 0.
TEST(MultipleChoice, AccNormDividesByTheChoiceAlone) {
  EXPECT_EQ(acc_norm_length(" ab"), 2U);
  EXPECT_EQ(acc_norm_length(" abc"), 3U);
  EXPECT_EQ(acc_norm_length(" caf\xC3\xA9"), 4U);   // code points, as Python's len()
  EXPECT_EQ(acc_norm_length("  two spaces"), 11U);  // only the delimiter goes: len(" two spaces")
  EXPECT_EQ(acc_norm_length("B"), 1U);              // no delimiter: nothing to remove
  EXPECT_DOUBLE_EQ(acc_norm_score(-2.0, " ab"), -1.0);
  EXPECT_DOUBLE_EQ(acc_norm_score(-2.9, " abc"), -2.9 / 3);
  EXPECT_GT(acc_norm_score(-2.9, " abc"), acc_norm_score(-2.0, " ab"));
  EXPECT_DOUBLE_EQ(acc_norm_score(-1.5, ""), -1.5);  // an empty choice divides by 1, not 0
}

TEST(MultipleChoice, AccAndAccNormFollowTheirDefinitions) {
  ManualClock clock;
  backend::FakeEngine engine(clock);
  engine.add_model("m", backend::FakeModelSpec{.n_vocab = 256});
  auto model = engine.load("m", {});
  const auto items = fake_items();
  const auto result = run_multiple_choice(*model, "fake", 1, items, McOptions{});
  double correct = 0, correct_norm = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto loglik = result.records[i]["loglikelihoods"].get<std::vector<double>>();
    std::vector<double> per_char;
    for (std::size_t c = 0; c < loglik.size(); ++c) {
      // lm-eval: len(choice), the continuation without its leading delimiter (all ASCII here).
      per_char.push_back(loglik[c] / static_cast<double>(items[i].choices[c].continuation.size() - 1));
    }
    const auto pred = std::max_element(loglik.begin(), loglik.end()) - loglik.begin();
    const auto pred_norm = std::max_element(per_char.begin(), per_char.end()) - per_char.begin();
    EXPECT_EQ(result.records[i]["prediction"].get<long>(), pred);
    EXPECT_EQ(result.records[i]["prediction_norm"].get<long>(), pred_norm);
    correct += pred == items[i].gold ? 1 : 0;
    correct_norm += pred_norm == items[i].gold ? 1 : 0;
  }
  EXPECT_DOUBLE_EQ(result.metrics[0].value, correct / 6);
  EXPECT_DOUBLE_EQ(result.metrics[1].value, correct_norm / 6);
  EXPECT_EQ(result.metrics[0].n, 6U);
}

// ---------------------------------------------------------------------------------------------
// The task table.

// The message of the Error(kInvalidArgument) that `call` throws.
template <typename Call>
std::string invalid_argument_message(Call call) {
  try {
    call();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    return error.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST(TaskTable, AnUnknownTaskIsAnErrorThatListsTheKnownOnes) {
  const SuiteOptions options;
  for (const std::string& message :
       {invalid_argument_message([] { find_task("bleu"); }), invalid_argument_message([] { task_version("bleu"); }),
        invalid_argument_message([&] { prepare_suite({"bleu"}, options); })}) {
    EXPECT_NE(message.find("unknown task 'bleu'"), std::string::npos) << message;
    for (const auto& task : task_table()) {
      EXPECT_NE(message.find(task.name), std::string::npos) << task.name << " missing from: " << message;
    }
  }
  EXPECT_EQ(known_task_names().rfind("perplexity, kld, gsm8k, commonsense_qa, ", 0), 0U) << known_task_names();
}

TEST(TaskTable, RollingLogLikelihoodTasksAreNotSuiteTasks) {
  const std::string message = invalid_argument_message([] { prepare_suite({"perplexity"}, SuiteOptions{}); });
  EXPECT_NE(message.find("'perplexity' is not one of the task suite's"), std::string::npos) << message;
  EXPECT_NE(message.find("gsm8k"), std::string::npos) << message;
  EXPECT_FALSE(is_suite_task("perplexity"));
  EXPECT_FALSE(is_suite_task("kld"));
  EXPECT_TRUE(is_suite_task("divergence"));
  EXPECT_EQ(task_version("perplexity"), 1);  // a study journals perplexity chunks under this version
}

TEST(TaskTable, EveryRowIsComplete) {
  std::set<std::string> names;
  std::vector<std::string> suite_names;
  for (const auto& task : task_table()) {
    SCOPED_TRACE(task.name);
    EXPECT_FALSE(task.name.empty());
    EXPECT_TRUE(names.insert(task.name).second) << "duplicate name";
    EXPECT_GE(task.version, 1);
    EXPECT_EQ(task_version(task.name), task.version);
    EXPECT_EQ(&find_task(task.name), &task);
    EXPECT_FALSE(task.help.empty());
    EXPECT_FALSE(task.data.empty());
    EXPECT_FALSE(task.metrics.empty());
    switch (task.kind) {
      case TaskKind::kMultipleChoice:
        EXPECT_NE(task.load, nullptr);
        EXPECT_NE(task.run, nullptr);
        EXPECT_NE(task.load_items, nullptr);
        EXPECT_TRUE(task.stop_sequences.empty());
        break;
      case TaskKind::kGeneration:
        EXPECT_NE(task.load, nullptr);
        EXPECT_EQ(task.run == nullptr, task.name == "divergence");  // run_divergence runs it
        EXPECT_EQ(task.load_items, nullptr);
        EXPECT_FALSE(task.answer_filter.empty());
        break;
      case TaskKind::kRollingLogLikelihood:
        // Read by read_corpus and scored by evaluate_perplexity, not by the suite.
        EXPECT_EQ(task.load, nullptr);
        EXPECT_EQ(task.run, nullptr);
        break;
    }
    if (task.kind != TaskKind::kRollingLogLikelihood) {
      suite_names.push_back(task.name);
    }
  }
  EXPECT_EQ(suite_task_names(), suite_names);
  EXPECT_EQ(find_task("gsm8k").stop_sequences, (std::vector<std::string>{"Question:", "</s>", "<|im_end|>"}));
}

TEST(TaskTable, MultipleChoiceRowsNameTheMetricsTheRunnerReports) {
  ManualClock clock;
  backend::FakeEngine engine(clock);
  engine.add_model("m", backend::FakeModelSpec{.n_vocab = 256});
  auto model = engine.load("m", {});
  const auto result = run_multiple_choice(*model, "fake", 1, fake_items(), McOptions{});
  std::vector<std::string> reported;
  for (const auto& metric : result.metrics) {
    reported.push_back(metric.name);
  }
  for (const auto& task : task_table()) {
    if (task.kind == TaskKind::kMultipleChoice) {
      EXPECT_EQ(task.metrics, reported) << task.name;
    }
  }
}

}  // namespace
}  // namespace uaqf::tasks
