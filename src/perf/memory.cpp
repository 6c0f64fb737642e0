#include "perf/memory.h"

#include <cstdint>
#include <fstream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string>

namespace uaqf::perf {
namespace {

std::optional<uint64_t> status_field_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      return std::stoull(line.substr(field.size())) * 1024;  // reported in kB
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> peak_rss_bytes() { return status_field_bytes("VmHWM:"); }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

std::size_t fix_allocator_placement() {
#if defined(__GLIBC__)
  constexpr int kThresholdBytes = 128 * 1024;  // glibc's initial default
  if (mallopt(M_MMAP_THRESHOLD, kThresholdBytes) == 1) {
    return kThresholdBytes;
  }
#endif
  return 0;
}

}  // namespace uaqf::perf
