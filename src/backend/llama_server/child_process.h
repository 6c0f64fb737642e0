#pragma once

// The process side of managed servers: spawning a child that cannot outlive uaqf, the registry
// of live children that the signal handlers and the exit handler kill, and waiting on them.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace uaqf::backend::detail {

// Starts argv[0] with `argv` in its own process group, stdin from /dev/null, stdout and stderr
// into `log_file` (truncated), the environment without LLAMA_ARG_* and AIP_* (the command line
// alone configures the server) and PR_SET_PDEATHSIG(SIGKILL) tied to the calling thread.
// Registers the child and, on the first call, installs the SIGINT/SIGTERM/SIGHUP and exit
// handlers. Throws Error when the binary cannot be executed. Returns the child's pid.
int spawn_child(const std::vector<std::string>& argv, const std::filesystem::path& log_file);

struct ChildExit {
  bool signaled = false;
  int code = 0;                  // the exit status, or the signal number when signaled
  std::string describe() const;  // "exited with status 1", "was killed by signal 9 (Killed)"
};

// The child's exit if it has exited, without reaping it (its pid stays reserved).
std::optional<ChildExit> child_exit_now(int pid);

// Sends `signal` to the child's process group (the child and anything it started).
void signal_child(int pid, int signal);

// Waits for the child to exit (up to `timeout_s`; < 0: forever); nullopt on timeout. Does not reap.
std::optional<ChildExit> wait_child_exit(int pid, double timeout_s);

// Takes the exited child out of the registry, then reaps it.
void reap_child(int pid);

// SIGTERM to the child's group, SIGKILL after `grace_s`; reaps.
void terminate_child(int pid, double grace_s);

// Tests only: children spawned from now on get no PR_SET_PDEATHSIG, so that the signal and exit
// handlers can be shown to stop servers on their own.
void disable_parent_death_signal_for_tests();

}  // namespace uaqf::backend::detail
