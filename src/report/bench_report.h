#pragma once

// Every output of `uaqf bench` is read from the same BenchReport records.

#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

#include "perf/bench.h"

namespace uaqf::report {

inline constexpr const char* kBenchSchema = "uaqf.bench/1";

void print_bench_table(std::ostream& out, const perf::BenchReport& report);

// JSON with every raw sample, the summaries, the options and the environment manifest.
nlohmann::json bench_to_json(const perf::BenchReport& report);

// Long form: one row per model x test x metric x statistic, raw samples as statistic "sample";
// the environment manifest as leading '#' comment lines.
std::string bench_to_csv(const perf::BenchReport& report);

nlohmann::json environment_to_json(const Environment& environment, const backend::EngineInfo& engine);

}  // namespace uaqf::report
