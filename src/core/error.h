#pragma once

#include <stdexcept>
#include <string>

namespace uaqf {

// What kind of failure, so that the CLI can pick an exit code and tests can assert on it.
enum class ErrorCode {
  kInvalidArgument,  // the user's input is wrong (bad option, unknown type, bad file content)
  kNotFound,         // a named file or folder does not exist
  kIo,               // reading or writing failed
  kEngine,           // the inference engine refused or failed
  kInternal,
};

// The one error type uaqf throws. The message is complete on its own: it names the thing that
// failed (file, option, model) and why, so the CLI can print it as one line.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// Process exit status for an error: 2 for bad input (as for usage errors), 1 otherwise.
int exit_code_for(ErrorCode code) noexcept;

}  // namespace uaqf
