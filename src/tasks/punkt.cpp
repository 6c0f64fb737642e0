// Sentence splitting: nltk 3.8's punkt (PunktSentenceTokenizer.span_tokenize), step by step:
// candidate contexts, its word tokenizer, both annotation passes with the model's parameters, and
// boundary realignment.

#include "tasks/punkt.h"

#include <algorithm>
#include <fstream>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace uaqf::tasks::ifeval::detail {
namespace {

// punkt's _re_non_word_chars.
bool punkt_non_word(char32_t c) { return std::u32string_view(U"?!)\";}]*:@'({[").find(c) != kNpos; }
// Characters punkt's _re_word_start excludes: they become one-character tokens.
bool punkt_not_word_start(char32_t c) { return std::u32string_view(U"(\"`{[:;&#*@)}]-,").find(c) != kNpos; }
bool is_sent_end(char32_t c) { return c == '.' || c == '?' || c == '!'; }

// MultiChar (?:\-{2,}|\.{2,}|(?:\.\s){2,}\.) at i: its length, or 0.
std::size_t punkt_multichar(const U32& s, std::size_t i) {
  const std::size_t n = s.size();
  if (i + 1 >= n) return 0;
  if ((s[i] == '-' || s[i] == '.') && s[i + 1] == s[i]) {
    std::size_t j = i;
    while (j < n && s[j] == s[i]) ++j;
    return j - i;
  }
  if (s[i] != '.') return 0;
  std::size_t reps = 0;
  while (i + 2 * reps + 1 < n && s[i + 2 * reps] == '.' && is_space(s[i + 2 * reps + 1])) ++reps;
  if (reps >= 2 && i + 2 * reps < n && s[i + 2 * reps] == '.') return 2 * reps + 1;
  if (reps >= 3) return 2 * reps - 1;
  return 0;
}

// punkt's word tokenizer (_word_tokenize_fmt) on one line.
void punkt_word_tokenize(const U32& s, std::vector<U32>& out) {
  const std::size_t n = s.size();
  auto word_end = [&](std::size_t j) {
    if (j == n || is_space(s[j]) || punkt_non_word(s[j]) || punkt_multichar(s, j) != 0) return true;
    return s[j] == ',' &&
           (j + 1 == n || is_space(s[j + 1]) || punkt_non_word(s[j + 1]) || punkt_multichar(s, j + 1) != 0);
  };
  std::size_t i = 0;
  while (i < n) {
    if (const std::size_t len = punkt_multichar(s, i); len != 0) {
      out.push_back(s.substr(i, len));
      i += len;
    } else if (is_space(s[i])) {
      ++i;
    } else if (punkt_not_word_start(s[i])) {
      out.push_back(U32(1, s[i]));
      ++i;
    } else {
      std::size_t j = i + 1;
      while (!word_end(j)) ++j;
      out.push_back(s.substr(i, j - i));
      i = j;
    }
  }
}

struct PunktToken {
  U32 tok;
  U32 type;
  bool sentbreak = false;
  bool abbr = false;
  bool ellipsis = false;

  bool period_final() const { return tok.back() == '.'; }
  U32 type_no_period() const { return type.size() > 1 && type.back() == '.' ? type.substr(0, type.size() - 1) : type; }
  U32 type_no_sentperiod() const { return sentbreak ? type_no_period() : type; }
  bool first_upper() const { return is_upper(tok[0]); }
  bool first_lower() const { return is_lower(tok[0]); }
  bool is_initial() const { return tok.size() == 2 && tok[1] == '.' && is_word(tok[0]) && !is_digit(tok[0]); }
};

// punkt's _RE_NUMERIC: ^-?[\.,]?\d[\d,\.-]*\.?$
bool punkt_numeric(const U32& t) {
  std::size_t i = 0;
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && (t[i] == '.' || t[i] == ',')) ++i;
  if (i >= t.size() || !is_digit(t[i])) return false;
  ++i;
  while (i < t.size() && (is_digit(t[i]) || t[i] == ',' || t[i] == '.' || t[i] == '-')) ++i;
  return i == t.size();  // the optional final '.' is already taken by the class
}

std::vector<PunktToken> punkt_tokens(const U32& text) {
  std::vector<U32> words;
  for (const U32& line : split_on(text, U"\n")) {
    if (!strip(line).empty()) punkt_word_tokenize(line, words);
  }
  std::vector<PunktToken> tokens;
  for (U32& w : words) {
    PunktToken t;
    t.type = lower(w);
    if (punkt_numeric(t.type)) t.type = U"##number##";
    t.tok = std::move(w);
    tokens.push_back(std::move(t));
  }
  return tokens;
}

