// Language detection standing in for langdetect (deviation 3 in ifeval.cpp): the dominant script,
// then stopword votes or letters particular to one language where a script has several.

#include "tasks/ifeval_language.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace uaqf::tasks::ifeval::detail {
namespace {

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

}  // namespace

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

}  // namespace uaqf::tasks::ifeval::detail
