// IFEval instruction checkers, ported from google-research instruction_following_eval
// (instructions.py, instructions_util.py, evaluation_lib.py). Text is handled as Unicode code points,
// as Python str is. Where this port differs from the original, and why:
//  1. Sentences (number_sentences, and the split inside capital_word_frequency): the original uses
//     nltk's punkt tokenizer with its trained english model, data we cannot ship. The port follows
//     nltk 3.8's punkt algorithm step by step (candidate contexts, word tokenizer, both annotation
//     passes, boundary realignment), but the model's parameters are replaced by small built-in
//     lists: ~60 common abbreviations; ~150 function words taken as "seen in lowercase"; no
//     sentence starters or collocations. Counts can differ around abbreviations, initials,
//     ordinal numbers and ellipses that the english model knows otherwise.
//  2. capital_word_frequency: nltk.word_tokenize is ported as nltk 3.8's NLTKWordTokenizer
//     substitutions applied to each punkt sentence, so it inherits only deviation 1.
//  3. language:response_language and the English test inside change_case:english_capital/lowercase
//     use langdetect (character n-gram models) in the original. The port detects the dominant
//     script; a script used by one language gives it directly (Hangul ko, kana ja, Han zh-cn, Thai
//     th, Greek el, Hebrew he, Bengali bn, Gurmukhi pa, Gujarati gu, Tamil ta, Telugu te, Kannada kn,
//     Malayalam ml, ...). Devanagari (hi/mr/ne) and Latin (en de fr es pt it nl pl vi sw fi tr id
//     sv ro cs hu) are decided by a vote over built-in stopword lists (for Latin, also letters
//     typical of one language, such as ą or ơ); Cyrillic (ru/bg/uk/mk) and
//     Arabic script (ar/fa/ur) by letters only those languages use. As in the original, text with
//     no letters cannot be detected and then counts as followed. URLs and e-mail addresses are
//     ignored as langdetect does.
//  4. Python's regexes are replaced by hand-written scanners with the same leftmost, greedy/lazy,
//     non-overlapping semantics. User-given patterns (keywords, forbidden words, section splitter,
//     a postscript marker other than P.S./P.P.S) are matched literally instead of as regexes: the
//     IFEval data holds only letters, digits and spaces there, so nothing changes for it.
//  5. Case-insensitive matching and lower() use Unicode simple case mapping (tables generated from
//     Python 3.11's unicodedata, Unicode 14), one code point to one: U+0130 lowers to 'i' without
//     the combining dot, and a final capital sigma lowers to σ, not ς.
//  6. json_format uses nlohmann::json, which rejects NaN/Infinity and lone surrogate escapes that
//     Python's json.loads accepts.
//  7. Kwargs the original fills with random values when missing (or negative) are errors here,
//     so that a score never depends on chance.

#include "tasks/ifeval.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <iterator>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"

