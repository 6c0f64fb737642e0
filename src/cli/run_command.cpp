#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend/engines.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/files.h"
#include "core/interrupt.h"
#include "decide/profile.h"
#include "report/table.h"
#include "results/study_record.h"
#include "stats/summary.h"
#include "study/profile_file.h"
#include "study/runner.h"

namespace uaqf::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The headline measurements of each variant, next to the ranking.
void print_measurements(std::ostream& out, const std::vector<decide::Variant>& variants) {
  const std::vector<std::pair<std::string, std::string>> columns = {
      {"decode_tps", "decode t/s"}, {"prefill_tps", "prefill t/s"},  {"ttft_ms", "TTFT ms"},
      {"itl_p99_ms", "ITL p99 ms"}, {"peak_memory_gib", "peak GiB"}, {"ppl", "PPL"},
      {"kld_mean", "KLD"},          {"same_top_rate", "same top"},   {"output_tokens", "answer tokens"}};
  std::vector<std::string> extra;
  for (const auto& v : variants) {
    for (const auto& [name, value] : v.metrics) {
      const bool accuracy = name.find(".acc") != std::string::npos || name.find(".exact_match") != std::string::npos ||
                            name.find("_acc") != std::string::npos || name.find("identical_rate") != std::string::npos;
      if (accuracy && name.find("acc_norm") == std::string::npos &&
          std::find(extra.begin(), extra.end(), name) == extra.end()) {
        extra.push_back(name);
      }
    }
  }
  std::vector<std::string> head{"variant"};
  for (const auto& [name, label] : columns) {
    head.push_back(label);
  }
  head.insert(head.end(), extra.begin(), extra.end());
  std::vector<std::vector<std::string>> rows{head};
  std::optional<double> baseline_tokens;
  for (const auto& v : variants) {
    if (v.is_baseline && v.metrics.contains("output_tokens")) {
      baseline_tokens = stats::summarize(v.metrics.at("output_tokens").samples).mean;
    }
  }
  for (const auto& v : variants) {
    std::vector<std::string> row{v.name};
    auto cell = [&](const std::string& name) {
      const auto it = v.metrics.find(name);
      if (it == v.metrics.end() || it->second.samples.empty()) {
        return std::string("-");
      }
      const auto s = stats::summarize(it->second.samples);
      return s.stddev && *s.stddev > 0 ? fmt::format("{:.4g} ± {:.2g}", s.mean, *s.stddev)
                                       : fmt::format("{:.4g}", s.mean);
    };
    for (const auto& [name, label] : columns) {
      row.push_back(cell(name));
    }
    if (baseline_tokens && v.metrics.contains("output_tokens")) {
      const double mean = stats::summarize(v.metrics.at("output_tokens").samples).mean;
      row.back() += fmt::format(" ({:+.0f}% vs base)", 100 * (mean / *baseline_tokens - 1));
    }
    for (const auto& name : extra) {
      row.push_back(cell(name));
    }
    rows.push_back(row);
  }
  report::print_text_table(out, rows, 1);
}

}  // namespace

