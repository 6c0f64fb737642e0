#include "tasks/registry.h"

#include <algorithm>
#include <fstream>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "stats/summary.h"
#include "tasks/ifeval.h"

namespace uaqf::tasks {
namespace {

const std::vector<std::string> kMultipleChoice = {"commonsense_qa", "hellaswag",  "arc_easy", "arc_challenge",
                                                  "piqa",           "winogrande", "mmlu"};

template <typename T>
std::vector<T> pick(const std::vector<T>& items, const std::vector<std::size_t>& indices) {
  std::vector<T> picked;
  picked.reserve(indices.size());
  for (auto i : indices) {
    picked.push_back(items[i]);
  }
  return picked;
}

std::vector<McItem> load_multiple_choice(const std::string& task, const SuiteOptions& options) {
  if (task == "commonsense_qa") {
    return load_commonsense_qa(options.data_dir);
  }
  if (task == "hellaswag") {
    return load_hellaswag(options.data_dir);
  }
  if (task == "arc_easy") {
    return load_arc(options.data_dir, "easy");
  }
  if (task == "arc_challenge") {
    return load_arc(options.data_dir, "challenge");
  }
  if (task == "piqa") {
    return load_piqa(options.data_dir);
  }
  if (task == "winogrande") {
    return load_winogrande(options.data_dir);
  }
  return load_mmlu(options.data_dir, options.mmlu_shots);
}

}  // namespace

const std::vector<std::string>& suite_task_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all = {"gsm8k"};
    all.insert(all.end(), kMultipleChoice.begin(), kMultipleChoice.end());
    all.insert(all.end(), {"ifeval", "divergence"});
    return all;
  }();
  return names;
}

bool is_suite_task(const std::string& name) {
  const auto& names = suite_task_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

int task_version(const std::string& /*name*/) { return 1; }

bool task_generates(const std::string& name) { return name == "gsm8k" || name == "ifeval" || name == "divergence"; }

PreparedSuite prepare_suite(const std::vector<std::string>& tasks, const SuiteOptions& options) {
  PreparedSuite suite;
  suite.tasks = tasks;
  for (const auto& task : tasks) {
    if (std::find(kMultipleChoice.begin(), kMultipleChoice.end(), task) != kMultipleChoice.end()) {
      auto items = load_multiple_choice(task, options);
      // With llama.cpp's normalization, HellaSwag items are drawn as llama-perplexity draws them,
      // so that the two can be compared on the same items.
      const bool llama_draw = task == "hellaswag" && options.mc.normalization == McNormalization::kLlamaCpp;
      const auto indices = llama_draw && options.limit ? select_items_like_llama_hellaswag(items.size(), *options.limit)
                                                       : select_items(items.size(), options.limit, options.seed);
      suite.multiple_choice[task] = pick(items, indices);
    } else if (task == "gsm8k" || task == "divergence") {
      const auto train = load_gsm8k(options.data_dir, "train");
      const auto test = load_gsm8k(options.data_dir, "test");
      const auto chosen = pick(test, select_items(test.size(), options.limit, options.seed));
      if (task == "gsm8k") {
        // lm-evaluation-harness samples exemplars per question; uaqf takes the first k of the
        // train split for every question (its `first_n` sampler), so prompts are reproducible.
        suite.gsm8k_exemplars.assign(
            train.begin(),
            train.begin() + std::min<std::ptrdiff_t>(options.gsm8k_shots, static_cast<std::ptrdiff_t>(train.size())));
        suite.gsm8k_items = chosen;
      } else {
        for (const auto& item : chosen) {
          suite.divergence_ids.push_back(item.id);
          suite.divergence_prompts.push_back(fmt::format("Question: {}\nAnswer:", item.question));
        }
      }
    } else if (task == "ifeval") {
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
          ifeval::parse_item(line);
        } catch (const Error& error) {
          throw Error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: {}", file.string(), number, error.what()));
        }
        lines.push_back(line);
      }
      suite.ifeval_lines = pick(lines, select_items(lines.size(), options.limit, options.seed));
    } else {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown task '{}'", task));
    }
  }
  return suite;
}

