#pragma once

// Loaders for the evaluation sets in their original (or documented) formats. Each item keeps a
// stable id; a malformed line is reported with its file and line number; a missing file names the
// expected path and the data set's public source.

#include <filesystem>
#include <string>
#include <string_view>
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

// Python's str.isspace() for one code point, and str.strip() on UTF-8 text (task templates strip).
bool python_isspace(char32_t c);
std::string python_strip(std::string_view text);

// Throws Error(kNotFound) naming the expected file and where the data set comes from.
void require_dataset_file(const std::filesystem::path& file, const std::string& dataset, const std::string& source);

std::vector<McItem> load_commonsense_qa(const std::filesystem::path& data_dir);
// HellaSwag as llama.cpp's 6-line text (DATA/hellaswag/hellaswag_val_full.txt): "{label}: {ctx}",
// tags already stripped, as llama-perplexity --hellaswag reads it.
std::vector<McItem> load_hellaswag_llamacpp(const std::filesystem::path& data_dir);
// HellaSwag from its original records (ctx_a, ctx_b, activity_label, endings, label; the release's
// hellaswag_val.jsonl or the Hugging Face rows), with lm-evaluation-harness's strings:
// preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()) -> " " + preprocess(ending).
std::vector<McItem> load_hellaswag_records(const std::filesystem::path& file);
std::filesystem::path hellaswag_records_file(
    const std::filesystem::path& data_dir);  // DATA/hellaswag/hellaswag_val.jsonl
// lm-eval's hellaswag preprocess(): strip, " [title]" -> ". ", "[...]" removed (within a line),
// "  " -> " " (one pass, left to right).
std::string hellaswag_preprocess(const std::string& text);
// Python's str.capitalize() on ASCII letters: the first upper case, the rest lower case.
std::string python_capitalize_ascii(const std::string& text);
std::vector<McItem> load_arc(const std::filesystem::path& data_dir, const std::string& split);  // easy | challenge
std::vector<McItem> load_piqa(const std::filesystem::path& data_dir);
std::vector<McItem> load_winogrande(const std::filesystem::path& data_dir);
// Every subject's test questions, each with its subject's `n_shot` dev questions as exemplars.
std::vector<McItem> load_mmlu(const std::filesystem::path& data_dir, int n_shot);
std::vector<QaItem> load_gsm8k(const std::filesystem::path& data_dir, const std::string& split);

// RFC 4180 rows (quoted fields, embedded newlines, CRLF); throws Error naming the file on bad quoting.
std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& file);

}  // namespace uaqf::tasks