enum class Ortho { kTrue, kFalse, kUnknown };

// nltk's orthographic-context flags.
constexpr int kOrthoMidUc = 1 << 2;
constexpr int kOrthoUc = (1 << 1) | (1 << 2) | (1 << 3);  // upper case: beginning, middle, unknown position
constexpr int kOrthoBegLc = 1 << 4;
constexpr int kOrthoLc = (1 << 4) | (1 << 5) | (1 << 6);  // lower case: beginning, middle, unknown position

int ortho_context(const PunktParameters& params, const U32& type) {
  auto it = params.ortho_context.find(type);
  return it == params.ortho_context.end() ? 0 : it->second;
}

// _ortho_heuristic: whether the token starts a sentence, by how its type was seen in training.
Ortho punkt_ortho(const PunktToken& t, const PunktParameters& params) {
  if (std::u32string_view(U";:,.!?").find(t.tok) != kNpos) return Ortho::kFalse;  // Python's `in` on a str
  const int context = ortho_context(params, t.type_no_sentperiod());
  if (t.first_upper() && (context & kOrthoLc) != 0 && (context & kOrthoMidUc) == 0) return Ortho::kTrue;
  if (t.first_lower() && ((context & kOrthoUc) != 0 || (context & kOrthoBegLc) == 0)) return Ortho::kFalse;
  return Ortho::kUnknown;
}

void punkt_first_pass(PunktToken& t, const PunktParameters& params) {
  if (t.tok == U"." || t.tok == U"?" || t.tok == U"!") {
    t.sentbreak = true;
  } else if (t.tok.size() >= 2 && t.tok.find_first_not_of(U'.') == kNpos) {
    t.ellipsis = true;
  } else if (t.period_final() && !ends_with(t.tok, U"..")) {
    const U32 word = lower(t.tok.substr(0, t.tok.size() - 1));
    const std::size_t dash = word.rfind('-');
    const U32 last = dash == kNpos ? word : word.substr(dash + 1);
    if (params.abbrev_types.count(word) != 0 || params.abbrev_types.count(last) != 0) {
      t.abbr = true;
    } else {
      t.sentbreak = true;
    }
  }
}

// _second_pass_annotation of (t1, t2): collocations, abbreviations and ellipses followed by a
// sentence starter, initials and ordinal numbers.
void punkt_second_pass(PunktToken& t1, const PunktToken& t2, const PunktParameters& params) {
  if (!t1.period_final()) return;
  const U32 type = t1.type_no_period();
  const U32 next_type = t2.type_no_sentperiod();
  const bool initial = t1.is_initial();
  if (params.collocations.count({type, next_type}) != 0) {
    t1.sentbreak = false;
    t1.abbr = true;
    return;
  }
  if ((t1.abbr || t1.ellipsis) && !initial) {
    if (punkt_ortho(t2, params) == Ortho::kTrue || (t2.first_upper() && params.sent_starters.count(next_type) != 0)) {
      t1.sentbreak = true;
      return;
    }
  }
  if (initial || type == U"##number##") {
    const Ortho ortho = punkt_ortho(t2, params);
    if (ortho == Ortho::kFalse || (ortho == Ortho::kUnknown && initial && t2.first_upper() &&
                                   (ortho_context(params, next_type) & kOrthoLc) == 0)) {
      t1.sentbreak = false;
      t1.abbr = true;
    }
  }
}

void punkt_annotate(std::vector<PunktToken>& tokens, const PunktParameters& params) {
  for (PunktToken& t : tokens) punkt_first_pass(t, params);
  for (std::size_t k = 0; k + 1 < tokens.size(); ++k) punkt_second_pass(tokens[k], tokens[k + 1], params);
}

bool punkt_contains_sentbreak(const U32& context, const PunktParameters& params) {
  std::vector<PunktToken> tokens = punkt_tokens(context);
  punkt_annotate(tokens, params);
  bool found = false;  // a break counts only when another token follows it
  for (const PunktToken& t : tokens) {
    if (found) return true;
    if (t.sentbreak) found = true;
  }
  return false;
}

bool ascii_space(char32_t c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }  // string.whitespace

}  // namespace

