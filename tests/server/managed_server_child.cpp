// Holds a managed llama-server for managed_server_test: prints "pid <server pid>", then either
// waits to be killed (wait) or leaks the server and calls std::exit(0) (exit). With the suffix
// -handlers-only the server gets no PR_SET_PDEATHSIG: only the signal and exit handlers stop it.
//
//   managed_server_child <llama-server> <model.gguf> wait|exit[-handlers-only]

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "backend/llama_server/child_process.h"
#include "backend/llama_server/managed_server.h"
#include "core/error.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: managed_server_child <llama-server> <model.gguf> wait|exit[-handlers-only]\n");
    return 2;
  }
  std::string mode = argv[3];
  if (const auto suffix = mode.find("-handlers-only"); suffix != std::string::npos) {
    uaqf::backend::detail::disable_parent_death_signal_for_tests();
    mode.erase(suffix);
  }
  try {
    uaqf::backend::ServerLaunch launch;
    launch.server_binary = argv[1];
    launch.model = argv[2];
    launch.n_ctx = 512;
    auto server = uaqf::backend::ManagedServer::start(launch);
    std::printf("pid %d\n", server->pid());
    std::fflush(stdout);
    if (mode == "exit") {
      // No destructor runs for a leaked server: the exit handler has to stop it.
      [[maybe_unused]] auto* leaked = server.release();
      std::exit(0);
    }
    for (;;) {
      pause();
    }
  } catch (const uaqf::Error& e) {
    std::fprintf(stderr, "managed_server_child: %s\n", e.what());
    return 1;
  }
}
