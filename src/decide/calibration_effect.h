#pragma once

// Did calibration help? Each calibrated variant ("Q4_K_M+wiki") against its plain twin
// ("Q4_K_M", same runtime settings): paired tests on the items and chunks both were scored on,
// and a verdict on the main quality measure (per-chunk KLD, else per-chunk NLL).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "decide/decide.h"
#include "decide/model.h"

namespace uaqf::decide {

struct CalibrationComparison {
  std::string plain;
  std::string calibrated;
  std::string calibration;
  std::vector<BaselineTest> tests;  // calibrated - plain
  std::string measure;              // the verdict's measure ("kld" or "nll"), "" without one
  std::string verdict;              // "helped", "hurt", "no clear difference", or "not measured"
};

// "Q4_K_M+wiki kv=q8_0" -> {"Q4_K_M kv=q8_0", "wiki"}; nullopt for a name without a calibration.
struct CalibratedName {
  std::string plain;
  std::string calibration;
};
std::optional<CalibratedName> parse_calibrated_name(const std::string& name);

// Paired tests of `variant` against `reference` on what both were scored on: McNemar on each
// task's per-item correctness, a paired bootstrap on each per-chunk series (variant - reference).
// Throws Error naming both (the reference after `reference_role`, e.g. "the baseline ") when a
// task or series has different lengths.
std::vector<BaselineTest> paired_quality_tests(const Variant& variant, const Variant& reference, uint32_t seed,
                                               int resamples, const std::string& reference_role = "");

// Every calibrated variant whose plain twin is among `variants`.
std::vector<CalibrationComparison> compare_calibrations(const std::vector<Variant>& variants, uint32_t seed,
                                                        int resamples);

nlohmann::json to_json(const CalibrationComparison& comparison);

}  // namespace uaqf::decide
