// uaqf: which precision to deploy an LLM at. This file is the single exit point: every error
// reaches the user here as one line on stderr with a non-zero status.

#include <cstdio>
#include <exception>
#include <map>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "perf/memory.h"
#include "uaqf/build_info.h"

int main(int argc, char** argv) {
  uaqf::perf::fix_allocator_placement();
  CLI::App app{"uaqf: measure FP16, 8-bit and 4-bit variants of an LLM end to end and choose one", "uaqf"};
  app.set_version_flag("--version", fmt::format("uaqf {} (llama.cpp {})", UAQF_VERSION, UAQF_LLAMA_COMMIT));
  app.require_subcommand(1);
  std::map<CLI::App*, uaqf::cli::Action> actions;
  auto add = [&](const char* name, auto adder) {
    auto action = adder(app);
    actions[app.get_subcommand(name)] = std::move(action);
  };
  add("quantize", uaqf::cli::add_quantize_command);
  add("imatrix", uaqf::cli::add_imatrix_command);
  add("bench", uaqf::cli::add_bench_command);
  add("serve-bench", uaqf::cli::add_serve_bench_command);
  add("run", uaqf::cli::add_run_command);
  add("rank", uaqf::cli::add_rank_command);
  add("report", uaqf::cli::add_report_command);
  add("eval", uaqf::cli::add_eval_command);
  add("synth", uaqf::cli::add_synth_command);
  add("types", uaqf::cli::add_types_command);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    // Usage errors in uaqf's one format and with its usage exit status (CLI11 uses 105-109).
    std::fprintf(stderr, "uaqf: error: %s (see uaqf --help)\n", error.what());
    return 2;
  }
  // Commands that keep something say what (run: its store; bench: its --json); files written
  // before stay as they were.
  uaqf::say_on_interrupt("nothing more was written");
  try {
    for (auto* sub : app.get_subcommands()) {
      return actions.at(sub)();
    }
    return 2;
  } catch (const uaqf::Error& error) {
    std::fprintf(stderr, "uaqf: error: %s\n", error.what());
    return uaqf::exit_code_for(error.code());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "uaqf: internal error: %s\n", error.what());
    return 1;
  }
}