PunktParameters load_punkt_parameters(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kNotFound,
                fmt::format("punkt: cannot read the sentence model's parameters {}", file.string()));
  }
  PunktParameters params;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const auto& type : j.at("abbrev_types")) params.abbrev_types.insert(decode(type.get<std::string>()));
    for (const auto& pair : j.at("collocations")) {
      params.collocations.emplace(decode(pair.at(0).get<std::string>()), decode(pair.at(1).get<std::string>()));
    }
    for (const auto& type : j.at("sent_starters")) params.sent_starters.insert(decode(type.get<std::string>()));
    for (const auto& [type, flags] : j.at("ortho_context").items())
      params.ortho_context[decode(type)] = flags.get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("punkt: {} is malformed: {}", file.string(), e.what()));
  }
  return params;
}

// PunktSentenceTokenizer.span_tokenize: _match_potential_end_contexts, _slices_from_text and
// _realign_boundaries.
std::vector<std::pair<std::size_t, std::size_t>> sentence_spans(const U32& t, const PunktParameters& params) {
  struct Candidate {
    std::size_t pos;
    std::size_t after_end;           // the lookahead: one punctuation mark, or whitespace and a token
    std::size_t next_start = kNpos;  // start of next_tok when there is one
  };
  const std::size_t n = t.size();
  std::vector<Candidate> candidates;
  for (std::size_t pos = 0; pos + 1 < n; ++pos) {
    if (!is_sent_end(t[pos])) continue;
    if (punkt_non_word(t[pos + 1])) {
      candidates.push_back({pos, pos + 2});
    } else if (is_space(t[pos + 1])) {
      std::size_t q = pos + 1;
      while (q < n && is_space(t[q])) ++q;
      if (q == n) continue;
      std::size_t r = q;
      while (r < n && !is_space(t[r])) ++r;
      candidates.push_back({pos, r, q});
    }
  }
  // Each candidate's context starts at the word before it; a candidate whose word overlaps the
  // next candidate's is dropped (so "word!!! Next" is decided once, at its last '!').
  std::vector<std::pair<const Candidate*, std::pair<std::size_t, std::size_t>>> decided;
  std::pair<std::size_t, std::size_t> previous_slice{0, 0};
  const Candidate* previous = nullptr;
  for (const Candidate& c : candidates) {
    std::size_t index = 0;
    for (std::size_t q = c.pos; q > previous_slice.second; --q) {
      if (ascii_space(t[q - 1])) {
        index = q - 1 - previous_slice.second;
        break;
      }
    }
    const std::size_t word_start = index != 0 ? previous_slice.second + index + 1 : previous_slice.first;
    if (previous != nullptr && previous_slice.second <= word_start) decided.emplace_back(previous, previous_slice);
    previous = &c;
    previous_slice = {word_start, c.pos};
  }
  if (previous != nullptr) decided.emplace_back(previous, previous_slice);

  std::vector<std::pair<std::size_t, std::size_t>> slices;
  std::size_t last_break = 0;
  for (const auto& [c, word] : decided) {
    U32 context = t.substr(word.first, word.second - word.first);
    context += t.substr(c->pos, c->after_end - c->pos);
    if (!punkt_contains_sentbreak(context, params)) continue;
    slices.emplace_back(last_break, c->pos + 1);
    last_break = c->next_start != kNpos ? c->next_start : c->pos + 1;
  }
  std::size_t end = n;
  while (end > 0 && is_space(t[end - 1])) --end;
  slices.emplace_back(last_break, std::max(last_break, end));

  std::vector<std::pair<std::size_t, std::size_t>> spans;
  std::size_t realign = 0;
  for (std::size_t k = 0; k < slices.size(); ++k) {
    const std::size_t start = slices[k].first + realign;
    const std::size_t stop = slices[k].second;
    if (k + 1 == slices.size()) {
      if (start < stop) spans.emplace_back(start, stop);
      break;
    }
    // re_boundary_realignment: closing quotes/brackets, then whitespace, "--" or the end.
    const auto [next_start, next_stop] = slices[k + 1];
    std::size_t q = next_start;
    while (q < next_stop && std::u32string_view(U"\"')]}").find(t[q]) != kNpos) ++q;
    const bool match =
        q > next_start && (q == next_stop || is_space(t[q]) || (q + 1 < next_stop && t[q] == '-' && t[q + 1] == '-'));
    if (match) {
      spans.emplace_back(start, q);
      while (q < next_stop && is_space(t[q])) ++q;
      realign = q - next_start;
    } else {
      realign = 0;
      if (start < stop) spans.emplace_back(start, stop);
    }
  }
  return spans;
}

}  // namespace uaqf::tasks::ifeval::detail
