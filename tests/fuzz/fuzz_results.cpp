// The results record (results.json) as `uaqf report` reads it: report::load_study_results (schema
// checks, the decision recomputed from the stored inputs), the report model built from it and
// its Markdown, CSV and HTML forms.
// Either a report or uaqf::Error.

#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "fuzz_support.h"
#include "report/html_report.h"
#include "report/study_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const auto file = uaqf::fuzz::scratch_dir() / "results.json";
  uaqf::fuzz::write_bytes(file, uaqf::fuzz::as_text(data, size));
  try {
    const auto study = uaqf::report::load_study_results(file);
    const auto report = uaqf::report::build_study_report(study);
    (void)report.dump();
    // Every format `uaqf report` writes from the model.
    (void)uaqf::report::study_report_markdown(report);
    (void)uaqf::report::study_report_csv(report);
    (void)uaqf::report::study_report_html(report);
  } catch (const uaqf::Error&) {
  }
  return 0;
}
