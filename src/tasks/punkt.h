#pragma once

// Sentence splitting as nltk 3.8's PunktSentenceTokenizer.span_tokenize does it, with the learned
// parameters of a punkt model (for IFEval: the english model the reference uses, exported as JSON).

#include <cstddef>
#include <filesystem>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tasks/ifeval_unicode.h"

namespace uaqf::tasks::ifeval::detail {

// PunktParameters: word types (lowercase, without the final period) and their flags.
struct PunktParameters {
  std::unordered_set<U32> abbrev_types;
  std::set<std::pair<U32, U32>> collocations;
  std::unordered_set<U32> sent_starters;
  std::unordered_map<U32, int> ortho_context;  // nltk's bit flags (_ORTHO_BEG_UC = 2, ...)
};

// Reads {"abbrev_types": [...], "collocations": [[a, b], ...], "sent_starters": [...],
// "ortho_context": {type: flags}}. Throws Error(kNotFound) for a missing file,
// Error(kInvalidArgument) for a malformed one.
PunktParameters load_punkt_parameters(const std::filesystem::path& file);

// [begin, end) of each sentence, in code points (realigned boundaries, as tokenize()).
std::vector<std::pair<std::size_t, std::size_t>> sentence_spans(const U32& text, const PunktParameters& params);

}  // namespace uaqf::tasks::ifeval::detail
