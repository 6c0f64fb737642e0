#include "tasks/calibration.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"
#include "tasks/datasets.h"

namespace uaqf::tasks {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxCalibrationBytes = uint64_t{1} << 30;

struct NamedSourceFile {
  const char* name;
  const char* description;
  const char* file;  // under the data folder
};

// gsm8k-* are read as questions with their worked answers, like the training data of a chat model;
// the others are plain text files.
constexpr NamedSourceFile kNamedSources[] = {
    {"wikitext-valid", "WikiText-2 validation split (raw)", "wikitext-2-raw/wiki.valid.raw"},
    {"wikitext-test", "WikiText-2 test split (raw): the default perplexity corpus", "wikitext-2-raw/wiki.test.raw"},
    {"gsm8k-train", "GSM8K training problems with their worked answers", "gsm8k/train.jsonl"},
    {"gsm8k-test", "GSM8K test problems with their worked answers", "gsm8k/test.jsonl"},
    {"tinystories", "TinyStories validation excerpt", "tinystories/tinystories_val_excerpt.txt"},
};

std::string qa_text(const fs::path& file) {
  std::string text;
  for (const auto& item : read_jsonl(file)) {
    if (!item.contains("question") || !item.contains("answer")) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: a line without question and answer", file.string()));
    }
    text += fmt::format("Question: {}\nAnswer: {}\n\n", item["question"].get<std::string>(),
                        item["answer"].get<std::string>());
  }
  return text;
}

// FNV-1a over the n-gram's words, separated, so that ("ab", "c") and ("a", "bc") differ.
uint64_t hash_words(const std::vector<std::string_view>& words, std::size_t first, std::size_t n) {
  uint64_t hash = 1469598103934665603ULL;
  for (std::size_t i = first; i < first + n; ++i) {
    for (const char c : words[i]) {
      hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    }
    hash = (hash ^ 0x1FU) * 1099511628211ULL;
  }
  return hash;
}

}  // namespace

const std::vector<NamedCalibrationSource>& named_calibration_sources() {
  static const std::vector<NamedCalibrationSource> sources = [] {
    std::vector<NamedCalibrationSource> out;
    for (const auto& s : kNamedSources) {
      out.push_back({s.name, s.description});
    }
    return out;
  }();
  return sources;
}

bool is_named_calibration_source(const std::string& source) {
  return std::any_of(std::begin(kNamedSources), std::end(kNamedSources),
                     [&](const NamedSourceFile& s) { return source == s.name; });
}

CalibrationText load_calibration(const std::string& name, const std::string& source, const fs::path& data_dir) {
  CalibrationText calibration{.name = name, .source = source};
  const auto* named = std::find_if(std::begin(kNamedSources), std::end(kNamedSources),
                                   [&](const NamedSourceFile& s) { return source == s.name; });
  if (named != std::end(kNamedSources)) {
    const fs::path file = data_dir / named->file;
    require_dataset_file(file, named->name, "the shared data folder (--data-dir)");
    calibration.files = {file};
    calibration.text = file.extension() == ".jsonl" ? qa_text(file) : read_text_file(file, kMaxCalibrationBytes);
  } else {
    require_readable_file(source, fmt::format("calibration text '{}'", name).c_str());
    calibration.files = {source};
    calibration.text = read_text_file(source, kMaxCalibrationBytes);
  }
  if (calibration.text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("calibration text '{}' ({}) is empty", name, source));
  }
  return calibration;
}

std::vector<uint64_t> ngram_hashes(const std::string& text) {
  std::string lowered(text.size(), ' ');
  std::transform(text.begin(), text.end(), lowered.begin(), [](unsigned char c) {
    // Bytes of multi-byte UTF-8 characters count as word characters: they are letters mostly.
    return std::isalnum(c) != 0 || c >= 0x80 ? static_cast<char>(std::tolower(c)) : ' ';
  });
  std::vector<std::string_view> words;
  const std::string_view all(lowered);
  std::size_t i = 0;
  while (i < all.size()) {
    const std::size_t start = all.find_first_not_of(' ', i);
    if (start == std::string_view::npos) {
      break;
    }
    const std::size_t end = std::min(all.find(' ', start), all.size());
    words.push_back(all.substr(start, end - start));
    i = end;
  }
  std::vector<uint64_t> hashes;
  const auto n = static_cast<std::size_t>(kOverlapNgramWords);
  for (std::size_t first = 0; first + n <= words.size(); ++first) {
    hashes.push_back(hash_words(words, first, n));
  }
  return hashes;
}

NgramIndex::NgramIndex(const std::string& text) : hashes_(ngram_hashes(text)) {
  std::sort(hashes_.begin(), hashes_.end());
  hashes_.erase(std::unique(hashes_.begin(), hashes_.end()), hashes_.end());
}

bool NgramIndex::contains(uint64_t hash) const { return std::binary_search(hashes_.begin(), hashes_.end(), hash); }

Overlap measure_overlap(const NgramIndex& calibration, const std::string& evaluation,
                        const std::vector<std::string>& units) {
  Overlap overlap{.evaluation = evaluation, .units = units.size()};
  for (const auto& unit : units) {
    const auto hashes = ngram_hashes(unit);
    const auto shared = static_cast<std::size_t>(
        std::count_if(hashes.begin(), hashes.end(), [&](uint64_t h) { return calibration.contains(h); }));
    overlap.ngrams += hashes.size();
    overlap.ngrams_shared += shared;
    if (shared > 0) {
      if (overlap.units_overlapping == 0) {
        overlap.example = unit.substr(0, 80);
      }
      ++overlap.units_overlapping;
    }
  }
  return overlap;
}

}  // namespace uaqf::tasks
