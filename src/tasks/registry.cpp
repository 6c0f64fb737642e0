#include "tasks/registry.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"
#include "stats/summary.h"
#include "tasks/ifeval.h"

namespace uaqf::tasks {
namespace {

template <typename T>
std::vector<T> pick(const std::vector<T>& items, const std::vector<std::size_t>& indices) {
  std::vector<T> picked;
  picked.reserve(indices.size());
  for (auto i : indices) {
    picked.push_back(items[i]);
  }
  return picked;
}

McOptions mc_options(const SuiteOptions& options) {
  auto mc = options.mc;
  mc.batch_invariant = options.batch_invariant;
  return mc;
}

GenerationOptions generation_options(const SuiteOptions& options) {
  auto generation = options.generation;
  generation.batch_invariant = options.batch_invariant;
  return generation;
}

// ---------------------------------------------------------------------------------------------
// Loaders

void load_multiple_choice(const TaskDefinition& task, const SuiteOptions& options, PreparedSuite& suite) {
  const auto items = task.load_items(options);
  check_mc_items(task.name, items, options.max_item_bytes);
  const bool llama_draw = task.llama_hellaswag_draw && options.mc.normalization == McNormalization::kLlamaCpp;
  const auto indices = llama_draw && options.limit ? select_items_like_llama_hellaswag(items.size(), *options.limit)
                                                   : select_items(items.size(), options.limit, options.seed);
  suite.multiple_choice[task.name] = pick(items, indices);
}

// The seeded subset of GSM8K's test split (their indices in `indices`); the train split is read
// too, so that a data folder without it is reported for gsm8k and divergence alike.
std::vector<QaItem> chosen_gsm8k_test_items(const SuiteOptions& options, std::vector<QaItem>* train_items,
                                            std::vector<std::size_t>* indices = nullptr) {
  auto train = load_gsm8k(options.data_dir, "train");
  const auto test = load_gsm8k(options.data_dir, "test");
  for (const std::vector<QaItem>* items : {&std::as_const(train), &test}) {
    for (const auto& item : *items) {
      if (item.question.size() + item.answer.size() > options.max_item_bytes) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("GSM8K item {} is {} bytes long, above the limit of {} bytes per item "
                                "([quality] max_item_bytes)",
                                item.id, item.question.size() + item.answer.size(), options.max_item_bytes));
      }
    }
  }
  if (train_items != nullptr) {
    *train_items = std::move(train);
  }
  const auto chosen = select_items(test.size(), options.limit, options.seed);
  if (indices != nullptr) {
    *indices = chosen;
  }
  return pick(test, chosen);
}

void load_gsm8k_task(const TaskDefinition&, const SuiteOptions& options, PreparedSuite& suite) {
  std::vector<QaItem> train;
  std::vector<std::size_t> indices;
  suite.gsm8k_items = chosen_gsm8k_test_items(options, &train, &indices);
  const auto shots = static_cast<std::size_t>(std::max(0, options.gsm8k_shots));
  if (shots > train.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("--gsm8k-shots {} is more than the {} train problems", shots, train.size()));
  }
  // lm-evaluation-harness draws each question's exemplars with one seeded generator, question after
  // question in test-split order: an item gets the exemplars lm-eval gives it in a full run.
  const std::size_t needed = indices.empty() ? 0 : indices.back() + 1;
  const auto draws = lm_eval_fewshot_draws(train.size(), needed, shots, options.fewshot_seed);
  for (std::size_t k = 0; k < indices.size(); ++k) {
    std::vector<QaItem> exemplars;
    for (std::size_t t : draws[indices[k]]) {
      exemplars.push_back(train[t]);
    }
    suite.gsm8k_prompts.push_back(gsm8k_prompt(exemplars, suite.gsm8k_items[k]));
  }
}

void load_divergence(const TaskDefinition& task, const SuiteOptions& options, PreparedSuite& suite) {
  for (const auto& item : chosen_gsm8k_test_items(options, nullptr)) {
    suite.divergence_ids.push_back(item.id);
    suite.divergence_prompts.push_back(fmt::format(fmt::runtime(task.prompt), fmt::arg("question", item.question)));
  }
}

