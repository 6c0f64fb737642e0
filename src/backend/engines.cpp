#include "backend/engines.h"

#include <functional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backend/llama/llama_engine.h"
#include "core/error.h"

namespace uaqf::backend {
namespace {

struct EngineRow {
  const char* name;
  const char* what;
  std::function<std::unique_ptr<Engine>()> make;
};

const std::vector<EngineRow>& engine_table() {
  static const std::vector<EngineRow> rows{
      {"llama", "llama.cpp in this process (GGUF files)", [] { return make_llama_engine(); }},
  };
  return rows;
}

}  // namespace

std::unique_ptr<Engine> make_engine(const std::string& name) {
  for (const auto& row : engine_table()) {
    if (name == row.name) {
      return row.make();
    }
  }
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("unknown engine '{}' (known: {})", name, fmt::join(engine_names(), ", ")));
}

std::vector<std::string> engine_names() {
  std::vector<std::string> names;
  for (const auto& row : engine_table()) {
    names.emplace_back(row.name);
  }
  return names;
}

}  // namespace uaqf::backend
