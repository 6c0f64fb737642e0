#pragma once

// Profile files given to `uaqf run --profile`: a built-in name, or a JSON or TOML file (a [profile]
// table or top-level keys) that starts from a built-in profile (docs/decide.md).

#include <string>
#include <string_view>

#include "decide/profile.h"

namespace uaqf::study {

// `spec` is a built-in profile's name or a file's path (".toml": TOML, otherwise JSON). Throws
// Error(kInvalidArgument) naming the file (and line) for bad content, listing the built-in names
// when `spec` is neither.
decide::Profile load_profile(const std::string& spec);

// The same from a profile file's text; `spec` is its path (its extension picks the format, its
// stem names the profile). The fuzz target's entry point.
decide::Profile parse_profile_text(std::string_view text, const std::string& spec);

}  // namespace uaqf::study