void load_ifeval(const TaskDefinition&, const SuiteOptions& options, PreparedSuite& suite) {
  const auto file = options.data_dir / "ifeval" / "input_data.jsonl";
  require_dataset_file(file, "IFEval", "google-research instruction_following_eval/data/input_data.jsonl");
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      continue;
    }
    try {
      if (line.size() > options.max_item_bytes) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("the item is {} bytes long, above the limit of {} bytes per item "
                                "([quality] max_item_bytes)",
                                line.size(), options.max_item_bytes));
      }
      ifeval::parse_item(line);
    } catch (const Error& error) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: {}", file.string(), number, error.what()));
    }
    lines.push_back(line);
  }
  if (lines.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: no items (the file is empty)", file.string()));
  }
  // The checkers split sentences with the reference's punkt model, which comes with the data.
  const auto punkt = options.data_dir / ifeval::kPunktParametersFile;
  require_dataset_file(punkt, "IFEval's punkt english parameters",
                       "nltk_data tokenizers/punkt/PY3/english.pickle, exported as JSON");
  ifeval::use_reference_files(
      {.punkt_parameters = punkt, .langdetect_dir = ifeval::default_reference_files().langdetect_dir});
  suite.ifeval_lines = pick(lines, select_items(lines.size(), options.limit, options.seed));
}

// ---------------------------------------------------------------------------------------------
// Runners

TaskResult run_multiple_choice_task(backend::Model& model, const TaskDefinition& task, const PreparedSuite& suite,
                                    const SuiteOptions& options) {
  return run_multiple_choice(model, task.name, task.version, suite.multiple_choice.at(task.name), mc_options(options),
                             options.journal);
}

TaskResult run_gsm8k_task(backend::Model& model, const TaskDefinition& task, const PreparedSuite& suite,
                          const SuiteOptions& options) {
  return run_gsm8k(model, task.version, suite.gsm8k_items, suite.gsm8k_prompts, task.stop_sequences,
                   generation_options(options), options.journal);
}

TaskMetric mean_metric(const std::string& name, const std::vector<double>& values) {
  TaskMetric m{.name = name, .n = values.size()};
  if (!values.empty()) {
    const auto s = stats::summarize(values);
    m.value = s.mean;
    m.stderr_value = s.sem.value_or(0);
  }
  return m;
}

std::vector<ifeval::Item> ifeval_items(const PreparedSuite& suite) {
  std::vector<ifeval::Item> items;
  for (const auto& line : suite.ifeval_lines) {
    items.push_back(ifeval::parse_item(line));
  }
  return items;
}

// One record per item (its verdicts per instruction) and the four accuracies of lm-eval/the original.
TaskResult ifeval_result(const TaskDefinition& task, const std::vector<const ifeval::Item*>& items,
                         const std::vector<std::string>& responses) {
  TaskResult result{.task = task.name, .version = task.version};
  std::vector<double> prompt_strict, prompt_loose, inst_strict, inst_loose;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto outcome = ifeval::evaluate(*items[i], responses[i]);
    prompt_strict.push_back(outcome.prompt_strict() ? 1 : 0);
    prompt_loose.push_back(outcome.prompt_loose() ? 1 : 0);
    for (std::size_t k = 0; k < outcome.strict.size(); ++k) {
      inst_strict.push_back(outcome.strict[k] ? 1 : 0);
      inst_loose.push_back(outcome.loose[k] ? 1 : 0);
    }
    result.records.push_back({{"id", items[i]->key},
                              {"prompt", items[i]->prompt},
                              {"instruction_ids", items[i]->instruction_ids},
                              {"response", responses[i]},
                              {"strict", outcome.strict},
                              {"loose", outcome.loose}});
  }
  result.metrics = {
      mean_metric("prompt_level_strict_acc", prompt_strict), mean_metric("inst_level_strict_acc", inst_strict),
      mean_metric("prompt_level_loose_acc", prompt_loose), mean_metric("inst_level_loose_acc", inst_loose)};
  return result;
}

// The items' prompts and keys, in order, and pointers to the items (which must outlive them).
struct IfevalPrompts {
  std::vector<const ifeval::Item*> items;
  std::vector<std::string> prompts, ids;
};
IfevalPrompts ifeval_prompts(const std::vector<ifeval::Item>& items) {
  IfevalPrompts out;
  for (const auto& item : items) {
    out.items.push_back(&item);
    out.prompts.push_back(item.prompt);
    out.ids.push_back(item.key);
  }
  return out;
}

