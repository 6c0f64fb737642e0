#include "decide/profile.h"

#include <charconv>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace uaqf::decide {
namespace {

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

[[noreturn]] void bad_constraint(const std::string& text, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "constraint \"" + text + "\": " + why);
}

Constraint builtin_constraint(const std::string& text) { return parse_constraint(text); }

// Weights are written as shares of 1 so that they read as "35% of what matters", though only the
// relative sizes count. Every profile guards quality with a KLD ceiling: ratio-normalized speed and
// memory gains are unbounded (a 4x smaller file scores 4), so weights alone would trade away any
// amount of quality for them.
std::vector<Profile> make_builtins() {
  std::vector<Profile> profiles;
  {
    Profile p;
    p.name = "interactive";
    p.description = "chat and assistants: a fast first token and steady, quick tokens after it";
    p.weights = {{"decode_tps", 0.35}, {"ttft_ms", 0.25}, {"itl_p99_ms", 0.20}, {"same_top_rate", 0.20}};
    p.constraints = {builtin_constraint("kld_mean <= 0.1")};
    profiles.push_back(p);
  }
  {
    Profile p;
    p.name = "batch-throughput";
    p.description = "offline batch jobs: tokens per second in and out; latency does not matter";
    p.weights = {{"prefill_tps", 0.40}, {"decode_tps", 0.40}, {"peak_memory_gib", 0.10}, {"same_top_rate", 0.10}};
    p.constraints = {builtin_constraint("kld_mean <= 0.1")};
    profiles.push_back(p);
  }
  {
    Profile p;
    p.name = "edge";
    p.description = "small devices: memory and file size first; add the device's limit, e.g. \"peak_memory_gib <= 4\"";
    p.weights = {{"peak_memory_gib", 0.40}, {"file_size_gib", 0.25}, {"decode_tps", 0.15}, {"same_top_rate", 0.20}};
    // Looser than the others: on a small device a coarser variant may be the only one that fits.
    p.constraints = {builtin_constraint("kld_mean <= 0.25")};
    profiles.push_back(p);
  }
  {
    Profile p;
    p.name = "quality-critical";
    p.description = "answers must stay as close to the baseline as possible; speed and memory second";
    p.weights = {{"kld_mean", 0.30},       {"ppl", 0.15},           {"gsm8k.exact_match_strict", 0.15},
                 {"hellaswag.acc", 0.15},  {"same_top_rate", 0.10}, {"decode_tps", 0.10},
                 {"peak_memory_gib", 0.05}};
    p.constraints = {builtin_constraint("kld_mean <= 0.05")};
    profiles.push_back(p);
  }
  {
    Profile p;
    p.name = "serving";
    p.description =
        "an online service under load ([workload.serving]): requests/s within the SLOs and the most load that "
        "keeps them, without losing quality";
    // For a rate sweep the study moves the weight to max_rps_at_slo (serving_profile_for_rates), and
    // the attainment constraint follows the study's target.
    p.weights = {{"goodput_rps", 0.40}, {"max_concurrency_at_slo", 0.30}, {"same_top_rate", 0.30}};
    p.constraints = {builtin_constraint("slo_attainment >= 0.99"), builtin_constraint("kld_mean <= 0.1")};
    profiles.push_back(p);
  }
  {
    Profile p;
    p.name = "throughput-per-device";
    p.description =
        "capacity per device bought: decode tokens/s per device that holds weights, and the memory the placement "
        "takes on all of them (for placements over several GPUs, RPC servers or partial offload)";
    p.weights = {{"tokens_per_s_per_device", 0.45},
                 {"prefill_tps", 0.15},
                 {"device_memory_gib_total", 0.15},
                 {"same_top_rate", 0.25}};
    p.constraints = {builtin_constraint("kld_mean <= 0.1")};
    profiles.push_back(p);
  }
  for (const auto& p : profiles) validate(p);
  return profiles;
}

const std::vector<Profile>& builtins() {
  static const std::vector<Profile> profiles = make_builtins();
  return profiles;
}

}  // namespace

std::string to_string(Comparison op) {
  switch (op) {
    case Comparison::kLessEqual:
      return "<=";
    case Comparison::kGreaterEqual:
      return ">=";
    case Comparison::kLess:
      return "<";
    case Comparison::kGreater:
      return ">";
  }
  return "?";
}

bool satisfies(double value, Comparison op, double threshold) {
  switch (op) {
    case Comparison::kLessEqual:
      return value <= threshold;
    case Comparison::kGreaterEqual:
      return value >= threshold;
    case Comparison::kLess:
      return value < threshold;
    case Comparison::kGreater:
      return value > threshold;
  }
  return false;
}

