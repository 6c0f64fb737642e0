#include "tasks/datasets.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"

namespace uaqf::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    lines.push_back(line);
  }
  return lines;
}

template <typename T>
T field(const json& object, const char* key, const fs::path& file, std::size_t line) {
  try {
    return object.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}:{}: field '{}' is missing or has the wrong type", file.string(), line, key));
  }
}

// MMLU subject file name -> "abstract algebra".
std::string subject_name(const std::string& stem, const std::string& suffix) {
  std::string name = stem.substr(0, stem.size() - suffix.size());
  std::replace(name.begin(), name.end(), '_', ' ');
  return name;
}

// lm-evaluation-harness's mmlu: "{{question.strip()}}\nA. {{choices[0]}}\n...\nD. ...\nAnswer:".
std::string mmlu_question(const std::vector<std::string>& row) {
  return fmt::format("{}\nA. {}\nB. {}\nC. {}\nD. {}\nAnswer:", python_strip(row[0]), row[1], row[2], row[3], row[4]);
}

// The code point that starts at text[i] and its length in bytes (a stray byte counts as itself).
std::pair<char32_t, std::size_t> decode_utf8(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  const std::size_t length = lead < 0x80           ? 1
                             : (lead >> 5) == 0x6  ? 2
                             : (lead >> 4) == 0xE  ? 3
                             : (lead >> 3) == 0x1E ? 4
                                                   : 1;
  if (length == 1 || i + length > text.size()) {
    return {lead, 1};
  }
  char32_t c = lead & (0x7F >> length);
  for (std::size_t k = 1; k < length; ++k) {
    c = (c << 6) | (byte(i + k) & 0x3F);
  }
  return {c, length};
}

}  // namespace

bool python_isspace(char32_t c) {
  // Python's str.isspace(): the Unicode White_Space characters and the separators U+001C-U+001F.
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string python_strip(std::string_view text) {
  std::size_t begin = 0;
  while (begin < text.size()) {
    const auto [c, length] = decode_utf8(text, begin);
    if (!python_isspace(c)) break;
    begin += length;
  }
  std::size_t end = begin;  // one past the last non-space code point
  for (std::size_t i = begin; i < text.size();) {
    const auto [c, length] = decode_utf8(text, i);
    i += length;
    if (!python_isspace(c)) end = i;
  }
  return std::string(text.substr(begin, end - begin));
}

void require_dataset_file(const fs::path& file, const std::string& dataset, const std::string& source) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw Error(ErrorCode::kNotFound,
                fmt::format("{} data not found: expected {} (public source: {})", dataset, file.string(), source));
  }
}

std::vector<JsonLine> read_jsonl_lines(const fs::path& file) {
  const std::string text = read_text_file(file);
  std::vector<JsonLine> rows;
  std::size_t number = 0;
  for (std::size_t begin = 0; begin < text.size();) {
    std::size_t end = text.find('\n', begin);
    end = end == std::string::npos ? text.size() : end;
    std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    ++number;  // every line counts, blank ones too, so that errors name the line an editor shows
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      continue;
    }
    try {
      rows.push_back({json::parse(line), number});
    } catch (const json::exception& error) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: malformed JSON line ({})", file.string(), number, error.what()));
    }
    if (!rows.back().value.is_object()) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: not a JSON object", file.string(), number));
    }
  }
  if (rows.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: no items (the file is empty)", file.string()));
  }
  return rows;
}

std::vector<json> read_jsonl(const fs::path& file) {
  std::vector<json> values;
  for (auto& row : read_jsonl_lines(file)) {
    values.push_back(std::move(row.value));
  }
  return values;
}

void check_mc_items(const std::string& task, const std::vector<McItem>& items, std::size_t max_bytes) {
  if (items.empty()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("task {}: its data has no items", task));
  }
  for (const auto& item : items) {
    const auto n = static_cast<int>(item.choices.size());
    if (n < 2) {
      throw Error(
          ErrorCode::kInvalidArgument,
          fmt::format("{}: item {} has {} choices; a multiple-choice item needs at least 2", item.where, item.id, n));
    }
    if (item.gold < 0 || item.gold >= n) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: item {} has gold index {}, outside its {} choices (0-{})", item.where, item.id,
                              item.gold, n, n - 1));
    }
    for (const auto& choice : item.choices) {
      if (choice.context.size() + choice.continuation.size() > max_bytes) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{}: item {} is {} bytes long, above the limit of {} bytes per item "
                                "([quality] max_item_bytes)",
                                item.where, item.id, choice.context.size() + choice.continuation.size(), max_bytes));
      }
    }
  }
}

