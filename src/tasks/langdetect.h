#pragma once

// Language detection as the Python package langdetect 1.0.9 does it (a port of Shuyo's
// language-detection): character 1-3-gram naive Bayes over its language profiles, with its text
// normalization and its 7 random restarts. The randomness is Python's (MT19937 seeded through
// init_by_array, random.gauss, random.choice), so a seed gives the verdicts Python's langdetect
// gives with DetectorFactory.seed set to that seed.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tasks/ifeval_unicode.h"

namespace uaqf::tasks::ifeval::detail {

class LanguageDetector {
 public:
  // Reads langdetect's package folder: profiles/ (one JSON file per language) and
  // utils/messages.properties (the normalization tables). Throws Error(kNotFound) when a part is
  // missing, Error(kInvalidArgument) when one is malformed.
  static LanguageDetector load(const std::filesystem::path& package_dir);

  // The most probable language's code ("en", "zh-cn"), "unknown" when no language's probability
  // exceeds 0.1, or nullopt when the text has no n-gram of any profile (langdetect raises
  // LangDetectException then).
  std::optional<std::string> detect(const U32& text, std::uint32_t seed) const;

  const std::vector<std::string>& languages() const { return languages_; }

 private:
  U32 prepare(const U32& text) const;                                    // Detector.append and cleaning_text
  std::vector<std::uint32_t> extract_ngrams(const U32& prepared) const;  // indices into probabilities_
  char32_t normalize(char32_t c) const;                                  // NGram.normalize

  std::vector<std::string> languages_;  // profile order: sorted by file name
  // Per n-gram (1-3 code points packed by pack_ngram): its index; probabilities_ holds
  // languages_.size() values per index, P(n-gram | language).
  std::unordered_map<std::uint64_t, std::uint32_t> ngram_index_;
  std::vector<double> probabilities_;
  std::unordered_map<char32_t, char32_t> cjk_map_;  // Kanji to its class's representative
  U32 latin1_excluded_;
  U32 vi_letters_;                // TO_NORMALIZE_VI_CHARS
  U32 vi_marks_;                  // DMARK_CLASS
  std::vector<U32> vi_combined_;  // NORMALIZED_VI_CHARS_<mark>, one per mark
};

}  // namespace uaqf::tasks::ifeval::detail
