#pragma once

// Word counts for IFEval (internal).

#include <cstddef>

#include "tasks/ifeval_unicode.h"

namespace uaqf::tasks::ifeval::detail {

// Runs of \w, as nltk's RegexpTokenizer(r"\w+").
std::size_t count_words_u32(const U32& text);
// nltk.word_tokenize tokens (punkt sentences, then NLTKWordTokenizer) for which str.isupper() holds.
std::size_t count_capital_words_u32(const U32& text);

}  // namespace uaqf::tasks::ifeval::detail
