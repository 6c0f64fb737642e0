#include "core/environment.h"

#include <sys/utsname.h>
#include <unistd.h>
#include <cstdint>

#include <chrono>
#include <ctime>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"
#include "uaqf/build_info.h"

namespace uaqf {
namespace {

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\"");
  const auto last = s.find_last_not_of(" \t\"\r\n");
  if (first == std::string::npos) {
    return {};
  }
  return s.substr(first, last - first + 1);
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      return trim(line.substr(line.find(':') + 1));
    }
  }
  return "unknown";
}

std::string os_pretty_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      return trim(line.substr(12));
    }
  }
  return "unknown";
}

uint64_t memory_total() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  while (in >> key >> kib) {
    if (key == "MemTotal:") {
      return kib * 1024;
    }
    in.ignore(256, '\n');
  }
  return 0;
}

std::string compiler_id() {
#if defined(__clang__)
  return fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  return fmt::format("gcc {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

}  // namespace

std::string utc_now_iso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int physical_core_count() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::pair<std::string, std::string>> cores;
  std::string physical_id = "0";
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "physical id") {
      physical_id = value;
    } else if (key == "core id") {
      cores.emplace(physical_id, value);
    }
  }
  if (!cores.empty()) {
    return static_cast<int>(cores.size());
  }
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

int max_thread_count() { return std::max(16, 4 * static_cast<int>(std::max(1U, std::thread::hardware_concurrency()))); }

void check_thread_count(long long threads, const std::string& what) {
  if (threads < 0 || threads > max_thread_count()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{} must be between 1 and {} on this machine ({} logical processors; 0: the default), "
                            "got {}",
                            what, max_thread_count(), std::max(1U, std::thread::hardware_concurrency()), threads));
  }
}

Environment collect_environment() {
  Environment env;
  env.uaqf_version = UAQF_VERSION;
  env.build_type = UAQF_BUILD_TYPE;
  env.compiler = compiler_id();
  utsname uts{};
  if (uname(&uts) == 0) {
    env.os = fmt::format("{} {} {}", uts.sysname, uts.release, uts.machine);
    env.hostname = uts.nodename;
  }
  env.os_release = os_pretty_name();
  env.cpu_model = cpu_model_name();
  env.logical_cores = static_cast<int>(std::thread::hardware_concurrency());
  env.physical_cores = physical_core_count();
  env.memory_total_bytes = memory_total();
  env.timestamp_utc = utc_now_iso8601();
  return env;
}

}  // namespace uaqf
