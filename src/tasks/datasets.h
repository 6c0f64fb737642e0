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
  std::string where;  // "FILE:LINE" (or "FILE: row N") it was read from, for errors found later
};

struct QaItem {
  std::string id;
  std::string question;
  std::string answer;  // GSM8K: full worked answer ending in "#### N"
};

// One JSON object of a JSON-lines file and its line number (blank lines counted).
struct JsonLine {
  nlohmann::json value;
  std::size_t line = 0;
};

// The JSON objects of a file, one a line (blank lines skipped); throws Error naming file:line on a
// malformed line, invalid UTF-8 or a line that is not an object, and naming the file when it has none.
std::vector<JsonLine> read_jsonl_lines(const std::filesystem::path& file);
// The same, values only.
std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& file);

// Throws Error naming the item's file and line when an item has fewer than 2 choices, its gold
// index is outside its choices, or a choice's text is longer than `max_bytes`; and naming the
// task when there are no items.
void check_mc_items(const std::string& task, const std::vector<McItem>& items, std::size_t max_bytes);

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
