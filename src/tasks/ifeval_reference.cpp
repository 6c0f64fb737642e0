// Loading and sharing the reference's models (punkt parameters, langdetect profiles).

#include "tasks/ifeval_reference.h"

#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "core/error.h"
#include "core/paths.h"
#include "tasks/ifeval.h"

namespace uaqf::tasks::ifeval {
namespace {

namespace fs = std::filesystem;

struct Loaded {
  ReferenceFiles files;
  std::shared_ptr<const detail::ReferenceModels> models;
};

std::mutex& loaded_mutex() {
  static std::mutex mutex;
  return mutex;
}

Loaded& loaded() {
  static Loaded state;
  return state;
}

std::shared_ptr<const detail::ReferenceModels> load_models(const ReferenceFiles& files) {
  if (files.punkt_parameters.empty()) {
    throw Error(ErrorCode::kNotFound,
                fmt::format("ifeval: punkt's english parameters ({}) were not found under the shared folder: set "
                            "UAQF_SHARED_DIR or pass --data-dir",
                            kPunktParametersFile));
  }
  return std::make_shared<const detail::ReferenceModels>(detail::ReferenceModels{
      detail::load_punkt_parameters(files.punkt_parameters), detail::LanguageDetector::load(files.langdetect_dir)});
}

}  // namespace

ReferenceFiles default_reference_files() {
  ReferenceFiles files;
  if (auto found = find_shared_file(fs::path("data") / kPunktParametersFile)) files.punkt_parameters = *found;
  const char* langdetect = std::getenv("UAQF_LANGDETECT_DIR");
  files.langdetect_dir =
      langdetect != nullptr && *langdetect != '\0' ? fs::path(langdetect) : fs::path(UAQF_LANGDETECT_DIR);
  return files;
}

void use_reference_files(const ReferenceFiles& files) {
  {
    const std::lock_guard lock(loaded_mutex());
    if (loaded().models && loaded().files.punkt_parameters == files.punkt_parameters &&
        loaded().files.langdetect_dir == files.langdetect_dir) {
      return;
    }
  }
  auto models = load_models(files);
  const std::lock_guard lock(loaded_mutex());
  loaded() = {files, std::move(models)};
}

namespace detail {

std::shared_ptr<const ReferenceModels> reference_models() {
  {
    const std::lock_guard lock(loaded_mutex());
    if (loaded().models) return loaded().models;
  }
  use_reference_files(default_reference_files());
  const std::lock_guard lock(loaded_mutex());
  return loaded().models;
}

std::vector<std::pair<std::size_t, std::size_t>> sentence_spans(const U32& text) {
  return sentence_spans(text, reference_models()->punkt);
}

std::optional<std::string> detect_language_u32(const U32& text) {
  return reference_models()->language.detect(text, kLangdetectSeed);
}

}  // namespace detail
}  // namespace uaqf::tasks::ifeval
