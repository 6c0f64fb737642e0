#pragma once

// Text as Python's str sees it, for the IFEval port (internal to the IFEval module): code points,
// the character classes of Python 3.11's re and str, lower()'s simple case mapping, and the str
// methods the checkers use.

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace uaqf::tasks::ifeval::detail {

using U32 = std::u32string;
inline constexpr std::size_t kNpos = std::u32string::npos;

// One code point.
bool is_word(char32_t c);       // re's \w: isalnum() or '_'
bool is_digit(char32_t c);      // re's \d: category Nd
bool is_upper(char32_t c);      // str.isupper() of one character
bool is_lower(char32_t c);      // str.islower() of one character
bool is_title(char32_t c);      // a titlecase letter
bool is_space(char32_t c);      // str.isspace() and re's \s
char32_t to_lower(char32_t c);  // lower(), one code point to one (deviation 2 in ifeval.cpp)

// UTF-8 to code points and back; an invalid byte decodes to U+FFFD.
U32 decode(std::string_view s);
std::string encode(const U32& s);

U32 lower(U32 s);
U32 strip(const U32& s);                   // str.strip()
U32 strip_char(const U32& s, char32_t c);  // str.strip(c) for one character
bool starts_with(const U32& s, const U32& prefix);
bool ends_with(const U32& s, const U32& suffix);
std::vector<U32> split_on(const U32& s, const U32& sep);  // str.split(sep), sep not empty
std::vector<U32> split_whitespace(const U32& s);          // str.split()
// parts[from, to) joined by sep.
U32 join(const std::vector<U32>& parts, std::size_t from, std::size_t to, char32_t sep);
U32 remove_char(U32 s, char32_t c);
bool py_isupper(const U32& s);  // str.isupper()
bool py_islower(const U32& s);  // str.islower()
// Non-overlapping occurrences, as re.findall of a literal pattern.
std::size_t count_occurrences(const U32& text, const U32& needle);
bool word_boundary(const U32& s, std::size_t pos);  // re's \b before s[pos]
// A word list given in UTF-8, as code points.
std::unordered_set<U32> make_set(std::initializer_list<const char*> words);

}  // namespace uaqf::tasks::ifeval::detail