TaskResult run_ifeval_task(backend::Model& model, const TaskDefinition& task, const PreparedSuite& suite,
                           const SuiteOptions& options) {
  const std::vector<ifeval::Item> items = ifeval_items(suite);
  const auto [item_pointers, prompts, ids] = ifeval_prompts(items);
  std::vector<double> seconds;
  const auto answers = generate_answers(model, prompts, task.stop_sequences, generation_options(options), &seconds,
                                        {.journal = options.journal, .task = task.name, .ids = &ids});
  std::vector<std::string> responses;
  responses.reserve(answers.size());
  for (const auto& answer : answers) {
    responses.push_back(model.detokenize(answer));
  }
  TaskResult result = ifeval_result(task, item_pointers, responses);
  result.prompt_format = to_string(options.generation.prompt_format);
  result.seconds = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  result.items_per_second = items_per_second(seconds);
  return result;
}

// ---------------------------------------------------------------------------------------------
// The table

// A multiple-choice row: its data set's items, scored by the generic loader and runner; metrics as
// run_multiple_choice reports them with lm-eval's normalization.
TaskDefinition multiple_choice(TaskDefinition row) {
  row.kind = TaskKind::kMultipleChoice;
  row.load = load_multiple_choice;
  row.run = run_multiple_choice_task;
  row.metrics = {"acc", "acc_norm"};
  return row;
}

std::vector<TaskDefinition> rolling_log_likelihood_rows() {
  const std::string corpus = "wikitext-2-raw/wiki.test.raw (or --data)";
  return {{.name = "perplexity",
           .kind = TaskKind::kRollingLogLikelihood,
           .version = 1,
           .help = "perplexity over n_ctx-token chunks, as llama-perplexity computes it",
           .data = corpus,
           .metrics = {"ppl"}},
          {.name = "kld",
           .kind = TaskKind::kRollingLogLikelihood,
           .version = 1,
           .help = "KL-divergence, top-token agreement and PPL ratio against --baseline",
           .data = corpus,
           .metrics = {"kld_mean", "same_top_rate", "ppl_ratio"}}};
}

TaskDefinition gsm8k_row() {
  return {.name = "gsm8k",
          .kind = TaskKind::kGeneration,
          .version = 2,  // 2: lm-eval's seeded exemplars per question, linear-scan filters (lm-eval gsm8k 3.0)
          .help = "grade-school math, k-shot (--gsm8k-shots), greedy answers, exact match (lm-eval gsm8k 3.0)",
          .load = load_gsm8k_task,
          .run = run_gsm8k_task,
          .data = "gsm8k/ (train: exemplars, test: questions)",
          .prompt =
              "k x \"Question: {question}\\nAnswer: {answer}\\n\\n\" (lm-eval's seeded sampler, "
              "--fewshot-seed), then \"Question: {question}\\nAnswer:\"",
          .stop_sequences = {"Question:", "</s>", "<|im_end|>"},
          .answer_filter = "strict: the number after \"#### \"; flexible: the last number",
          .metrics = {"exact_match_strict", "exact_match_flexible"}};
}

