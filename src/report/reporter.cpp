#include "report/reporter.h"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "report/bench_report.h"
#include "report/html_report.h"

namespace uaqf::report {
namespace {

constexpr std::pair<Format, const char*> kNames[] = {{Format::kTerminal, "table"},
                                                     {Format::kMarkdown, "md"},
                                                     {Format::kCsv, "csv"},
                                                     {Format::kJson, "json"},
                                                     {Format::kHtml, "html"}};

class BenchReporter final : public Reporter {
 public:
  explicit BenchReporter(const perf::BenchReport& report) : report_(report) {}
  std::string what() const override { return "bench results"; }
  std::vector<Format> formats() const override { return {Format::kTerminal, Format::kCsv, Format::kJson}; }

 protected:
  std::string render_format(Format format) const override {
    if (format == Format::kTerminal) {
      std::ostringstream out;
      print_bench_table(out, report_);
      return out.str();
    }
    return format == Format::kCsv ? bench_to_csv(report_) : bench_to_json(report_).dump(2) + "\n";
  }

 private:
  const perf::BenchReport& report_;
};

class EvalReporter final : public Reporter {
 public:
  explicit EvalReporter(const EvalReport& report) : report_(report) {}
  std::string what() const override { return "eval results"; }
  std::vector<Format> formats() const override { return {Format::kTerminal, Format::kCsv, Format::kJson}; }

 protected:
  std::string render_format(Format format) const override {
    if (format == Format::kTerminal) {
      std::ostringstream out;
      print_eval_table(out, report_);
      return out.str();
    }
    return format == Format::kCsv ? eval_to_csv(report_) : eval_to_json(report_).dump(2) + "\n";
  }

 private:
  const EvalReport& report_;
};

class StudyReporter final : public Reporter {
 public:
  explicit StudyReporter(const StudyResults& results) : model_(build_study_report(results)) {}
  std::string what() const override { return "study results"; }
  std::vector<Format> formats() const override {
    return {Format::kMarkdown, Format::kCsv, Format::kJson, Format::kHtml};
  }

 protected:
  std::string render_format(Format format) const override {
    switch (format) {
      case Format::kMarkdown:
        return study_report_markdown(model_);
      case Format::kCsv:
        return study_report_csv(model_);
      case Format::kJson:
        return model_.dump(2) + "\n";
      default:
        return study_report_html(model_);
    }
  }

 private:
  nlohmann::json model_;  // the report model (uaqf.report/1) every format shows
};

}  // namespace

std::string to_string(Format format) {
  for (const auto& [f, name] : kNames) {
    if (f == format) {
      return name;
    }
  }
  return "?";
}

Format parse_format(const std::string& name) {
  for (const auto& [format, known] : kNames) {
    if (name == known) {
      return format;
    }
  }
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("unknown output format '{}' (known: table, md, csv, json, html)", name));
}

std::string Reporter::render(Format format) const {
  const auto available = formats();
  if (std::find(available.begin(), available.end(), format) == available.end()) {
    std::string names;
    for (const auto f : available) {
      names += (names.empty() ? "" : ", ") + to_string(f);
    }
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{} have no {} format (they have {})", what(), to_string(format), names));
  }
  return render_format(format);
}

std::unique_ptr<Reporter> bench_reporter(const perf::BenchReport& report) {
  return std::make_unique<BenchReporter>(report);
}

std::unique_ptr<Reporter> eval_reporter(const EvalReport& report) { return std::make_unique<EvalReporter>(report); }

std::unique_ptr<Reporter> study_reporter(const StudyResults& results) {
  return std::make_unique<StudyReporter>(results);
}

}  // namespace uaqf::report
