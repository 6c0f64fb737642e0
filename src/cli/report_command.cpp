#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/files.h"
#include "report/html_report.h"
#include "report/reporter.h"
#include "report/study_report.h"

namespace uaqf::cli {

namespace fs = std::filesystem;

Action add_report_command(CLI::App& app) {
  struct Flags {
    std::string results;
    std::string format = "md";
    std::string output;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand("report", "write a study's report: Markdown, CSV, JSON or one HTML page");
  command->add_option("results", flags->results, "a study's results.json, or the study output folder holding it")
      ->required();
  command->add_option("--format", flags->format, "md, csv, json or html")
      ->check(CLI::IsMember({"md", "csv", "json", "html"}))
      ->capture_default_str();
  command->add_option("--output", flags->output,
                      "write to this file (default: standard output; for html, report.html beside the results)");
  return [flags]() -> int {
    const auto study = report::load_study_results(flags->results);
    const std::string text = report::study_reporter(study)->render(report::parse_format(flags->format));
    // A page of several hundred kilobytes is no use on a terminal: HTML always goes to a file.
    fs::path output = flags->output;
    if (output.empty() && flags->format == "html") {
      output = study.file.parent_path() / "report.html";
    }
    if (output.empty()) {
      std::cout << text;
      return 0;
    }
    write_file_atomic(output, text);
    std::cerr << fmt::format("report: {}\n", output.string());
    return 0;
  };
}

}  // namespace uaqf::cli