std::vector<std::vector<std::string>> read_csv(const fs::path& file) {
  const std::string text = read_text_file(file);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false;
  std::size_t line = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        line += c == '\n' ? 1 : 0;
        cell += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(cell));
      cell.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
        ++i;
      }
      row.push_back(std::move(cell));
      cell.clear();
      rows.push_back(std::move(row));
      row.clear();
      ++line;
    } else {
      cell += c;
    }
  }
  if (quoted) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: unterminated quoted field", file.string(), line));
  }
  if (!cell.empty() || !row.empty()) {
    row.push_back(std::move(cell));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<McItem> load_commonsense_qa(const fs::path& data_dir) {
  const fs::path file = data_dir / "commonsenseqa" / "dev_rand_split.jsonl";
  require_dataset_file(file, "CommonsenseQA", "the CommonsenseQA release, dev_rand_split.jsonl");
  std::vector<McItem> items;
  for (const auto& [row, line] : read_jsonl_lines(file)) {
    const auto question = field<json>(row, "question", file, line);
    const auto choices = field<json>(question, "choices", file, line);
    if (!choices.is_array()) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: 'choices' must be a list", file.string(), line));
    }
    std::string prompt = fmt::format("Question: {}", field<std::string>(question, "stem", file, line));
    // lm-evaluation-harness's commonsense_qa: the options are listed, the answer is a letter.
    std::string listed;
    McItem item;
    item.id = field<std::string>(row, "id", file, line);
    item.where = fmt::format("{}:{}", file.string(), line);
    item.gold = -1;  // an answer key that matches no label is an error, not choice 0
    const std::string key = field<std::string>(row, "answerKey", file, line);
    for (std::size_t c = 0; c < choices.size(); ++c) {
      const std::string label = field<std::string>(choices[c], "label", file, line);
      listed += fmt::format("\n{}. {}", label, field<std::string>(choices[c], "text", file, line));
      if (label == key) {
        item.gold = static_cast<int>(c);
      }
    }
    const std::string context = prompt + listed + "\nAnswer:";
    for (std::size_t c = 0; c < choices.size(); ++c) {
      item.choices.push_back({context, " " + field<std::string>(choices[c], "label", file, line)});
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::string hellaswag_preprocess(const std::string& raw) {
  std::string text = python_strip(raw);
  std::string titled;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 8, " [title]") == 0) {
      titled += ". ";
      i += 8;
    } else {
      titled += text[i++];
    }
  }
  // re.sub("\\[.*?\\]", "", text): from a "[" to the first "]" after it, where no newline comes
  // between ("." does not match one); an unclosed "[" stays.
  std::string untagged;
  for (std::size_t i = 0; i < titled.size();) {
    if (titled[i] == '[') {
      const std::size_t close = titled.find_first_of("]\n", i + 1);
      if (close != std::string::npos && titled[close] == ']') {
        i = close + 1;
        continue;
      }
    }
    untagged += titled[i++];
  }
  std::string out;
  for (std::size_t i = 0; i < untagged.size();) {
    if (untagged.compare(i, 2, "  ") == 0) {
      out += ' ';
      i += 2;
    } else {
      out += untagged[i++];
    }
  }
  return out;
}

std::string python_capitalize_ascii(const std::string& text) {
  std::string out = text;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto c = static_cast<unsigned char>(out[i]);
    out[i] = static_cast<char>(i == 0 ? std::toupper(c) : std::tolower(c));
  }
  return out;
}

fs::path hellaswag_records_file(const fs::path& data_dir) { return data_dir / "hellaswag" / "hellaswag_val.jsonl"; }

