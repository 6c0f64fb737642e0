#include "core/paths.h"

#include <cstdlib>
#include <string>

namespace uaqf {
namespace fs = std::filesystem;

namespace {
std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return std::string(value);
}
}  // namespace

std::optional<fs::path> shared_dir() {
  if (auto dir = env("UAQF_SHARED_DIR")) {
    return fs::path(*dir);
  }
  std::error_code ec;
  for (const char* candidate : {"../shared", "shared"}) {
    if (fs::is_directory(candidate, ec)) {
      return fs::absolute(candidate, ec).lexically_normal();
    }
  }
  return std::nullopt;
}

std::optional<fs::path> find_shared_file(const fs::path& relative) {
  auto dir = shared_dir();
  std::error_code ec;
  if (dir && fs::exists(*dir / relative, ec)) {
    return *dir / relative;
  }
  return std::nullopt;
}

fs::path user_cache_dir() {
  if (auto dir = env("UAQF_CACHE_DIR")) {
    return fs::path(*dir);
  }
  if (auto dir = env("XDG_CACHE_HOME")) {
    return fs::path(*dir) / "uaqf";
  }
  if (auto home = env("HOME")) {
    return fs::path(*home) / ".cache" / "uaqf";
  }
  return fs::temp_directory_path() / "uaqf-cache";
}

}  // namespace uaqf
