#pragma once

// Language detection for IFEval (internal), standing in for langdetect (deviation 3 in ifeval.cpp).

#include <string>

#include "tasks/ifeval_unicode.h"

namespace uaqf::tasks::ifeval::detail {

// ISO 639-1 code ("zh-cn" for Chinese), or "" when the text has no letters.
std::string detect_language_u32(const U32& text);

}  // namespace uaqf::tasks::ifeval::detail
