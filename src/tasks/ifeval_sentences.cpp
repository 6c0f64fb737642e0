// Sentence splitting: nltk punkt (3.8) with the english model's parameters replaced by the small
// lists below (deviation 1 in ifeval.cpp).

#include "tasks/ifeval_sentences.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace uaqf::tasks::ifeval::detail {
namespace {

// punkt's _re_non_word_chars.
bool punkt_non_word(char32_t c) { return std::u32string_view(U"?!)\";}]*:@'({[").find(c) != kNpos; }
// Characters punkt's _re_word_start excludes: they become one-character tokens.
bool punkt_not_word_start(char32_t c) { return std::u32string_view(U"(\"`{[:;&#*@)}]-,").find(c) != kNpos; }
bool is_sent_end(char32_t c) { return c == '.' || c == '?' || c == '!'; }

// Stand-in for the english model's abbreviation types.
const std::unordered_set<U32>& punkt_abbreviations() {
  static const std::unordered_set<U32> words =
      make_set({"mr",  "mrs",  "ms",  "dr",  "prof", "sr",  "jr",   "st",  "vs",   "etc", "e.g", "i.e",  "u.s", "u.k",
                "u.n", "a.m",  "p.m", "inc", "ltd",  "co",  "corp", "jan", "feb",  "mar", "apr", "jun",  "jul", "aug",
                "sep", "sept", "oct", "nov", "dec",  "gen", "gov",  "sen", "rep",  "lt",  "col", "capt", "sgt", "mt",
                "ft",  "vol",  "no",  "fig", "dept", "cf",  "al",   "ca",  "ph.d", "m.d", "b.a", "m.a",  "b.s", "m.s"});
  return words;
}

// Stand-in for the model's orthographic contexts: words seen in lowercase (and never capitalized
// inside a sentence), so that capitalized after a period they start a sentence.
const std::unordered_set<U32>& punkt_lowercase_words() {
  static const std::unordered_set<U32> words = make_set(
      {"the",         "a",         "an",        "this",      "that",    "these",  "those",  "it",           "its",
       "i",           "we",        "you",       "he",        "she",     "they",   "there",  "here",         "in",
       "on",          "at",        "for",       "to",        "of",      "and",    "but",    "or",           "so",
       "if",          "when",      "while",     "however",   "as",      "after",  "before", "then",         "also",
       "our",         "my",        "your",      "his",       "her",     "their",  "what",   "why",          "how",
       "where",       "who",       "which",     "with",      "by",      "from",   "one",    "some",         "many",
       "most",        "all",       "each",      "every",     "no",      "not",    "is",     "are",          "was",
       "were",        "be",        "do",        "does",      "did",     "have",   "has",    "had",          "can",
       "will",        "would",     "should",    "could",     "may",     "might",  "let",    "please",       "thank",
       "thanks",      "yes",       "overall",   "finally",   "first",   "second", "next",   "additionally", "moreover",
       "furthermore", "therefore", "thus",      "meanwhile", "instead", "today",  "now",    "just",         "because",
       "although",    "though",    "since",     "once",      "even",    "still",  "yet",    "both",         "either",
       "neither",     "other",     "another",   "such",      "more",    "less",   "only",   "well",         "during",
       "without",     "unlike",    "like",      "any",       "see",     "use",    "make",   "take",         "keep",
       "remember",    "note",      "consider",  "try",       "get",     "go",     "look",   "check",        "hello",
       "hi",          "dear",      "sincerely", "best"});
  return words;
}

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

bool punkt_seen_lowercase(const U32& type) { return punkt_lowercase_words().count(type) != 0; }

// _ortho_heuristic, with the stand-in contexts: listed words are seen only in lowercase (mid- and
// unknown-position), every other word has no recorded context.
Ortho punkt_ortho(const PunktToken& t) {
  if (t.tok.size() == 1 && std::u32string_view(U";:,.!?").find(t.tok[0]) != kNpos) return Ortho::kFalse;
  if (t.first_upper() && punkt_seen_lowercase(t.type_no_sentperiod())) return Ortho::kTrue;
  if (t.first_lower()) return Ortho::kFalse;
  return Ortho::kUnknown;
}

void punkt_annotate(std::vector<PunktToken>& tokens) {
  for (PunktToken& t : tokens) {  // first pass
    if (t.tok == U"." || t.tok == U"?" || t.tok == U"!") {
      t.sentbreak = true;
    } else if (t.tok.size() >= 2 && t.tok.find_first_not_of(U'.') == kNpos) {
      t.ellipsis = true;
    } else if (t.period_final() && !ends_with(t.tok, U"..")) {
      const U32 word = lower(t.tok.substr(0, t.tok.size() - 1));
      const std::size_t dash = word.rfind('-');
      const U32 last = dash == kNpos ? word : word.substr(dash + 1);
      if (punkt_abbreviations().count(word) != 0 || punkt_abbreviations().count(last) != 0) {
        t.abbr = true;
      } else {
        t.sentbreak = true;
      }
    }
  }
  for (std::size_t k = 0; k + 1 < tokens.size(); ++k) {  // second pass (no collocations known)
    PunktToken& t1 = tokens[k];
    const PunktToken& t2 = tokens[k + 1];
    if (!t1.period_final()) continue;
    const bool initial = t1.is_initial();
    if ((t1.abbr || t1.ellipsis) && !initial && punkt_ortho(t2) == Ortho::kTrue) {
      t1.sentbreak = true;
      continue;
    }
    if (initial || t1.type_no_period() == U"##number##") {
      const Ortho ortho = punkt_ortho(t2);
      if (ortho == Ortho::kFalse ||
          (ortho == Ortho::kUnknown && initial && t2.first_upper() && !punkt_seen_lowercase(t2.type_no_sentperiod()))) {
        t1.sentbreak = false;
        t1.abbr = true;
      }
    }
  }
}

bool punkt_contains_sentbreak(const U32& context) {
  std::vector<PunktToken> tokens = punkt_tokens(context);
  punkt_annotate(tokens);
  bool found = false;  // a break counts only when another token follows it
  for (const PunktToken& t : tokens) {
    if (found) return true;
    if (t.sentbreak) found = true;
  }
  return false;
}

bool ascii_space(char32_t c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }  // string.whitespace

}  // namespace

// PunktSentenceTokenizer.span_tokenize: _match_potential_end_contexts, _slices_from_text and
// _realign_boundaries.
std::vector<std::pair<std::size_t, std::size_t>> sentence_spans(const U32& t) {
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
    if (!punkt_contains_sentbreak(context)) continue;
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
