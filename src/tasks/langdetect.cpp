// langdetect 1.0.9 (detector.py, detector_factory.py, utils/ngram.py) step by step, with Python's
// random module underneath so that a seed reproduces Python's verdicts. Floating-point operations
// keep Python's order (this file is compiled without FMA contraction).

#include "tasks/langdetect.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tasks/python_random.h"

namespace uaqf::tasks::ifeval::detail {
namespace {

namespace fs = std::filesystem;

// Detector's constants.
constexpr double kAlphaDefault = 0.5;
constexpr double kAlphaWidth = 0.05;
constexpr int kIterationLimit = 1000;
constexpr double kProbThreshold = 0.1;
constexpr double kConvThreshold = 0.99999;
constexpr double kBaseFreq = 10000;
constexpr int kTrials = 7;
constexpr std::size_t kMaxTextLength = 10000;

// 1-3 code points (none of them U+0000) as one key.
std::uint64_t pack_ngram(const char32_t* begin, std::size_t n) {
  std::uint64_t key = 0;
  for (std::size_t k = 0; k < n; ++k) key = (key << 21) | static_cast<std::uint64_t>(begin[k]);
  return key;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, fmt::format("langdetect: cannot read {}", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// messages.properties: key=value lines whose values use \uXXXX escapes (decoded as Python's
// unicode_escape does for them).
std::unordered_map<std::string, U32> read_messages(const fs::path& file) {
  std::unordered_map<std::string, U32> messages;
  std::istringstream lines(read_text(file));
  for (std::string line; std::getline(lines, line);) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string raw = line.substr(eq + 1);
    U32 value;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\') {
        const std::string hex = i + 5 < raw.size() && raw[i + 1] == 'u' ? raw.substr(i + 2, 4) : "";
        if (hex.size() != 4 || !std::all_of(hex.begin(), hex.end(),
                                            [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; })) {
          throw Error(ErrorCode::kInvalidArgument, fmt::format("langdetect: {}: {} holds an escape other than \\uXXXX",
                                                               file.string(), line.substr(0, eq)));
        }
        value.push_back(static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
        i += 5;
      } else if (raw[i] != '\r' && raw[i] != '\n') {
        value.push_back(static_cast<unsigned char>(raw[i]));
      }
    }
    messages[line.substr(0, eq)] = std::move(value);
  }
  return messages;
}

bool ascii_alnum_or(char32_t c, std::u32string_view extra) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || extra.find(c) != kNpos;
}

// Length of the match of https?://[-_.?&~;+=/#0-9A-Za-z]{1,2076} at i, or 0.
std::size_t url_at(const U32& s, std::size_t i) {
  std::size_t p = i;
  for (char32_t c : std::u32string_view(U"http")) {
    if (p >= s.size() || s[p] != c) return 0;
    ++p;
  }
  if (p < s.size() && s[p] == 's') ++p;
  for (char32_t c : std::u32string_view(U"://")) {
    if (p >= s.size() || s[p] != c) return 0;
    ++p;
  }
  std::size_t n = 0;
  while (p + n < s.size() && n < 2076 && ascii_alnum_or(s[p + n], U"-_.?&~;+=/#")) ++n;
  return n == 0 ? 0 : p + n - i;
}

// Length of the match of [-_.0-9A-Za-z]{1,64}@[-_0-9A-Za-z]{1,255}[-_.0-9A-Za-z]{1,255} at i, or 0.
std::size_t mail_at(const U32& s, std::size_t i) {
  std::size_t local = 0;
  while (i + local < s.size() && local <= 64 && ascii_alnum_or(s[i + local], U"-_.")) ++local;
  if (local == 0 || local > 64 || i + local >= s.size() || s[i + local] != '@') return 0;
  const std::size_t host = i + local + 1;
  std::size_t first = 0;
  while (host + first < s.size() && first < 255 && ascii_alnum_or(s[host + first], U"-_")) ++first;
  if (first == 0) return 0;
  std::size_t second = 0;
  while (host + first + second < s.size() && second < 255 && ascii_alnum_or(s[host + first + second], U"-_.")) {
    ++second;
  }
  if (second == 0) {  // the first part gives its last character back
    if (first == 1) return 0;
    return host + first - i;
  }
  return host + first + second - i;
}

// re.sub(pattern, ' ', text) for a pattern given by its match length at a position.
U32 replace_matches(const U32& text, std::size_t (*match_at)(const U32&, std::size_t)) {
  U32 out;
  for (std::size_t i = 0; i < text.size();) {
    if (const std::size_t n = match_at(text, i); n != 0) {
      out.push_back(' ');
      i += n;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

bool in_block(char32_t c, char32_t lo, char32_t hi) { return c >= lo && c <= hi; }

}  // namespace

LanguageDetector LanguageDetector::load(const fs::path& package_dir) {
  const fs::path profiles = package_dir / "profiles";
  const fs::path messages_file = package_dir / "utils" / "messages.properties";
  std::error_code ec;
  if (!fs::is_directory(profiles, ec) || !fs::is_regular_file(messages_file, ec)) {
    throw Error(ErrorCode::kNotFound,
                fmt::format("langdetect's profiles are not in {} (it needs profiles/ and utils/messages.properties): "
                            "install Debian's python3-langdetect (scripts/setup-deps.sh) or set UAQF_LANGDETECT_DIR",
                            package_dir.string()));
  }
  LanguageDetector detector;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(profiles)) {
    if (entry.is_regular_file() && entry.path().filename().string().front() != '.') files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.size() < 2)
    throw Error(ErrorCode::kNotFound, fmt::format("langdetect: no profiles in {}", profiles.string()));
  const std::size_t n_languages = files.size();
  for (std::size_t index = 0; index < n_languages; ++index) {
    nlohmann::json profile;
    try {
      profile = nlohmann::json::parse(read_text(files[index]));
      detector.languages_.push_back(profile.at("name").get<std::string>());
      const auto n_words = profile.at("n_words").get<std::vector<double>>();
      for (const auto& [word, freq] : profile.at("freq").items()) {
        const U32 gram = decode(word);
        if (gram.empty() || gram.size() > 3) continue;  // never an n-gram of a text
        auto [it, added] = detector.ngram_index_.try_emplace(pack_ngram(gram.data(), gram.size()),
                                                             static_cast<std::uint32_t>(detector.ngram_index_.size()));
        if (added) detector.probabilities_.resize(detector.probabilities_.size() + n_languages, 0.0);
        detector.probabilities_[it->second * n_languages + index] =
            1.0 * freq.get<double>() / n_words.at(gram.size() - 1);
      }
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("langdetect: profile {} is malformed: {}", files[index].string(), e.what()));
    }
  }
  auto messages = read_messages(messages_file);
  auto message = [&](const std::string& key) -> const U32& {
    auto it = messages.find(key);
    if (it == messages.end()) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("langdetect: {} lacks {}", messages_file.string(), key));
    }
    return it->second;
  };
  for (const auto& [key, chars] : messages) {
    if (key.rfind("NGram.KANJI_", 0) != 0 || chars.empty()) continue;
    for (char32_t c : chars) detector.cjk_map_[c] = chars.front();  // no character is in two classes
  }
  detector.latin1_excluded_ = message("NGram.LATIN1_EXCLUDE");
  detector.vi_letters_ = message("TO_NORMALIZE_VI_CHARS");
  detector.vi_marks_ = message("DMARK_CLASS");
  for (const char* mark : {"0300", "0301", "0303", "0309", "0323"}) {
    detector.vi_combined_.push_back(message(fmt::format("NORMALIZED_VI_CHARS_{}", mark)));
  }
  return detector;
}

