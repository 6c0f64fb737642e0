#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tasks/ifeval.h"

namespace uaqf::tasks::ifeval {
namespace {

using nlohmann::json;

bool follows(const std::string& id, const json& kwargs, const std::string& response) {
  return check(id, kwargs, "", response);
}

// One response that follows the instruction and one that does not, per instruction id.
struct Case {
  std::string id;
  json kwargs;
  std::string pass;
  std::string fail;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"keywords:existence",
       {{"keywords", {"apple", "banana"}}},
       "I like Apple and BANANA bread.",
       "I like apples only."},
      {"keywords:frequency",
       {{"keyword", "cat"}, {"frequency", 3}, {"relation", "at least"}},
       "A cat, a Cat and a CAT.",
       "One cat and one dog."},
      {"keywords:forbidden_words",
       {{"forbidden_words", {"bad", "evil"}}},
       "A badge and a devil are fine.",
       "That is Bad."},
      {"keywords:letter_frequency",
       {{"letter", "q"}, {"let_frequency", 2}, {"let_relation", "at least"}},
       "Quick and quiet.",
       "Quick."},
      {"language:response_language",
       {{"language", "de"}},
       "Der Hund ist sehr schnell und die Katze schläft auf dem Sofa.",
       "The dog is very fast and the cat sleeps on the sofa."},
      {"length_constraints:number_sentences",
       {{"num_sentences", 3}, {"relation", "less than"}},
       "One sentence. Two sentences.",
       "One. Two. Three."},
      {"length_constraints:number_paragraphs",
       {{"num_paragraphs", 3}},
       "First.\n***\nSecond.\n***\nThird.",
       "First.\n***\nSecond."},
      {"length_constraints:number_words",
       {{"num_words", 5}, {"relation", "at least"}},
       "one two three four five",
       "one two"},
      {"length_constraints:nth_paragraph_first_word",
       {{"num_paragraphs", 2}, {"nth_paragraph", 2}, {"first_word", "however"}},
       "First paragraph.\n\n\"However, the second one.\"",
       "First paragraph.\n\nBut the second one."},
      {"detectable_content:number_placeholders",
       {{"num_placeholders", 2}},
       "Dear [name], I live at [address].",
       "Dear [name], I live\n[at home."},
      {"detectable_content:postscript",
       {{"postscript_marker", "P.S."}},
       "Bye.\n\np. s. See you soon.",
       "Bye.\n\nPS See you soon."},
      {"detectable_format:number_bullet_lists",
       {{"num_bullets", 2}},
       "Intro\n* one\n- two\n**not a bullet**",
       "* one\n* two\n* three"},
      {"detectable_format:constrained_response", json::object(), "I thought about it. My answer is maybe.",
       "My answer is yes"},
      {"detectable_format:number_highlighted_sections",
       {{"num_highlights", 2}},
       "*first* and **second**",
       "*first* and ** ** and *\nbroken*"},
      {"detectable_format:multiple_sections",
       {{"section_spliter", "Section"}, {"num_sections", 2}},
       "Section 1\nIntro\nSection 2\nBody",
       "Section 1\nIntro\nSECTION 2\nBody"},
      {"detectable_format:json_format", json::object(), "```json\n{\"a\": [1, 2]}\n```", "{a: 1}"},
      {"detectable_format:title", json::object(), "<<A Poem of Joy>>\nRoses are red.", "<<  >> and <Title>"},
      {"combination:two_responses", json::object(), "First answer.\n******\nSecond answer.",
       "Same answer.\n******\nSame answer."},
      {"combination:repeat_prompt",
       {{"prompt_to_repeat", "Write a poem about cats."}},
       "write a poem about CATS. Cats are soft.",
       "Sure! Write a poem about cats."},
      {"startend:end_checker",
       {{"end_phrase", "Any other questions?"}},
       "Here is the answer.\n\"Any other questions?\"",
       "Any other questions? Thanks."},
      {"change_case:capital_word_frequency",
       {{"capital_frequency", 3}, {"capital_relation", "at least"}},
       "The USA and the UK are in NATO.",
       "The usa and the UK."},
      {"change_case:english_capital", json::object(), "THIS IS AN ANSWER IN CAPITAL LETTERS ABOUT THE WEATHER.",
       "This is an answer about the weather."},
      {"change_case:english_lowercase", json::object(), "this is an answer in lowercase about the weather.",
       "this is an answer about the Weather."},
      {"punctuation:no_comma", json::object(), "No commas here at all.", "Yes, there is one."},
      {"startend:quotation", json::object(), "  \"Wrapped in quotes.\"\n", "Not wrapped.\""},
  };
  return all;
}

