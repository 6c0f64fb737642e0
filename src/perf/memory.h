#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace uaqf::perf {

// Peak resident memory of this process (VmHWM), in bytes; nullopt where unavailable.
std::optional<uint64_t> peak_rss_bytes();

// Resets the peak to the current resident size (Linux /proc/self/clear_refs), so that each model's
// peak is its own. Returns false where the kernel refuses; the peak then spans the whole process.
bool reset_peak_rss();

// Fixes glibc's mmap threshold at 128 KiB. By default glibc raises the threshold when a large
// block is freed, so whether later weight, KV-cache and compute buffers are fresh page-aligned
// mappings or recycled heap depends on what the process allocated before: on the tiny model that
// moved prefill speed by +-6 % between otherwise identical runs. Returns the threshold in bytes
// (0 where the allocator is not glibc's). Must run before the engine allocates.
std::size_t fix_allocator_placement();

}  // namespace uaqf::perf