char32_t LanguageDetector::normalize(char32_t c) const {
  if (c <= 0x7F) return (c < 'A' || (c > 'Z' && c < 'a') || c > 'z') ? U' ' : c;
  if (c <= 0xFF) return latin1_excluded_.find(c) != kNpos ? U' ' : c;
  if (in_block(c, 0x180, 0x24F)) {  // Romanian comma below to cedilla
    if (c == 0x219) return 0x15F;
    if (c == 0x21B) return 0x163;
    return c;
  }
  if (in_block(c, 0x2000, 0x206F)) return U' ';  // General Punctuation
  if (in_block(c, 0x600, 0x6FF)) return c == 0x6CC ? char32_t{0x64A} : c;
  if (in_block(c, 0x1E00, 0x1EFF)) return c >= 0x1EA0 ? char32_t{0x1EC3} : c;
  if (in_block(c, 0x3040, 0x309F)) return 0x3042;
  if (in_block(c, 0x30A0, 0x30FF)) return 0x30A2;
  if (in_block(c, 0x3100, 0x312F) || in_block(c, 0x31A0, 0x31BF)) return 0x3105;
  if (in_block(c, 0x4E00, 0x9FFF)) {
    auto it = cjk_map_.find(c);
    return it != cjk_map_.end() ? it->second : c;
  }
  if (in_block(c, 0xAC00, 0xD7AF)) return 0xAC00;
  return c;
}

