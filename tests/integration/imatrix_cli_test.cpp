// `uaqf imatrix` on the tiny model: a matrix llama.cpp's quantizer accepts for a type that needs
// one, a run killed with SIGKILL that resumes to the very same file, and a study whose calibration
// text is the corpus it evaluates, refused before any work.

#include "cli_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace uaqf_test;
namespace fs = std::filesystem;

std::string imatrix_args(const fs::path& output, int chunks) {
  return "imatrix " + q(tiny_model()) + " --calibration wikitext-valid --data-dir " + q(shared_dir() / "data") +
         " --chunks " + std::to_string(chunks) + " -t 2 -o " + q(output);
}

// Starts `uaqf imatrix`, kills it with SIGKILL once its partial matrix is on disk; false when it
// finished first.
bool run_and_kill_after_first_save(const fs::path& output, int chunks) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args{UAQF_BINARY,  "imatrix", tiny_model().string(), "--calibration", "wikitext-valid",
                                "--data-dir", (shared_dir() / "data").string(), "--chunks", std::to_string(chunks),
                                "-t",         "2",       "-o",                  output.string()};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, UAQF_BINARY, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  fs::path partial = output;
  partial += ".partial";
  while (true) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    if (fs::exists(partial)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TEST(ImatrixCli, KilledRunResumesToTheSameMatrixWhichTheQuantizerAccepts) {
  const int chunks = 32;
  const fs::path whole = work_dir() / "whole.imatrix.gguf";
  const auto uninterrupted = run_uaqf(imatrix_args(whole, chunks));
  ASSERT_EQ(uninterrupted.exit_code, 0) << uninterrupted.err;
  EXPECT_NE(uninterrupted.out.find("32 chunks of 512 tokens (16384 calibration tokens)"), std::string::npos)
      << uninterrupted.out;

  const fs::path killed = work_dir() / "killed.imatrix.gguf";
  ASSERT_TRUE(run_and_kill_after_first_save(killed, chunks)) << "the run finished before it could be killed";
  EXPECT_FALSE(fs::exists(killed));
  const auto resumed = run_uaqf(imatrix_args(killed, chunks));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("resumed after chunk"), std::string::npos) << resumed.out;
  // Sums of squares continued from the partial matrix: the same bytes as the uninterrupted run.
  EXPECT_EQ(slurp(killed), slurp(whole));

  // Up to date: not computed again.
  const auto again = run_uaqf(imatrix_args(whole, chunks));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("up to date"), std::string::npos) << again.err;

  // IQ2_XXS cannot be made without a matrix; with uaqf's, llama.cpp's quantizer makes it.
  const auto refused = run_uaqf("quantize " + q(tiny_model()) + " --types IQ2_XXS --out " + q(work_dir() / "iq"));
  expect_one_error_line(refused, "needs an importance matrix");
  const auto made = run_uaqf("quantize " + q(tiny_model()) + " --types IQ2_XXS --imatrix " + q(whole) + " --out " +
                             q(work_dir() / "iq"));
  EXPECT_EQ(made.exit_code, 0) << made.err;
  EXPECT_TRUE(fs::exists(work_dir() / "iq" / "uaqf-tiny-15m-IQ2_XXS.gguf"));
}

TEST(ImatrixCli, StudyCalibratingOnTheCorpusItEvaluatesIsRefusedBeforeAnyWork) {
  const fs::path study = work_dir() / "leak.toml";
  const fs::path output = work_dir() / "leak";
  std::ofstream(study) << "[study]\nname = \"leak\"\noutput = \"" << output.string() << "\"\n\n[model]\npath = \""
                       << tiny_model().string()
                       << "\"\ntypes = [\"Q4_K_M\"]\ncalibrations = { test = \"wikitext-test\" }\n\n[quality]\n"
                          "chunks = 4\ndata_dir = \""
                       << (shared_dir() / "data").string() << "\"\n";
  const auto result = run_uaqf("run " + q(study));
  EXPECT_EQ(result.exit_code, 2);
  expect_one_error_line(result, "calibration 'test' (wikitext-test: ");
  // Both files: the calibration's and the corpus's, and how much of the scored text overlaps.
  EXPECT_NE(result.err.find("wikitext-2-raw/wiki.test.raw) overlaps what the study evaluates"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("of perplexity corpus wiki.test.raw"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(output / "study.db"));
  // No matrix and no variant made (the folder itself may exist: its writability is checked first).
  EXPECT_TRUE(!fs::exists(output / "variants") || fs::is_empty(output / "variants"));
}

}  // namespace
