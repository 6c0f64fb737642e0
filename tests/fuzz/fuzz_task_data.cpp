// Task data as `uaqf eval` and studies read it before any model runs: tasks::prepare_suite over a
// data folder holding the fuzzed file(s) of one task. The first byte picks the task; the rest is
// its data file, and for tasks with two files (PIQA's labels, MMLU's dev set, GSM8K's training
// exemplars) the part after the first "\n=====\n" is the second file. Either prepared items or
// uaqf::Error.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "fuzz_support.h"
#include "tasks/registry.h"

namespace {

struct TaskFiles {
  const char* task;
  const char* first;
  const char* second;  // nullptr: one file
};

constexpr std::array<TaskFiles, 10> kTasks{{
    {"arc_easy", "arc/arc_easy.jsonl", nullptr},
    {"arc_challenge", "arc/arc_challenge.jsonl", nullptr},
    {"commonsense_qa", "commonsenseqa/dev_rand_split.jsonl", nullptr},
    {"hellaswag", "hellaswag/hellaswag_val.jsonl", nullptr},
    {"hellaswag_llamacpp", "hellaswag/hellaswag_val_full.txt", nullptr},
    {"piqa", "piqa/valid.jsonl", "piqa/valid-labels.lst"},
    {"winogrande", "winogrande/winogrande.jsonl", nullptr},
    {"mmlu", "mmlu/test/abstract_algebra_test.csv", "mmlu/dev/abstract_algebra_dev.csv"},
    {"gsm8k", "gsm8k/test.jsonl", "gsm8k/train.jsonl"},
    {"ifeval", "ifeval/input_data.jsonl", nullptr},
}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const TaskFiles& task = kTasks[data[0] % kTasks.size()];
  std::string_view text = uaqf::fuzz::as_text(data + 1, size - 1);
  std::string_view second;
  constexpr std::string_view kSeparator = "\n=====\n";
  if (const auto at = text.find(kSeparator); at != std::string_view::npos) {
    second = text.substr(at + kSeparator.size());
    text = text.substr(0, at);
  }
  // One folder per task so that no other task's files are seen.
  const auto data_dir = uaqf::fuzz::scratch_dir() / task.task;
  uaqf::fuzz::write_bytes(data_dir / task.first, text);
  if (task.second != nullptr) {
    uaqf::fuzz::write_bytes(data_dir / task.second, second);
  }
  uaqf::tasks::SuiteOptions options;
  options.data_dir = data_dir;
  options.gsm8k_shots = 2;
  options.mmlu_shots = 1;
  options.max_item_bytes = 4096;
  try {
    const auto suite = uaqf::tasks::prepare_suite({task.task}, options);
    (void)suite.tasks.size();
  } catch (const uaqf::Error&) {
  }
  return 0;
}