TEST(IfevalInstructions, SupportsTheTwentyFiveIfevalIds) {
  const std::vector<std::string>& ids = supported_instructions();
  EXPECT_EQ(ids.size(), 25U);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  const std::set<std::string> covered = [] {
    std::set<std::string> s;
    for (const Case& c : cases()) s.insert(c.id);
    return s;
  }();
  for (const std::string& id : ids) EXPECT_TRUE(covered.count(id)) << "no test case for " << id;
}

TEST(IfevalInstructions, EachInstructionHasAPassingAndAFailingResponse) {
  for (const Case& c : cases()) {
    EXPECT_TRUE(follows(c.id, c.kwargs, c.pass)) << c.id << " should pass: " << c.pass;
    EXPECT_FALSE(follows(c.id, c.kwargs, c.fail)) << c.id << " should fail: " << c.fail;
  }
}

TEST(IfevalInstructions, RelationsAreLessThanAndAtLeast) {
  const json less = {{"keyword", "dog"}, {"frequency", 2}, {"relation", "less than"}};
  EXPECT_TRUE(follows("keywords:frequency", less, "A dog."));
  EXPECT_FALSE(follows("keywords:frequency", less, "A dog and a DOG."));
  const json at_least = {{"num_words", 2}, {"relation", "at least"}};
  EXPECT_TRUE(follows("length_constraints:number_words", at_least, "two words"));
  EXPECT_FALSE(follows("length_constraints:number_words", at_least, "one"));
  const json letters = {{"letter", "e"}, {"let_frequency", 3}, {"let_relation", "less than"}};
  EXPECT_TRUE(follows("keywords:letter_frequency", letters, "Eve"));
  EXPECT_FALSE(follows("keywords:letter_frequency", letters, "Eve eats"));
  const json capitals = {{"capital_frequency", 2}, {"capital_relation", "less than"}};
  EXPECT_TRUE(follows("change_case:capital_word_frequency", capitals, "Only NASA is shouted."));
  EXPECT_FALSE(follows("change_case:capital_word_frequency", capitals, "NASA and ESA."));
}

TEST(IfevalInstructions, MatchesTheOriginalsQuirks) {
  // Keywords are searched as substrings, forbidden words between word boundaries.
  EXPECT_TRUE(
      follows("keywords:frequency", {{"keyword", "cat"}, {"frequency", 1}, {"relation", "at least"}}, "concatenate"));
  EXPECT_TRUE(follows("keywords:forbidden_words", {{"forbidden_words", {"cat"}}}, "concatenate"));
  // Six asterisks split into two empty paragraphs in between: not a valid paragraph count.
  EXPECT_FALSE(follows("length_constraints:number_paragraphs", {{"num_paragraphs", 2}}, "A\n******\nB"));
  // A heading made of dashes is counted as a bullet by the original's regex.
  EXPECT_TRUE(follows("detectable_format:number_bullet_lists", {{"num_bullets", 1}}, "Title\n---\nText"));
  EXPECT_TRUE(follows("detectable_content:postscript", {{"postscript_marker", "P.P.S"}}, "x\nP.P.S note"));
  EXPECT_FALSE(follows("detectable_content:postscript", {{"postscript_marker", "P.P.S"}}, "x\nP.S. note"));
  // Text without letters cannot be detected; the original counts that as followed.
  EXPECT_TRUE(follows("language:response_language", {{"language", "hi"}}, "12345 !!!"));
}

TEST(IfevalInstructions, EmptyOrBlankResponsesFollowNothing) {
  EXPECT_FALSE(follows("punctuation:no_comma", json::object(), ""));
  EXPECT_FALSE(follows("punctuation:no_comma", json::object(), " \n\t "));
  Item item{"1", "p", {"punctuation:no_comma"}, {json::object()}};
  const Result result = evaluate(item, "\n\n");
  EXPECT_FALSE(result.strict[0]);
  EXPECT_FALSE(result.loose[0]);
}