// lm-evaluation-harness as of commit 000488380f82 (docs/tasks.md): every row's strings follow its
// task of that name; acc_norm divides by len(choice). Version 2 of each: acc_norm's divisor.
std::vector<TaskDefinition> multiple_choice_rows() {
  return {
      multiple_choice({.name = "commonsense_qa",
                       .version = 2,
                       .help = "CommonsenseQA dev, letter answers (lm-eval commonsense_qa)",
                       .load_items = [](const SuiteOptions& o) { return load_commonsense_qa(o.data_dir); },
                       .data = "commonsenseqa/",
                       .prompt = "Question: {stem}\\nA. {text}\\n...\\nE. {text}\\nAnswer: -> \" A\" ... \" E\""}),
      multiple_choice(
          {.name = "hellaswag",
           .version = 2,  // 2: lm-eval's preprocessing of the original records
           .help = "HellaSwag validation from its original records, lm-eval's strings (lm-eval hellaswag)",
           .load_items =
               [](const SuiteOptions& o) { return load_hellaswag_records(hellaswag_records_file(o.data_dir)); },
           .data = "hellaswag/hellaswag_val.jsonl",
           .prompt = "preprocess({activity_label}: {ctx_a} {ctx_b.capitalize()}) -> \" preprocess({ending})\""}),
      multiple_choice({.name = "hellaswag_llamacpp",
                       .version = 2,  // the former hellaswag v1's strings; 2: acc_norm's divisor
                       .help = "HellaSwag validation in llama.cpp's text format, as llama-perplexity --hellaswag",
                       .load_items = [](const SuiteOptions& o) { return load_hellaswag_llamacpp(o.data_dir); },
                       .llama_hellaswag_draw = true,
                       .data = "hellaswag/hellaswag_val_full.txt",
                       .prompt = "{activity_label}: {ctx} -> \" {ending}\""}),
      multiple_choice({.name = "arc_easy",
                       .version = 2,
                       .help = "ARC-Easy test, science questions (lm-eval arc_easy)",
                       .load_items = [](const SuiteOptions& o) { return load_arc(o.data_dir, "easy"); },
                       .data = "arc/",
                       .prompt = "Question: {question}\\nAnswer: -> \" {choice}\""}),
      multiple_choice({.name = "arc_challenge",
                       .version = 2,
                       .help = "ARC-Challenge test, science questions (lm-eval arc_challenge)",
                       .load_items = [](const SuiteOptions& o) { return load_arc(o.data_dir, "challenge"); },
                       .data = "arc/",
                       .prompt = "Question: {question}\\nAnswer: -> \" {choice}\""}),
      multiple_choice({.name = "piqa",
                       .version = 2,
                       .help = "PIQA validation, physical common sense (lm-eval piqa)",
                       .load_items = [](const SuiteOptions& o) { return load_piqa(o.data_dir); },
                       .data = "piqa/",
                       .prompt = "Question: {goal}\\nAnswer: -> \" {sol1}\", \" {sol2}\""}),
      multiple_choice({.name = "winogrande",
                       .version = 2,
                       .help = "WinoGrande dev, pronoun resolution, partial scoring (lm-eval winogrande)",
                       .load_items = [](const SuiteOptions& o) { return load_winogrande(o.data_dir); },
                       .data = "winogrande/",
                       .prompt = "the sentence up to the blank, each option filled in -> \" {rest of the sentence}\""}),
      multiple_choice({.name = "mmlu",
                       .version = 2,  // 2: the question stripped, 0-shot by default, acc_norm's divisor
                       .help = "MMLU test, 57 subjects, 0-shot unless --mmlu-shots (lm-eval mmlu)",
                       .load_items = [](const SuiteOptions& o) { return load_mmlu(o.data_dir, o.mmlu_shots); },
                       .data = "mmlu/",
                       .prompt =
                           "The following are multiple choice questions (with answers) about {subject}.\\n\\n, "
                           "k dev exemplars, {question.strip()}\\nA. ...\\nD. ...\\nAnswer: -> \" A\" ... \" D\""}),
  };
}

TaskDefinition ifeval_row() {
  return {.name = "ifeval",
          .kind = TaskKind::kGeneration,
          .version = 2,  // 2: punkt's english model and langdetect, as the reference
          .help = "IFEval: verifiable instructions, greedy answers checked as the original's evaluation_lib",
          .load = load_ifeval,
          .run = run_ifeval_task,
          .data = "ifeval/input_data.jsonl",
          .prompt = "{prompt}",
          .answer_filter = "the whole response; loose: also without its first/last line and without '*'",
          .metrics = {"prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc",
                      "inst_level_loose_acc"}};
}

// Run by run_divergence (it needs the baseline's answers), not by run_suite.
TaskDefinition divergence_row() {
  return {.name = "divergence",
          .kind = TaskKind::kGeneration,
          .version = 1,
          .help = "greedy answers to GSM8K questions, compared token by token with --baseline's",
          .load = load_divergence,
          .data = "gsm8k/ (test: questions)",
          .prompt = "Question: {question}\nAnswer:",
          .answer_filter = "the generated tokens",
          .metrics = {"identical_rate", "first_difference_position", "normalized_edit_distance"}};
}

// In the order `--tasks` help lists them.
std::vector<TaskDefinition> make_task_table() {
  std::vector<TaskDefinition> table = rolling_log_likelihood_rows();
  table.push_back(gsm8k_row());
  for (auto& row : multiple_choice_rows()) {
    table.push_back(std::move(row));
  }
  table.push_back(ifeval_row());
  table.push_back(divergence_row());
  return table;
}

std::string comma_separated(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) {
    text += (text.empty() ? "" : ", ") + name;
  }
  return text;
}

}  // namespace

const std::vector<TaskDefinition>& task_table() {
  static const std::vector<TaskDefinition> table = make_task_table();
  return table;
}

