#pragma once

// Calibration texts for importance matrices, and the check that keeps them apart from what a
// study evaluates: calibrating on the text whose perplexity is then measured (or on a task's
// questions and answers) makes a calibrated variant look better than it is.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace uaqf::tasks {

// A calibration source: a text file, or a named source read from the data folder.
struct CalibrationText {
  std::string name;                          // the study's name for it ("wiki_train")
  std::string source;                        // "gsm8k-train", or the file's path
  std::vector<std::filesystem::path> files;  // what was read
  std::string text;
};

// The named sources: {name, what it is}.
struct NamedCalibrationSource {
  std::string name;
  std::string description;
};
const std::vector<NamedCalibrationSource>& named_calibration_sources();
bool is_named_calibration_source(const std::string& source);

// Reads `source` (a named source from `data_dir`, else a file). Throws Error naming the source
// when it is missing, empty or larger than 1 GiB.
CalibrationText load_calibration(const std::string& name, const std::string& source,
                                 const std::filesystem::path& data_dir);

// Word n-grams (lower-cased runs of letters and digits) of a text, hashed: what two texts share
// when one contains a passage of the other, whatever its spacing, case or punctuation.
inline constexpr int kOverlapNgramWords = 13;

class NgramIndex {
 public:
  explicit NgramIndex(const std::string& text);
  bool contains(uint64_t hash) const;
  std::size_t size() const { return hashes_.size(); }

 private:
  std::vector<uint64_t> hashes_;  // sorted, unique
};

std::vector<uint64_t> ngram_hashes(const std::string& text);

// How much of one evaluation input is in a calibration text.
struct Overlap {
  std::string evaluation;  // "perplexity corpus wiki.test.raw", "task gsm8k"
  std::size_t units = 0;   // lines of the corpus, items of a task
  std::size_t units_overlapping = 0;
  std::size_t ngrams = 0;
  std::size_t ngrams_shared = 0;
  std::string example;  // the start of the first overlapping unit
  double shared_fraction() const {
    return ngrams == 0 ? 0.0 : static_cast<double>(ngrams_shared) / static_cast<double>(ngrams);
  }
};

// `units` are the evaluation's lines or items.
Overlap measure_overlap(const NgramIndex& calibration, const std::string& evaluation,
                        const std::vector<std::string>& units);

}  // namespace uaqf::tasks
