#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace uaqf {

// Where and with what a measurement was made; stored with every result so that numbers from
// different machines or builds are never silently compared.
struct Environment {
  std::string uaqf_version;
  std::string build_type;
  std::string compiler;
  std::string os;          // e.g. "Linux 6.1.0 x86_64"
  std::string os_release;  // PRETTY_NAME from /etc/os-release
  std::string hostname;
  std::string cpu_model;
  int logical_cores = 0;
  int physical_cores = 0;
  uint64_t memory_total_bytes = 0;
  std::string timestamp_utc;  // ISO 8601
  // Engine-specific facts (devices, GPU, backend system info), added by the caller.
  std::map<std::string, std::string> extra;
};

Environment collect_environment();

// Physical cores from /proc/cpuinfo (distinct physical id/core id pairs); logical count if unknown.
int physical_core_count();

// The most threads a run may ask for: 4x the machine's logical processors (at least 16), so that
// a typo (--threads 100000) is a usage error, not an out-of-memory crash in the thread pool.
int max_thread_count();

// Throws Error(kInvalidArgument) naming `what` ("--threads", "study.toml:7: 'threads'") when
// `threads` is negative or above max_thread_count(); 0 means the default.
void check_thread_count(long long threads, const std::string& what);

// Now, as 2026-11-27T09:28:27Z.
std::string utc_now_iso8601();

}  // namespace uaqf
