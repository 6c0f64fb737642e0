#pragma once

// Inside decide: the bootstrap behind the utility intervals and win probabilities. Each resample
// draws the records of every record set (task items, chunks, requests) once and shares the draw
// across variants (paired: they were all scored on the same records), recomputes every
// record-based metric from its drawn records, resamples speed repetitions per variant, and holds
// single values fixed. Normalization and utilities are then recomputed.

#include <optional>
#include <string>
#include <vector>

#include "decide/decide.h"
#include "decide/scoring.h"

namespace uaqf::decide {

// How a variant's metric varies in the bootstrap.
struct MetricSource {
  enum class Kind { kFixed, kRepetitions, kRecords };
  Kind kind = Kind::kFixed;
  std::string set;     // kRecords: the record set
  std::size_t n = 0;   // samples or records
  bool paired = true;  // kRecords: one draw shared by every variant (false when their counts differ)
};

struct BootstrapUtilities {
  std::vector<std::vector<double>> utility;        // [variant][resample]
  std::vector<double> wins;                        // [variant]: resamples with the highest feasible utility
  std::vector<std::vector<MetricSource>> sources;  // [variant][raw metric]
  // [variant][raw metric]: 2.5th and 97.5th percentiles of the resampled central estimate; none when fixed.
  std::vector<std::vector<std::optional<std::pair<double, double>>>> intervals;
  std::vector<std::string> notes;  // e.g. a record set resampled unpaired
};

BootstrapUtilities bootstrap_utilities(const Study& study, const std::vector<bool>& feasible,
                                       const DecideOptions& options);

}  // namespace uaqf::decide
