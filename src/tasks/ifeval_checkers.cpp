// The IFEval instruction checkers, ported from instructions.py; the regex scanners come first,
// the checkers follow in the order of instructions_registry.py.

#include "tasks/ifeval_checkers.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"
#include "tasks/ifeval_reference.h"
#include "tasks/ifeval_words.h"

namespace uaqf::tasks::ifeval::detail {

// ---------------------------------------------------------------------------------------------
// Kwargs

Args::Args(const std::string& id, const nlohmann::json& kwargs) : id_(id), kwargs_(kwargs) {
  if (!kwargs.is_null() && !kwargs.is_object()) fail("kwargs", "must be an object");
}

std::int64_t Args::count(const char* key) const {
  const nlohmann::json& v = get(key);
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::int64_t>();
  fail(key, "must be a non-negative integer");
}

U32 Args::text(const char* key) const {
  const nlohmann::json& v = get(key);
  if (!v.is_string()) fail(key, "must be a string");
  return decode(v.get<std::string>());
}

std::vector<U32> Args::texts(const char* key) const {
  const nlohmann::json& v = get(key);
  if (!v.is_array()) fail(key, "must be a list of strings");
  std::vector<U32> out;
  for (const nlohmann::json& e : v) {
    if (!e.is_string()) fail(key, "must be a list of strings");
    out.push_back(decode(e.get<std::string>()));
  }
  return out;
}

bool Args::less_than(const char* key) const {
  const U32 relation = text(key);
  if (relation == U"less than") return true;
  if (relation == U"at least") return false;
  fail(key, "must be \"less than\" or \"at least\"");
}

void Args::fail(std::string_view key, std::string_view why) const {
  throw Error(ErrorCode::kInvalidArgument, fmt::format("ifeval: {}: kwarg '{}' {}", id_, key, why));
}

const nlohmann::json& Args::get(const char* key) const {
  if (kwargs_.is_object()) {
    auto it = kwargs_.find(key);
    if (it != kwargs_.end() && !it->is_null()) return *it;
  }
  fail(key, "is missing");
}

namespace {

bool compare(std::size_t actual, bool less_than, std::int64_t threshold) {
  const auto value = static_cast<std::int64_t>(actual);
  return less_than ? value < threshold : value >= threshold;
}

// ---------------------------------------------------------------------------------------------
// Scanners with the semantics of the original's regexes, and the English test of change_case.

// re.split(r"\s?\*\*\*\s?", value)
std::vector<U32> split_stars(const U32& s) {
  std::vector<U32> parts;
  std::size_t piece = 0;
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto stars = [&](std::size_t at) { return at + 3 <= n && s[at] == '*' && s[at + 1] == '*' && s[at + 2] == '*'; };
  while (i < n) {
    std::size_t body = kNpos;
    if (is_space(s[i]) && stars(i + 1)) {
      body = i + 1;
    } else if (stars(i)) {
      body = i;
    }
    if (body == kNpos) {
      ++i;
      continue;
    }
    std::size_t end = body + 3;
    if (end < n && is_space(s[end])) ++end;
    parts.push_back(s.substr(piece, i - piece));
    piece = i = end;
  }
  parts.push_back(s.substr(piece));
  return parts;
}

// re.findall(r"\[.*?\]", value): '.' stops at a newline.
std::size_t count_placeholders(const U32& s) {
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '[') {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < s.size() && s[j] != ']' && s[j] != '\n') ++j;
    if (j < s.size() && s[j] == ']') {
      ++count;
      i = j + 1;
    } else {
      ++i;
    }
  }
  return count;
}

// A tiny matcher for the postscript patterns: literal characters and optional whitespace (\s?).
struct PatternElement {
  char32_t c;  // 0: \s?
};

bool match_at(const U32& s, std::size_t pos, const std::vector<PatternElement>& pattern, std::size_t k) {
  if (k == pattern.size()) return true;
  if (pattern[k].c == 0) {
    if (pos < s.size() && is_space(s[pos]) && match_at(s, pos + 1, pattern, k + 1)) return true;
    return match_at(s, pos, pattern, k + 1);
  }
  return pos < s.size() && s[pos] == pattern[k].c && match_at(s, pos + 1, pattern, k + 1);
}

