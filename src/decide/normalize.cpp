#include "decide/normalize.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace uaqf::decide {

std::string to_string(NormalizationMethod method) {
  switch (method) {
    case NormalizationMethod::kRatioToBaseline:
      return "ratio";
    case NormalizationMethod::kMinMax:
      return "min-max";
    case NormalizationMethod::kZScore:
      return "z-score";
  }
  return "ratio";
}

NormalizationMethod parse_normalization(const std::string& text) {
  // The study file's spellings, and the same without the hyphen.
  if (text == "ratio") return NormalizationMethod::kRatioToBaseline;
  if (text == "min-max" || text == "minmax") return NormalizationMethod::kMinMax;
  if (text == "z-score" || text == "zscore") return NormalizationMethod::kZScore;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown normalization \"" + text + "\"; expected one of: ratio, min-max, z-score");
}

bool ratio_defined(std::span<const double> values, Direction direction, std::size_t baseline_index) {
  if (baseline_index >= values.size()) return false;
  if (direction == Direction::kHigherIsBetter) return values[baseline_index] > 0;
  return std::all_of(values.begin(), values.end(), [](double x) { return x > 0; });
}

std::vector<double> normalize(std::span<const double> values, Direction direction, NormalizationMethod method,
                              std::optional<std::size_t> baseline_index, std::optional<double> reference) {
  if (values.empty()) throw Error(ErrorCode::kInvalidArgument, "normalize: no values");
  if (!std::all_of(values.begin(), values.end(), [](double x) { return std::isfinite(x); })) {
    throw Error(ErrorCode::kInvalidArgument, "normalize: a value is not finite");
  }
  const bool higher = direction == Direction::kHigherIsBetter;
  std::vector<double> out(values.size());

  switch (method) {
    case NormalizationMethod::kRatioToBaseline: {
      if (!baseline_index || *baseline_index >= values.size()) {
        throw Error(ErrorCode::kInvalidArgument, "normalize: ratio to baseline needs a baseline");
      }
      // With a reference, only it (and, lower-is-better, every value) must be > 0.
      const bool defined = reference ? std::isfinite(*reference) && *reference > 0 &&
                                           (higher || ratio_defined(values, direction, *baseline_index))
                                     : ratio_defined(values, direction, *baseline_index);
      if (!defined) {
        throw Error(ErrorCode::kInvalidArgument,
                    higher ? "normalize: ratio to baseline needs a baseline value > 0"
                           : "normalize: ratio to baseline of a lower-is-better metric needs every value > 0");
      }
      const double base = reference ? *reference : values[*baseline_index];
      for (std::size_t i = 0; i < values.size(); ++i) out[i] = higher ? values[i] / base : base / values[i];
      return out;
    }
    case NormalizationMethod::kMinMax: {
      const auto [min_it, max_it] = std::minmax_element(values.begin(), values.end());
      const double lo = *min_it, hi = *max_it;
      // All equal: nothing separates the variants, so all are as good as the best.
      if (hi == lo) {
        std::fill(out.begin(), out.end(), 1.0);
        return out;
      }
      for (std::size_t i = 0; i < values.size(); ++i) {
        out[i] = higher ? (values[i] - lo) / (hi - lo) : (hi - values[i]) / (hi - lo);
      }
      return out;
    }
    case NormalizationMethod::kZScore: {
      const auto [min_it, max_it] = std::minmax_element(values.begin(), values.end());
      // Checked exactly, because a rounded mean of equal values can leave a tiny spurious sd.
      if (*min_it == *max_it) {
        std::fill(out.begin(), out.end(), 0.0);
        return out;
      }
      const auto n = static_cast<double>(values.size());
      // Deviations from the first value keep the sums small (values can be large, e.g. 1e6 ms).
      const double shift = values.front();
      double sum = 0;
      for (double x : values) sum += x - shift;
      const double mean = shift + sum / n;
      double squares = 0;
      for (double x : values) squares += (x - mean) * (x - mean);
      // Population sd: the variants are the whole study, not a sample of a larger one.
      const double sd = std::sqrt(squares / n);
      for (std::size_t i = 0; i < values.size(); ++i) {
        const double z = (values[i] - mean) / sd;
        out[i] = higher ? z : -z;
      }
      return out;
    }
  }
  return out;
}

}  // namespace uaqf::decide
