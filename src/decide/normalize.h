#pragma once

// Puts metrics of different units on one scale so that they can be weighted and summed. After
// normalization higher is always better, and multiplying a metric's values by any c > 0 (a change
// of unit) leaves the normalized values unchanged.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "decide/model.h"

namespace uaqf::decide {

enum class NormalizationMethod {
  kRatioToBaseline,  // x / baseline (higher-better), baseline / x (lower-better)
  kMinMax,           // position between the study's worst (0) and best (1)
  kZScore,           // standard deviations above the study mean, sign flipped for lower-better
};

std::string to_string(NormalizationMethod method);  // "ratio", "min-max", "z-score"
// Accepts the to_string names (as the study file writes them) and "minmax", "zscore"; throws
// Error(kInvalidArgument) listing them otherwise.
NormalizationMethod parse_normalization(const std::string& text);

// Whether the ratio to the baseline means something for these values: the baseline must be > 0
// for higher-is-better metrics, and every value must be > 0 for lower-is-better ones (baseline / x).
// False e.g. for kld_mean, whose baseline value is 0.
bool ratio_defined(std::span<const double> values, Direction direction, std::size_t baseline_index);

// One metric's values over the variants of a study, normalized. baseline_index is needed by
// kRatioToBaseline only; the ratio is taken to `reference` when given (the baseline's central
// estimate, where values hold the pessimistic ends), else to values[baseline_index]. Throws
// Error(kInvalidArgument) on empty input, a missing or out-of-range baseline, a ratio that is not
// defined (see ratio_defined; a reference must be > 0), or non-finite values.
std::vector<double> normalize(std::span<const double> values, Direction direction, NormalizationMethod method,
                              std::optional<std::size_t> baseline_index = std::nullopt,
                              std::optional<double> reference = std::nullopt);

}  // namespace uaqf::decide
