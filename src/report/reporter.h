#pragma once

// One way to show any record: a Reporter renders it in the formats it has (terminal table,
// Markdown, CSV, JSON, HTML). `bench`, `eval` and `report` all write through one. A new output
// format is a Format and a case in each reporter that can give it.

#include <memory>
#include <string>
#include <vector>

#include "perf/bench.h"
#include "report/eval_report.h"
#include "report/study_report.h"

namespace uaqf::report {

enum class Format { kTerminal, kMarkdown, kCsv, kJson, kHtml };

std::string to_string(Format format);
// "table", "md", "csv", "json" or "html"; throws Error(kInvalidArgument) listing them otherwise.
Format parse_format(const std::string& name);

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual std::string what() const = 0;  // "bench results", ...
  virtual std::vector<Format> formats() const = 0;
  // Throws Error(kInvalidArgument) naming the format and the ones this record has when `format` is
  // not among them.
  std::string render(Format format) const;

 protected:
  virtual std::string render_format(Format format) const = 0;
};

std::unique_ptr<Reporter> bench_reporter(const perf::BenchReport& report);
std::unique_ptr<Reporter> eval_reporter(const EvalReport& report);
std::unique_ptr<Reporter> study_reporter(const StudyResults& results);

}  // namespace uaqf::report