std::string known_task_names() {
  std::vector<std::string> names;
  for (const auto& task : task_table()) {
    names.push_back(task.name);
  }
  return comma_separated(names);
}

const TaskDefinition& find_task(const std::string& name) {
  const auto& table = task_table();
  const auto it = std::find_if(table.begin(), table.end(), [&](const TaskDefinition& t) { return t.name == name; });
  if (it == table.end()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown task '{}' (known: {})", name, known_task_names()));
  }
  return *it;
}

const std::vector<std::string>& suite_task_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> suite;
    for (const auto& task : task_table()) {
      if (task.kind != TaskKind::kRollingLogLikelihood) {
        suite.push_back(task.name);
      }
    }
    return suite;
  }();
  return names;
}

bool is_suite_task(const std::string& name) {
  const auto& names = suite_task_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

int task_version(const std::string& name) { return find_task(name).version; }

PreparedSuite prepare_suite(const std::vector<std::string>& tasks, const SuiteOptions& options) {
  PreparedSuite suite;
  suite.tasks = tasks;
  for (const auto& name : tasks) {
    const TaskDefinition& task = find_task(name);
    if (task.load == nullptr) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("task '{}' is not one of the task suite's ({})", name,
                                                           comma_separated(suite_task_names())));
    }
    task.load(task, options, suite);
  }
  return suite;
}

std::vector<TaskResult> run_suite(backend::Model& model, const PreparedSuite& suite, const SuiteOptions& options) {
  std::vector<TaskResult> results;
  for (const auto& name : suite.tasks) {
    const TaskDefinition& task = find_task(name);
    if (task.run != nullptr) {
      results.push_back(task.run(model, task, suite, options));
    }
  }
  return results;
}

std::vector<std::vector<backend::Token>> divergence_answers(backend::Model& model, const PreparedSuite& suite,
                                                            const SuiteOptions& options,
                                                            std::vector<double>* item_seconds) {
  const TaskDefinition& task = find_task("divergence");
  auto generation = generation_options(options);
  generation.max_new_tokens = options.divergence_max_new_tokens;
  return generate_answers(model, suite.divergence_prompts, task.stop_sequences, generation, item_seconds,
                          {.journal = options.journal, .task = task.name, .ids = &suite.divergence_ids});
}

TaskResult score_gsm8k_responses(const PreparedSuite& suite, const std::filesystem::path& file) {
  const TaskDefinition& task = find_task("gsm8k");
  TaskResult result{.task = task.name, .version = task.version};
  std::vector<double> strict, flexible;
  for (const auto& response : read_gsm8k_responses(suite.gsm8k_items, file)) {
    nlohmann::json record = gsm8k_record(*response.item, response.response);
    record["line"] = response.line;
    strict.push_back(record["correct_strict"].get<bool>() ? 1.0 : 0.0);
    flexible.push_back(record["correct_flexible"].get<bool>() ? 1.0 : 0.0);
    result.records.push_back(std::move(record));
  }
  result.metrics = {mean_metric("exact_match_strict", strict), mean_metric("exact_match_flexible", flexible)};
  return result;
}

TaskResult score_ifeval_responses(const PreparedSuite& suite, const std::filesystem::path& file) {
  const std::vector<ifeval::Item> items = ifeval_items(suite);
  std::map<std::string, const ifeval::Item*> by_prompt;
  for (const auto& item : items) {
    by_prompt.emplace(item.prompt, &item);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kNotFound, fmt::format("cannot read the responses file {}", file.string()));
  }
  std::vector<const ifeval::Item*> answered;
  std::vector<std::string> responses;
  std::map<std::string, std::size_t> line_of_key;
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      continue;
    }
    const auto fail = [&](const std::string& why) {
      return Error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: {}", file.string(), number, why));
    };
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
      throw fail(fmt::format("not valid JSON ({})", e.what()));
    }
    if (!row.is_object() || !row.contains("prompt") || !row["prompt"].is_string() || !row.contains("response") ||
        !row["response"].is_string()) {
      throw fail(R"(expected an object {"prompt": string, "response": string})");
    }
    const std::string prompt = row["prompt"].get<std::string>();
    const auto item = by_prompt.find(prompt);
    if (item == by_prompt.end()) {
      throw fail(fmt::format("the prompt is not one of IFEval's (\"{}...\")", prompt.substr(0, 60)));
    }
    const auto [previous, first] = line_of_key.emplace(item->second->key, number);
    if (!first) {
      throw fail(fmt::format("the prompt of IFEval item {} was already answered on line {}", item->second->key,
                             previous->second));
    }
    answered.push_back(item->second);
    responses.push_back(row["response"].get<std::string>());
  }
  if (answered.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: no responses in the file", file.string()));
  }
  return ifeval_result(find_task("ifeval"), answered, responses);
}