namespace {

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

}  // namespace

std::vector<TaskResult> run_suite(backend::Model& model, const PreparedSuite& suite, const SuiteOptions& options) {
  std::vector<TaskResult> results;
  for (const auto& task : suite.tasks) {
    if (auto it = suite.multiple_choice.find(task); it != suite.multiple_choice.end()) {
      results.push_back(
          run_multiple_choice(model, task, task_version(task), it->second, mc_options(options), options.journal));
    } else if (task == "gsm8k") {
      results.push_back(run_gsm8k(model, task_version(task), suite.gsm8k_exemplars, suite.gsm8k_items,
                                  generation_options(options), options.journal));
    } else if (task == "ifeval") {
      std::vector<ifeval::Item> items;
      std::vector<std::string> prompts, ids;
      for (const auto& line : suite.ifeval_lines) {
        items.push_back(ifeval::parse_item(line));
        prompts.push_back(items.back().prompt);
        ids.push_back(items.back().key);
      }
      std::vector<double> seconds;
      const auto answers = generate_answers(model, prompts, {}, generation_options(options), &seconds,
                                            {.journal = options.journal, .task = "ifeval", .ids = &ids});
      TaskResult result{.task = "ifeval", .version = task_version(task)};
      std::vector<double> prompt_strict, prompt_loose, inst_strict, inst_loose;
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string response = model.detokenize(answers[i]);
        const auto outcome = ifeval::evaluate(items[i], response);
        prompt_strict.push_back(outcome.prompt_strict() ? 1 : 0);
        prompt_loose.push_back(outcome.prompt_loose() ? 1 : 0);
        for (std::size_t k = 0; k < outcome.strict.size(); ++k) {
          inst_strict.push_back(outcome.strict[k] ? 1 : 0);
          inst_loose.push_back(outcome.loose[k] ? 1 : 0);
        }
        result.records.push_back({{"id", items[i].key},
                                  {"prompt", items[i].prompt},
                                  {"instruction_ids", items[i].instruction_ids},
                                  {"response", response},
                                  {"strict", outcome.strict},
                                  {"loose", outcome.loose}});
      }
      auto metric = [](const std::string& name, const std::vector<double>& values) {
        TaskMetric m{.name = name, .n = values.size()};
        if (!values.empty()) {
          const auto s = stats::summarize(values);
          m.value = s.mean;
          m.stderr_value = s.sem.value_or(0);
        }
        return m;
      };
      result.metrics = {metric("prompt_level_strict_acc", prompt_strict), metric("inst_level_strict_acc", inst_strict),
                        metric("prompt_level_loose_acc", prompt_loose), metric("inst_level_loose_acc", inst_loose)};
      result.seconds = std::accumulate(seconds.begin(), seconds.end(), 0.0);
      result.items_per_second = items_per_second(seconds);
      results.push_back(std::move(result));
    }
  }
  return results;
}

std::vector<std::vector<backend::Token>> divergence_answers(backend::Model& model, const PreparedSuite& suite,
                                                            const SuiteOptions& options,
                                                            std::vector<double>* item_seconds) {
  auto generation = generation_options(options);
  generation.max_new_tokens = options.divergence_max_new_tokens;
  return generate_answers(model, suite.divergence_prompts, {}, generation, item_seconds,
                          {.journal = options.journal, .task = "divergence", .ids = &suite.divergence_ids});
}

TaskResult run_divergence(backend::Model& model, const PreparedSuite& suite, const SuiteOptions& options,
                          const std::vector<std::vector<backend::Token>>& baseline_answers) {
  std::vector<double> seconds;
  const auto answers = divergence_answers(model, suite, options, &seconds);
  return compare_generations(suite.divergence_ids, baseline_answers, answers,
                             std::accumulate(seconds.begin(), seconds.end(), 0.0));
}

}  // namespace uaqf::tasks
