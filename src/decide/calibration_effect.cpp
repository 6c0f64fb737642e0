#include "decide/calibration_effect.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "decide/significance.h"

namespace uaqf::decide {

std::vector<BaselineTest> paired_quality_tests(const Variant& variant, const Variant& reference, uint32_t seed,
                                               int resamples, const std::string& reference_role) {
  std::vector<BaselineTest> tests;
  for (const auto& [task, correct] : variant.item_correct) {
    const auto it = reference.item_correct.find(task);
    if (it == reference.item_correct.end() || correct.empty()) continue;
    if (it->second.size() != correct.size()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("decide: task \"{}\" has {} items for \"{}\" and {} for {}\"{}\"", task, correct.size(),
                              variant.name, it->second.size(), reference_role, reference.name));
    }
    const McNemarResult m = mcnemar(it->second, correct);
    const int n = static_cast<int>(correct.size());
    tests.push_back({task, "mcnemar", n, static_cast<double>(m.variant_only - m.baseline_only) / n, std::nullopt,
                     std::nullopt, m.p_value});
  }
  uint32_t stream = 0;
  for (const auto& [measure, chunks] : variant.chunk_values) {
    ++stream;
    const auto it = reference.chunk_values.find(measure);
    if (it == reference.chunk_values.end() || chunks.empty()) continue;
    if (it->second.size() != chunks.size()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("decide: \"{}\" has {} chunks for \"{}\" and {} for {}\"{}\"", measure, chunks.size(),
                              variant.name, it->second.size(), reference_role, reference.name));
    }
    const auto r = paired_bootstrap(it->second, chunks, resamples, seed + stream * 7919u);
    tests.push_back({measure, "paired_bootstrap", static_cast<int>(chunks.size()), r.mean_difference, r.ci_low,
                     r.ci_high, r.p_value});
  }
  return tests;
}

std::optional<CalibratedName> parse_calibrated_name(const std::string& name) {
  const std::size_t plus = name.find('+');
  if (plus == std::string::npos || plus == 0) {
    return std::nullopt;
  }
  std::size_t end = plus + 1;
  while (end < name.size() && (std::isalnum(static_cast<unsigned char>(name[end])) != 0 || name[end] == '_')) {
    ++end;
  }
  if (end == plus + 1 || name.substr(0, plus).find(' ') != std::string::npos) {
    return std::nullopt;
  }
  return CalibratedName{name.substr(0, plus) + name.substr(end), name.substr(plus + 1, end - plus - 1)};
}

std::vector<CalibrationComparison> compare_calibrations(const std::vector<Variant>& variants, uint32_t seed,
                                                        int resamples) {
  std::vector<CalibrationComparison> comparisons;
  for (const auto& variant : variants) {
    const auto parsed = parse_calibrated_name(variant.name);
    if (!parsed) continue;
    const auto plain =
        std::find_if(variants.begin(), variants.end(), [&](const Variant& v) { return v.name == parsed->plain; });
    if (plain == variants.end()) continue;
    CalibrationComparison c{.plain = plain->name, .calibrated = variant.name, .calibration = parsed->calibration};
    c.tests = paired_quality_tests(variant, *plain, seed, resamples);
    c.verdict = "not measured";
    // Lower KLD (else NLL) per chunk is better; the verdict needs the 95% interval on one side of 0.
    for (const char* measure : {"kld", "nll"}) {
      const auto test =
          std::find_if(c.tests.begin(), c.tests.end(), [&](const BaselineTest& t) { return t.measure == measure; });
      if (test == c.tests.end() || !test->ci_low || !test->ci_high) continue;
      c.measure = measure;
      c.verdict = *test->ci_high < 0 ? "helped" : *test->ci_low > 0 ? "hurt" : "no clear difference";
      break;
    }
    comparisons.push_back(std::move(c));
  }
  return comparisons;
}

nlohmann::json to_json(const CalibrationComparison& comparison) {
  nlohmann::json tests = nlohmann::json::array();
  for (const auto& t : comparison.tests) {
    nlohmann::json test{
        {"measure", t.measure}, {"test", t.test}, {"n", t.n}, {"difference", t.difference}, {"p_value", t.p_value}};
    if (t.ci_low && t.ci_high) {
      test["ci_low"] = *t.ci_low;
      test["ci_high"] = *t.ci_high;
    }
    tests.push_back(std::move(test));
  }
  return {
      {"plain", comparison.plain},     {"calibrated", comparison.calibrated}, {"calibration", comparison.calibration},
      {"measure", comparison.measure}, {"verdict", comparison.verdict},       {"tests", std::move(tests)}};
}

}  // namespace uaqf::decide
