#pragma once

#include <cstdint>
#include <optional>

namespace uaqf::perf {

// Peak resident memory of this process (VmHWM), in bytes; nullopt where unavailable.
std::optional<uint64_t> peak_rss_bytes();
std::optional<uint64_t> current_rss_bytes();

// Resets the peak to the current resident size (Linux /proc/self/clear_refs), so that each model's
// peak is its own. Returns false where the kernel refuses; the peak then spans the whole process.
bool reset_peak_rss();

}  // namespace uaqf::perf
