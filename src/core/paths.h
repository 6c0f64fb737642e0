#pragma once

#include <filesystem>
#include <optional>

namespace uaqf {

// The shared models-and-data folder: $UAQF_SHARED_DIR, else ../shared or ./shared from the
// working folder when one exists.
std::optional<std::filesystem::path> shared_dir();

// `relative` under the shared folder, when it exists there.
std::optional<std::filesystem::path> find_shared_file(const std::filesystem::path& relative);

// Where uaqf keeps reusable computed data: $UAQF_CACHE_DIR, else $XDG_CACHE_HOME/uaqf, else
// ~/.cache/uaqf.
std::filesystem::path user_cache_dir();

}  // namespace uaqf
