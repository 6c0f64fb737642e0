// Profile files of `uaqf run --profile FILE`: TOML (a [profile] table or top-level keys) and JSON.
// The first byte picks the format; the rest is the file. Either a valid profile or uaqf::Error.

#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "decide/profile.h"
#include "fuzz_support.h"
#include "study/profile_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const char* spec = (data[0] & 1) != 0 ? "mine.toml" : "mine.json";
  try {
    const auto profile = uaqf::study::parse_profile_text(uaqf::fuzz::as_text(data + 1, size - 1), spec);
    // What load_profile returns is valid: validating it again must not throw.
    uaqf::decide::validate(profile);
    (void)uaqf::decide::to_json(profile).dump();
  } catch (const uaqf::Error&) {
  }
  return 0;
}
