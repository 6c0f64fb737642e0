// Which llama.cpp build runs, and whether it is the engine uaqf's headers describe: the ABI check
// of the loaded library (backend/llama/llama_abi.cpp) and the build the manifest names
// (engine_build): the source build's flags, or the prebuilt package with the CPU variant ggml loaded.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backend/engines.h"
#include "backend/llama/llama_engine.h"

namespace uaqf {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// "; CPU variant zen4 (/path/libggml-cpu-zen4.so)" parts of an engine_build string.
std::vector<std::pair<std::string, fs::path>> cpu_variants(const std::string& build) {
  std::vector<std::pair<std::string, fs::path>> variants;
  const std::string marker = "; CPU variant ";
  for (size_t at = build.find(marker); at != std::string::npos; at = build.find(marker, at + 1)) {
    const size_t name_end = build.find(" (", at + marker.size());
    const size_t path_end = build.find(')', name_end);
    if (name_end == std::string::npos || path_end == std::string::npos) {
      break;
    }
    variants.emplace_back(build.substr(at + marker.size(), name_end - at - marker.size()),
                          build.substr(name_end + 2, path_end - name_end - 2));
  }
  return variants;
}

TEST(EngineBuild, LoadedLibraryHasTheLayoutOfTheHeaders) {
  const auto engine = backend::make_engine("llama");  // loads the backends as a study does
  const auto mismatches = backend::llama_abi_mismatches();
  EXPECT_TRUE(mismatches.empty()) << fmt::format("{}", fmt::join(mismatches, "\n"));
}

TEST(EngineBuild, DescribeNamesTheBuildThatRan) {
  const auto engine = backend::make_engine("llama");
  const backend::EngineInfo info = engine->describe();
  const auto variants = cpu_variants(info.build);
  const bool tinyblas = contains(info.system_info, "LLAMAFILE = 1");
#if UAQF_TEST_PREBUILT_ENGINE
  EXPECT_TRUE(info.build.starts_with("prebuilt @node-llama-cpp/linux-x64@")) << info.build;
  // Exactly one CPU backend, loaded from the build's bin folder, never the excluded AMX variant.
  ASSERT_EQ(variants.size(), 1U) << info.build;
  EXPECT_NE(variants[0].first, "sapphirerapids") << info.build;
  EXPECT_EQ(fs::canonical(variants[0].second.parent_path()), fs::canonical(UAQF_TEST_BIN_DIR)) << info.build;
  EXPECT_EQ(variants[0].second.filename(), fmt::format("libggml-cpu-{}.so", variants[0].first));
  EXPECT_TRUE(tinyblas) << "node-llama-cpp's build has tinyBLAS: " << info.system_info;
#else
  EXPECT_TRUE(info.build.starts_with("source ")) << info.build;
  EXPECT_TRUE(variants.empty()) << "the source build links its CPU backend: " << info.build;
  // The flags the manifest names are those of the kernels that run.
  EXPECT_EQ(contains(info.build, "GGML_LLAMAFILE=ON"), tinyblas) << info.build << " / " << info.system_info;
  EXPECT_TRUE(contains(info.build, "AMX off (-mno-amx-*)") || contains(info.build, "AMX on") ||
              contains(info.build, "AMX not compiled"))
      << info.build;
#endif
}

}  // namespace
}  // namespace uaqf
