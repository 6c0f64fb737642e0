#pragma once

// Sentence splitting for IFEval (internal): nltk punkt's english span_tokenize with the model's
// parameters replaced by small built-in lists (deviation 1 in ifeval.cpp).

#include <cstddef>
#include <utility>
#include <vector>

#include "tasks/ifeval_unicode.h"

namespace uaqf::tasks::ifeval::detail {

// [begin, end) of each sentence, in code points.
std::vector<std::pair<std::size_t, std::size_t>> sentence_spans(const U32& text);

}  // namespace uaqf::tasks::ifeval::detail
