// Word counts: nltk's RegexpTokenizer(r"\w+") for number_words, and nltk.word_tokenize (punkt
// sentences, then NLTKWordTokenizer's substitutions, 3.8) for capital_word_frequency.

#include "tasks/ifeval_words.h"

#include <functional>
#include <string_view>
#include <utility>

#include "tasks/ifeval_reference.h"

namespace uaqf::tasks::ifeval::detail {

std::size_t count_words_u32(const U32& text) {
  std::size_t count = 0;
  bool in_word = false;
  for (char32_t c : text) {
    const bool w = is_word(c);
    if (w && !in_word) ++count;
    in_word = w;
  }
  return count;
}

namespace {

// Replaces each character matching `pred` by " c ".
U32 pad_chars(const U32& s, const std::function<bool(char32_t)>& pred) {
  U32 out;
  for (char32_t c : s) {
    if (pred(c)) {
      out.push_back(' ');
      out.push_back(c);
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Replaces each run of at least `min_len` characters `c` by " run ".
U32 pad_runs(const U32& s, char32_t c, std::size_t min_len) {
  U32 out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j < s.size() && s[j] == c) ++j;
    if (j == i) {
      out.push_back(s[i++]);
      continue;
    }
    if (j - i >= min_len) out.push_back(' ');
    out.append(s, i, j - i);
    if (j - i >= min_len) out.push_back(' ');
    i = j;
  }
  return out;
}

// Replaces each non-overlapping occurrence of `from` by `to`.
U32 replace_all(const U32& s, std::u32string_view from, std::u32string_view to) {
  U32 out;
  std::size_t i = 0;
  for (std::size_t at = s.find(from); at != kNpos; at = s.find(from, i)) {
    out.append(s, i, at - i);
    out.append(to);
    i = at + from.size();
  }
  out.append(s, i);
  return out;
}

// ([^\.])(\.)([closers]*)\s*$ -> "\1 \2 \3 "
U32 split_final_period(const U32& s, std::u32string_view closers) {
  std::size_t k = s.size();
  while (k > 0 && is_space(s[k - 1])) --k;
  const std::size_t closers_end = k;
  while (k > 0 && closers.find(s[k - 1]) != std::u32string_view::npos) --k;
  if (k < 2 || s[k - 1] != '.' || s[k - 2] == '.') return s;
  U32 out = s.substr(0, k - 1);
  out += U" . ";
  out.append(s, k, closers_end - k);
  out.push_back(' ');
  return out;
}

// ([^' ])(clitic) -> "\1 \2 " for clitics followed by a space (the space is consumed).
U32 split_clitics(const U32& s, std::initializer_list<std::u32string_view> clitics) {
  U32 out;
  std::size_t i = 0;
  while (i < s.size()) {
    out.push_back(s[i]);
    if (s[i] == '\'' || s[i] == ' ') {
      ++i;
      continue;
    }
    bool matched = false;
    for (std::u32string_view c : clitics) {
      if (s.compare(i + 1, c.size(), c) == 0 && i + 1 + c.size() < s.size() && s[i + 1 + c.size()] == ' ') {
        out.push_back(' ');
        out.append(c);
        out.push_back(' ');
        i += 2 + c.size();
        matched = true;
        break;
      }
    }
    if (!matched) ++i;
  }
  return out;
}

// (?i)\b(first)(second)\b -> " \1 \2 " (MacIntyre contractions).
U32 split_contraction(const U32& s, std::u32string_view first, std::u32string_view second, bool space_before,
                      bool space_after) {
  U32 whole(first);
  whole += second;
  U32 low;
  for (char32_t c : s) low.push_back(c < 0x80 ? to_lower(c) : c);
  U32 out;
  std::size_t i = 0;
  std::size_t at = low.find(whole);
  while (at != kNpos) {
    const std::size_t end = at + whole.size();
    const bool start_ok = space_before ? (at > 0 && low[at - 1] == ' ') : word_boundary(low, at);
    const bool end_ok = space_after ? (end < low.size() && is_space(low[end])) : word_boundary(low, end);
    if (start_ok && end_ok) {
      out.append(s, i, at - i);
      out.push_back(' ');
      out.append(s, at, first.size());
      out.push_back(' ');
      out.append(s, at + first.size(), second.size());
      out.push_back(' ');
      i = end;
      at = low.find(whole, end);
    } else {
      at = low.find(whole, at + 1);
    }
  }
  out.append(s, i);
  return out;
}

std::vector<U32> treebank_tokens(U32 s) {
  // STARTING_QUOTES
  s = pad_chars(s, [](char32_t c) { return c == 0xAB || c == 0x201C || c == 0x2018 || c == 0x201E; });
  s = pad_runs(s, '`', 1);
  if (!s.empty() && s[0] == '"') s.replace(0, 1, U"``");
  s = replace_all(s, U"``", U" `` ");
  {
    U32 out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      out.push_back(s[i]);
      if (std::u32string_view(U" ([{<").find(s[i]) == kNpos || i + 1 >= s.size()) continue;
      if (s[i + 1] == '"') {
        out += U" `` ";
        i += 1;
      } else if (s[i + 1] == '\'' && i + 2 < s.size() && s[i + 2] == '\'') {
        out += U" `` ";
        i += 2;
      }
    }
    s = std::move(out);
  }
  {  // (?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b -> "\1 \2"
    U32 out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      out.push_back(s[i]);
      if (s[i] != '\'' || i + 1 >= s.size() || !is_word(s[i + 1]) || !word_boundary(s, i + 2)) continue;
      const char32_t w = s[i + 1] < 0x80 ? to_lower(s[i + 1]) : s[i + 1];
      if (std::u32string_view(U"mtsdn").find(w) == kNpos) out.push_back(' ');
    }
    s = std::move(out);
  }
  // PUNCTUATION
  s = split_final_period(s, U"])}>\"'\u00bb\u201d\u2019 ");
  {  // ([:,])([^\d]) -> " \1 \2", then ([:,])$ -> " \1 "
    U32 out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if ((s[i] == ':' || s[i] == ',') && i + 1 < s.size() && !is_digit(s[i + 1])) {
        out.push_back(' ');
        out.push_back(s[i]);
        out.push_back(' ');
        out.push_back(s[++i]);
      } else {
        out.push_back(s[i]);
      }
    }
    s = std::move(out);
    const std::size_t last = !s.empty() && s.back() == '\n' ? s.size() - 2 : s.size() - 1;
    if (!s.empty() && last < s.size() && (s[last] == ':' || s[last] == ',')) s.replace(last, 1, U32{' ', s[last], ' '});
  }
  s = pad_runs(s, '.', 2);
  s = pad_chars(s, [](char32_t c) { return std::u32string_view(U";@#$%&").find(c) != kNpos; });
  s = split_final_period(s, U"])}>\"'");
  s = pad_chars(s, [](char32_t c) { return c == '?' || c == '!'; });
  {  // ([^'])' -> "\1 ' "
    U32 out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\'' && i + 2 < s.size() && s[i + 1] == '\'' && s[i + 2] == ' ') {
        out.push_back(s[i]);
        out += U" ' ";
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    s = std::move(out);
  }
  s = pad_chars(s, [](char32_t c) { return c == '*'; });
  s = pad_chars(s, [](char32_t c) { return std::u32string_view(U"[](){}<>").find(c) != kNpos; });
  s = replace_all(s, U"--", U" -- ");
  s = U" " + s + U" ";
  // ENDING_QUOTES
  s = pad_chars(s, [](char32_t c) { return c == 0xBB || c == 0x201D || c == 0x2019; });
  s = replace_all(s, U"''", U" '' ");
  s = replace_all(s, U"\"", U" '' ");
  s = split_clitics(s, {U"'s", U"'S", U"'m", U"'M", U"'d", U"'D", U"'"});
  s = split_clitics(s, {U"'ll", U"'LL", U"'re", U"'RE", U"'ve", U"'VE", U"n't", U"N'T"});
  // CONTRACTIONS2 and CONTRACTIONS3
  s = split_contraction(s, U"can", U"not", false, false);
  s = split_contraction(s, U"d", U"'ye", false, false);
  s = split_contraction(s, U"gim", U"me", false, false);
  s = split_contraction(s, U"gon", U"na", false, false);
  s = split_contraction(s, U"got", U"ta", false, false);
  s = split_contraction(s, U"lem", U"me", false, false);
  s = split_contraction(s, U"more", U"'n", false, false);
  s = split_contraction(s, U"wan", U"na", false, true);
  s = split_contraction(s, U"'t", U"is", true, false);
  s = split_contraction(s, U"'t", U"was", true, false);
  return split_whitespace(s);
}

}  // namespace

std::size_t count_capital_words_u32(const U32& text) {
  std::size_t count = 0;
  for (const auto& [start, stop] : sentence_spans(text)) {
    for (const U32& token : treebank_tokens(text.substr(start, stop - start))) {
      if (py_isupper(token)) ++count;
    }
  }
  return count;
}

}  // namespace uaqf::tasks::ifeval::detail