namespace uaqf::tasks::ifeval {
namespace {

using U32 = std::u32string;
constexpr std::size_t kNpos = std::u32string::npos;

// ---------------------------------------------------------------------------------------------
// Unicode tables, generated from Python 3.11 unicodedata: kWordRanges is re's \w (isalnum() or
// '_'), kDigitRanges is \d (category Nd), the stride runs are str.isupper()/islower() of one
// character, kTitleRanges the titlecase letters, kToLowerRuns the one-to-one mappings of lower().

struct Range {
  char32_t lo;
  char32_t hi;
};
struct StrideRange {
  char32_t lo;
  char32_t hi;
  std::uint32_t step;
};
struct CaseRun {
  char32_t lo;
  char32_t hi;
  std::uint32_t step;
  std::int32_t delta;
};

constexpr Range kWordRanges[] = {
    {0x30, 0x39},       {0x41, 0x5a},       {0x5f, 0x5f},       {0x61, 0x7a},       {0xaa, 0xaa},
    {0xb2, 0xb3},       {0xb5, 0xb5},       {0xb9, 0xba},       {0xbc, 0xbe},       {0xc0, 0xd6},
    {0xd8, 0xf6},       {0xf8, 0x2c1},      {0x2c6, 0x2d1},     {0x2e0, 0x2e4},     {0x2ec, 0x2ec},
    {0x2ee, 0x2ee},     {0x370, 0x374},     {0x376, 0x377},     {0x37a, 0x37d},     {0x37f, 0x37f},
    {0x386, 0x386},     {0x388, 0x38a},     {0x38c, 0x38c},     {0x38e, 0x3a1},     {0x3a3, 0x3f5},
    {0x3f7, 0x481},     {0x48a, 0x52f},     {0x531, 0x556},     {0x559, 0x559},     {0x560, 0x588},
    {0x5d0, 0x5ea},     {0x5ef, 0x5f2},     {0x620, 0x64a},     {0x660, 0x669},     {0x66e, 0x66f},
    {0x671, 0x6d3},     {0x6d5, 0x6d5},     {0x6e5, 0x6e6},     {0x6ee, 0x6fc},     {0x6ff, 0x6ff},
    {0x710, 0x710},     {0x712, 0x72f},     {0x74d, 0x7a5},     {0x7b1, 0x7b1},     {0x7c0, 0x7ea},
    {0x7f4, 0x7f5},     {0x7fa, 0x7fa},     {0x800, 0x815},     {0x81a, 0x81a},     {0x824, 0x824},
    {0x828, 0x828},     {0x840, 0x858},     {0x860, 0x86a},     {0x870, 0x887},     {0x889, 0x88e},
    {0x8a0, 0x8c9},     {0x904, 0x939},     {0x93d, 0x93d},     {0x950, 0x950},     {0x958, 0x961},
    {0x966, 0x96f},     {0x971, 0x980},     {0x985, 0x98c},     {0x98f, 0x990},     {0x993, 0x9a8},
    {0x9aa, 0x9b0},     {0x9b2, 0x9b2},     {0x9b6, 0x9b9},     {0x9bd, 0x9bd},     {0x9ce, 0x9ce},
    {0x9dc, 0x9dd},     {0x9df, 0x9e1},     {0x9e6, 0x9f1},     {0x9f4, 0x9f9},     {0x9fc, 0x9fc},
    {0xa05, 0xa0a},     {0xa0f, 0xa10},     {0xa13, 0xa28},     {0xa2a, 0xa30},     {0xa32, 0xa33},
    {0xa35, 0xa36},     {0xa38, 0xa39},     {0xa59, 0xa5c},     {0xa5e, 0xa5e},     {0xa66, 0xa6f},
    {0xa72, 0xa74},     {0xa85, 0xa8d},     {0xa8f, 0xa91},     {0xa93, 0xaa8},     {0xaaa, 0xab0},
    {0xab2, 0xab3},     {0xab5, 0xab9},     {0xabd, 0xabd},     {0xad0, 0xad0},     {0xae0, 0xae1},
    {0xae6, 0xaef},     {0xaf9, 0xaf9},     {0xb05, 0xb0c},     {0xb0f, 0xb10},     {0xb13, 0xb28},
    {0xb2a, 0xb30},     {0xb32, 0xb33},     {0xb35, 0xb39},     {0xb3d, 0xb3d},     {0xb5c, 0xb5d},
    {0xb5f, 0xb61},     {0xb66, 0xb6f},     {0xb71, 0xb77},     {0xb83, 0xb83},     {0xb85, 0xb8a},
    {0xb8e, 0xb90},     {0xb92, 0xb95},     {0xb99, 0xb9a},     {0xb9c, 0xb9c},     {0xb9e, 0xb9f},
    {0xba3, 0xba4},     {0xba8, 0xbaa},     {0xbae, 0xbb9},     {0xbd0, 0xbd0},     {0xbe6, 0xbf2},
    {0xc05, 0xc0c},     {0xc0e, 0xc10},     {0xc12, 0xc28},     {0xc2a, 0xc39},     {0xc3d, 0xc3d},
    {0xc58, 0xc5a},     {0xc5d, 0xc5d},     {0xc60, 0xc61},     {0xc66, 0xc6f},     {0xc78, 0xc7e},
    {0xc80, 0xc80},     {0xc85, 0xc8c},     {0xc8e, 0xc90},     {0xc92, 0xca8},     {0xcaa, 0xcb3},
    {0xcb5, 0xcb9},     {0xcbd, 0xcbd},     {0xcdd, 0xcde},     {0xce0, 0xce1},     {0xce6, 0xcef},
    {0xcf1, 0xcf2},     {0xd04, 0xd0c},     {0xd0e, 0xd10},     {0xd12, 0xd3a},     {0xd3d, 0xd3d},
    {0xd4e, 0xd4e},     {0xd54, 0xd56},     {0xd58, 0xd61},     {0xd66, 0xd78},     {0xd7a, 0xd7f},
    {0xd85, 0xd96},     {0xd9a, 0xdb1},     {0xdb3, 0xdbb},     {0xdbd, 0xdbd},     {0xdc0, 0xdc6},
    {0xde6, 0xdef},     {0xe01, 0xe30},     {0xe32, 0xe33},     {0xe40, 0xe46},     {0xe50, 0xe59},
    {0xe81, 0xe82},     {0xe84, 0xe84},     {0xe86, 0xe8a},     {0xe8c, 0xea3},     {0xea5, 0xea5},
    {0xea7, 0xeb0},     {0xeb2, 0xeb3},     {0xebd, 0xebd},     {0xec0, 0xec4},     {0xec6, 0xec6},
    {0xed0, 0xed9},     {0xedc, 0xedf},     {0xf00, 0xf00},     {0xf20, 0xf33},     {0xf40, 0xf47},
    {0xf49, 0xf6c},     {0xf88, 0xf8c},     {0x1000, 0x102a},   {0x103f, 0x1049},   {0x1050, 0x1055},
    {0x105a, 0x105d},   {0x1061, 0x1061},   {0x1065, 0x1066},   {0x106e, 0x1070},   {0x1075, 0x1081},
    {0x108e, 0x108e},   {0x1090, 0x1099},   {0x10a0, 0x10c5},   {0x10c7, 0x10c7},   {0x10cd, 0x10cd},
    {0x10d0, 0x10fa},   {0x10fc, 0x1248},   {0x124a, 0x124d},   {0x1250, 0x1256},   {0x1258, 0x1258},
    {0x125a, 0x125d},   {0x1260, 0x1288},   {0x128a, 0x128d},   {0x1290, 0x12b0},   {0x12b2, 0x12b5},
    {0x12b8, 0x12be},   {0x12c0, 0x12c0},   {0x12c2, 0x12c5},   {0x12c8, 0x12d6},   {0x12d8, 0x1310},
    {0x1312, 0x1315},   {0x1318, 0x135a},   {0x1369, 0x137c},   {0x1380, 0x138f},   {0x13a0, 0x13f5},
    {0x13f8, 0x13fd},   {0x1401, 0x166c},   {0x166f, 0x167f},   {0x1681, 0x169a},   {0x16a0, 0x16ea},
    {0x16ee, 0x16f8},   {0x1700, 0x1711},   {0x171f, 0x1731},   {0x1740, 0x1751},   {0x1760, 0x176c},
    {0x176e, 0x1770},   {0x1780, 0x17b3},   {0x17d7, 0x17d7},   {0x17dc, 0x17dc},   {0x17e0, 0x17e9},
    {0x17f0, 0x17f9},   {0x1810, 0x1819},   {0x1820, 0x1878},   {0x1880, 0x1884},   {0x1887, 0x18a8},
    {0x18aa, 0x18aa},   {0x18b0, 0x18f5},   {0x1900, 0x191e},   {0x1946, 0x196d},   {0x1970, 0x1974},
    {0x1980, 0x19ab},   {0x19b0, 0x19c9},   {0x19d0, 0x19da},   {0x1a00, 0x1a16},   {0x1a20, 0x1a54},
    {0x1a80, 0x1a89},   {0x1a90, 0x1a99},   {0x1aa7, 0x1aa7},   {0x1b05, 0x1b33},   {0x1b45, 0x1b4c},
    {0x1b50, 0x1b59},   {0x1b83, 0x1ba0},   {0x1bae, 0x1be5},   {0x1c00, 0x1c23},   {0x1c40, 0x1c49},
    {0x1c4d, 0x1c7d},   {0x1c80, 0x1c88},   {0x1c90, 0x1cba},   {0x1cbd, 0x1cbf},   {0x1ce9, 0x1cec},
    {0x1cee, 0x1cf3},   {0x1cf5, 0x1cf6},   {0x1cfa, 0x1cfa},   {0x1d00, 0x1dbf},   {0x1e00, 0x1f15},
    {0x1f18, 0x1f1d},   {0x1f20, 0x1f45},   {0x1f48, 0x1f4d},   {0x1f50, 0x1f57},   {0x1f59, 0x1f59},
    {0x1f5b, 0x1f5b},   {0x1f5d, 0x1f5d},   {0x1f5f, 0x1f7d},   {0x1f80, 0x1fb4},   {0x1fb6, 0x1fbc},
    {0x1fbe, 0x1fbe},   {0x1fc2, 0x1fc4},   {0x1fc6, 0x1fcc},   {0x1fd0, 0x1fd3},   {0x1fd6, 0x1fdb},
    {0x1fe0, 0x1fec},   {0x1ff2, 0x1ff4},   {0x1ff6, 0x1ffc},   {0x2070, 0x2071},   {0x2074, 0x2079},
    {0x207f, 0x2089},   {0x2090, 0x209c},   {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210a, 0x2113},
    {0x2115, 0x2115},   {0x2119, 0x211d},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
    {0x212a, 0x212d},   {0x212f, 0x2139},   {0x213c, 0x213f},   {0x2145, 0x2149},   {0x214e, 0x214e},
    {0x2150, 0x2189},   {0x2460, 0x249b},   {0x24ea, 0x24ff},   {0x2776, 0x2793},   {0x2c00, 0x2ce4},
    {0x2ceb, 0x2cee},   {0x2cf2, 0x2cf3},   {0x2cfd, 0x2cfd},   {0x2d00, 0x2d25},   {0x2d27, 0x2d27},
    {0x2d2d, 0x2d2d},   {0x2d30, 0x2d67},   {0x2d6f, 0x2d6f},   {0x2d80, 0x2d96},   {0x2da0, 0x2da6},
    {0x2da8, 0x2dae},   {0x2db0, 0x2db6},   {0x2db8, 0x2dbe},   {0x2dc0, 0x2dc6},   {0x2dc8, 0x2dce},
    {0x2dd0, 0x2dd6},   {0x2dd8, 0x2dde},   {0x2e2f, 0x2e2f},   {0x3005, 0x3007},   {0x3021, 0x3029},
    {0x3031, 0x3035},   {0x3038, 0x303c},   {0x3041, 0x3096},   {0x309d, 0x309f},   {0x30a1, 0x30fa},
    {0x30fc, 0x30ff},   {0x3105, 0x312f},   {0x3131, 0x318e},   {0x3192, 0x3195},   {0x31a0, 0x31bf},
    {0x31f0, 0x31ff},   {0x3220, 0x3229},   {0x3248, 0x324f},   {0x3251, 0x325f},   {0x3280, 0x3289},
    {0x32b1, 0x32bf},   {0x3400, 0x4dbf},   {0x4e00, 0xa48c},   {0xa4d0, 0xa4fd},   {0xa500, 0xa60c},
    {0xa610, 0xa62b},   {0xa640, 0xa66e},   {0xa67f, 0xa69d},   {0xa6a0, 0xa6ef},   {0xa717, 0xa71f},
    {0xa722, 0xa788},   {0xa78b, 0xa7ca},   {0xa7d0, 0xa7d1},   {0xa7d3, 0xa7d3},   {0xa7d5, 0xa7d9},
    {0xa7f2, 0xa801},   {0xa803, 0xa805},   {0xa807, 0xa80a},   {0xa80c, 0xa822},   {0xa830, 0xa835},
    {0xa840, 0xa873},   {0xa882, 0xa8b3},   {0xa8d0, 0xa8d9},   {0xa8f2, 0xa8f7},   {0xa8fb, 0xa8fb},
    {0xa8fd, 0xa8fe},   {0xa900, 0xa925},   {0xa930, 0xa946},   {0xa960, 0xa97c},   {0xa984, 0xa9b2},
    {0xa9cf, 0xa9d9},   {0xa9e0, 0xa9e4},   {0xa9e6, 0xa9fe},   {0xaa00, 0xaa28},   {0xaa40, 0xaa42},
    {0xaa44, 0xaa4b},   {0xaa50, 0xaa59},   {0xaa60, 0xaa76},   {0xaa7a, 0xaa7a},   {0xaa7e, 0xaaaf},
    {0xaab1, 0xaab1},   {0xaab5, 0xaab6},   {0xaab9, 0xaabd},   {0xaac0, 0xaac0},   {0xaac2, 0xaac2},
    {0xaadb, 0xaadd},   {0xaae0, 0xaaea},   {0xaaf2, 0xaaf4},   {0xab01, 0xab06},   {0xab09, 0xab0e},
    {0xab11, 0xab16},   {0xab20, 0xab26},   {0xab28, 0xab2e},   {0xab30, 0xab5a},   {0xab5c, 0xab69},
    {0xab70, 0xabe2},   {0xabf0, 0xabf9},   {0xac00, 0xd7a3},   {0xd7b0, 0xd7c6},   {0xd7cb, 0xd7fb},
    {0xf900, 0xfa6d},   {0xfa70, 0xfad9},   {0xfb00, 0xfb06},   {0xfb13, 0xfb17},   {0xfb1d, 0xfb1d},
    {0xfb1f, 0xfb28},   {0xfb2a, 0xfb36},   {0xfb38, 0xfb3c},   {0xfb3e, 0xfb3e},   {0xfb40, 0xfb41},
    {0xfb43, 0xfb44},   {0xfb46, 0xfbb1},   {0xfbd3, 0xfd3d},   {0xfd50, 0xfd8f},   {0xfd92, 0xfdc7},
    {0xfdf0, 0xfdfb},   {0xfe70, 0xfe74},   {0xfe76, 0xfefc},   {0xff10, 0xff19},   {0xff21, 0xff3a},
    {0xff41, 0xff5a},   {0xff66, 0xffbe},   {0xffc2, 0xffc7},   {0xffca, 0xffcf},   {0xffd2, 0xffd7},
    {0xffda, 0xffdc},   {0x10000, 0x1000b}, {0x1000d, 0x10026}, {0x10028, 0x1003a}, {0x1003c, 0x1003d},
    {0x1003f, 0x1004d}, {0x10050, 0x1005d}, {0x10080, 0x100fa}, {0x10107, 0x10133}, {0x10140, 0x10178},
    {0x1018a, 0x1018b}, {0x10280, 0x1029c}, {0x102a0, 0x102d0}, {0x102e1, 0x102fb}, {0x10300, 0x10323},
    {0x1032d, 0x1034a}, {0x10350, 0x10375}, {0x10380, 0x1039d}, {0x103a0, 0x103c3}, {0x103c8, 0x103cf},
    {0x103d1, 0x103d5}, {0x10400, 0x1049d}, {0x104a0, 0x104a9}, {0x104b0, 0x104d3}, {0x104d8, 0x104fb},
    {0x10500, 0x10527}, {0x10530, 0x10563}, {0x10570, 0x1057a}, {0x1057c, 0x1058a}, {0x1058c, 0x10592},
    {0x10594, 0x10595}, {0x10597, 0x105a1}, {0x105a3, 0x105b1}, {0x105b3, 0x105b9}, {0x105bb, 0x105bc},
    {0x10600, 0x10736}, {0x10740, 0x10755}, {0x10760, 0x10767}, {0x10780, 0x10785}, {0x10787, 0x107b0},
    {0x107b2, 0x107ba}, {0x10800, 0x10805}, {0x10808, 0x10808}, {0x1080a, 0x10835}, {0x10837, 0x10838},
    {0x1083c, 0x1083c}, {0x1083f, 0x10855}, {0x10858, 0x10876}, {0x10879, 0x1089e}, {0x108a7, 0x108af},
    {0x108e0, 0x108f2}, {0x108f4, 0x108f5}, {0x108fb, 0x1091b}, {0x10920, 0x10939}, {0x10980, 0x109b7},
    {0x109bc, 0x109cf}, {0x109d2, 0x10a00}, {0x10a10, 0x10a13}, {0x10a15, 0x10a17}, {0x10a19, 0x10a35},
    {0x10a40, 0x10a48}, {0x10a60, 0x10a7e}, {0x10a80, 0x10a9f}, {0x10ac0, 0x10ac7}, {0x10ac9, 0x10ae4},
    {0x10aeb, 0x10aef}, {0x10b00, 0x10b35}, {0x10b40, 0x10b55}, {0x10b58, 0x10b72}, {0x10b78, 0x10b91},
    {0x10ba9, 0x10baf}, {0x10c00, 0x10c48}, {0x10c80, 0x10cb2}, {0x10cc0, 0x10cf2}, {0x10cfa, 0x10d23},
    {0x10d30, 0x10d39}, {0x10e60, 0x10e7e}, {0x10e80, 0x10ea9}, {0x10eb0, 0x10eb1}, {0x10f00, 0x10f27},
    {0x10f30, 0x10f45}, {0x10f51, 0x10f54}, {0x10f70, 0x10f81}, {0x10fb0, 0x10fcb}, {0x10fe0, 0x10ff6},
    {0x11003, 0x11037}, {0x11052, 0x1106f}, {0x11071, 0x11072}, {0x11075, 0x11075}, {0x11083, 0x110af},
    {0x110d0, 0x110e8}, {0x110f0, 0x110f9}, {0x11103, 0x11126}, {0x11136, 0x1113f}, {0x11144, 0x11144},
    {0x11147, 0x11147}, {0x11150, 0x11172}, {0x11176, 0x11176}, {0x11183, 0x111b2}, {0x111c1, 0x111c4},
    {0x111d0, 0x111da}, {0x111dc, 0x111dc}, {0x111e1, 0x111f4}, {0x11200, 0x11211}, {0x11213, 0x1122b},
    {0x11280, 0x11286}, {0x11288, 0x11288}, {0x1128a, 0x1128d}, {0x1128f, 0x1129d}, {0x1129f, 0x112a8},
    {0x112b0, 0x112de}, {0x112f0, 0x112f9}, {0x11305, 0x1130c}, {0x1130f, 0x11310}, {0x11313, 0x11328},
    {0x1132a, 0x11330}, {0x11332, 0x11333}, {0x11335, 0x11339}, {0x1133d, 0x1133d}, {0x11350, 0x11350},
    {0x1135d, 0x11361}, {0x11400, 0x11434}, {0x11447, 0x1144a}, {0x11450, 0x11459}, {0x1145f, 0x11461},
    {0x11480, 0x114af}, {0x114c4, 0x114c5}, {0x114c7, 0x114c7}, {0x114d0, 0x114d9}, {0x11580, 0x115ae},
    {0x115d8, 0x115db}, {0x11600, 0x1162f}, {0x11644, 0x11644}, {0x11650, 0x11659}, {0x11680, 0x116aa},
    {0x116b8, 0x116b8}, {0x116c0, 0x116c9}, {0x11700, 0x1171a}, {0x11730, 0x1173b}, {0x11740, 0x11746},
    {0x11800, 0x1182b}, {0x118a0, 0x118f2}, {0x118ff, 0x11906}, {0x11909, 0x11909}, {0x1190c, 0x11913},
    {0x11915, 0x11916}, {0x11918, 0x1192f}, {0x1193f, 0x1193f}, {0x11941, 0x11941}, {0x11950, 0x11959},
    {0x119a0, 0x119a7}, {0x119aa, 0x119d0}, {0x119e1, 0x119e1}, {0x119e3, 0x119e3}, {0x11a00, 0x11a00},
    {0x11a0b, 0x11a32}, {0x11a3a, 0x11a3a}, {0x11a50, 0x11a50}, {0x11a5c, 0x11a89}, {0x11a9d, 0x11a9d},
    {0x11ab0, 0x11af8}, {0x11c00, 0x11c08}, {0x11c0a, 0x11c2e}, {0x11c40, 0x11c40}, {0x11c50, 0x11c6c},
    {0x11c72, 0x11c8f}, {0x11d00, 0x11d06}, {0x11d08, 0x11d09}, {0x11d0b, 0x11d30}, {0x11d46, 0x11d46},
    {0x11d50, 0x11d59}, {0x11d60, 0x11d65}, {0x11d67, 0x11d68}, {0x11d6a, 0x11d89}, {0x11d98, 0x11d98},
    {0x11da0, 0x11da9}, {0x11ee0, 0x11ef2}, {0x11fb0, 0x11fb0}, {0x11fc0, 0x11fd4}, {0x12000, 0x12399},
    {0x12400, 0x1246e}, {0x12480, 0x12543}, {0x12f90, 0x12ff0}, {0x13000, 0x1342e}, {0x14400, 0x14646},
    {0x16800, 0x16a38}, {0x16a40, 0x16a5e}, {0x16a60, 0x16a69}, {0x16a70, 0x16abe}, {0x16ac0, 0x16ac9},
    {0x16ad0, 0x16aed}, {0x16b00, 0x16b2f}, {0x16b40, 0x16b43}, {0x16b50, 0x16b59}, {0x16b5b, 0x16b61},
    {0x16b63, 0x16b77}, {0x16b7d, 0x16b8f}, {0x16e40, 0x16e96}, {0x16f00, 0x16f4a}, {0x16f50, 0x16f50},
    {0x16f93, 0x16f9f}, {0x16fe0, 0x16fe1}, {0x16fe3, 0x16fe3}, {0x17000, 0x187f7}, {0x18800, 0x18cd5},
    {0x18d00, 0x18d08}, {0x1aff0, 0x1aff3}, {0x1aff5, 0x1affb}, {0x1affd, 0x1affe}, {0x1b000, 0x1b122},
    {0x1b150, 0x1b152}, {0x1b164, 0x1b167}, {0x1b170, 0x1b2fb}, {0x1bc00, 0x1bc6a}, {0x1bc70, 0x1bc7c},
    {0x1bc80, 0x1bc88}, {0x1bc90, 0x1bc99}, {0x1d2e0, 0x1d2f3}, {0x1d360, 0x1d378}, {0x1d400, 0x1d454},
    {0x1d456, 0x1d49c}, {0x1d49e, 0x1d49f}, {0x1d4a2, 0x1d4a2}, {0x1d4a5, 0x1d4a6}, {0x1d4a9, 0x1d4ac},
    {0x1d4ae, 0x1d4b9}, {0x1d4bb, 0x1d4bb}, {0x1d4bd, 0x1d4c3}, {0x1d4c5, 0x1d505}, {0x1d507, 0x1d50a},
    {0x1d50d, 0x1d514}, {0x1d516, 0x1d51c}, {0x1d51e, 0x1d539}, {0x1d53b, 0x1d53e}, {0x1d540, 0x1d544},
    {0x1d546, 0x1d546}, {0x1d54a, 0x1d550}, {0x1d552, 0x1d6a5}, {0x1d6a8, 0x1d6c0}, {0x1d6c2, 0x1d6da},
    {0x1d6dc, 0x1d6fa}, {0x1d6fc, 0x1d714}, {0x1d716, 0x1d734}, {0x1d736, 0x1d74e}, {0x1d750, 0x1d76e},
    {0x1d770, 0x1d788}, {0x1d78a, 0x1d7a8}, {0x1d7aa, 0x1d7c2}, {0x1d7c4, 0x1d7cb}, {0x1d7ce, 0x1d7ff},
    {0x1df00, 0x1df1e}, {0x1e100, 0x1e12c}, {0x1e137, 0x1e13d}, {0x1e140, 0x1e149}, {0x1e14e, 0x1e14e},
    {0x1e290, 0x1e2ad}, {0x1e2c0, 0x1e2eb}, {0x1e2f0, 0x1e2f9}, {0x1e7e0, 0x1e7e6}, {0x1e7e8, 0x1e7eb},
    {0x1e7ed, 0x1e7ee}, {0x1e7f0, 0x1e7fe}, {0x1e800, 0x1e8c4}, {0x1e8c7, 0x1e8cf}, {0x1e900, 0x1e943},
    {0x1e94b, 0x1e94b}, {0x1e950, 0x1e959}, {0x1ec71, 0x1ecab}, {0x1ecad, 0x1ecaf}, {0x1ecb1, 0x1ecb4},
    {0x1ed01, 0x1ed2d}, {0x1ed2f, 0x1ed3d}, {0x1ee00, 0x1ee03}, {0x1ee05, 0x1ee1f}, {0x1ee21, 0x1ee22},
    {0x1ee24, 0x1ee24}, {0x1ee27, 0x1ee27}, {0x1ee29, 0x1ee32}, {0x1ee34, 0x1ee37}, {0x1ee39, 0x1ee39},
    {0x1ee3b, 0x1ee3b}, {0x1ee42, 0x1ee42}, {0x1ee47, 0x1ee47}, {0x1ee49, 0x1ee49}, {0x1ee4b, 0x1ee4b},
    {0x1ee4d, 0x1ee4f}, {0x1ee51, 0x1ee52}, {0x1ee54, 0x1ee54}, {0x1ee57, 0x1ee57}, {0x1ee59, 0x1ee59},
    {0x1ee5b, 0x1ee5b}, {0x1ee5d, 0x1ee5d}, {0x1ee5f, 0x1ee5f}, {0x1ee61, 0x1ee62}, {0x1ee64, 0x1ee64},
    {0x1ee67, 0x1ee6a}, {0x1ee6c, 0x1ee72}, {0x1ee74, 0x1ee77}, {0x1ee79, 0x1ee7c}, {0x1ee7e, 0x1ee7e},
    {0x1ee80, 0x1ee89}, {0x1ee8b, 0x1ee9b}, {0x1eea1, 0x1eea3}, {0x1eea5, 0x1eea9}, {0x1eeab, 0x1eebb},
    {0x1f100, 0x1f10c}, {0x1fbf0, 0x1fbf9}, {0x20000, 0x2a6df}, {0x2a700, 0x2b738}, {0x2b740, 0x2b81d},
    {0x2b820, 0x2cea1}, {0x2ceb0, 0x2ebe0}, {0x2f800, 0x2fa1d}, {0x30000, 0x3134a},
};
constexpr Range kDigitRanges[] = {
    {0x30, 0x39},       {0x660, 0x669},     {0x6f0, 0x6f9},     {0x7c0, 0x7c9},     {0x966, 0x96f},
    {0x9e6, 0x9ef},     {0xa66, 0xa6f},     {0xae6, 0xaef},     {0xb66, 0xb6f},     {0xbe6, 0xbef},
    {0xc66, 0xc6f},     {0xce6, 0xcef},     {0xd66, 0xd6f},     {0xde6, 0xdef},     {0xe50, 0xe59},
    {0xed0, 0xed9},     {0xf20, 0xf29},     {0x1040, 0x1049},   {0x1090, 0x1099},   {0x17e0, 0x17e9},
    {0x1810, 0x1819},   {0x1946, 0x194f},   {0x19d0, 0x19d9},   {0x1a80, 0x1a89},   {0x1a90, 0x1a99},
    {0x1b50, 0x1b59},   {0x1bb0, 0x1bb9},   {0x1c40, 0x1c49},   {0x1c50, 0x1c59},   {0xa620, 0xa629},
    {0xa8d0, 0xa8d9},   {0xa900, 0xa909},   {0xa9d0, 0xa9d9},   {0xa9f0, 0xa9f9},   {0xaa50, 0xaa59},
    {0xabf0, 0xabf9},   {0xff10, 0xff19},   {0x104a0, 0x104a9}, {0x10d30, 0x10d39}, {0x11066, 0x1106f},
    {0x110f0, 0x110f9}, {0x11136, 0x1113f}, {0x111d0, 0x111d9}, {0x112f0, 0x112f9}, {0x11450, 0x11459},
    {0x114d0, 0x114d9}, {0x11650, 0x11659}, {0x116c0, 0x116c9}, {0x11730, 0x11739}, {0x118e0, 0x118e9},
    {0x11950, 0x11959}, {0x11c50, 0x11c59}, {0x11d50, 0x11d59}, {0x11da0, 0x11da9}, {0x16a60, 0x16a69},
    {0x16ac0, 0x16ac9}, {0x16b50, 0x16b59}, {0x1d7ce, 0x1d7ff}, {0x1e140, 0x1e149}, {0x1e2f0, 0x1e2f9},
    {0x1e950, 0x1e959}, {0x1fbf0, 0x1fbf9},
};
constexpr StrideRange kUpperRuns[] = {
    {0x41, 0x5a, 1},       {0xc0, 0xd6, 1},       {0xd8, 0xde, 1},       {0x100, 0x136, 2},     {0x139, 0x147, 2},
    {0x14a, 0x178, 2},     {0x179, 0x17d, 2},     {0x181, 0x182, 1},     {0x184, 0x186, 2},     {0x187, 0x189, 2},
    {0x18a, 0x18b, 1},     {0x18e, 0x191, 1},     {0x193, 0x194, 1},     {0x196, 0x198, 1},     {0x19c, 0x19d, 1},
    {0x19f, 0x1a0, 1},     {0x1a2, 0x1a6, 2},     {0x1a7, 0x1a9, 2},     {0x1ac, 0x1ae, 2},     {0x1af, 0x1b1, 2},
    {0x1b2, 0x1b3, 1},     {0x1b5, 0x1b7, 2},     {0x1b8, 0x1b8, 1},     {0x1bc, 0x1bc, 1},     {0x1c4, 0x1c4, 1},
    {0x1c7, 0x1c7, 1},     {0x1ca, 0x1ca, 1},     {0x1cd, 0x1db, 2},     {0x1de, 0x1ee, 2},     {0x1f1, 0x1f1, 1},
    {0x1f4, 0x1f6, 2},     {0x1f7, 0x1f8, 1},     {0x1fa, 0x232, 2},     {0x23a, 0x23b, 1},     {0x23d, 0x23e, 1},
    {0x241, 0x243, 2},     {0x244, 0x246, 1},     {0x248, 0x24e, 2},     {0x370, 0x372, 2},     {0x376, 0x376, 1},
    {0x37f, 0x37f, 1},     {0x386, 0x388, 2},     {0x389, 0x38a, 1},     {0x38c, 0x38e, 2},     {0x38f, 0x391, 2},
    {0x392, 0x3a1, 1},     {0x3a3, 0x3ab, 1},     {0x3cf, 0x3cf, 1},     {0x3d2, 0x3d4, 1},     {0x3d8, 0x3ee, 2},
    {0x3f4, 0x3f4, 1},     {0x3f7, 0x3f9, 2},     {0x3fa, 0x3fa, 1},     {0x3fd, 0x42f, 1},     {0x460, 0x480, 2},
    {0x48a, 0x4c0, 2},     {0x4c1, 0x4cd, 2},     {0x4d0, 0x52e, 2},     {0x531, 0x556, 1},     {0x10a0, 0x10c5, 1},
    {0x10c7, 0x10c7, 1},   {0x10cd, 0x10cd, 1},   {0x13a0, 0x13f5, 1},   {0x1c90, 0x1cba, 1},   {0x1cbd, 0x1cbf, 1},
    {0x1e00, 0x1e94, 2},   {0x1e9e, 0x1efe, 2},   {0x1f08, 0x1f0f, 1},   {0x1f18, 0x1f1d, 1},   {0x1f28, 0x1f2f, 1},
    {0x1f38, 0x1f3f, 1},   {0x1f48, 0x1f4d, 1},   {0x1f59, 0x1f5f, 2},   {0x1f68, 0x1f6f, 1},   {0x1fb8, 0x1fbb, 1},
    {0x1fc8, 0x1fcb, 1},   {0x1fd8, 0x1fdb, 1},   {0x1fe8, 0x1fec, 1},   {0x1ff8, 0x1ffb, 1},   {0x2102, 0x2102, 1},
    {0x2107, 0x2107, 1},   {0x210b, 0x210d, 1},   {0x2110, 0x2112, 1},   {0x2115, 0x2115, 1},   {0x2119, 0x211d, 1},
    {0x2124, 0x212a, 2},   {0x212b, 0x212d, 1},   {0x2130, 0x2133, 1},   {0x213e, 0x213f, 1},   {0x2145, 0x2145, 1},
    {0x2160, 0x216f, 1},   {0x2183, 0x2183, 1},   {0x24b6, 0x24cf, 1},   {0x2c00, 0x2c2f, 1},   {0x2c60, 0x2c62, 2},
    {0x2c63, 0x2c64, 1},   {0x2c67, 0x2c6d, 2},   {0x2c6e, 0x2c70, 1},   {0x2c72, 0x2c72, 1},   {0x2c75, 0x2c75, 1},
    {0x2c7e, 0x2c80, 1},   {0x2c82, 0x2ce2, 2},   {0x2ceb, 0x2ced, 2},   {0x2cf2, 0x2cf2, 1},   {0xa640, 0xa66c, 2},
    {0xa680, 0xa69a, 2},   {0xa722, 0xa72e, 2},   {0xa732, 0xa76e, 2},   {0xa779, 0xa77d, 2},   {0xa77e, 0xa786, 2},
    {0xa78b, 0xa78d, 2},   {0xa790, 0xa792, 2},   {0xa796, 0xa7aa, 2},   {0xa7ab, 0xa7ae, 1},   {0xa7b0, 0xa7b4, 1},
    {0xa7b6, 0xa7c4, 2},   {0xa7c5, 0xa7c7, 1},   {0xa7c9, 0xa7c9, 1},   {0xa7d0, 0xa7d0, 1},   {0xa7d6, 0xa7d8, 2},
    {0xa7f5, 0xa7f5, 1},   {0xff21, 0xff3a, 1},   {0x10400, 0x10427, 1}, {0x104b0, 0x104d3, 1}, {0x10570, 0x1057a, 1},
    {0x1057c, 0x1058a, 1}, {0x1058c, 0x10592, 1}, {0x10594, 0x10595, 1}, {0x10c80, 0x10cb2, 1}, {0x118a0, 0x118bf, 1},
    {0x16e40, 0x16e5f, 1}, {0x1d400, 0x1d419, 1}, {0x1d434, 0x1d44d, 1}, {0x1d468, 0x1d481, 1}, {0x1d49c, 0x1d49e, 2},
    {0x1d49f, 0x1d49f, 1}, {0x1d4a2, 0x1d4a2, 1}, {0x1d4a5, 0x1d4a6, 1}, {0x1d4a9, 0x1d4ac, 1}, {0x1d4ae, 0x1d4b5, 1},
    {0x1d4d0, 0x1d4e9, 1}, {0x1d504, 0x1d505, 1}, {0x1d507, 0x1d50a, 1}, {0x1d50d, 0x1d514, 1}, {0x1d516, 0x1d51c, 1},
    {0x1d538, 0x1d539, 1}, {0x1d53b, 0x1d53e, 1}, {0x1d540, 0x1d544, 1}, {0x1d546, 0x1d546, 1}, {0x1d54a, 0x1d550, 1},
    {0x1d56c, 0x1d585, 1}, {0x1d5a0, 0x1d5b9, 1}, {0x1d5d4, 0x1d5ed, 1}, {0x1d608, 0x1d621, 1}, {0x1d63c, 0x1d655, 1},
    {0x1d670, 0x1d689, 1}, {0x1d6a8, 0x1d6c0, 1}, {0x1d6e2, 0x1d6fa, 1}, {0x1d71c, 0x1d734, 1}, {0x1d756, 0x1d76e, 1},
    {0x1d790, 0x1d7a8, 1}, {0x1d7ca, 0x1d7ca, 1}, {0x1e900, 0x1e921, 1}, {0x1f130, 0x1f149, 1}, {0x1f150, 0x1f169, 1},
    {0x1f170, 0x1f189, 1},
};
constexpr StrideRange kLowerRuns[] = {
    {0x61, 0x7a, 1},       {0xaa, 0xaa, 1},       {0xb5, 0xb5, 1},       {0xba, 0xba, 1},       {0xdf, 0xf6, 1},
    {0xf8, 0xff, 1},       {0x101, 0x137, 2},     {0x138, 0x148, 2},     {0x149, 0x177, 2},     {0x17a, 0x17e, 2},
    {0x17f, 0x180, 1},     {0x183, 0x185, 2},     {0x188, 0x188, 1},     {0x18c, 0x18d, 1},     {0x192, 0x192, 1},
    {0x195, 0x195, 1},     {0x199, 0x19b, 1},     {0x19e, 0x19e, 1},     {0x1a1, 0x1a5, 2},     {0x1a8, 0x1aa, 2},
    {0x1ab, 0x1ad, 2},     {0x1b0, 0x1b0, 1},     {0x1b4, 0x1b6, 2},     {0x1b9, 0x1ba, 1},     {0x1bd, 0x1bf, 1},
    {0x1c6, 0x1c6, 1},     {0x1c9, 0x1c9, 1},     {0x1cc, 0x1dc, 2},     {0x1dd, 0x1ef, 2},     {0x1f0, 0x1f0, 1},
    {0x1f3, 0x1f5, 2},     {0x1f9, 0x233, 2},     {0x234, 0x239, 1},     {0x23c, 0x23c, 1},     {0x23f, 0x240, 1},
    {0x242, 0x242, 1},     {0x247, 0x24f, 2},     {0x250, 0x293, 1},     {0x295, 0x2b8, 1},     {0x2c0, 0x2c1, 1},
    {0x2e0, 0x2e4, 1},     {0x345, 0x345, 1},     {0x371, 0x373, 2},     {0x377, 0x377, 1},     {0x37a, 0x37d, 1},
    {0x390, 0x390, 1},     {0x3ac, 0x3ce, 1},     {0x3d0, 0x3d1, 1},     {0x3d5, 0x3d7, 1},     {0x3d9, 0x3ef, 2},
    {0x3f0, 0x3f3, 1},     {0x3f5, 0x3f5, 1},     {0x3f8, 0x3f8, 1},     {0x3fb, 0x3fc, 1},     {0x430, 0x45f, 1},
    {0x461, 0x481, 2},     {0x48b, 0x4bf, 2},     {0x4c2, 0x4ce, 2},     {0x4cf, 0x52f, 2},     {0x560, 0x588, 1},
    {0x10d0, 0x10fa, 1},   {0x10fd, 0x10ff, 1},   {0x13f8, 0x13fd, 1},   {0x1c80, 0x1c88, 1},   {0x1d00, 0x1dbf, 1},
    {0x1e01, 0x1e95, 2},   {0x1e96, 0x1e9d, 1},   {0x1e9f, 0x1eff, 2},   {0x1f00, 0x1f07, 1},   {0x1f10, 0x1f15, 1},
    {0x1f20, 0x1f27, 1},   {0x1f30, 0x1f37, 1},   {0x1f40, 0x1f45, 1},   {0x1f50, 0x1f57, 1},   {0x1f60, 0x1f67, 1},
    {0x1f70, 0x1f7d, 1},   {0x1f80, 0x1f87, 1},   {0x1f90, 0x1f97, 1},   {0x1fa0, 0x1fa7, 1},   {0x1fb0, 0x1fb4, 1},
    {0x1fb6, 0x1fb7, 1},   {0x1fbe, 0x1fbe, 1},   {0x1fc2, 0x1fc4, 1},   {0x1fc6, 0x1fc7, 1},   {0x1fd0, 0x1fd3, 1},
    {0x1fd6, 0x1fd7, 1},   {0x1fe0, 0x1fe7, 1},   {0x1ff2, 0x1ff4, 1},   {0x1ff6, 0x1ff7, 1},   {0x2071, 0x2071, 1},
    {0x207f, 0x207f, 1},   {0x2090, 0x209c, 1},   {0x210a, 0x210a, 1},   {0x210e, 0x210f, 1},   {0x2113, 0x2113, 1},
    {0x212f, 0x212f, 1},   {0x2134, 0x2134, 1},   {0x2139, 0x2139, 1},   {0x213c, 0x213d, 1},   {0x2146, 0x2149, 1},
    {0x214e, 0x214e, 1},   {0x2170, 0x217f, 1},   {0x2184, 0x2184, 1},   {0x24d0, 0x24e9, 1},   {0x2c30, 0x2c5f, 1},
    {0x2c61, 0x2c61, 1},   {0x2c65, 0x2c66, 1},   {0x2c68, 0x2c6c, 2},   {0x2c71, 0x2c73, 2},   {0x2c74, 0x2c76, 2},
    {0x2c77, 0x2c7d, 1},   {0x2c81, 0x2ce3, 2},   {0x2ce4, 0x2ce4, 1},   {0x2cec, 0x2cee, 2},   {0x2cf3, 0x2cf3, 1},
    {0x2d00, 0x2d25, 1},   {0x2d27, 0x2d27, 1},   {0x2d2d, 0x2d2d, 1},   {0xa641, 0xa66d, 2},   {0xa681, 0xa69b, 2},
    {0xa69c, 0xa69d, 1},   {0xa723, 0xa72f, 2},   {0xa730, 0xa731, 1},   {0xa733, 0xa76f, 2},   {0xa770, 0xa778, 1},
    {0xa77a, 0xa77c, 2},   {0xa77f, 0xa787, 2},   {0xa78c, 0xa78e, 2},   {0xa791, 0xa793, 2},   {0xa794, 0xa795, 1},
    {0xa797, 0xa7a9, 2},   {0xa7af, 0xa7af, 1},   {0xa7b5, 0xa7c3, 2},   {0xa7c8, 0xa7ca, 2},   {0xa7d1, 0xa7d9, 2},
    {0xa7f6, 0xa7f8, 2},   {0xa7f9, 0xa7fa, 1},   {0xab30, 0xab5a, 1},   {0xab5c, 0xab68, 1},   {0xab70, 0xabbf, 1},
    {0xfb00, 0xfb06, 1},   {0xfb13, 0xfb17, 1},   {0xff41, 0xff5a, 1},   {0x10428, 0x1044f, 1}, {0x104d8, 0x104fb, 1},
    {0x10597, 0x105a1, 1}, {0x105a3, 0x105b1, 1}, {0x105b3, 0x105b9, 1}, {0x105bb, 0x105bc, 1}, {0x10780, 0x10780, 1},
    {0x10783, 0x10785, 1}, {0x10787, 0x107b0, 1}, {0x107b2, 0x107ba, 1}, {0x10cc0, 0x10cf2, 1}, {0x118c0, 0x118df, 1},
    {0x16e60, 0x16e7f, 1}, {0x1d41a, 0x1d433, 1}, {0x1d44e, 0x1d454, 1}, {0x1d456, 0x1d467, 1}, {0x1d482, 0x1d49b, 1},
    {0x1d4b6, 0x1d4b9, 1}, {0x1d4bb, 0x1d4bd, 2}, {0x1d4be, 0x1d4c3, 1}, {0x1d4c5, 0x1d4cf, 1}, {0x1d4ea, 0x1d503, 1},
    {0x1d51e, 0x1d537, 1}, {0x1d552, 0x1d56b, 1}, {0x1d586, 0x1d59f, 1}, {0x1d5ba, 0x1d5d3, 1}, {0x1d5ee, 0x1d607, 1},
    {0x1d622, 0x1d63b, 1}, {0x1d656, 0x1d66f, 1}, {0x1d68a, 0x1d6a5, 1}, {0x1d6c2, 0x1d6da, 1}, {0x1d6dc, 0x1d6e1, 1},
    {0x1d6fc, 0x1d714, 1}, {0x1d716, 0x1d71b, 1}, {0x1d736, 0x1d74e, 1}, {0x1d750, 0x1d755, 1}, {0x1d770, 0x1d788, 1},
    {0x1d78a, 0x1d78f, 1}, {0x1d7aa, 0x1d7c2, 1}, {0x1d7c4, 0x1d7c9, 1}, {0x1d7cb, 0x1d7cb, 1}, {0x1df00, 0x1df09, 1},
    {0x1df0b, 0x1df1e, 1}, {0x1e922, 0x1e943, 1},
};
constexpr Range kTitleRanges[] = {
    {0x1c5, 0x1c5},   {0x1c8, 0x1c8},   {0x1cb, 0x1cb},   {0x1f2, 0x1f2},   {0x1f88, 0x1f8f},
    {0x1f98, 0x1f9f}, {0x1fa8, 0x1faf}, {0x1fbc, 0x1fbc}, {0x1fcc, 0x1fcc}, {0x1ffc, 0x1ffc},
};
constexpr CaseRun kToLowerRuns[] = {
    {0x41, 0x5a, 1, 32},         {0xc0, 0xd6, 1, 32},         {0xd8, 0xde, 1, 32},         {0x100, 0x12e, 2, 1},
    {0x132, 0x136, 2, 1},        {0x139, 0x147, 2, 1},        {0x14a, 0x176, 2, 1},        {0x178, 0x178, 1, -121},
    {0x179, 0x17d, 2, 1},        {0x181, 0x181, 1, 210},      {0x182, 0x184, 2, 1},        {0x186, 0x186, 1, 206},
    {0x187, 0x187, 1, 1},        {0x189, 0x18a, 1, 205},      {0x18b, 0x18b, 1, 1},        {0x18e, 0x18e, 1, 79},
    {0x18f, 0x18f, 1, 202},      {0x190, 0x190, 1, 203},      {0x191, 0x191, 1, 1},        {0x193, 0x193, 1, 205},
    {0x194, 0x194, 1, 207},      {0x196, 0x196, 1, 211},      {0x197, 0x197, 1, 209},      {0x198, 0x198, 1, 1},
    {0x19c, 0x19c, 1, 211},      {0x19d, 0x19d, 1, 213},      {0x19f, 0x19f, 1, 214},      {0x1a0, 0x1a4, 2, 1},
    {0x1a6, 0x1a6, 1, 218},      {0x1a7, 0x1a7, 1, 1},        {0x1a9, 0x1a9, 1, 218},      {0x1ac, 0x1ac, 1, 1},
    {0x1ae, 0x1ae, 1, 218},      {0x1af, 0x1af, 1, 1},        {0x1b1, 0x1b2, 1, 217},      {0x1b3, 0x1b5, 2, 1},
    {0x1b7, 0x1b7, 1, 219},      {0x1b8, 0x1b8, 1, 1},        {0x1bc, 0x1bc, 1, 1},        {0x1c4, 0x1c4, 1, 2},
    {0x1c5, 0x1c5, 1, 1},        {0x1c7, 0x1c7, 1, 2},        {0x1c8, 0x1c8, 1, 1},        {0x1ca, 0x1ca, 1, 2},
    {0x1cb, 0x1db, 2, 1},        {0x1de, 0x1ee, 2, 1},        {0x1f1, 0x1f1, 1, 2},        {0x1f2, 0x1f4, 2, 1},
    {0x1f6, 0x1f6, 1, -97},      {0x1f7, 0x1f7, 1, -56},      {0x1f8, 0x21e, 2, 1},        {0x220, 0x220, 1, -130},
    {0x222, 0x232, 2, 1},        {0x23a, 0x23a, 1, 10795},    {0x23b, 0x23b, 1, 1},        {0x23d, 0x23d, 1, -163},
    {0x23e, 0x23e, 1, 10792},    {0x241, 0x241, 1, 1},        {0x243, 0x243, 1, -195},     {0x244, 0x244, 1, 69},
    {0x245, 0x245, 1, 71},       {0x246, 0x24e, 2, 1},        {0x370, 0x372, 2, 1},        {0x376, 0x376, 1, 1},
    {0x37f, 0x37f, 1, 116},      {0x386, 0x386, 1, 38},       {0x388, 0x38a, 1, 37},       {0x38c, 0x38c, 1, 64},
    {0x38e, 0x38f, 1, 63},       {0x391, 0x3a1, 1, 32},       {0x3a3, 0x3ab, 1, 32},       {0x3cf, 0x3cf, 1, 8},
    {0x3d8, 0x3ee, 2, 1},        {0x3f4, 0x3f4, 1, -60},      {0x3f7, 0x3f7, 1, 1},        {0x3f9, 0x3f9, 1, -7},
    {0x3fa, 0x3fa, 1, 1},        {0x3fd, 0x3ff, 1, -130},     {0x400, 0x40f, 1, 80},       {0x410, 0x42f, 1, 32},
    {0x460, 0x480, 2, 1},        {0x48a, 0x4be, 2, 1},        {0x4c0, 0x4c0, 1, 15},       {0x4c1, 0x4cd, 2, 1},
    {0x4d0, 0x52e, 2, 1},        {0x531, 0x556, 1, 48},       {0x10a0, 0x10c5, 1, 7264},   {0x10c7, 0x10c7, 1, 7264},
    {0x10cd, 0x10cd, 1, 7264},   {0x13a0, 0x13ef, 1, 38864},  {0x13f0, 0x13f5, 1, 8},      {0x1c90, 0x1cba, 1, -3008},
    {0x1cbd, 0x1cbf, 1, -3008},  {0x1e00, 0x1e94, 2, 1},      {0x1e9e, 0x1e9e, 1, -7615},  {0x1ea0, 0x1efe, 2, 1},
    {0x1f08, 0x1f0f, 1, -8},     {0x1f18, 0x1f1d, 1, -8},     {0x1f28, 0x1f2f, 1, -8},     {0x1f38, 0x1f3f, 1, -8},
    {0x1f48, 0x1f4d, 1, -8},     {0x1f59, 0x1f5f, 2, -8},     {0x1f68, 0x1f6f, 1, -8},     {0x1f88, 0x1f8f, 1, -8},
    {0x1f98, 0x1f9f, 1, -8},     {0x1fa8, 0x1faf, 1, -8},     {0x1fb8, 0x1fb9, 1, -8},     {0x1fba, 0x1fbb, 1, -74},
    {0x1fbc, 0x1fbc, 1, -9},     {0x1fc8, 0x1fcb, 1, -86},    {0x1fcc, 0x1fcc, 1, -9},     {0x1fd8, 0x1fd9, 1, -8},
    {0x1fda, 0x1fdb, 1, -100},   {0x1fe8, 0x1fe9, 1, -8},     {0x1fea, 0x1feb, 1, -112},   {0x1fec, 0x1fec, 1, -7},
    {0x1ff8, 0x1ff9, 1, -128},   {0x1ffa, 0x1ffb, 1, -126},   {0x1ffc, 0x1ffc, 1, -9},     {0x2126, 0x2126, 1, -7517},
    {0x212a, 0x212a, 1, -8383},  {0x212b, 0x212b, 1, -8262},  {0x2132, 0x2132, 1, 28},     {0x2160, 0x216f, 1, 16},
    {0x2183, 0x2183, 1, 1},      {0x24b6, 0x24cf, 1, 26},     {0x2c00, 0x2c2f, 1, 48},     {0x2c60, 0x2c60, 1, 1},
    {0x2c62, 0x2c62, 1, -10743}, {0x2c63, 0x2c63, 1, -3814},  {0x2c64, 0x2c64, 1, -10727}, {0x2c67, 0x2c6b, 2, 1},
    {0x2c6d, 0x2c6d, 1, -10780}, {0x2c6e, 0x2c6e, 1, -10749}, {0x2c6f, 0x2c6f, 1, -10783}, {0x2c70, 0x2c70, 1, -10782},
    {0x2c72, 0x2c72, 1, 1},      {0x2c75, 0x2c75, 1, 1},      {0x2c7e, 0x2c7f, 1, -10815}, {0x2c80, 0x2ce2, 2, 1},
    {0x2ceb, 0x2ced, 2, 1},      {0x2cf2, 0x2cf2, 1, 1},      {0xa640, 0xa66c, 2, 1},      {0xa680, 0xa69a, 2, 1},
    {0xa722, 0xa72e, 2, 1},      {0xa732, 0xa76e, 2, 1},      {0xa779, 0xa77b, 2, 1},      {0xa77d, 0xa77d, 1, -35332},
    {0xa77e, 0xa786, 2, 1},      {0xa78b, 0xa78b, 1, 1},      {0xa78d, 0xa78d, 1, -42280}, {0xa790, 0xa792, 2, 1},
    {0xa796, 0xa7a8, 2, 1},      {0xa7aa, 0xa7aa, 1, -42308}, {0xa7ab, 0xa7ab, 1, -42319}, {0xa7ac, 0xa7ac, 1, -42315},
    {0xa7ad, 0xa7ad, 1, -42305}, {0xa7ae, 0xa7ae, 1, -42308}, {0xa7b0, 0xa7b0, 1, -42258}, {0xa7b1, 0xa7b1, 1, -42282},
    {0xa7b2, 0xa7b2, 1, -42261}, {0xa7b3, 0xa7b3, 1, 928},    {0xa7b4, 0xa7c2, 2, 1},      {0xa7c4, 0xa7c4, 1, -48},
    {0xa7c5, 0xa7c5, 1, -42307}, {0xa7c6, 0xa7c6, 1, -35384}, {0xa7c7, 0xa7c9, 2, 1},      {0xa7d0, 0xa7d0, 1, 1},
    {0xa7d6, 0xa7d8, 2, 1},      {0xa7f5, 0xa7f5, 1, 1},      {0xff21, 0xff3a, 1, 32},     {0x10400, 0x10427, 1, 40},
    {0x104b0, 0x104d3, 1, 40},   {0x10570, 0x1057a, 1, 39},   {0x1057c, 0x1058a, 1, 39},   {0x1058c, 0x10592, 1, 39},
    {0x10594, 0x10595, 1, 39},   {0x10c80, 0x10cb2, 1, 64},   {0x118a0, 0x118bf, 1, 32},   {0x16e40, 0x16e5f, 1, 32},
    {0x1e900, 0x1e921, 1, 34},
};

template <typename T, std::size_t N>
const T* run_for(const T (&table)[N], char32_t c) {
  const T* it = std::upper_bound(std::begin(table), std::end(table), c,
                                 [](char32_t value, const T& run) { return value < run.lo; });
  if (it == std::begin(table)) return nullptr;
  --it;
  return c <= it->hi ? it : nullptr;
}

template <typename T, std::size_t N>
bool in_stride_table(const T (&table)[N], char32_t c) {
  const T* run = run_for(table, c);
  return run != nullptr && (c - run->lo) % run->step == 0;
}

bool is_word(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  return run_for(kWordRanges, c) != nullptr;
}
bool is_digit(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return run_for(kDigitRanges, c) != nullptr;
}
bool is_upper(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  return in_stride_table(kUpperRuns, c);
}
bool is_lower(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  return in_stride_table(kLowerRuns, c);
}
bool is_title(char32_t c) { return c >= 0x1C5 && run_for(kTitleRanges, c) != nullptr; }

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c == 0x130) return U'i';
  const CaseRun* run = run_for(kToLowerRuns, c);
  if (run == nullptr || (c - run->lo) % run->step != 0) return c;
  return static_cast<char32_t>(static_cast<std::int64_t>(c) + run->delta);
}

