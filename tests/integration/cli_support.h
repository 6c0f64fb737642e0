#pragma once

// Helpers for tests that run the real uaqf binary on the tiny model from the shared folder
// (UAQF_SHARED_DIR, or the path configured at build time). A missing model fails the tests; it
// never skips them.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace uaqf_test {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

inline fs::path work_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("uaqf-cli-test-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

inline RunResult run_uaqf(const std::string& args) {
  const fs::path out = work_dir() / "stdout.txt";
  const fs::path err = work_dir() / "stderr.txt";
  const std::string command =
      std::string("'") + UAQF_BINARY + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "' </dev/null";
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = slurp(out);
  result.err = slurp(err);
  return result;
}

inline fs::path shared_dir() {
  const char* env = std::getenv("UAQF_SHARED_DIR");
  return env != nullptr && *env != '\0' ? fs::path(env) : fs::path(UAQF_DEFAULT_SHARED_DIR);
}

inline fs::path tiny_model() { return shared_dir() / "models" / "uaqf-tiny" / "uaqf-tiny-15m-f16.gguf"; }

inline std::string q(const fs::path& path) { return "'" + path.string() + "'"; }

// Exactly one line on stderr, in uaqf's error format.
inline void expect_one_error_line(const RunResult& result, const std::string& fragment) {
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(result.err.rfind("uaqf: error: ", 0), 0U) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_NE(result.err.find(fragment), std::string::npos) << result.err;
}

// Q8_0, Q4_0 and Q4_K_M variants of the tiny model, made once per test process.
inline fs::path variant(const std::string& type) {
  static const fs::path dir = [] {
    const fs::path out = work_dir() / "variants";
    const auto result = run_uaqf("quantize " + q(tiny_model()) + " --types Q8_0,Q4_0,Q4_K_M --out " + q(out));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return out;
  }();
  return dir / ("uaqf-tiny-15m-" + type + ".gguf");
}

}  // namespace uaqf_test