TaskResult run_divergence(backend::Model& model, const PreparedSuite& suite, const SuiteOptions& options,
                          const std::vector<std::vector<backend::Token>>& baseline_answers) {
  std::vector<double> seconds;
  const auto answers = divergence_answers(model, suite, options, &seconds);
  TaskResult result = compare_generations(suite.divergence_ids, baseline_answers, answers,
                                          std::accumulate(seconds.begin(), seconds.end(), 0.0));
  result.version = find_task("divergence").version;
  result.prompt_format = to_string(options.generation.prompt_format);
  return result;
}

namespace {

std::string text_prompt_hash(const std::string& text) { return sha256_hex(text).substr(0, 16); }

// `answer`'s texts, with the journal's answers reused and new ones recorded as they come.
std::vector<TextAnswer> journaled_texts(const AnswerTextsFn& answer, const TextPrompts& request,
                                        const std::vector<std::string>& ids, const ItemJournal* journal) {
  const auto& prompts = *request.prompts;
  std::vector<TextAnswer> answers(prompts.size());
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (journal != nullptr && journal->find) {
      if (auto found = journal->find(request.task, ids[i], text_prompt_hash(prompts[i]))) {
        answers[i].text = found->at("text").get<std::string>();
        if (found->contains("tokens") && found->at("tokens").is_number_integer()) {
          answers[i].tokens = found->at("tokens").get<int>();
        }
        answers[i].seconds = found->value("seconds", 0.0);
        continue;
      }
    }
    pending.push_back(i);
  }
  if (pending.empty()) {
    return answers;
  }
  std::vector<std::string> asked;
  for (std::size_t i : pending) {
    asked.push_back(prompts[i]);
  }
  TextPrompts sub = request;
  sub.prompts = &asked;
  auto made = answer(sub);
  if (made.size() != pending.size()) {
    throw Error(ErrorCode::kInternal,
                fmt::format("{}: {} answers for {} prompts", request.task, made.size(), pending.size()));
  }
  for (std::size_t k = 0; k < pending.size(); ++k) {
    auto& text = made[k].text;
    for (const auto& stop : request.stop_sequences) {
      if (const auto at = text.find(stop); at != std::string::npos) {
        text.resize(at);
      }
    }
    const std::size_t i = pending[k];
    answers[i] = std::move(made[k]);
    if (journal != nullptr && journal->record) {
      journal->record(request.task, ids[i], text_prompt_hash(prompts[i]),
                      {{"text", answers[i].text},
                       {"tokens", answers[i].tokens ? nlohmann::json(*answers[i].tokens) : nlohmann::json(nullptr)},
                       {"seconds", answers[i].seconds}});
    }
  }
  return answers;
}

std::vector<double> answer_seconds(const std::vector<TextAnswer>& answers) {
  std::vector<double> seconds;
  for (const auto& a : answers) {
    seconds.push_back(a.seconds);
  }
  return seconds;
}

TaskResult text_gsm8k(const AnswerTextsFn& answer, const PreparedSuite& suite, const SuiteOptions& options) {
  const TaskDefinition& task = find_task("gsm8k");
  TaskResult result{
      .task = task.name, .version = task.version, .prompt_format = to_string(options.generation.prompt_format)};
  std::vector<std::string> ids;
  for (const auto& item : suite.gsm8k_items) {
    ids.push_back(item.id);
  }
  const auto answers = journaled_texts(answer,
                                       {.task = task.name,
                                        .prompts = &suite.gsm8k_prompts,
                                        .stop_sequences = task.stop_sequences,
                                        .max_new_tokens = options.generation.max_new_tokens,
                                        .format = options.generation.prompt_format},
                                       ids, options.journal);
  std::vector<double> strict, flexible;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    nlohmann::json record = gsm8k_record(suite.gsm8k_items[i], answers[i].text);
    record["prompt_hash"] = text_prompt_hash(suite.gsm8k_prompts[i]);
    record["generated_tokens"] = answers[i].tokens ? nlohmann::json(*answers[i].tokens) : nlohmann::json(nullptr);
    strict.push_back(record["correct_strict"].get<bool>() ? 1.0 : 0.0);
    flexible.push_back(record["correct_flexible"].get<bool>() ? 1.0 : 0.0);
    result.records.push_back(std::move(record));
  }
  result.metrics = {mean_metric("exact_match_strict", strict), mean_metric("exact_match_flexible", flexible)};
  const auto seconds = answer_seconds(answers);
  result.seconds = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  result.items_per_second = items_per_second(seconds);
  return result;
}