// Python's str.isspace() and re's \s.
bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ---------------------------------------------------------------------------------------------
// Strings

U32 decode(std::string_view s) {
  U32 out;
  out.reserve(s.size());
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(s[k]); };
  while (i < n) {
    const std::uint8_t b0 = byte(i);
    std::size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1Fu, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0Fu, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07u, min = 0x10000;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (byte(i + k) & 0x3Fu);
      }
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok) {
      out.push_back(cp);
      i += len;
    } else {
      out.push_back(0xFFFD);  // an invalid byte
      ++i;
    }
  }
  return out;
}

std::string encode(const U32& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

U32 lower(U32 s) {
  for (char32_t& c : s) c = to_lower(c);
  return s;
}

U32 strip(const U32& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Python's str.strip(chars) for one character.
U32 strip_char(const U32& s, char32_t c) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && s[b] == c) ++b;
  while (e > b && s[e - 1] == c) --e;
  return s.substr(b, e - b);
}

bool starts_with(const U32& s, const U32& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }
bool ends_with(const U32& s, const U32& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Python's str.split(sep) for a non-empty separator.
std::vector<U32> split_on(const U32& s, const U32& sep) {
  std::vector<U32> parts;
  std::size_t start = 0;
  for (std::size_t at = s.find(sep); at != kNpos; at = s.find(sep, start)) {
    parts.push_back(s.substr(start, at - start));
    start = at + sep.size();
  }
  parts.push_back(s.substr(start));
  return parts;
}

// Python's str.split() with no separator.
std::vector<U32> split_whitespace(const U32& s) {
  std::vector<U32> parts;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const std::size_t b = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > b) parts.push_back(s.substr(b, i - b));
  }
  return parts;
}

