// Study files (TOML): study::parse_study, the reader behind `uaqf run STUDY.toml` and `uaqf plan`.
// Any input must either load or be refused with uaqf::Error; another exception, a crash or a
// sanitizer report is a finding.

#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "fuzz_support.h"
#include "study/study.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  // A folder that exists: relative paths of the study (prompt files, data) resolve inside it.
  const auto file = uaqf::fuzz::scratch_dir() / "study.toml";
  try {
    const auto study = uaqf::study::parse_study(uaqf::fuzz::as_text(data, size), file);
    (void)study.where("runtime.ctx");
  } catch (const uaqf::Error&) {
  }
  return 0;
}