// re.findall(r"^\s*\*[^\*].*$", flags=M) plus re.findall(r"^\s*-.*$", flags=M).
std::size_t count_bullets(const U32& s, char32_t bullet) {
  std::size_t count = 0;
  std::size_t line = 0;
  const std::size_t n = s.size();
  while (line < n) {
    std::size_t p = line;
    while (p < n && is_space(s[p])) ++p;  // \s* may cross blank lines
    std::size_t end = kNpos;
    if (p < n && s[p] == bullet) {
      if (bullet == '-') {
        end = p + 1;
      } else if (p + 1 < n && s[p + 1] != '*') {
        end = p + 2;  // [^\*] may be the newline itself
      }
    }
    if (end == kNpos) {  // every line start up to p fails the same way
      const std::size_t nl = s.find(U'\n', p);
      if (nl == kNpos) break;
      line = nl + 1;
      continue;
    }
    ++count;
    const std::size_t nl = s.find(U'\n', end);
    if (nl == kNpos) break;
    line = nl + 1;
  }
  return count;
}

std::size_t count_highlights(const U32& s) {
  std::size_t count = 0;
  // r"\*[^\n\*]*\*"
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] != '*') {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < s.size() && s[j] != '\n' && s[j] != '*') ++j;
    if (j < s.size() && s[j] == '*') {
      if (!strip(s.substr(i + 1, j - i - 1)).empty()) ++count;
      i = j + 1;
    } else {
      ++i;
    }
  }
  // r"\*\*[^\n\*]*\*\*"
  for (std::size_t i = 0; i + 1 < s.size();) {
    if (s[i] != '*' || s[i + 1] != '*') {
      ++i;
      continue;
    }
    std::size_t j = i + 2;
    while (j < s.size() && s[j] != '\n' && s[j] != '*') ++j;
    if (j + 1 < s.size() && s[j] == '*' && s[j + 1] == '*') {
      if (!strip(s.substr(i + 2, j - i - 2)).empty()) ++count;
      i = j + 2;
    } else {
      ++i;
    }
  }
  return count;
}

// len(re.split(r"\s?" + splitter + r"\s?\d+\s?", value)) - 1
std::size_t count_sections(const U32& s, const U32& splitter) {
  std::size_t count = 0;
  if (splitter.empty()) return 0;
  for (std::size_t at = s.find(splitter); at != kNpos;) {
    std::size_t p = at + splitter.size();
    if (p < s.size() && is_space(s[p]) && p + 1 < s.size() && is_digit(s[p + 1])) ++p;
    if (p < s.size() && is_digit(s[p])) {
      while (p < s.size() && is_digit(s[p])) ++p;
      ++count;
      at = s.find(splitter, p);
    } else {
      at = s.find(splitter, at + 1);
    }
  }
  return count;
}