std::vector<McItem> load_hellaswag_records(const fs::path& file) {
  require_dataset_file(file, "HellaSwag (original records)",
                       "rowanz/hellaswag data/hellaswag_val.jsonl, or Hugging Face Rowan/hellaswag's validation rows "
                       "as JSON lines; llama.cpp's text format is task hellaswag_llamacpp");
  std::vector<McItem> items;
  std::size_t row_number = 0;
  for (const auto& [row, line] : read_jsonl_lines(file)) {
    McItem item;
    item.id = fmt::format("hellaswag-{}", row_number++);
    item.where = fmt::format("{}:{}", file.string(), line);
    const json label = field<json>(row, "label", file, line);
    // The release stores the label as a number, the Hugging Face rows as a string.
    if (label.is_number_integer()) {
      item.gold = label.get<int>();
    } else if (label.is_string() && !label.get<std::string>().empty() &&
               label.get<std::string>().find_first_not_of("0123456789") == std::string::npos) {
      item.gold = std::stoi(label.get<std::string>());
    } else {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: label {} is not an index", file.string(), line, label.dump()));
    }
    const std::string ctx = field<std::string>(row, "ctx_a", file, line) + " " +
                            python_capitalize_ascii(field<std::string>(row, "ctx_b", file, line));
    const std::string query = hellaswag_preprocess(field<std::string>(row, "activity_label", file, line) + ": " + ctx);
    for (const auto& ending : field<std::vector<std::string>>(row, "endings", file, line)) {
      item.choices.push_back({query, " " + hellaswag_preprocess(ending)});
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::vector<McItem> load_hellaswag_llamacpp(const fs::path& data_dir) {
  const fs::path file = data_dir / "hellaswag" / "hellaswag_val_full.txt";
  require_dataset_file(file, "HellaSwag", "the HellaSwag validation set in llama.cpp's 6-line text format");
  const auto lines = read_lines(file);
  if (lines.size() % 6 != 0 && !(lines.size() % 6 == 1 && lines.back().empty())) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: {} lines, not a multiple of 6 (context, label, 4 endings)", file.string(), lines.size()));
  }
  std::vector<McItem> items;
  for (std::size_t i = 0; i + 5 < lines.size(); i += 6) {
    McItem item;
    item.id = fmt::format("hellaswag-{}", i / 6);
    item.where = fmt::format("{}:{}", file.string(), i + 1);
    try {
      item.gold = std::stoi(lines[i + 1]);
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: label '{}' is not a number", file.string(), i + 2, lines[i + 1]));
    }
    if (item.gold < 0 || item.gold > 3) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: label {} is not 0-3", file.string(), i + 2, item.gold));
    }
    for (std::size_t e = 0; e < 4; ++e) {
      item.choices.push_back({lines[i], " " + lines[i + 2 + e]});
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::vector<McItem> load_arc(const fs::path& data_dir, const std::string& split) {
  const fs::path file = data_dir / "arc" / fmt::format("arc_{}.jsonl", split);
  require_dataset_file(file, fmt::format("ARC-{}", split), "AI2 ARC test split (MosaicML gauntlet jsonl)");
  std::vector<McItem> items;
  std::size_t row_number = 0;
  for (const auto& [row, line] : read_jsonl_lines(file)) {
    ++row_number;
    McItem item;
    item.id = fmt::format("arc-{}-{}", split, row_number);
    item.where = fmt::format("{}:{}", file.string(), line);
    item.gold = field<int>(row, "gold", file, line);
    // The file's query is already "Question: ..."; lm-evaluation-harness appends "\nAnswer:".
    const std::string context = field<std::string>(row, "query", file, line) + "\nAnswer:";
    for (const auto& choice : field<std::vector<std::string>>(row, "choices", file, line)) {
      item.choices.push_back({context, " " + choice});
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::vector<McItem> load_piqa(const fs::path& data_dir) {
  const fs::path file = data_dir / "piqa" / "valid.jsonl";
  const fs::path labels_file = data_dir / "piqa" / "valid-labels.lst";
  require_dataset_file(file, "PIQA", "the PIQA release, valid.jsonl");
  require_dataset_file(labels_file, "PIQA labels", "the PIQA release, valid-labels.lst");
  const auto rows = read_jsonl_lines(file);
  const auto labels = read_lines(labels_file);
  if (labels.size() < rows.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{} has {} labels for {} questions", labels_file.string(), labels.size(), rows.size()));
  }
  std::vector<McItem> items;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    McItem item;
    item.id = fmt::format("piqa-{}", i);
    const auto& [row, line] = rows[i];
    item.where = fmt::format("{}:{}", file.string(), line);
    if (labels[i] != "0" && labels[i] != "1") {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: label '{}' is not 0 or 1", labels_file.string(), i + 1, labels[i]));
    }
    item.gold = labels[i] == "1" ? 1 : 0;
    const std::string context = "Question: " + field<std::string>(row, "goal", file, line) + "\nAnswer:";
    item.choices.push_back({context, " " + field<std::string>(row, "sol1", file, line)});
    item.choices.push_back({context, " " + field<std::string>(row, "sol2", file, line)});
    items.push_back(std::move(item));
  }
  return items;
}

std::vector<McItem> load_winogrande(const fs::path& data_dir) {
  const fs::path file = data_dir / "winogrande" / "winogrande.jsonl";
  require_dataset_file(file, "WinoGrande", "WinoGrande dev (MosaicML gauntlet jsonl)");
  std::vector<McItem> items;
  std::size_t row_number = 0;
  for (const auto& [row, line] : read_jsonl_lines(file)) {
    ++row_number;
    McItem item;
    item.id = fmt::format("winogrande-{}", row_number);
    item.where = fmt::format("{}:{}", file.string(), line);
    item.gold = field<int>(row, "gold", file, line);
    // Partial scoring (lm-evaluation-harness): each option fills the blank; the same rest of the
    // sentence is scored after each.
    const std::string rest = " " + field<std::string>(row, "continuation", file, line);
    for (const auto& context : field<std::vector<std::string>>(row, "context_options", file, line)) {
      item.choices.push_back({context, rest});
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::vector<McItem> load_mmlu(const fs::path& data_dir, int n_shot) {
  const fs::path test_dir = data_dir / "mmlu" / "test";
  require_dataset_file(test_dir, "MMLU", "the MMLU (hendrycks/test) data archive, data/test/*.csv");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(test_dir)) {
    if (entry.path().extension() == ".csv") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<McItem> items;
  for (const auto& file : files) {
    const std::string stem = file.stem().string();
    const std::string subject = subject_name(stem, "_test");
    std::string context =
        fmt::format("The following are multiple choice questions (with answers) about {}.\n\n", subject);
    const fs::path dev_file = data_dir / "mmlu" / "dev" / (stem.substr(0, stem.size() - 5) + "_dev.csv");
    if (n_shot > 0) {
      require_dataset_file(dev_file, "MMLU dev", "the MMLU data archive, data/dev/*.csv");
      const auto dev = read_csv(dev_file);
      for (std::size_t i = 0; i < dev.size() && static_cast<int>(i) < n_shot; ++i) {
        if (dev[i].size() != 6) {
          throw Error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: row {} has {} fields, expected 6", dev_file.string(), i + 1, dev[i].size()));
        }
        context += mmlu_question(dev[i]) + " " + dev[i][5] + "\n\n";
      }
    }
    const auto rows = read_csv(file);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].size() != 6) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{}: row {} has {} fields, expected 6", file.string(), i + 1, rows[i].size()));
      }
      McItem item;
      item.id = fmt::format("mmlu-{}-{}", subject, i);
      item.where = fmt::format("{}: row {}", file.string(), i + 1);
      const std::string answer = rows[i][5];
      item.gold = answer.empty() ? -1 : answer[0] - 'A';
      if (item.gold < 0 || item.gold > 3) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{}: row {} has answer '{}', not A-D", file.string(), i + 1, answer));
      }
      const std::string full_context = context + mmlu_question(rows[i]);
      for (const char* letter : {" A", " B", " C", " D"}) {
        item.choices.push_back({full_context, letter});
      }
      items.push_back(std::move(item));
    }
  }
  return items;
}

std::vector<QaItem> load_gsm8k(const fs::path& data_dir, const std::string& split) {
  const fs::path file = data_dir / "gsm8k" / (split + ".jsonl");
  require_dataset_file(file, "GSM8K", "openai/grade-school-math, grade_school_math/data/" + split + ".jsonl");
  std::vector<QaItem> items;
  for (const auto& [row, line] : read_jsonl_lines(file)) {
    items.push_back({fmt::format("gsm8k-{}-{}", split, items.size()), field<std::string>(row, "question", file, line),
                     field<std::string>(row, "answer", file, line)});
  }
  return items;
}

}  // namespace uaqf::tasks