TaskResult text_ifeval(const AnswerTextsFn& answer, const PreparedSuite& suite, const SuiteOptions& options) {
  const TaskDefinition& task = find_task("ifeval");
  const std::vector<ifeval::Item> items = ifeval_items(suite);
  const auto [item_pointers, prompts, ids] = ifeval_prompts(items);
  const auto answers = journaled_texts(answer,
                                       {.task = task.name,
                                        .prompts = &prompts,
                                        .stop_sequences = task.stop_sequences,
                                        .max_new_tokens = options.generation.max_new_tokens,
                                        .format = options.generation.prompt_format},
                                       ids, options.journal);
  std::vector<std::string> responses;
  for (const auto& a : answers) {
    responses.push_back(a.text);
  }
  TaskResult result = ifeval_result(task, item_pointers, responses);
  result.prompt_format = to_string(options.generation.prompt_format);
  const auto seconds = answer_seconds(answers);
  result.seconds = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  result.items_per_second = items_per_second(seconds);
  return result;
}

// The text a generated answer adds after its prompt: the prompt and answer detokenized together,
// less the prompt alone. Detokenizing the answer alone drops the leading space of its first word
// (SentencePiece), which a server's text keeps.
std::string continuation_text(const backend::Vocabulary& vocabulary, const std::string& prompt,
                              const std::vector<backend::Token>& answer, const GenerationOptions& options) {
  std::optional<std::string> templated;
  if (options.prompt_format == PromptFormat::kChat) {
    templated = vocabulary.apply_chat_template(prompt, options.chat_template);
  }
  std::vector<backend::Token> tokens =
      templated ? vocabulary.tokenize_chat(*templated) : vocabulary.tokenize(prompt, true);
  const std::string before = vocabulary.detokenize(tokens);
  tokens.insert(tokens.end(), answer.begin(), answer.end());
  const std::string whole = vocabulary.detokenize(tokens);
  return whole.starts_with(before) ? whole.substr(before.size()) : vocabulary.detokenize(answer);
}

}  // namespace

std::vector<TaskResult> run_text_generation_suite(const AnswerTextsFn& answer, const PreparedSuite& suite,
                                                  const SuiteOptions& options) {
  std::vector<TaskResult> results;
  for (const auto& name : suite.tasks) {
    if (name == "gsm8k") {
      results.push_back(text_gsm8k(answer, suite, options));
    } else if (name == "ifeval") {
      results.push_back(text_ifeval(answer, suite, options));
    }
  }
  return results;
}

TaskResult run_text_divergence(const AnswerTextsFn& answer, const PreparedSuite& suite, const SuiteOptions& options,
                               const backend::Vocabulary& vocabulary,
                               const std::vector<std::vector<backend::Token>>& baseline_answers) {
  const TaskDefinition& task = find_task("divergence");
  const auto answers = journaled_texts(answer,
                                       {.task = task.name,
                                        .prompts = &suite.divergence_prompts,
                                        .stop_sequences = task.stop_sequences,
                                        .max_new_tokens = options.divergence_max_new_tokens,
                                        .format = options.generation.prompt_format},
                                       suite.divergence_ids, options.journal);
  std::vector<std::vector<backend::Token>> baseline, variant;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const std::string text =
        continuation_text(vocabulary, suite.divergence_prompts[i], baseline_answers.at(i), options.generation);
    baseline.push_back(vocabulary.tokenize(text, false));
    variant.push_back(vocabulary.tokenize(answers[i].text, false));
  }
  const auto seconds = answer_seconds(answers);
  TaskResult result = compare_generations(suite.divergence_ids, baseline, variant,
                                          std::accumulate(seconds.begin(), seconds.end(), 0.0));
  result.version = task.version;
  result.prompt_format = to_string(options.generation.prompt_format);
  return result;
}

}  // namespace uaqf::tasks
