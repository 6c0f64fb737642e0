#pragma once

// Engines by name: the one place that knows every engine. A new engine is a folder under
// backend/ and one row in engines.cpp.

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace uaqf::backend {

inline constexpr const char* kDefaultEngine = "llama";

// Throws Error(kInvalidArgument) listing the known names when `name` is not one of them.
std::unique_ptr<Engine> make_engine(const std::string& name);

// The names make_engine knows, in documentation order.
std::vector<std::string> engine_names();

}  // namespace uaqf::backend
