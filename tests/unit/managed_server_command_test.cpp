// The managed llama-server's command line and where its binary is found (no server runs here).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/llama_server/managed_server.h"
#include "core/error.h"

namespace uaqf::backend {
namespace {

namespace fs = std::filesystem;

TEST(ServerCommandLine, DefaultsSpelledAsThePinnedServerTakesThem) {
  ServerLaunch launch;
  launch.server_binary = "/opt/bin/llama-server";
  launch.model = "/models/m.gguf";
  const std::vector<std::string> expected = {"/opt/bin/llama-server",
                                             "-m",
                                             "/models/m.gguf",
                                             "--host",
                                             "127.0.0.1",
                                             "--port",
                                             "8123",
                                             "-c",
                                             "4096",
                                             "-np",
                                             "1",
                                             "-ctk",
                                             "f16",
                                             "-ctv",
                                             "f16",
                                             "-fa",
                                             "auto",
                                             "-ngl",
                                             "all",
                                             "-b",
                                             "2048",
                                             "-ub",
                                             "512",
                                             "--cache-ram",
                                             "0"};
  EXPECT_EQ(server_command_line(launch, 8123), expected);
}

TEST(ServerCommandLine, EverySettingReachesItsFlag) {
  ServerLaunch launch;
  launch.server_binary = "llama-server";
  launch.model = "m.gguf";
  launch.n_ctx = 8192;
  launch.n_parallel = 4;
  launch.kv_cache_type = "q8_0";
  launch.flash_attention = FlashAttention::kOn;
  launch.n_gpu_layers = 0;
  launch.n_threads = 6;
  launch.n_batch = 1024;
  launch.n_ubatch = 256;
  launch.extra_args = {"--no-warmup", "--seed", "7"};
  launch.prompt_cache_mib = 0;
  const std::vector<std::string> expected = {
      "llama-server", "-m",   "m.gguf", "--host",      "127.0.0.1", "--port",      "9",      "-c", "8192", "-np", "4",
      "-ctk",         "q8_0", "-ctv",   "q8_0",        "-fa",       "on",          "-ngl",   "0",  "-t",   "6",   "-b",
      "1024",         "-ub",  "256",    "--cache-ram", "0",         "--no-warmup", "--seed", "7"};
  EXPECT_EQ(server_command_line(launch, 9), expected);
  launch.flash_attention = FlashAttention::kOff;
  launch.n_gpu_layers = 33;
  const auto argv = server_command_line(launch, 9);
  EXPECT_EQ(argv[16], "off");
  EXPECT_EQ(argv[18], "33");
  launch.prompt_cache_mib = 4096;
  EXPECT_EQ(server_command_line(launch, 9)[26], "4096");
}

TEST(PickFreePort, GivesABindableLoopbackPort) {
  const int port = pick_free_port();
  ASSERT_GT(port, 0);
  ASSERT_LT(port, 65536);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  close(fd);
}

TEST(LoopbackPortInUse, TrueWhileAnotherSocketListensThereOnly) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int port = ntohs(address.sin_port);
  EXPECT_TRUE(loopback_port_in_use(port));
  close(fd);
  EXPECT_FALSE(loopback_port_in_use(port));
}

class FindLlamaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("uaqf-find-server-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "exe");
    fs::create_directories(dir_ / "path");
    fs::create_directories(dir_ / "empty");
    const char* saved = std::getenv("UAQF_LLAMA_SERVER");
    saved_env_ = saved != nullptr ? std::optional<std::string>(saved) : std::nullopt;
  }
  void TearDown() override {
    if (saved_env_) {
      setenv("UAQF_LLAMA_SERVER", saved_env_->c_str(), 1);
    } else {
      unsetenv("UAQF_LLAMA_SERVER");
    }
    fs::remove_all(dir_);
  }
  static fs::path make_executable(const fs::path& path) {
    std::ofstream(path) << "#!/bin/sh\n";
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }
  fs::path dir_;
  std::optional<std::string> saved_env_;
};

TEST_F(FindLlamaServerTest, EnvironmentVariableComesFirst) {
  const auto chosen = make_executable(dir_ / "my-server");
  make_executable(dir_ / "exe" / "llama-server");
  EXPECT_EQ(find_llama_server_in(chosen.c_str(), dir_ / "exe", ""), chosen);
  setenv("UAQF_LLAMA_SERVER", chosen.c_str(), 1);
  EXPECT_EQ(find_llama_server(), chosen);
}

TEST_F(FindLlamaServerTest, EnvironmentVariableNamingNoExecutableIsAnError) {
  const auto missing = dir_ / "missing-server";
  try {
    find_llama_server_in(missing.c_str(), dir_ / "exe", "");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("UAQF_LLAMA_SERVER=" + missing.string()), std::string::npos) << e.what();
  }
  std::ofstream(dir_ / "not-executable") << "x";
  fs::permissions(dir_ / "not-executable", fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_THROW(find_llama_server_in((dir_ / "not-executable").c_str(), dir_ / "exe", ""), Error);
}

TEST_F(FindLlamaServerTest, NextToTheExecutableThenOnPath) {
  const auto on_path = make_executable(dir_ / "path" / "llama-server");
  const std::string path_list = (dir_ / "empty").string() + ":" + (dir_ / "path").string();
  EXPECT_EQ(find_llama_server_in(nullptr, dir_ / "exe", path_list), on_path);
  EXPECT_EQ(find_llama_server_in("", dir_ / "exe", path_list), on_path);  // empty counts as unset
  const auto next_to_exe = make_executable(dir_ / "exe" / "llama-server");
  EXPECT_EQ(find_llama_server_in(nullptr, dir_ / "exe", path_list), next_to_exe);
}

TEST_F(FindLlamaServerTest, NoneSaysHowToBuildIt) {
  try {
    find_llama_server_in(nullptr, dir_ / "exe", (dir_ / "empty").string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    const std::string message = e.what();
    EXPECT_NE(message.find("cmake --build <build dir> --target llama-server"), std::string::npos) << message;
    EXPECT_NE(message.find("UAQF_LLAMA_SERVER"), std::string::npos) << message;
    EXPECT_NE(message.find((dir_ / "exe" / "llama-server").string()), std::string::npos) << message;
  }
}

TEST_F(FindLlamaServerTest, StartReportsABinaryThatCannotRun) {
  std::ofstream(dir_ / "model.gguf") << "unused";
  ServerLaunch launch;
  launch.server_binary = dir_ / "no-such-llama-server";
  launch.model = dir_ / "model.gguf";
  launch.log_file = dir_ / "server.log";
  try {
    ManagedServer::start(launch);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("cannot run " + launch.server_binary.string()), std::string::npos) << e.what();
  }
}

TEST_F(FindLlamaServerTest, StartReportsAMissingModel) {
  ServerLaunch launch;
  launch.server_binary = make_executable(dir_ / "llama-server");
  launch.model = dir_ / "missing.gguf";
  try {
    ManagedServer::start(launch);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("missing.gguf"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace uaqf::backend
