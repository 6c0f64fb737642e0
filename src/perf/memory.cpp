#include "perf/memory.h"

#include <fstream>
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
std::optional<uint64_t> current_rss_bytes() { return status_field_bytes("VmRSS:"); }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace uaqf::perf