TEST(IfevalInstructions, RejectsUnknownIdsAndBadKwargs) {
  auto code_of = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code_of([] { follows("keywords:nonexistent", json::object(), "x"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] {
              follows("length_constraints:number_words", {{"num_words", 5}}, "x");
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] {
              follows("length_constraints:number_words", {{"num_words", 5}, {"relation", "at most"}}, "x");
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { follows("keywords:existence", {{"keywords", nullptr}}, "x"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] {
              follows("keywords:letter_frequency",
                      {{"letter", "ab"}, {"let_frequency", 1}, {"let_relation", "at least"}}, "x");
            }),
            ErrorCode::kInvalidArgument);
}

TEST(IfevalLoose, LeadingChatterFailsStrictButPassesLoose) {
  const Item item{"1", "p", {"detectable_format:json_format", "startend:quotation"}, {json::object(), json::object()}};
  const Result result = evaluate(item, "Sure, here it is:\n\"a JSON string\"");
  ASSERT_EQ(result.strict.size(), 2U);
  EXPECT_FALSE(result.strict[0]);  // the chatter line is not JSON
  EXPECT_TRUE(result.loose[0]);    // without it, the response is a JSON string
  EXPECT_FALSE(result.strict[1]);
  EXPECT_TRUE(result.loose[1]);
  EXPECT_FALSE(result.prompt_strict());
  EXPECT_TRUE(result.prompt_loose());
}

TEST(IfevalLoose, TrailingLineIsDroppedToo) {
  const Item item{
      "1", "p", {"startend:end_checker"}, {json{{"end_phrase", "Is there anything else I can help with?"}}}};
  const Result result = evaluate(item, "Answer.\nIs there anything else I can help with?\nBest regards");
  EXPECT_FALSE(result.strict[0]);
  EXPECT_TRUE(result.loose[0]);
}

TEST(IfevalLoose, EmphasisAsterisksAreRemoved) {
  const Item item{"1", "p", {"startend:end_checker"}, {json{{"end_phrase", "Any other questions?"}}}};
  const Result result = evaluate(item, "That is all. **Any other questions?**");
  EXPECT_FALSE(result.strict[0]);
  EXPECT_TRUE(result.loose[0]);
}

TEST(IfevalLoose, LooseStillFailsWhenNoVariantFollows) {
  const Item item{
      "1", "p", {"punctuation:no_comma", "keywords:existence"}, {json::object(), json{{"keywords", {"zebra"}}}}};
  const Result result = evaluate(item, "Hello, world\nmore, text\nend, here");
  EXPECT_EQ(result.strict, (std::vector<bool>{false, false}));
  EXPECT_EQ(result.loose, (std::vector<bool>{false, false}));
  EXPECT_FALSE(result.prompt_loose());
}

TEST(IfevalLoose, PromptLevelNeedsEveryInstruction) {
  const Item item{"1",
                  "p",
                  {"punctuation:no_comma", "length_constraints:number_words"},
                  {json::object(), json{{"num_words", 3}, {"relation", "less than"}}}};
  EXPECT_TRUE(evaluate(item, "Two words").prompt_strict());
  EXPECT_FALSE(evaluate(item, "Three words, here").prompt_strict());
}

TEST(IfevalCounting, WordsAreRunsOfUnicodeWordCharacters) {
  EXPECT_EQ(detail::count_words("Hello, world! It's 3.5"), 6U);
  EXPECT_EQ(detail::count_words("naïve café snake_case"), 3U);
  EXPECT_EQ(detail::count_words(""), 0U);
}

TEST(IfevalCounting, SentencesFollowPunkt) {
  EXPECT_EQ(detail::count_sentences("Hello world. How are you? Fine!"), 3U);
  EXPECT_EQ(detail::count_sentences("Dr. Smith arrived. He sat down."), 2U);
  EXPECT_EQ(detail::count_sentences("Intro:\n- a\n- b"), 1U);
  EXPECT_EQ(detail::count_sentences("It costs 3.5 dollars. Cheap."), 2U);
  EXPECT_EQ(detail::count_sentences("J. R. R. Tolkien wrote it. Yes."), 2U);
  EXPECT_EQ(detail::count_sentences("1. First item\n2. Second item"), 3U);  // as punkt splits numbered lists
  EXPECT_EQ(detail::count_sentences("I like it. **Bold.** Done."), 3U);
  EXPECT_EQ(detail::count_sentences("   "), 0U);
}

// Splits as nltk 3.8 with the english model's parameters does (checked with nltk itself).
TEST(IfevalCounting, SentencesUseTheEnglishModelsParameters) {
  EXPECT_EQ(detail::count_sentences("My answer is no. Generally, it is fine."), 2U);  // "no" is no abbreviation
  EXPECT_EQ(detail::count_sentences("I met Mr. Smith. However, he left."), 2U);       // abbreviation, sentence starter
  EXPECT_EQ(detail::count_sentences("See e.g. the docs. Then stop."), 3U);            // "the" is a frequent starter
  EXPECT_EQ(detail::count_sentences("It was Jan. 5 when we met."), 1U);
  EXPECT_EQ(detail::count_sentences("Sales rose 5. Business was good."), 1U);  // collocation (##number##, business)
  EXPECT_EQ(detail::count_sentences("Sales rose 5. Profits were good."), 2U);
  EXPECT_EQ(detail::count_sentences("It is here (see above.) Next one."), 2U);  // realigned after ')'
  EXPECT_EQ(detail::count_sentences("Call me at 5 p.m. Thanks."), 2U);
  EXPECT_EQ(detail::count_sentences("It was great... And then it ended."), 1U);
}

TEST(IfevalCounting, CapitalWordsFollowWordTokenize) {
  EXPECT_EQ(detail::count_capital_words("I DON'T KNOW"), 4U);  // I, DO, N'T, KNOW
  EXPECT_EQ(detail::count_capital_words("NASA's AI"), 2U);
  EXPECT_EQ(detail::count_capital_words("HELLO, WORLD! I'M HERE."), 5U);
  EXPECT_EQ(detail::count_capital_words("WELL-KNOWN 2024"), 1U);
}

// langdetect 1.0.9 seeded with 0 gives these (Python: DetectorFactory.seed = 0; detect(text)).
TEST(IfevalLanguage, AgreesWithLangdetectSeededWithZero) {
  const std::vector<std::pair<std::string, std::string>> samples = {
      {"YES", "cy"},  // too short to be English
      {"Yes", "tr"},
      {"ok", "sk"},
      {"over", "no"},
      {"I think it is over now.", "en"},
      {"THIS IS MY ANSWER.", "en"},  // capital words give no n-grams but their first letters
      {"Hello world", "en"},         // 4 restarts of 7 say en, 3 say nl
      {"\u0928\u092e\u0938\u094d\u0924\u0947, \u092e\u0947\u0930\u093e \u0928\u093e\u092e \u0930\u093e\u092e "
       "\u0939\u0948\u0964",
       "hi"},
      {"\u092e\u093e\u091d\u0947 \u0928\u093e\u0935 \u0930\u093e\u092e \u0906\u0939\u0947.", "mr"},
      {"Bonjour tout le monde", "fr"},
  };
  for (const auto& [text, code] : samples) EXPECT_EQ(detail::detect_language(text), code) << text;
  // Mostly Devanagari with Vietnamese letters: langdetect counts Latin Extended Additional (the
  // precomposed letters) as non-Latin, drops the Latin letters, and says Hindi (not Vietnamese).
  EXPECT_EQ(detail::detect_language(
                "70  i\u0111\u01a0  a\u0111e\u01b0o\u01b0\u0301,  \u0927\u0918\u0941\u0908  \u0906  "
                "\u00eai\u01b0\u00f4u  5969949\u0301  \u01a0\u00ca\u0309.  \u0948\u0938  02853  "
                "\u0917\u0908\u090f\u091b\u0905  \u0111\u01af\u00c2u\u0102\u00ca  "
                "\u0938\u0908\u092d\u0909\u0909\u091c\u0914\u0924...  \u0915\u092f\u0948\u092c\u0905  Mr.  "
                "a.b@c  \u00ca\u01a1\u01a1e\u0103  \u0103\u00e2\u0111\u00eaa\u01afu\u00ea?  "
                "\u0941\u090f\u0906\u091c"),
            "hi");
  // No n-gram of any profile: langdetect raises, and the checkers count the instruction as followed.
  EXPECT_EQ(detail::detect_language("12345 ... !!!"), "");
  EXPECT_TRUE(follows("language:response_language", {{"language", "de"}}, "12345 ... !!!"));
  EXPECT_FALSE(follows("change_case:english_capital", json::object(), "YES"));
}

TEST(IfevalLanguage, DetectsScriptsAndLatinLanguages) {
  const std::vector<std::pair<std::string, std::string>> samples = {
      {"en", "The quick brown fox jumps over the lazy dog, and we are going to the park."},
      {"de", "Der schnelle braune Fuchs springt über den faulen Hund und wir gehen in den Park."},
      {"it", "La volpe veloce salta sopra il cane pigro e andiamo al parco con i nostri amici."},
      {"pt", "A raposa rápida pula sobre o cão preguiçoso e nós vamos ao parque com os amigos."},
      {"fi", "Nopea ruskea kettu hyppää laiskan koiran yli ja menemme puistoon ystävien kanssa."},
      {"sw", "Mbweha mwepesi anaruka juu ya mbwa mvivu na tunaenda kwenye bustani pamoja na marafiki."},
      {"vi", "Con cáo nâu nhanh nhẹn nhảy qua con chó lười và chúng tôi đi đến công viên."},
      {"ru", "Быстрая коричневая лиса прыгает через ленивую собаку, и мы идём в парк."},
      {"bg", "Бързата кафява лисица прескача мързеливото куче и ние отиваме в парка."},
      {"hi", "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है और हम अपने दोस्तों के साथ पार्क जा रहे हैं।"},
      {"mr", "आज सूर्यप्रकाशाचा दिवस आहे आणि आम्ही आमच्या मित्रांसोबत उद्यानात जात आहोत."},
      {"ne", "आज घमाइलो दिन हो र हामी हाम्रा साथीहरूसँग पार्कमा जाँदैछौं। यो राम्रो छ।"},
      {"ar", "الثعلب البني السريع يقفز فوق الكلب الكسول. إنه يوم مشمس ونحن ذاهبون إلى الحديقة."},
      {"fa",
       "روباه قهوه‌ای سریع از روی سگ تنبل می‌پرد. امروز یک روز "
       "آفتابی "
       "است."},
      {"ur", "آج دھوپ والا دن ہے اور ہم اپنے دوستوں کے ساتھ پارک جا رہے ہیں۔"},
      {"ko", "빠른 갈색 여우가 게으른 개를 뛰어넘습니다."},
      {"th", "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ"},
      {"bn", "দ্রুত বাদামী শিয়াল অলস কুকুরের উপর দিয়ে লাফ দেয়।"},
      {"ta", "விரைவான பழுப்பு நரி சோம்பேறி நாயின் மேல் குதிக்கிறது."},
      {"te", "వేగవంతమైన గోధుమ నక్క సోమరి కుక్క మీదుగా దూకుతుంది."},
      {"kn", "ವೇಗದ ಕಂದು ನರಿ ಸೋಮಾರಿ ನಾಯಿಯ ಮೇಲೆ ಜಿಗಿಯುತ್ತದೆ."},
      {"gu", "ઝડપી ભૂરું શિયાળ આળસુ કૂતરા પર કૂદકો મારે છે."},
      {"pa", "ਤੇਜ਼ ਭੂਰੀ ਲੂੰਬੜੀ ਆਲਸੀ ਕੁੱਤੇ ਦੇ ਉੱਪਰੋਂ ਛਾਲ ਮਾਰਦੀ ਹੈ।"},
  };
  for (const auto& [code, text] : samples) {
    EXPECT_EQ(detail::detect_language(text), code) << text;
    EXPECT_TRUE(follows("language:response_language", {{"language", code}}, text)) << code;
  }
  EXPECT_EQ(detail::detect_language("See https://example.com/page or mail me@example.org 42"), "en");
  EXPECT_EQ(detail::detect_language("12345 ... !!!"), "");
  // All capitals, but not English.
  EXPECT_FALSE(follows("change_case:english_capital", json::object(), "ЭТО ОТВЕТ ЗАГЛАВНЫМИ БУКВАМИ."));
}

// ---------------------------------------------------------------------------------------------
// Against the real data file.

std::filesystem::path data_file() {
  const char* shared = std::getenv("UAQF_SHARED_DIR");
  if (shared == nullptr || *shared == '\0') return {};
  return std::filesystem::path(shared) / "data" / "ifeval" / "input_data.jsonl";
}

std::vector<std::string> data_lines() {
  std::vector<std::string> lines;
  std::ifstream in(data_file());
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

#define REQUIRE_DATA_FILE()                                                                           \
  do {                                                                                                \
    ASSERT_FALSE(data_file().empty()) << "UAQF_SHARED_DIR is not set (it must name the shared/ dir)"; \
    ASSERT_TRUE(std::filesystem::is_regular_file(data_file())) << "missing " << data_file();          \
  } while (false)

TEST(IfevalData, EveryInstructionInTheDataIsSupported) {
  REQUIRE_DATA_FILE();
  const std::vector<std::string>& supported = supported_instructions();
  const std::set<std::string> known(supported.begin(), supported.end());
  const std::vector<std::string> lines = data_lines();
  EXPECT_EQ(lines.size(), 541U);
  std::set<std::string> seen;
  for (const std::string& line : lines) {
    const Item item = parse_item(line);
    for (const std::string& id : item.instruction_ids) {
      seen.insert(id);
      EXPECT_TRUE(known.count(id)) << "unsupported instruction " << id << " in item " << item.key;
    }
    // Every item's kwargs are accepted by its checkers.
    EXPECT_NO_THROW(evaluate(item, "A short response.")) << "item " << item.key;
  }
  EXPECT_EQ(seen.size(), 25U);
}

TEST(IfevalData, ParsesARealLine) {
  REQUIRE_DATA_FILE();
  const std::vector<std::string> lines = data_lines();
  ASSERT_FALSE(lines.empty());
  const Item item = parse_item(lines.front());
  EXPECT_EQ(item.key, "1000");
  EXPECT_EQ(item.prompt.rfind("Write a 300+ word summary", 0), 0U);
  EXPECT_EQ(item.instruction_ids,
            (std::vector<std::string>{"punctuation:no_comma", "detectable_format:number_highlighted_sections",
                                      "length_constraints:number_words"}));
  ASSERT_EQ(item.kwargs.size(), 3U);
  EXPECT_EQ(item.kwargs[1].at("num_highlights"), 3);
  EXPECT_EQ(item.kwargs[2].at("relation"), "at least");
}

TEST(IfevalParse, DropsNullKwargs) {
  const Item item =
      parse_item(R"({"key": 7, "prompt": "p", "instruction_id_list": ["punctuation:no_comma", "keywords:existence"],)"
                 R"( "kwargs": [{"num_words": null}, {"keywords": ["a"], "frequency": null}]})");
  EXPECT_EQ(item.key, "7");
  EXPECT_EQ(item.kwargs[0], json::object());
  EXPECT_EQ(item.kwargs[1], (json{{"keywords", {"a"}}}));
}

TEST(IfevalParse, RejectsMalformedLines) {
  const std::vector<std::string> bad = {
      "{not json",
      "[1, 2]",
      R"({"prompt": "p", "instruction_id_list": [], "kwargs": []})",
      R"({"key": 1, "instruction_id_list": [], "kwargs": []})",
      R"({"key": 1, "prompt": "p", "instruction_id_list": ["a"], "kwargs": []})",
      R"({"key": 1, "prompt": "p", "instruction_id_list": [3], "kwargs": [{}]})",
      R"({"key": 1, "prompt": "p", "instruction_id_list": ["a"], "kwargs": [5]})",
  };
  for (const std::string& line : bad) {
    try {
      parse_item(line);
      ADD_FAILURE() << "accepted: " << line;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << line;
    }
  }
}

}  // namespace
}  // namespace uaqf::tasks::ifeval