U32 LanguageDetector::prepare(const U32& raw) const {
  const U32 no_links = replace_matches(replace_matches(raw, url_at), mail_at);
  U32 text;  // NGram.normalize_vi: a letter and a combining mark become one precomposed letter
  for (std::size_t i = 0; i < no_links.size(); ++i) {
    const std::size_t letter = vi_letters_.find(no_links[i]);
    const std::size_t mark = i + 1 < no_links.size() ? vi_marks_.find(no_links[i + 1]) : kNpos;
    if (letter != kNpos && mark != kNpos) {
      text.push_back(vi_combined_[mark][letter]);
      ++i;
    } else {
      text.push_back(no_links[i]);
    }
  }
  U32 kept;  // runs of spaces collapse; only the first 10000 characters are read
  char32_t previous = 0;
  for (std::size_t i = 0; i < std::min(text.size(), kMaxTextLength); ++i) {
    if (text[i] != ' ' || previous != ' ') kept.push_back(text[i]);
    previous = text[i];
  }
  // cleaning_text: a text mostly in another script loses its Latin letters.
  std::size_t latin = 0;
  std::size_t non_latin = 0;
  for (char32_t c : kept) {
    if (c >= 'A' && c <= 'z') {
      ++latin;
    } else if (c >= 0x300) {
      // langdetect means to skip Latin Extended Additional here, but compares unicode_block()'s
      // number with the block's name, so that every character from U+0300 counts.
      ++non_latin;
    }
  }
  if (latin * 2 >= non_latin) return kept;
  U32 cleaned;
  for (char32_t c : kept) {
    if (c < 'A' || c > 'z') cleaned.push_back(c);
  }
  return cleaned;
}

std::vector<std::uint32_t> LanguageDetector::extract_ngrams(const U32& prepared) const {
  std::vector<std::uint32_t> found;
  U32 grams = U" ";
  bool capital_word = false;
  for (char32_t raw : prepared) {  // NGram.add_char, then the n-grams ending at it
    const char32_t c = normalize(raw);
    const char32_t last = grams.back();
    if (last == ' ') {
      grams = U" ";
      capital_word = false;
      if (c == ' ') continue;
    } else if (grams.size() >= 3) {
      grams.erase(0, 1);
    }
    grams.push_back(c);
    if (!is_upper(c)) {
      capital_word = false;
    } else if (is_upper(last)) {
      capital_word = true;
    }
    if (capital_word) continue;
    for (std::size_t n = 1; n <= 3 && n <= grams.size(); ++n) {
      const char32_t* begin = grams.data() + grams.size() - n;
      if (n == 1 && *begin == ' ') continue;
      auto it = ngram_index_.find(pack_ngram(begin, n));
      if (it != ngram_index_.end()) found.push_back(it->second);
    }
  }
  return found;
}

std::optional<std::string> LanguageDetector::detect(const U32& text, std::uint32_t seed) const {
  const std::vector<std::uint32_t> ngrams = extract_ngrams(prepare(text));
  if (ngrams.empty()) return std::nullopt;
  const std::size_t n = languages_.size();
  std::vector<double> total(n, 0.0);
  PythonRandom random(seed);
  std::vector<double> prob(n);
  for (int trial = 0; trial < kTrials; ++trial) {
    std::fill(prob.begin(), prob.end(), 1.0 / static_cast<double>(n));
    const double alpha = kAlphaDefault + random.gauss() * kAlphaWidth;
    const double weight = alpha / kBaseFreq;
    for (int i = 0;; ++i) {
      const double* word = &probabilities_[std::size_t{ngrams[random.below(ngrams.size())]} * n];
      for (std::size_t k = 0; k < n; ++k) prob[k] *= weight + word[k];
      if (i % 5 == 0) {
        double sum = 0.0;
        for (double p : prob) sum += p;
        double max = 0.0;
        for (double& p : prob) {
          p = p / sum;
          max = std::max(max, p);
        }
        if (max > kConvThreshold || i >= kIterationLimit) break;
      }
    }
    for (std::size_t k = 0; k < n; ++k) total[k] += prob[k] / kTrials;
  }
  // _sort_probability: above the threshold, by probability (a stable sort, as Python's).
  std::vector<std::size_t> order;
  for (std::size_t k = 0; k < n; ++k) {
    if (total[k] > kProbThreshold) order.push_back(k);
  }
  if (order.empty()) return std::string("unknown");
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return total[a] > total[b]; });
  return languages_[order.front()];
}

}  // namespace uaqf::tasks::ifeval::detail
