#pragma once

#include <memory>

#include <CLI/CLI.hpp>

namespace uaqf::cli {

// Each command registers its options on `app` and returns the action to run when chosen.
// Actions return the process exit status; errors are thrown as uaqf::Error.
using Action = std::function<int()>;

Action add_quantize_command(CLI::App& app);
Action add_bench_command(CLI::App& app);
Action add_types_command(CLI::App& app);
Action add_eval_command(CLI::App& app);
Action add_run_command(CLI::App& app);
Action add_rank_command(CLI::App& app);
Action add_synth_command(CLI::App& app);
Action add_report_command(CLI::App& app);
Action add_serve_bench_command(CLI::App& app);
Action add_imatrix_command(CLI::App& app);

}  // namespace uaqf::cli
