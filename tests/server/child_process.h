#pragma once

// A server process for the server tests: started in its own process group, killed (the whole group)
// and reaped when the object goes, and killed by the kernel if the test process dies first.

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace uaqf::testing {

class ChildProcess {
 public:
  // Runs argv (argv[0] searched in PATH) with `extra_env` added to this process's environment.
  // stdout goes to a pipe that read_line() reads; stderr goes to `log_path` (stdout too when
  // capture_stdout is false). Throws std::runtime_error when the process cannot start.
  static std::unique_ptr<ChildProcess> start(const std::vector<std::string>& argv,
                                             const std::vector<std::pair<std::string, std::string>>& extra_env,
                                             const std::string& log_path, bool capture_stdout);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // One line of the child's stdout, without its newline; throws on end of output or after timeout_s.
  std::string read_line(double timeout_s);
  // False once the process has exited (it is then reaped).
  bool running();
  // SIGKILL to the group, then waits for the child.
  void stop();
  int pid() const { return pid_; }

 private:
  ChildProcess() = default;
  int pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
};

// A loopback TCP port that nothing listened on a moment ago.
int free_loopback_port();

// The body of GET url; `status` gets the HTTP status (0 when nothing answered within 2 s).
std::string http_get(const std::string& url, long* status = nullptr);

// The last `max_bytes` of a file (a server's log, for failure messages).
std::string file_tail(const std::string& path, std::size_t max_bytes = 4000);

}  // namespace uaqf::testing