U32 join(const std::vector<U32>& parts, std::size_t from, std::size_t to, char32_t sep) {
  U32 out;
  for (std::size_t k = from; k < to; ++k) {
    if (k > from) out.push_back(sep);
    out += parts[k];
  }
  return out;
}

U32 remove_char(U32 s, char32_t c) {
  s.erase(std::remove(s.begin(), s.end(), c), s.end());
  return s;
}

// Python's str.isupper() / str.islower().
bool py_isupper(const U32& s) {
  bool cased = false;
  for (char32_t c : s) {
    if (is_lower(c) || is_title(c)) return false;
    if (is_upper(c)) cased = true;
  }
  return cased;
}
bool py_islower(const U32& s) {
  bool cased = false;
  for (char32_t c : s) {
    if (is_upper(c) || is_title(c)) return false;
    if (is_lower(c)) cased = true;
  }
  return cased;
}

// Non-overlapping occurrences, as re.findall of a literal pattern.
std::size_t count_occurrences(const U32& text, const U32& needle) {
  if (needle.empty()) return text.size() + 1;
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != kNpos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

bool word_boundary(const U32& s, std::size_t pos) {
  const bool before = pos > 0 && is_word(s[pos - 1]);
  const bool after = pos < s.size() && is_word(s[pos]);
  return before != after;
}

// ---------------------------------------------------------------------------------------------
// Word counting: nltk RegexpTokenizer(r"\w+").

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

// ---------------------------------------------------------------------------------------------
// Sentence splitting: nltk punkt (3.8) with the english model's parameters replaced by the small
// lists below (see the list at the top).

// punkt's _re_non_word_chars.
bool punkt_non_word(char32_t c) { return std::u32string_view(U"?!)\";}]*:@'({[").find(c) != kNpos; }
// Characters punkt's _re_word_start excludes: they become one-character tokens.
bool punkt_not_word_start(char32_t c) { return std::u32string_view(U"(\"`{[:;&#*@)}]-,").find(c) != kNpos; }
bool is_sent_end(char32_t c) { return c == '.' || c == '?' || c == '!'; }

std::unordered_set<U32> make_set(std::initializer_list<const char*> words) {
  std::unordered_set<U32> set;
  for (const char* w : words) set.insert(decode(w));
  return set;
}

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

// ---------------------------------------------------------------------------------------------
// Capital words: nltk.word_tokenize = punkt sentences, then NLTKWordTokenizer's substitutions (3.8).

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

std::size_t count_capital_words_u32(const U32& text) {
  std::size_t count = 0;
  for (const auto& [start, stop] : sentence_spans(text)) {
    for (const U32& token : treebank_tokens(text.substr(start, stop - start))) {
      if (py_isupper(token)) ++count;
    }
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// Language detection (stands in for langdetect; see the list at the top).

enum class Script {
  kNone,
  kLatin,
  kCyrillic,
  kGreek,
  kArmenian,
  kHebrew,
  kArabic,
  kDevanagari,
  kBengali,
  kGurmukhi,
  kGujarati,
  kOriya,
  kTamil,
  kTelugu,
  kKannada,
  kMalayalam,
  kSinhala,
  kThai,
  kLao,
  kTibetan,
  kMyanmar,
  kGeorgian,
  kHangul,
  kEthiopic,
  kKhmer,
  kCjk,
  kCount
};

bool between(char32_t c, char32_t lo, char32_t hi) { return c >= lo && c <= hi; }

Script script_of(char32_t c) {
  if (c < 0x80) return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? Script::kLatin : Script::kNone;
  if (is_digit(c)) return Script::kNone;
  if ((between(c, 0xC0, 0x24F) && c != 0xD7 && c != 0xF7) || between(c, 0x250, 0x2AF) || between(c, 0x1E00, 0x1EFF) ||
      between(c, 0xFF21, 0xFF3A) || between(c, 0xFF41, 0xFF5A)) {
    return Script::kLatin;
  }
  if (between(c, 0x370, 0x3FF) || between(c, 0x1F00, 0x1FFF)) return Script::kGreek;
  if (between(c, 0x400, 0x52F) || between(c, 0x1C80, 0x1C8F) || between(c, 0x2DE0, 0x2DFF) ||
      between(c, 0xA640, 0xA69F)) {
    return Script::kCyrillic;
  }
  if (between(c, 0x530, 0x58F)) return Script::kArmenian;
  if (between(c, 0x590, 0x5FF) || between(c, 0xFB1D, 0xFB4F)) return Script::kHebrew;
  if (between(c, 0x600, 0x6FF) || between(c, 0x750, 0x77F) || between(c, 0x8A0, 0x8FF) || between(c, 0xFB50, 0xFDFF) ||
      between(c, 0xFE70, 0xFEFF)) {
    const bool punct = c == 0x60C || c == 0x61B || c == 0x61F || between(c, 0x66A, 0x66D) || c == 0x6D4;
    return punct ? Script::kNone : Script::kArabic;
  }
  if (between(c, 0x900, 0x97F) || between(c, 0xA8E0, 0xA8FF)) {
    return (c == 0x964 || c == 0x965) ? Script::kNone : Script::kDevanagari;
  }
  if (between(c, 0x980, 0x9FF)) return Script::kBengali;
  if (between(c, 0xA00, 0xA7F)) return Script::kGurmukhi;
  if (between(c, 0xA80, 0xAFF)) return Script::kGujarati;
  if (between(c, 0xB00, 0xB7F)) return Script::kOriya;
  if (between(c, 0xB80, 0xBFF)) return Script::kTamil;
  if (between(c, 0xC00, 0xC7F)) return Script::kTelugu;
  if (between(c, 0xC80, 0xCFF)) return Script::kKannada;
  if (between(c, 0xD00, 0xD7F)) return Script::kMalayalam;
  if (between(c, 0xD80, 0xDFF)) return Script::kSinhala;
  if (between(c, 0xE00, 0xE7F)) return Script::kThai;
  if (between(c, 0xE80, 0xEFF)) return Script::kLao;
  if (between(c, 0xF00, 0xFFF)) return Script::kTibetan;
  if (between(c, 0x1000, 0x109F)) return Script::kMyanmar;
  if (between(c, 0x10A0, 0x10FF) || between(c, 0x1C90, 0x1CBF)) return Script::kGeorgian;
  if (between(c, 0x1100, 0x11FF) || between(c, 0x3130, 0x318F) || between(c, 0xA960, 0xA97F) ||
      between(c, 0xAC00, 0xD7FF)) {
    return Script::kHangul;
  }
  if (between(c, 0x1200, 0x139F) || between(c, 0x2D80, 0x2DDF)) return Script::kEthiopic;
  if (between(c, 0x1780, 0x17FF)) return Script::kKhmer;
  if (between(c, 0x3040, 0x30FF) || between(c, 0x31F0, 0x31FF) || between(c, 0xFF66, 0xFF9F) ||
      between(c, 0x3400, 0x4DBF) || between(c, 0x4E00, 0x9FFF) || between(c, 0xF900, 0xFAFF) ||
      between(c, 0x20000, 0x2FA1F)) {
    return Script::kCjk;
  }
  return Script::kNone;
}

bool is_kana(char32_t c) {
  return between(c, 0x3040, 0x30FF) || between(c, 0x31F0, 0x31FF) || between(c, 0xFF66, 0xFF9F);
}

struct Stopwords {
  std::string language;
  std::unordered_set<U32> words;
  U32 letters;  // letters only this language (of those listed) uses much
};
struct StopwordSpec {
  const char* language;
  std::initializer_list<const char*> words;
  const char* letters = "";
};

std::vector<Stopwords> make_lists(std::initializer_list<StopwordSpec> spec) {
  std::vector<Stopwords> lists;
  for (const StopwordSpec& s : spec) lists.push_back({s.language, make_set(s.words), decode(s.letters)});
  return lists;
}

// Frequent words, without those common to English and another listed language.
const std::vector<Stopwords>& latin_stopwords() {
  static const std::vector<Stopwords> lists = make_lists({
      // clang-format off
      {"en", {"the", "and", "of", "to", "is", "that", "it", "for", "you", "with", "this", "are", "was", "be",
              "on", "as", "have", "not", "but", "they", "by", "at", "from", "or", "an", "will", "can", "we",
              "your", "my", "i", "he", "she", "his", "her", "their", "there", "what", "which", "who",
              "would", "should", "about", "if", "all", "has", "had", "were", "been", "more", "when", "our",
              "one", "also", "than", "into", "some", "these", "them", "its", "out", "just", "like", "how",
              "me", "in", "do", "any", "only", "very", "so"}},
      {"de", {"der", "die", "das", "und", "ist", "nicht", "zu", "den", "von", "mit", "sich", "des", "auf",
              "für", "im", "dem", "eine", "ein", "auch", "es", "werden", "aus", "er", "dass", "sie", "nach",
              "wird", "bei", "einer", "um", "sind", "noch", "wie", "einem", "über", "einen", "so", "zum",
              "haben", "nur", "oder", "aber", "vor", "zur", "bis", "mehr", "durch", "sein", "wurde", "ich",
              "wir", "ihr", "kann", "können", "sehr", "diese", "dieser", "wenn", "ihre", "du", "uns", "dann",
              "schon", "immer", "weil", "doch", "gibt", "hier", "jetzt", "mein", "dein", "euch"}, "äöüß"},
      {"fr", {"le", "la", "les", "de", "des", "et", "est", "un", "une", "du", "en", "que", "qui", "dans",
              "pour", "pas", "au", "sur", "ce", "il", "elle", "ne", "se", "sont", "avec", "plus", "par",
              "nous", "vous", "ils", "mais", "ou", "son", "sa", "ses", "leur", "cette", "été", "être",
              "fait", "aux", "tout", "comme", "je", "très", "peut", "aussi", "où", "ça", "était", "avoir"}, "àâçèêëîïôûùœ"},
      {"es", {"el", "la", "los", "las", "de", "del", "y", "que", "en", "un", "es", "por", "con", "para",
              "se", "su", "sus", "al", "lo", "como", "más", "pero", "este", "esta", "son", "está", "también",
              "muy", "hay", "fue", "ser", "sobre", "entre", "cuando", "todo", "nos", "yo", "usted", "le",
              "una", "porque", "puede", "tiene", "ya", "sin", "desde", "donde", "estos", "estas"}, "ñ¿¡"},
      {"pt", {"os", "de", "do", "da", "dos", "das", "e", "que", "em", "um", "uma", "é", "para", "com", "não",
              "por", "se", "na", "no", "nos", "mais", "como", "mas", "ao", "ele", "ela", "seu", "sua", "são",
              "está", "também", "muito", "foi", "ser", "pelo", "pela", "isso", "esse", "essa", "este",
              "esta", "quando", "você", "eu", "nós", "tem", "há", "já", "entre", "sobre", "até", "seus",
              "suas", "aos", "às", "pode", "sem", "ou", "quem", "onde", "têm", "estão"}, "ãõ"},
      {"it", {"il", "lo", "la", "gli", "le", "di", "del", "della", "dei", "delle", "e", "è", "che", "un",
              "una", "per", "con", "non", "da", "sono", "si", "come", "più", "ma", "al", "alla", "anche",
              "questo", "questa", "nel", "nella", "suo", "sua", "loro", "molto", "essere", "ha", "hanno",
              "ci", "mi", "ti", "lei", "io", "noi", "voi", "cosa", "quando", "perché", "se", "tra", "già",
              "degli", "dal", "dalla", "sul", "sulla", "ogni", "tutto", "tutti", "sempre"}, "ìò"},
      {"nl", {"het", "een", "en", "van", "dat", "op", "te", "zijn", "met", "voor", "niet", "aan", "er", "om",
              "ook", "als", "bij", "maar", "wordt", "door", "nog", "dan", "naar", "werd", "uit", "wat", "ze",
              "hij", "zij", "wij", "je", "mijn", "hebben", "heeft", "kan", "worden", "deze", "dit", "zo",
              "over", "moet", "de", "die", "geen", "ik", "jij", "hun", "meer", "veel", "omdat"}},
      {"pl", {"w", "z", "się", "nie", "że", "jest", "jak", "co", "ale", "od", "po", "za", "dla", "tak",
              "jego", "jej", "są", "przez", "być", "może", "oraz", "już", "tylko", "który", "która", "które",
              "czy", "ich", "tym", "tego", "ten", "bardzo", "jestem", "mnie", "na", "również", "gdy", "był",
              "była", "było", "jako", "też", "więc", "jednak", "kiedy"}, "ąęłńśźżć"},
      {"vi", {"và", "của", "là", "có", "được", "những", "các", "một", "trong", "cho", "với", "không",
              "người", "này", "để", "đã", "khi", "từ", "như", "về", "cũng", "nhiều", "rất", "thì", "sẽ",
              "bạn", "tôi", "chúng", "ta", "năm", "nhưng", "vào", "ra", "đến", "theo", "làm", "đó", "nào",
              "hơn", "mà", "nên", "hoặc", "bị", "tại", "sự", "việc", "đây", "điều", "họ", "lại"}, "ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"},
      {"sw", {"na", "ya", "wa", "za", "kwa", "ni", "katika", "cha", "vya", "kama", "hii", "huo", "hiyo",
              "yake", "wake", "kuwa", "pia", "lakini", "au", "sana", "hizi", "zake", "ambayo", "ambao",
              "mimi", "wewe", "yeye", "sisi", "ninyi", "wao", "kila", "bila", "kwamba", "hata", "baada",
              "kabla", "zaidi", "hapa", "pamoja", "yetu", "yako", "yangu", "watu", "mtu", "kubwa", "nini",
              "gani", "ili", "hicho", "vile", "kutoka", "hadi", "wakati"}},
      {"fi", {"ja", "on", "ei", "että", "oli", "ovat", "hän", "mutta", "kun", "niin", "myös", "tai", "jos",
              "olla", "ole", "sen", "tämä", "joka", "jotka", "mitä", "kuin", "vain", "nyt", "sitten",
              "kanssa", "minä", "sinä", "heidän", "hänen", "tässä", "siitä", "sekä", "kaikki", "voi", "voit",
              "mukaan", "jo", "ollut", "olen", "olet", "olemme", "tämän", "näin", "aina", "yli", "se", "ne",
              "sinun", "minun", "meidän", "kuten", "vielä", "paljon"}, "äö"},
      {"tr", {"ve", "bir", "bu", "da", "için", "ile", "çok", "ne", "gibi", "daha", "olarak", "kadar",
              "sonra", "ama", "ben", "sen", "biz", "siz", "onlar", "var", "yok", "değil", "mi", "mı", "olan",
              "her", "şey", "veya", "ki", "diye", "göre", "olduğu", "bunu", "ise"}, "şğı"},
      {"id", {"yang", "dan", "di", "ini", "itu", "dengan", "untuk", "dari", "dalam", "tidak", "akan", "pada",
              "juga", "ke", "ada", "adalah", "saya", "kami", "kita", "mereka", "anda", "oleh", "atau",
              "bisa", "sudah", "telah", "karena", "seperti", "lebih", "hanya", "jika", "tetapi", "kepada",
              "bahwa", "banyak"}},
      {"sv", {"och", "att", "det", "som", "på", "är", "av", "för", "med", "till", "den", "har", "inte",
              "ett", "var", "jag", "men", "så", "han", "hon", "vi", "sig", "från", "eller", "när", "vid",
              "också", "skulle", "efter", "mycket", "detta", "dessa"}, "åäö"},
      {"ro", {"și", "în", "cu", "pe", "nu", "care", "este", "să", "din", "mai", "pentru", "ce", "sunt",
              "fost", "sau", "dar", "această", "acest", "lui", "după", "foarte", "când", "prin", "doar",
              "despre", "până", "într", "ai"}, "șțşţăîâ"},
      {"cs", {"je", "se", "v", "na", "že", "s", "z", "jako", "ale", "pro", "k", "jsou", "jeho", "jak", "po",
              "tak", "jsem", "které", "který", "která", "také", "není", "nebo", "jen", "už", "od", "když",
              "bude", "může", "byl", "bylo", "aby", "při", "jejich", "této", "tento"}, "řěůčšžďťň"},
      {"hu", {"az", "és", "hogy", "nem", "egy", "meg", "van", "csak", "el", "ha", "már", "mint", "ki", "fel",
              "még", "után", "vagy", "volt", "lesz", "ezt", "azt", "ez", "mert", "nagyon", "minden", "sok",
              "amely", "amikor", "kell", "lehet"}, "őű"},
      // clang-format on
  });
  return lists;
}

const std::vector<Stopwords>& devanagari_stopwords() {
  static const std::vector<Stopwords> lists = make_lists({
      // clang-format off
      {"hi", {"है", "हैं", "और", "के", "में", "की", "का", "को", "से", "यह", "पर", "नहीं", "लिए", "भी", "था",
              "थे", "थी", "कि", "तो", "जो", "कर", "किया", "करने", "करते", "गया", "अपने", "इस", "वह", "हम",
              "आप", "मैं", "होता", "होती", "रहा", "रही", "साथ", "बहुत", "कुछ", "जब", "तक", "इसके", "उनके",
              "होते", "सकते", "जाता", "जाती", "एवं", "द्वारा"}},
      {"mr", {"आहे", "आहेत", "आणि", "या", "व", "हे", "ते", "त्या", "मध्ये", "होते", "होता", "होती", "नाही",
              "करण्यासाठी", "म्हणून", "केले", "तर", "पण", "आपण", "मी", "तुम्ही", "आम्ही", "त्यांना",
              "त्याचे", "त्याची", "त्यांच्या", "सर्व", "अनेक", "खूप", "आता", "जे", "जी", "करून", "असे",
              "असते", "आपल्या", "कसे", "काय", "केली", "झाले", "होईल", "त्याच्या", "आपली", "माझे", "हा"}},
      {"ne", {"छ", "छन्", "र", "मा", "ले", "लाई", "पनि", "गर्न", "गरेको", "भएको", "हुन्छ", "थियो", "थिए",
              "यो", "त्यो", "यस", "उनी", "हामी", "तपाईं", "म", "मेरो", "हाम्रो", "तर", "वा", "भने",
              "लागि", "सबै", "धेरै", "अनि", "गर्छ", "गर्दछ", "रहेको", "हुने", "भन्ने", "अब", "साथै", "कुनै",
              "गरी", "गरेर", "हुन", "छैन", "को", "का"}},
      // clang-format on
  });
  return lists;
}

// Characters that end a word for the stopword vote: letters, digits and combining marks go on.
bool language_word_char(char32_t c) {
  return is_word(c) || between(c, 0x300, 0x36F) || (between(c, 0x900, 0xDFF) && c != 0x964 && c != 0x965) ||
         between(c, 0x610, 0x61A) || between(c, 0x64B, 0x65F) || c == 0x670 || between(c, 0x6D6, 0x6ED) ||
         c == 0x200C || c == 0x200D;
}

std::vector<U32> language_words(const U32& text) {
  std::vector<U32> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !language_word_char(text[i])) ++i;
    const std::size_t b = i;
    while (i < text.size() && language_word_char(text[i])) ++i;
    if (i > b) words.push_back(lower(text.substr(b, i - b)));
  }
  return words;
}

// The language with the best score (two points per stopword, one per word holding one of its
// letters); ties go to the earlier list.
std::string stopword_vote(const std::vector<U32>& words, const std::vector<Stopwords>& lists) {
  std::string best = lists.front().language;
  std::size_t best_hits = 0;
  for (const Stopwords& list : lists) {
    std::size_t hits = 0;
    for (const U32& w : words) {
      hits += 2 * list.words.count(w);
      if (!list.letters.empty() && w.find_first_of(list.letters) != kNpos) ++hits;
    }
    if (hits > best_hits) {
      best = list.language;
      best_hits = hits;
    }
  }
  return best;
}

std::size_t count_any(const U32& text, std::u32string_view chars) {
  std::size_t n = 0;
  for (char32_t c : text) n += chars.find(c) != std::u32string_view::npos ? 1 : 0;
  return n;
}

std::string cyrillic_language(const U32& text) {
  const U32 low = lower(text);
  const std::size_t ukrainian = count_any(low, U"\u0456\u0457\u0454\u0491");                     // і ї є ґ
  const std::size_t russian = count_any(low, U"\u044b\u044d\u0451");                             // ы э ё
  const std::size_t bulgarian = count_any(low, U"\u044a");                                       // ъ
  const std::size_t macedonian = count_any(low, U"\u0453\u045c\u0455\u0458\u0459\u045a\u045f");  // ѓ ќ ѕ ј љ њ џ
  if (macedonian > std::max({ukrainian, russian, bulgarian})) return "mk";
  if (ukrainian > russian && ukrainian > bulgarian) return "uk";
  if (bulgarian > russian) return "bg";
  if (russian > 0) return "ru";
  static const std::vector<Stopwords> lists = make_lists({
      // clang-format off
      {"ru", {"что", "это", "как", "он", "она", "для", "который", "которые", "его", "был", "была", "быть"}},
      {"bg", {"това", "като", "са", "ще", "които", "който", "която", "към", "със", "във", "беше", "бъде"}},
      // clang-format on
  });
  return stopword_vote(language_words(text), lists);
}

std::string arabic_script_language(const U32& text, std::size_t letters) {
  const std::size_t urdu = count_any(text, U"\u06d2\u0679\u0688\u0691\u06ba\u06be\u06c1");  // ے ٹ ڈ ڑ ں ھ ہ
  const std::size_t persian = count_any(text, U"\u06cc\u06a9\u067e\u0686\u0698\u06af");     // ی ک پ چ ژ گ
  const std::size_t arabic = count_any(text, U"\u064a\u0643\u0629\u0649");                  // ي ك ة ى
  if (urdu * 50 > letters) return "ur";
  return persian > arabic ? "fa" : "ar";
}

// Blanks out URLs and e-mail addresses, which langdetect removes before detecting.
U32 without_urls(U32 text) {
  auto url_char = [](char32_t c) {
    return c < 0x80 && (is_word(c) || std::u32string_view(U"-.?&~;+=/#").find(c) != kNpos);
  };
  for (std::size_t at = text.find(U"http"); at != kNpos; at = text.find(U"http", at + 1)) {
    std::size_t p = at + 4;
    if (p < text.size() && text[p] == 's') ++p;
    if (text.compare(p, 3, U"://") != 0) continue;
    p += 3;
    while (p < text.size() && url_char(text[p])) ++p;
    std::fill(text.begin() + static_cast<std::ptrdiff_t>(at), text.begin() + static_cast<std::ptrdiff_t>(p), U' ');
  }
  auto mail_char = [](char32_t c) { return c < 0x80 && (is_word(c) || c == '-' || c == '.'); };
  for (std::size_t at = text.find(U'@'); at != kNpos; at = text.find(U'@', at + 1)) {
    std::size_t b = at;
    while (b > 0 && mail_char(text[b - 1])) --b;
    std::size_t e = at + 1;
    while (e < text.size() && mail_char(text[e])) ++e;
    if (b == at || e == at + 1) continue;
    std::fill(text.begin() + static_cast<std::ptrdiff_t>(b), text.begin() + static_cast<std::ptrdiff_t>(e), U' ');
  }
  return text;
}

std::string detect_language_u32(const U32& raw) {
  const U32 text = without_urls(raw);
  std::array<std::size_t, static_cast<std::size_t>(Script::kCount)> counts{};
  std::size_t kana = 0;
  std::size_t letters = 0;
  for (char32_t c : text) {
    const Script s = script_of(c);
    if (s == Script::kNone) continue;
    ++counts[static_cast<std::size_t>(s)];
    ++letters;
    if (is_kana(c)) ++kana;
  }
  if (letters == 0) return "";
  const auto best = static_cast<Script>(std::max_element(counts.begin(), counts.end()) - counts.begin());
  switch (best) {
    case Script::kLatin:
      return stopword_vote(language_words(text), latin_stopwords());
    case Script::kCyrillic:
      return cyrillic_language(text);
    case Script::kArabic:
      return arabic_script_language(text, counts[static_cast<std::size_t>(Script::kArabic)]);
    case Script::kDevanagari:
      return stopword_vote(language_words(text), devanagari_stopwords());
    case Script::kCjk:
      return kana * 10 >= counts[static_cast<std::size_t>(Script::kCjk)] ? "ja" : "zh-cn";
    case Script::kGreek:
      return "el";
    case Script::kArmenian:
      return "hy";
    case Script::kHebrew:
      return "he";
    case Script::kBengali:
      return "bn";
    case Script::kGurmukhi:
      return "pa";
    case Script::kGujarati:
      return "gu";
    case Script::kOriya:
      return "or";
    case Script::kTamil:
      return "ta";
    case Script::kTelugu:
      return "te";
    case Script::kKannada:
      return "kn";
    case Script::kMalayalam:
      return "ml";
    case Script::kSinhala:
      return "si";
    case Script::kThai:
      return "th";
    case Script::kLao:
      return "lo";
    case Script::kTibetan:
      return "bo";
    case Script::kMyanmar:
      return "my";
    case Script::kGeorgian:
      return "ka";
    case Script::kHangul:
      return "ko";
    case Script::kEthiopic:
      return "am";
    case Script::kKhmer:
      return "km";
    case Script::kNone:
    case Script::kCount:
      break;
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Kwargs

class Args {
 public:
  Args(const std::string& id, const nlohmann::json& kwargs) : id_(id), kwargs_(kwargs) {
    if (!kwargs.is_null() && !kwargs.is_object()) fail("kwargs", "must be an object");
  }

  std::int64_t count(const char* key) const {
    const nlohmann::json& v = get(key);
    if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::int64_t>();
    fail(key, "must be a non-negative integer");
  }

  U32 text(const char* key) const {
    const nlohmann::json& v = get(key);
    if (!v.is_string()) fail(key, "must be a string");
    return decode(v.get<std::string>());
  }

  std::vector<U32> texts(const char* key) const {
    const nlohmann::json& v = get(key);
    if (!v.is_array()) fail(key, "must be a list of strings");
    std::vector<U32> out;
    for (const nlohmann::json& e : v) {
      if (!e.is_string()) fail(key, "must be a list of strings");
      out.push_back(decode(e.get<std::string>()));
    }
    return out;
  }

  // true for "less than", false for "at least".
  bool less_than(const char* key) const {
    const U32 relation = text(key);
    if (relation == U"less than") return true;
    if (relation == U"at least") return false;
    fail(key, "must be \"less than\" or \"at least\"");
  }

  [[noreturn]] void fail(std::string_view key, std::string_view why) const {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("ifeval: {}: kwarg '{}' {}", id_, key, why));
  }

 private:
  const nlohmann::json& get(const char* key) const {
    if (kwargs_.is_object()) {
      auto it = kwargs_.find(key);
      if (it != kwargs_.end() && !it->is_null()) return *it;
    }
    fail(key, "is missing");
  }

  const std::string& id_;
  const nlohmann::json& kwargs_;
};

bool compare(std::size_t actual, bool less_than, std::int64_t threshold) {
  const auto value = static_cast<std::int64_t>(actual);
  return less_than ? value < threshold : value >= threshold;
}

using Checker = std::function<bool(const U32&)>;

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
    const std::string detected = detect_language_u32(value);
    return detected.empty() || detected == language;  // undetectable counts as followed
  };
}

