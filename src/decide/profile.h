#pragma once

// A deployment profile: what matters (weights over metrics), what is required (constraints), and
// how metrics are put on one scale.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "decide/normalize.h"

namespace uaqf::decide {

enum class Comparison { kLessEqual, kGreaterEqual, kLess, kGreater };

struct Constraint {
  std::string metric;
  Comparison op;
  double threshold;
  std::string text;  // as written, e.g. "ttft_p99_ms <= 200"
};

struct Profile {
  std::string name;
  std::string description;
  std::map<std::string, double> weights;  // metric -> weight >= 0; only the relative sizes matter
  std::vector<Constraint> constraints;
  NormalizationMethod normalization = NormalizationMethod::kRatioToBaseline;
  // With unstable measurements, rank on the unfavourable end of the 95% interval instead of the mean.
  bool pessimistic = true;
};

std::string to_string(Comparison op);  // "<=", ">=", "<", ">"
bool satisfies(double value, Comparison op, double threshold);

// Parses "ttft_p99_ms <= 200", "gsm8k.exact_match_strict.retention >= 0.99", "kld_mean<=0.05".
// Throws Error(kInvalidArgument) naming the text on a bad operator or number or an unknown metric.
Constraint parse_constraint(const std::string& text);

// The built-in profiles: "interactive", "batch-throughput", "edge", "quality-critical", "serving",
// "throughput-per-device"
// (weights and constraints in docs/decide.md). Throws Error listing the names when unknown.
const Profile& builtin_profile(const std::string& name);
std::vector<std::string> builtin_profile_names();

// `profile` fitted to a study's serving sweep: for a rate sweep (`rates`), weights and constraints
// on max_concurrency_at_slo move to max_rps_at_slo; the built-in "slo_attainment >= 0.99" takes
// the study's attainment target. Other metrics are left as they are.
Profile serving_profile_for(const Profile& profile, bool rates, double attainment_target);

// The largest weight a profile may give a metric (weights are relative to each other).
inline constexpr double kMaxWeight = 1e6;

// The keys a profile file may have (JSON object or TOML [profile] table).
bool is_profile_key(const std::string& key);

// Checks that every weight's metric is known, every weight is in [0, kMaxWeight], the weights sum to
// more than 0, and every constraint names a known metric and a finite threshold. Throws
// Error(kInvalidArgument) naming the metric or the profile.
void validate(const Profile& profile);

// A profile from JSON, e.g. {"name": "mine", "base": "interactive", "weights": {"decode_tps": 1},
// "constraints": ["peak_memory_gib <= 6"], "normalization": "min-max", "pessimistic": true}.
// "base" starts from a built-in profile; "weights" then replace its weights wholesale when given,
// "constraints" are added to its constraints. Validated; throws Error(kInvalidArgument).
Profile profile_from_json(const nlohmann::json& json);
nlohmann::json to_json(const Profile& profile);

}  // namespace uaqf::decide
