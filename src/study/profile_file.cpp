#include "study/profile_file.h"

#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"

namespace uaqf::study {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json profile_json_from_toml(std::string_view text, const std::string& spec) {
  toml::table root;
  try {
    root = toml::parse(text, spec);
  } catch (const toml::parse_error& error) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}:{}: {}", spec, error.source().begin.line, std::string(error.description())));
  }
  const toml::table* table = root.get("profile") != nullptr ? root.get("profile")->as_table() : &root;
  if (table == nullptr) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: [profile] must be a table", spec));
  }
  for (const auto& [key, node] : *table) {
    if (!decide::is_profile_key(std::string(key.str()))) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: unknown profile key '{}' (known: base, name, description, weights, "
                              "constraints, normalization, pessimistic)",
                              spec, node.source().begin.line, key.str()));
    }
  }
  std::ostringstream out;
  out << toml::json_formatter{*table};
  json j = json::parse(out.str());
  if (j.contains("name")) {
    j["base"] = j["name"];
  }
  j["name"] = fs::path(spec).stem().string();
  return j;
}

}  // namespace

decide::Profile parse_profile_text(std::string_view text, const std::string& spec) {
  json j;
  if (fs::path(spec).extension() == ".toml") {
    j = profile_json_from_toml(text, spec);
  } else {
    try {
      j = json::parse(text);
    } catch (const json::exception& error) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: not a JSON profile ({})", spec, error.what()));
    }
  }
  try {
    return decide::profile_from_json(j);
  } catch (const Error& error) {
    throw Error(error.code(), fmt::format("{}: {}", spec, error.what()));
  }
}

decide::Profile load_profile(const std::string& spec) {
  if (!fs::exists(spec)) {
    return decide::builtin_profile(spec);  // throws, listing the built-in names
  }
  return parse_profile_text(read_text_file(spec), spec);
}

}  // namespace uaqf::study