Checker length_number_sentences(const Args& args) {
  const std::int64_t threshold = args.count("num_sentences");
  const bool less = args.less_than("relation");
  return [=](const U32& value) { return compare(sentence_spans(value).size(), less, threshold); };
}

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

Checker content_number_placeholders(const Args& args) {
  const std::int64_t threshold = args.count("num_placeholders");
  return [=](const U32& value) { return compare(count_placeholders(value), false, threshold); };
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

Checker format_number_highlighted_sections(const Args& args) {
  const std::int64_t threshold = args.count("num_highlights");
  return [=](const U32& value) { return compare(count_highlights(value), false, threshold); };
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

bool is_english_or_undetectable(const U32& value) {
  const std::string detected = detect_language_u32(value);
  return detected.empty() || detected == "en";
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

using Factory = Checker (*)(const Args&);

const std::vector<std::pair<std::string, Factory>>& registry() {
  static const std::vector<std::pair<std::string, Factory>> entries = {
      {"keywords:existence", keywords_existence},
      {"keywords:frequency", keywords_frequency},
      {"keywords:forbidden_words", keywords_forbidden_words},
      {"keywords:letter_frequency", keywords_letter_frequency},
      {"language:response_language", language_response_language},
      {"length_constraints:number_sentences", length_number_sentences},
      {"length_constraints:number_paragraphs", length_number_paragraphs},
      {"length_constraints:number_words", length_number_words},
      {"length_constraints:nth_paragraph_first_word", length_nth_paragraph_first_word},
      {"detectable_content:number_placeholders", content_number_placeholders},
      {"detectable_content:postscript", content_postscript},
      {"detectable_format:number_bullet_lists", format_number_bullet_lists},
      {"detectable_format:constrained_response", format_constrained_response},
      {"detectable_format:number_highlighted_sections", format_number_highlighted_sections},
      {"detectable_format:multiple_sections", format_multiple_sections},
      {"detectable_format:json_format", format_json},
      {"detectable_format:title", format_title},
      {"combination:two_responses", combination_two_responses},
      {"combination:repeat_prompt", combination_repeat_prompt},
      {"startend:end_checker", startend_end_checker},
      {"change_case:capital_word_frequency", change_case_capital_word_frequency},
      {"change_case:english_capital", change_case_english_capital},
      {"change_case:english_lowercase", change_case_english_lowercase},
      {"punctuation:no_comma", punctuation_no_comma},
      {"startend:quotation", startend_quotation},
  };
  return entries;
}

Checker make_checker(const std::string& id, const nlohmann::json& kwargs) {
  for (const auto& [name, factory] : registry()) {
    if (name == id) return factory(Args(id, kwargs));
  }
  throw Error(ErrorCode::kInvalidArgument, fmt::format("ifeval: unknown instruction id '{}'", id));
}

bool follows(const Checker& checker, const U32& response) { return !strip(response).empty() && checker(response); }

}  // namespace

// ---------------------------------------------------------------------------------------------

Item parse_item(const std::string& json_line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_line);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("ifeval: line is not valid JSON: {}", e.what()));
  }
  auto bad = [](std::string_view why) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("ifeval: malformed item: {}", why));
  };
  if (!j.is_object()) throw bad("not a JSON object");
  Item item;
  const auto key = j.find("key");
  if (key == j.end() || !(key->is_number_integer() || key->is_string())) {
    throw bad("'key' is missing or not an integer/string");
  }
  item.key = key->is_string() ? key->get<std::string>() : std::to_string(key->get<std::int64_t>());
  const auto prompt = j.find("prompt");
  if (prompt == j.end() || !prompt->is_string())
    throw bad(fmt::format("key {}: 'prompt' is missing or not a string", item.key));
  item.prompt = prompt->get<std::string>();
  const auto ids = j.find("instruction_id_list");
  if (ids == j.end() || !ids->is_array()) {
    throw bad(fmt::format("key {}: 'instruction_id_list' is missing or not a list", item.key));
  }
  for (const nlohmann::json& id : *ids) {
    if (!id.is_string()) throw bad(fmt::format("key {}: 'instruction_id_list' holds a non-string", item.key));
    item.instruction_ids.push_back(id.get<std::string>());
  }
  const auto kwargs = j.find("kwargs");
  if (kwargs == j.end() || !kwargs->is_array())
    throw bad(fmt::format("key {}: 'kwargs' is missing or not a list", item.key));
  if (kwargs->size() != item.instruction_ids.size()) {
    throw bad(
        fmt::format("key {}: {} kwargs for {} instructions", item.key, kwargs->size(), item.instruction_ids.size()));
  }
  for (const nlohmann::json& k : *kwargs) {
    if (k.is_null()) {
      item.kwargs.emplace_back(nlohmann::json::object());
      continue;
    }
    if (!k.is_object()) throw bad(fmt::format("key {}: a kwargs entry is not an object", item.key));
    nlohmann::json cleaned = nlohmann::json::object();
    for (const auto& [name, value] : k.items()) {
      if (!value.is_null()) cleaned[name] = value;
    }
    item.kwargs.push_back(std::move(cleaned));
  }
  return item;
}