Constraint parse_constraint(const std::string& text) {
  const auto op_pos = text.find_first_of("<>");
  if (op_pos == std::string::npos) {
    bad_constraint(text, "no comparison operator; expected one of <=, >=, <, >");
  }
  Constraint c;
  c.text = trim(text);
  c.metric = trim(text.substr(0, op_pos));
  std::size_t number_pos = op_pos + 1;
  const bool or_equal = number_pos < text.size() && text[number_pos] == '=';
  if (or_equal) ++number_pos;
  c.op = text[op_pos] == '<' ? (or_equal ? Comparison::kLessEqual : Comparison::kLess)
                             : (or_equal ? Comparison::kGreaterEqual : Comparison::kGreater);

  // Operators such as "=<", "==", "<>", "<<" leave operator characters around the split point.
  const auto is_op_char = [](char ch) { return ch == '<' || ch == '>' || ch == '=' || ch == '!'; };
  const std::string rest = trim(text.substr(number_pos));
  if ((!c.metric.empty() && is_op_char(c.metric.back())) || (!rest.empty() && is_op_char(rest.front()))) {
    bad_constraint(text, "bad operator; expected one of <=, >=, <, >");
  }
  if (c.metric.empty()) bad_constraint(text, "no metric before the operator");
  if (find_metric(c.metric) == nullptr) {
    bad_constraint(text, "unknown metric \"" + c.metric + "\" (see docs/decide.md for the catalog)");
  }
  if (rest.empty()) bad_constraint(text, "no number after the operator");
  const char* begin = rest.data();
  const char* end = rest.data() + rest.size();
  const auto [ptr, ec] = std::from_chars(begin, end, c.threshold);
  if (ec != std::errc() || ptr != end || !std::isfinite(c.threshold)) {
    bad_constraint(text, "\"" + rest + "\" is not a number");
  }
  return c;
}

Profile serving_profile_for(const Profile& profile, bool rates, double attainment_target) {
  Profile out = profile;
  if (rates && out.weights.contains("max_concurrency_at_slo")) {
    out.weights["max_rps_at_slo"] += out.weights["max_concurrency_at_slo"];
    out.weights.erase("max_concurrency_at_slo");
  }
  for (auto& c : out.constraints) {
    if (rates && c.metric == "max_concurrency_at_slo") {
      c.metric = "max_rps_at_slo";
      c.text = "max_rps_at_slo " + to_string(c.op) + " " + fmt::format("{}", c.threshold);
    }
    if (c.metric == "slo_attainment" && c.text == "slo_attainment >= 0.99" && attainment_target != 0.99) {
      c.threshold = attainment_target;
      c.text = fmt::format("slo_attainment >= {}", attainment_target);
    }
  }
  return out;
}

const Profile& builtin_profile(const std::string& name) {
  for (const auto& p : builtins()) {
    if (p.name == name) return p;
  }
  std::string names;
  for (const auto& n : builtin_profile_names()) names += (names.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kInvalidArgument, "unknown profile \"" + name + "\"; built-in profiles: " + names);
}

std::vector<std::string> builtin_profile_names() {
  std::vector<std::string> names;
  for (const auto& p : builtins()) names.push_back(p.name);
  return names;
}

bool is_profile_key(const std::string& key) {
  static const std::set<std::string> keys{"base",        "name",          "description", "weights",
                                          "constraints", "normalization", "pessimistic"};
  return keys.contains(key);
}

void validate(const Profile& profile) {
  const std::string who = "profile \"" + profile.name + "\"";
  double sum = 0;
  for (const auto& [metric, weight] : profile.weights) {
    if (find_metric(metric) == nullptr) {
      throw Error(ErrorCode::kInvalidArgument, who + ": unknown metric \"" + metric + "\" in its weights");
    }
    // Weights are relative: a bound keeps their sum and the utilities finite (1e308 overflowed).
    if (!std::isfinite(weight) || weight < 0 || weight > kMaxWeight) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: the weight of \"{}\" must be a number from 0 to {:g}, got {:g}", who, metric,
                              kMaxWeight, weight));
    }
    sum += weight;
  }
  if (!(sum > 0)) throw Error(ErrorCode::kInvalidArgument, who + ": its weights must sum to more than 0");
  for (const auto& c : profile.constraints) {
    if (find_metric(c.metric) == nullptr) {
      throw Error(ErrorCode::kInvalidArgument, who + ": unknown metric \"" + c.metric + "\" in a constraint");
    }
    if (!std::isfinite(c.threshold)) {
      throw Error(ErrorCode::kInvalidArgument, who + ": the threshold of \"" + c.text + "\" is not finite");
    }
  }
}

Profile profile_from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw Error(ErrorCode::kInvalidArgument, "a profile must be a JSON object");
  // A misspelt key (weigths) would leave the defaults in force without a word.
  for (const auto& [key, value] : json.items()) {
    if (!is_profile_key(key)) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown profile key '{}' (known: {})", key,
                                                           "base, name, description, weights, constraints, "
                                                           "normalization, pessimistic"));
    }
  }
  Profile p;
  try {
    if (json.contains("base")) p = builtin_profile(json.at("base").get<std::string>());
    p.name = json.value("name", p.name.empty() ? std::string("custom") : p.name);
    p.description = json.value("description", p.description);
    if (json.contains("weights")) {
      p.weights.clear();
      for (const auto& [metric, weight] : json.at("weights").items()) p.weights[metric] = weight.get<double>();
    }
    if (json.contains("constraints")) {
      for (const auto& text : json.at("constraints"))
        p.constraints.push_back(parse_constraint(text.get<std::string>()));
    }
    if (json.contains("normalization"))
      p.normalization = parse_normalization(json.at("normalization").get<std::string>());
    p.pessimistic = json.value("pessimistic", p.pessimistic);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, std::string("profile JSON: ") + e.what());
  }
  validate(p);
  return p;
}

nlohmann::json to_json(const Profile& profile) {
  nlohmann::json constraints = nlohmann::json::array();
  for (const auto& c : profile.constraints) constraints.push_back(c.text);
  return nlohmann::json{{"name", profile.name},
                        {"description", profile.description},
                        {"weights", profile.weights},
                        {"constraints", constraints},
                        {"normalization", to_string(profile.normalization)},
                        {"pessimistic", profile.pessimistic}};
}

}  // namespace uaqf::decide
