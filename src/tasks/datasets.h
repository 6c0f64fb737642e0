#pragma once

// Loaders for the evaluation sets in their original (or documented) formats. Each item keeps a
// stable id; a malformed line is reported with its file and line number; a missing file names the
// expected path and the data set's public source.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace uaqf::tasks {

// One multiple-choice question: the model scores each choice's continuation after its context
// (contexts differ per choice only for Winogrande).
struct McChoice {
  std::string context;
  std::string continuation;
};

struct McItem {
  std::string id;
  std::vector<McChoice> choices;
  int gold = 0;
};

struct QaItem {
  std::string id;
  std::string question;
  std::string answer;  // GSM8K: full worked answer ending in "#### N"
};

// JSON lines of a file; throws Error naming file:line on a malformed line.
std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& file);

// Throws Error(kNotFound) naming the expected file and where the data set comes from.
void require_dataset_file(const std::filesystem::path& file, const std::string& dataset, const std::string& source);

std::vector<McItem> load_commonsense_qa(const std::filesystem::path& data_dir);
std::vector<McItem> load_hellaswag(const std::filesystem::path& data_dir);
std::vector<McItem> load_arc(const std::filesystem::path& data_dir, const std::string& split);  // easy | challenge
std::vector<McItem> load_piqa(const std::filesystem::path& data_dir);
std::vector<McItem> load_winogrande(const std::filesystem::path& data_dir);
// Every subject's test questions, each with its subject's `n_shot` dev questions as exemplars.
std::vector<McItem> load_mmlu(const std::filesystem::path& data_dir, int n_shot);
std::vector<QaItem> load_gsm8k(const std::filesystem::path& data_dir, const std::string& split);

// RFC 4180 rows (quoted fields, embedded newlines, CRLF); throws Error naming the file on bad quoting.
std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& file);

}  // namespace uaqf::tasks
