#pragma once

// The reference's models for IFEval (internal): punkt's english parameters and langdetect's
// profiles, loaded once from the files ifeval::use_reference_files names (or the defaults).

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tasks/ifeval_unicode.h"
#include "tasks/langdetect.h"
#include "tasks/punkt.h"

namespace uaqf::tasks::ifeval::detail {

struct ReferenceModels {
  PunktParameters punkt;
  LanguageDetector language;
};

// The models in use; the first call without use_reference_files loads default_reference_files().
std::shared_ptr<const ReferenceModels> reference_models();

// Sentences as the reference's nltk punkt english model splits them.
std::vector<std::pair<std::size_t, std::size_t>> sentence_spans(const U32& text);
// langdetect.detect(text) with DetectorFactory.seed = kLangdetectSeed; nullopt where langdetect
// raises (no n-gram of any profile in the text).
std::optional<std::string> detect_language_u32(const U32& text);

}  // namespace uaqf::tasks::ifeval::detail