Action add_run_command(CLI::App& app) {
  struct Flags {
    std::string study;
    std::string model;
    std::string output;
    bool fresh = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand("run", "run a study: quantize, measure, evaluate, decide, report");
  command->add_option("study", flags->study, "study file (TOML), e.g. examples/default.toml")->required();
  command->add_option("--model", flags->model, "use this baseline model instead of the study's [model] path");
  command->add_option("--output", flags->output,
                      "use this results folder instead of the study's (variants go to its variants/ unless the "
                      "study names a variants_dir, which is kept)");
  command->add_flag("--fresh", flags->fresh,
                    "measure everything again (default: resume, reusing every result already in the study's "
                    "results store whose inputs are unchanged)");
  return [flags]() -> int {
    auto study = study::load_study(flags->study);
    study.fresh = flags->fresh;
    if (!flags->output.empty()) {
      study.output_dir = flags->output;
    }
    // An explicit variants_dir is never overridden silently: it is kept, and the run says so.
    const bool kept_variants_dir = study.variants_dir_given && (!flags->output.empty() || !flags->model.empty());
    if (!study.variants_dir_given && (!flags->output.empty() || !flags->model.empty())) {
      study.variants_dir = study.output_dir / "variants";
    }
    if (!flags->model.empty()) {
      study.model = flags->model;
    }
    say_on_interrupt(fmt::format("every finished unit is kept in {}; run the same command again to resume",
                                 (study.output_dir / "study.db").string()));
    auto engine = backend::make_engine(backend::kDefaultEngine);
    const auto outcome = study::run_study(*engine, study, SteadyClock());
    const fs::path results = study.output_dir / "results.json";
    write_file_atomic(results, results::to_json(outcome.record).dump(2) + "\n");
    std::cout << '\n';
    print_measurements(std::cout, outcome.record.decision_inputs);
    study::print_decision(std::cout, outcome.record.decision);
    std::cout << fmt::format("\nresults: {}\n", results.string());
    if (kept_variants_dir) {
      std::cout << fmt::format("variants: {} (the study's variants_dir, {}, kept over --output)\n",
                               study.variants_dir.string(), study.where("model.variants_dir"));
    }
    if (outcome.failed_variants > 0) {
      std::cerr << fmt::format("uaqf: error: {} variants failed (marked in {})\n", outcome.failed_variants,
                               results.string());
      return 1;
    }
    return 0;
  };
}

// The profile fitted to a served study's sweep as `uaqf run` fitted it (rates: max_rps_at_slo; the
// study's attainment target); unchanged for results without serving data.
decide::Profile fit_to_serving_sweep(const decide::Profile& profile, const json& results) {
  for (const auto& variant : results.value("variants", json::array())) {
    if (!variant.contains("serving") || variant["serving"]["levels"].empty()) continue;
    const json& serving = variant["serving"];
    return decide::serving_profile_for(profile, serving["levels"][0].value("mode", "") == "rate",
                                       serving["plan"].value("attainment_target", 0.99));
  }
  return profile;
}

Action add_rank_command(CLI::App& app) {
  struct Flags {
    std::string results;
    std::string profile;
    std::string json_path;
    int bootstrap = 1000;
    uint32_t seed = 42;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand("rank", "re-rank stored study results under another profile");
  command->add_option("results", flags->results, "results.json of a study")->required();
  command->add_option("--profile", flags->profile, "a built-in profile name, or a profile file (.toml or .json)")
      ->required();
  command->add_option("--bootstrap", flags->bootstrap, "bootstrap resamples")
      ->check(CLI::Range(1, decide::kMaxBootstrapResamples))
      ->capture_default_str();
  command->add_option("--seed", flags->seed, "bootstrap seed")->capture_default_str();
  command->add_option("--json", flags->json_path, "write the decision as JSON");
  return [flags]() -> int {
    json results;
    try {
      results = json::parse(read_text_file(flags->results));
    } catch (const json::exception& error) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: not a results file ({})", flags->results, error.what()));
    }
    if (results.value("schema", "") != results::kStudyResultsSchema) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: not a uaqf study results file", flags->results));
    }
    auto profile = fit_to_serving_sweep(study::load_profile(flags->profile), results);
    const auto variants = results::decision_inputs_from_json(results);
    std::vector<std::string> notes;
    if (results.value("synthetic_weights", false)) {
      profile = decide::without_unmeasured_metrics(profile, variants, notes);
    }
    auto decision = decide::decide(variants, profile, {.bootstrap_resamples = flags->bootstrap, .seed = flags->seed});
    decide::add_notes(decision, notes);
    print_measurements(std::cout, variants);
    study::print_decision(std::cout, decision);
    if (!flags->json_path.empty()) {
      write_file_atomic(flags->json_path, decide::to_json(decision).dump(2) + "\n");
    }
    return 0;
  };
}

}  // namespace uaqf::cli
