#pragma once

// IFEval (Zhou et al. 2023, google-research instruction_following_eval): the 25 verifiable
// instruction checkers, scored strictly and loosely as the original evaluation_lib does.
// Sentences are split by a port of nltk's punkt with the reference english model's parameters,
// languages detected by a port of langdetect over its profiles (tasks/punkt.h, tasks/langdetect.h);
// what still differs from the original is listed in ifeval.cpp.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace uaqf::tasks::ifeval {

// One line of input_data.jsonl. kwargs is parallel to instruction_ids; null values are dropped.
struct Item {
  std::string key;
  std::string prompt;
  std::vector<std::string> instruction_ids;
  std::vector<nlohmann::json> kwargs;
};

// The reference's models. The checkers read them from these files, loaded once; without a call to
// use_reference_files the first check loads default_reference_files().
struct ReferenceFiles {
  std::filesystem::path punkt_parameters;  // punkt's english model as JSON (kPunktParametersFile)
  std::filesystem::path langdetect_dir;    // langdetect's package folder (profiles/, utils/messages.properties)
};
// Relative to the data folder.
inline constexpr const char* kPunktParametersFile = "ifeval/reference/punkt_english_params.json";
// langdetect's seed. The official code leaves langdetect unseeded (its verdicts on a few
// responses vary from run to run); the reference verdicts were made with seed 0.
inline constexpr std::uint32_t kLangdetectSeed = 0;

// The punkt parameters from the shared folder ($UAQF_SHARED_DIR/data/...), langdetect from
// $UAQF_LANGDETECT_DIR, else from where the build was told (UAQF_LANGDETECT_DIR, by default
// Debian's python3-langdetect).
ReferenceFiles default_reference_files();
// Loads the models (unless these files are already loaded) for every later check. Throws
// Error(kNotFound) for a missing file, Error(kInvalidArgument) for a malformed one.
void use_reference_files(const ReferenceFiles& files);

// Parses one line of input_data.jsonl; throws Error(kInvalidArgument) on malformed input.
Item parse_item(const std::string& json_line);

// Every instruction id this module implements (the 25 of the IFEval registry).
const std::vector<std::string>& supported_instructions();

// Strict check of one instruction. As in the original, a response that is empty or only whitespace
// follows nothing. Throws Error(kInvalidArgument) for an unknown id or missing/invalid kwargs.
// `prompt` is not used by any checker (combination:repeat_prompt reads kwargs.prompt_to_repeat).
bool check(const std::string& instruction_id, const nlohmann::json& kwargs, const std::string& prompt,
           const std::string& response);

struct Result {
  std::vector<bool> strict;
  std::vector<bool> loose;
  bool prompt_strict() const;  // every instruction followed (true for none)
  bool prompt_loose() const;
};

// Strict: check(response). Loose: an instruction passes if any of the original's 8 variants passes
// (response, without first line, without last line, without both, and each of those without '*').
Result evaluate(const Item& item, const std::string& response);

// The counting primitives, exposed for tests and diagnostics.
namespace detail {
std::size_t count_words(const std::string& text);          // runs of Python's Unicode \w
std::size_t count_sentences(const std::string& text);      // nltk punkt, the english model
std::size_t count_capital_words(const std::string& text);  // nltk word_tokenize tokens with isupper()
// langdetect.detect(text) seeded with kLangdetectSeed: its code ("en", "zh-cn"), "unknown", or ""
// where langdetect raises (no n-gram of any profile in the text).
std::string detect_language(const std::string& text);
}  // namespace detail

}  // namespace uaqf::tasks::ifeval