const std::vector<std::string>& supported_instructions() {
  static const std::vector<std::string> ids = [] {
    std::vector<std::string> out;
    for (const auto& entry : registry()) out.push_back(entry.first);
    return out;
  }();
  return ids;
}

bool check(const std::string& instruction_id, const nlohmann::json& kwargs, const std::string& prompt,
           const std::string& response) {
  static_cast<void>(prompt);
  return follows(make_checker(instruction_id, kwargs), decode(response));
}

bool Result::prompt_strict() const {
  return std::all_of(strict.begin(), strict.end(), [](bool b) { return b; });
}
bool Result::prompt_loose() const {
  return std::all_of(loose.begin(), loose.end(), [](bool b) { return b; });
}

Result evaluate(const Item& item, const std::string& response) {
  if (item.kwargs.size() != item.instruction_ids.size()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("ifeval: item {}: {} kwargs for {} instructions", item.key,
                                                         item.kwargs.size(), item.instruction_ids.size()));
  }
  const U32 full = decode(response);
  const std::vector<U32> lines = split_on(full, U"\n");
  const std::size_t n = lines.size();
  const U32 remove_first = strip(join(lines, 1, n, '\n'));
  const U32 remove_last = strip(join(lines, 0, n - 1, '\n'));
  const U32 remove_both = n >= 2 ? strip(join(lines, 1, n - 1, '\n')) : U32();
  // The original's order; the first passing variant decides.
  const std::array<U32, 8> variants = {full,
                                       remove_char(full, '*'),
                                       remove_first,
                                       remove_last,
                                       remove_both,
                                       remove_char(remove_first, '*'),
                                       remove_char(remove_last, '*'),
                                       remove_char(remove_both, '*')};
  Result result;
  for (std::size_t k = 0; k < item.instruction_ids.size(); ++k) {
    const Checker checker = make_checker(item.instruction_ids[k], item.kwargs[k]);
    result.strict.push_back(follows(checker, full));
    result.loose.push_back(
        std::any_of(variants.begin(), variants.end(), [&](const U32& variant) { return follows(checker, variant); }));
  }
  return result;
}

namespace detail {
std::size_t count_words(const std::string& text) { return count_words_u32(decode(text)); }
std::size_t count_sentences(const std::string& text) { return sentence_spans(decode(text)).size(); }
std::size_t count_capital_words(const std::string& text) { return count_capital_words_u32(decode(text)); }
std::string detect_language(const std::string& text) { return detect_language_u32(decode(text)); }
}  // namespace detail

}  // namespace uaqf::tasks::ifeval