// langdetect.detect(value) == "en", where a LangDetectException counts as followed.
bool is_english_or_undetectable(const U32& value) {
  const std::optional<std::string> detected = detect_language_u32(value);
  return !detected || *detected == "en";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The checkers, in the order of instructions_registry.py.

Checker keywords_existence(const Args& args) {
  std::vector<U32> keywords = args.texts("keywords");
  if (keywords.empty()) args.fail("keywords", "is empty");
  for (U32& k : keywords) k = lower(k);
  return [keywords](const U32& value) {
    const U32 low = lower(value);
    return std::all_of(keywords.begin(), keywords.end(), [&](const U32& k) { return low.find(k) != kNpos; });
  };
}

Checker keywords_frequency(const Args& args) {
  const U32 keyword = lower(strip(args.text("keyword")));
  if (keyword.empty()) args.fail("keyword", "is empty");
  const std::int64_t frequency = args.count("frequency");
  const bool less = args.less_than("relation");
  return [=](const U32& value) { return compare(count_occurrences(lower(value), keyword), less, frequency); };
}

Checker keywords_forbidden_words(const Args& args) {
  std::vector<U32> words = args.texts("forbidden_words");
  if (words.empty()) args.fail("forbidden_words", "is empty");
  for (U32& w : words) w = lower(w);
  return [words](const U32& value) {
    const U32 low = lower(value);
    for (const U32& w : words) {
      for (std::size_t at = low.find(w); at != kNpos; at = low.find(w, at + 1)) {
        if (word_boundary(low, at) && word_boundary(low, at + w.size())) return false;
      }
    }
    return true;
  };
}

Checker keywords_letter_frequency(const Args& args) {
  const U32 letter = args.text("letter");
  if (letter.size() != 1) args.fail("letter", "must be one character");
  const U32 stripped = lower(strip(letter));
  const std::int64_t frequency = args.count("let_frequency");
  const bool less = args.less_than("let_relation");
  return [=](const U32& value) {
    std::size_t count = 0;
    if (!stripped.empty()) {
      for (char32_t c : value) count += to_lower(c) == stripped[0] ? 1 : 0;
    }
    return compare(count, less, frequency);
  };
}

Checker language_response_language(const Args& args) {
  const std::string language = encode(args.text("language"));
  return [language](const U32& value) {
    const std::optional<std::string> detected = detect_language_u32(value);
    return !detected || *detected == language;  // a LangDetectException counts as followed
  };
}

Checker length_number_sentences(const Args& args) {
  const std::int64_t threshold = args.count("num_sentences");
  const bool less = args.less_than("relation");
  return [=](const U32& value) { return compare(sentence_spans(value).size(), less, threshold); };
}

Checker length_number_paragraphs(const Args& args) {
  const std::int64_t expected = args.count("num_paragraphs");
  return [=](const U32& value) {
    const std::vector<U32> paragraphs = split_stars(value);
    std::size_t count = paragraphs.size();
    for (std::size_t k = 0; k < paragraphs.size(); ++k) {
      if (!strip(paragraphs[k]).empty()) continue;
      if (k == 0 || k + 1 == paragraphs.size()) {
        --count;
      } else {
        return false;
      }
    }
    return static_cast<std::int64_t>(count) == expected;
  };
}

Checker length_number_words(const Args& args) {
  const std::int64_t threshold = args.count("num_words");
  const bool less = args.less_than("relation");
  return [=](const U32& value) { return compare(count_words_u32(value), less, threshold); };
}

Checker length_nth_paragraph_first_word(const Args& args) {
  const std::int64_t expected = args.count("num_paragraphs");
  const std::int64_t nth = args.count("nth_paragraph");
  if (nth <= 0 || nth > expected) args.fail("nth_paragraph", "must be between 1 and num_paragraphs");
  const U32 first_word = lower(args.text("first_word"));
  return [=](const U32& value) {
    const std::vector<U32> paragraphs = split_on(value, U"\n\n");
    std::int64_t count = static_cast<std::int64_t>(paragraphs.size());
    for (const U32& p : paragraphs) count -= strip(p).empty() ? 1 : 0;
    if (nth > count) return false;
    const U32 paragraph = strip(paragraphs[static_cast<std::size_t>(nth - 1)]);
    if (paragraph.empty()) return false;
    U32 word = split_whitespace(paragraph).front();
    word.erase(0, std::min(word.find_first_not_of(U'\''), word.size()));
    word.erase(0, std::min(word.find_first_not_of(U'"'), word.size()));
    U32 found;
    for (char32_t c : word) {
      if (std::u32string_view(U".,?!'\"").find(c) != kNpos) break;
      found.push_back(to_lower(c));
    }
    return count == expected && found == first_word;
  };
}

Checker content_number_placeholders(const Args& args) {
  const std::int64_t threshold = args.count("num_placeholders");
  return [=](const U32& value) { return compare(count_placeholders(value), false, threshold); };
}

Checker content_postscript(const Args& args) {
  const U32 marker = strip(args.text("postscript_marker"));
  std::vector<PatternElement> pattern;
  if (marker == U"P.P.S") {
    pattern = {{'p'}, {'.'}, {0}, {'p'}, {'.'}, {0}, {'s'}};
  } else if (marker == U"P.S.") {
    pattern = {{'p'}, {'.'}, {0}, {'s'}, {'.'}};
  } else {
    for (char32_t c : lower(marker)) pattern.push_back({c});
  }
  return [pattern](const U32& value) {
    const U32 low = lower(value);
    if (pattern.empty()) return true;
    for (std::size_t i = 0; i < low.size(); ++i) {
      if (match_at(low, i, pattern, 0)) return true;
    }
    return false;
  };
}

Checker format_number_bullet_lists(const Args& args) {
  const std::int64_t expected = args.count("num_bullets");
  return [=](const U32& value) {
    return static_cast<std::int64_t>(count_bullets(value, '*') + count_bullets(value, '-')) == expected;
  };
}

Checker format_constrained_response(const Args&) {
  return [](const U32& value) {
    const U32 v = strip(value);
    for (const char32_t* option : {U"My answer is yes.", U"My answer is no.", U"My answer is maybe."}) {
      if (v.find(option) != kNpos) return true;
    }
    return false;
  };
}

Checker format_number_highlighted_sections(const Args& args) {
  const std::int64_t threshold = args.count("num_highlights");
  return [=](const U32& value) { return compare(count_highlights(value), false, threshold); };
}

Checker format_multiple_sections(const Args& args) {
  const U32 splitter = strip(args.text("section_spliter"));
  if (splitter.empty()) args.fail("section_spliter", "is empty");
  const std::int64_t threshold = args.count("num_sections");
  return [=](const U32& value) { return compare(count_sections(value, splitter), false, threshold); };
}

Checker format_json(const Args&) {
  return [](const U32& value) {
    U32 v = strip(value);
    for (const char32_t* prefix : {U"```json", U"```Json", U"```JSON", U"```"}) {
      if (starts_with(v, prefix)) v.erase(0, std::char_traits<char32_t>::length(prefix));
    }
    if (ends_with(v, U"```")) v.resize(v.size() - 3);
    return nlohmann::json::accept(encode(strip(v)));
  };
}

// re.findall(r"<<[^\n]+>>", value): greedy within the line.
Checker format_title(const Args&) {
  return [](const U32& s) {
    for (std::size_t i = s.find(U"<<"); i != kNpos;) {
      std::size_t line_end = s.find(U'\n', i);
      if (line_end == kNpos) line_end = s.size();
      std::size_t close = kNpos;
      for (std::size_t k = line_end; k >= i + 5; --k) {
        if (s[k - 2] == '>' && s[k - 1] == '>') {
          close = k - 2;
          break;
        }
      }
      if (close == kNpos) {
        i = s.find(U"<<", i + 1);
        continue;
      }
      U32 title = s.substr(i, close + 2 - i);
      title.erase(0, title.find_first_not_of(U'<'));
      title.erase(title.find_last_not_of(U'>') + 1);
      if (!strip(title).empty()) return true;
      i = s.find(U"<<", close + 2);
    }
    return false;
  };
}

Checker combination_two_responses(const Args&) {
  return [](const U32& value) {
    const std::vector<U32> responses = split_on(value, U"******");
    std::vector<U32> valid;
    for (std::size_t k = 0; k < responses.size(); ++k) {
      if (strip(responses[k]).empty()) {
        if (k != 0 && k + 1 != responses.size()) return false;
      } else {
        valid.push_back(responses[k]);
      }
    }
    return valid.size() == 2 && strip(valid[0]) != strip(valid[1]);
  };
}

Checker combination_repeat_prompt(const Args& args) {
  const U32 prompt = lower(strip(args.text("prompt_to_repeat")));
  if (prompt.empty()) args.fail("prompt_to_repeat", "is empty");
  return [prompt](const U32& value) { return starts_with(lower(strip(value)), prompt); };
}

Checker startend_end_checker(const Args& args) {
  const U32 phrase = lower(strip(args.text("end_phrase")));
  return [phrase](const U32& value) { return ends_with(lower(strip_char(strip(value), '"')), phrase); };
}

Checker change_case_capital_word_frequency(const Args& args) {
  const std::int64_t frequency = args.count("capital_frequency");
  const bool less = args.less_than("capital_relation");
  return [=](const U32& value) { return compare(count_capital_words_u32(value), less, frequency); };
}

Checker change_case_english_capital(const Args&) {
  return [](const U32& value) { return py_isupper(value) && is_english_or_undetectable(value); };
}

Checker change_case_english_lowercase(const Args&) {
  return [](const U32& value) { return py_islower(value) && is_english_or_undetectable(value); };
}

Checker punctuation_no_comma(const Args&) {
  return [](const U32& value) { return value.find(U',') == kNpos; };
}

Checker startend_quotation(const Args&) {
  return [](const U32& value) {
    const U32 v = strip(value);
    return v.size() > 1 && v.front() == '"' && v.back() == '"';
  };
}

}  // namespace uaqf::tasks::ifeval::detail
