// Placement as a variant dimension, on the fake engine's memory model: --gpu-layers auto resolved
// to the layers that fit, where the memory went, devices as a cost, and the study keys.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "backend/fake/fake_engine.h"
#include "core/error.h"
#include "core/files.h"
#include "perf/bench.h"
#include "study/metric_table.h"
#include "study/plan.h"
#include "study/study.h"

namespace uaqf {
namespace {

namespace fs = std::filesystem;
using backend::FakeDevices;
using backend::FakeEngine;
using backend::FakeModelSpec;

// 8 repeating layers + output = 9 layers of 1 MB weights each; KV 100 bytes per token over 8 layers.
FakeModelSpec nine_layer_model() {
  return FakeModelSpec{.n_params = 9'000'000, .bits_per_weight = 8, .kv_bytes_per_token = 800, .n_layer = 8};
}

perf::BenchOptions small_options(int n_gpu_layers) {
  perf::BenchOptions options;
  options.prompt_tokens = {100};
  options.gen_tokens = 10;
  options.reps = 2;
  options.warmup = 1;
  options.runtime.n_threads = 1;
  options.runtime.n_gpu_layers = n_gpu_layers;
  return options;
}

TEST(Placement, GpuLayersAutoTakesTheLayersThatFitWithTheContext) {
  ManualClock clock;
  FakeEngine engine(clock);
  engine.add_model("m.gguf", nine_layer_model());
  // Each layer: 1,000,000 weight bytes + 100 bytes x n_ctx of KV. 2.5 MB per device holds 2 layers.
  engine.set_devices(FakeDevices{.count = 2, .free_bytes_each = 2'500'000});
  backend::LoadOptions asked;
  asked.n_gpu_layers = backend::kGpuLayersAuto;
  EXPECT_EQ(engine.fit_placement("m.gguf", asked, {}, 512).n_gpu_layers, 4);
  // A context large enough that a layer's KV share no longer leaves room for a second layer.
  EXPECT_EQ(engine.fit_placement("m.gguf", asked, {}, 3000).n_gpu_layers, 2);
  // Enough memory for everything: every layer, the output layer included, and no more.
  engine.set_devices(FakeDevices{.count = 1, .free_bytes_each = 100'000'000});
  EXPECT_EQ(engine.fit_placement("m.gguf", asked, {}, 512).n_gpu_layers, 9);
  // No device: nothing fits; an explicit count is left alone.
  engine.set_devices(FakeDevices{});
  EXPECT_EQ(engine.fit_placement("m.gguf", asked, {}, 512).n_gpu_layers, 0);
  asked.n_gpu_layers = 3;
  EXPECT_EQ(engine.fit_placement("m.gguf", asked, {}, 512).n_gpu_layers, 3);
}

TEST(Placement, BenchRecordsTheResolvedPlacementAndWhereTheMemoryWent) {
  ManualClock clock;
  FakeEngine engine(clock);
  engine.add_model("m.gguf", nine_layer_model());
  engine.set_devices(FakeDevices{.count = 2, .free_bytes_each = 2'500'000});
  perf::BenchRunner runner(engine, clock, small_options(backend::kGpuLayersAuto));
  const auto result = runner.run("m.gguf", "abc");
  ASSERT_TRUE(result.ok) << result.error;
  // The bench's largest context is 110 tokens: 2 layers per device.
  EXPECT_EQ(result.placement, "--gpu-layers 4");
  ASSERT_EQ(result.memory_placement.size(), 3U);
  EXPECT_EQ(result.memory_placement[0].device, "CPU");
  EXPECT_TRUE(result.memory_placement[0].host);
  EXPECT_EQ(result.memory_placement[0].weights_bytes, 5'000'000U);
  EXPECT_EQ(result.memory_placement[1].device, "FAKE0");
  EXPECT_EQ(result.memory_placement[1].weights_bytes, 2'000'000U);
  EXPECT_EQ(result.memory_placement[2].device, "FAKE1");
  EXPECT_EQ(result.memory_placement[2].weights_bytes, 2'000'000U);
  // The decode test's context: 10 tokens, 100 bytes per token and layer.
  EXPECT_EQ(result.memory_placement[1].kv_bytes, 2U * 100U * 10U);

  const auto metrics = study::decision_metrics(result, study::BenchShape{.first_prompt_tokens = 100, .gen_tokens = 10});
  EXPECT_EQ(metrics.at("devices_used").samples, std::vector<double>{2.0});
  const auto& decode = metrics.at("decode_tps").samples;
  const auto& per_device = metrics.at("tokens_per_s_per_device").samples;
  ASSERT_EQ(per_device.size(), decode.size());
  for (std::size_t i = 0; i < decode.size(); ++i) {
    EXPECT_DOUBLE_EQ(per_device[i], decode[i] / 2.0);
  }
  const double total_bytes = 9'000'000.0 + 9 * 100.0 * 10;  // weights + the KV of all 9 layers
  EXPECT_NEAR(metrics.at("device_memory_gib_total").samples.front(), total_bytes / (1024.0 * 1024 * 1024), 1e-12);
}

TEST(Placement, EverythingOnTheHostCountsAsOneDevice) {
  ManualClock clock;
  FakeEngine engine(clock);
  engine.add_model("m.gguf", nine_layer_model());
  engine.set_devices(FakeDevices{.count = 1, .free_bytes_each = 10});
  perf::BenchRunner runner(engine, clock, small_options(0));
  const auto result = runner.run("m.gguf", "abc");
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.placement, "--gpu-layers 0");
  const auto metrics = study::decision_metrics(result, study::BenchShape{.first_prompt_tokens = 100, .gen_tokens = 10});
  EXPECT_EQ(metrics.at("devices_used").samples, std::vector<double>{1.0});
  EXPECT_EQ(metrics.at("tokens_per_s_per_device").samples, metrics.at("decode_tps").samples);
}

TEST(Placement, ABufferSplitOverDevicesCountsEachDevice) {
  perf::ModelResult result;
  result.ok = true;
  perf::Metric decode{.name = "decode_tps", .test = "tg10", .unit = "tokens/s", .higher_is_better = true, .n_gen = 10};
  decode.samples = {150, 160};
  result.metrics.push_back(decode);
  // Split mode tensor: one buffer over both GPUs, beside the host's embeddings.
  result.memory_placement = {{.buffer = "CPU_Mapped", .device = "CPU", .host = true, .weights_bytes = 1 << 20},
                             {.buffer = "Meta", .device = "CUDA0+CUDA1", .weights_bytes = 1 << 30}};
  const auto metrics = study::decision_metrics(result, study::BenchShape{.first_prompt_tokens = 100, .gen_tokens = 10});
  EXPECT_EQ(metrics.at("devices_used").samples, std::vector<double>{2.0});
  EXPECT_EQ(metrics.at("tokens_per_s_per_device").samples, (std::vector<double>{75, 80}));
}

TEST(Placement, FlagsReadBackAsLlamaCppSpellsThem) {
  backend::LoadOptions options;
  EXPECT_EQ(options.placement_flags(), "");
  options.n_gpu_layers = backend::kGpuLayersAuto;
  options.split_mode = backend::SplitMode::kRow;
  options.tensor_split = {3, 1};
  options.rpc_servers = {"10.0.0.2:50052", "10.0.0.3:50052"};
  EXPECT_EQ(options.placement_flags(),
            "--gpu-layers auto --split-mode row --tensor-split 3,1 --rpc 10.0.0.2:50052,10.0.0.3:50052");
  EXPECT_EQ(backend::parse_gpu_layers("all", "--gpu-layers"), backend::kGpuLayersAll);
  EXPECT_EQ(backend::parse_gpu_layers("-1", "--gpu-layers"), backend::kGpuLayersAll);
  EXPECT_EQ(backend::parse_gpu_layers("auto", "--gpu-layers"), backend::kGpuLayersAuto);
  EXPECT_EQ(backend::parse_gpu_layers("12", "--gpu-layers"), 12);
  EXPECT_THROW(backend::parse_gpu_layers("-2", "--gpu-layers"), Error);
  EXPECT_THROW(backend::parse_gpu_layers("most", "--gpu-layers"), Error);
  EXPECT_THROW(backend::parse_split_mode("columns"), Error);
}

class PlacementStudyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("uaqf-placement-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    setenv("UAQF_CACHE_DIR", (dir_ / "cache").c_str(), 1);
    write_file_atomic(dir_ / "m.gguf", "GGUF fake");
  }
  void TearDown() override {
    unsetenv("UAQF_CACHE_DIR");
    fs::remove_all(dir_);
  }
  fs::path write_study(const std::string& runtime) const {
    const fs::path file = dir_ / "study.toml";
    write_file_atomic(file, "[model]\npath = \"m.gguf\"\ntypes = [\"Q8_0\"]\n\n[runtime]\n" + runtime);
    return file;
  }
  std::string refusal(const std::string& runtime) const {
    try {
      study::load_study(write_study(runtime));
    } catch (const Error& error) {
      return error.what();
    }
    return "(accepted)";
  }
  fs::path dir_;
};

TEST_F(PlacementStudyTest, PlacementsAreReadAndCrossedWithTheTypes) {
  const auto s = study::load_study(
      write_study("gpu_layers = \"auto\"\nsplit_mode = \"row\"\n\n[[runtime.placements]]\nname = \"fit\"\n\n"
                  "[[runtime.placements]]\nname = \"cpu\"\ngpu_layers = 0\n\n[[runtime.placements]]\nname = \"rpc2\"\n"
                  "rpc_local = 2\ntensor_split = [3, 1]\n"));
  ASSERT_EQ(s.placements.size(), 3U);
  EXPECT_EQ(s.placements[0].name, "fit");
  EXPECT_EQ(s.placements[0].load.n_gpu_layers, backend::kGpuLayersAuto);
  EXPECT_EQ(s.placements[0].load.split_mode, backend::SplitMode::kRow);  // the [runtime] keys are the base
  EXPECT_EQ(s.placements[1].load.n_gpu_layers, 0);
  EXPECT_EQ(s.placements[2].load.managed_rpc_servers, 2);
  EXPECT_EQ(s.placements[2].load.tensor_split, (std::vector<float>{3, 1}));

  const auto plans = study::plan_variants(s, {{"F16", s.model}, {"Q8_0", dir_ / "q8.gguf"}}, 1);
  ASSERT_EQ(plans.size(), 6U);
  EXPECT_EQ(plans[0].name, "F16 @fit");
  EXPECT_TRUE(plans[0].is_baseline);
  EXPECT_EQ(plans[1].name, "F16 @cpu");
  EXPECT_FALSE(plans[1].is_baseline);
  EXPECT_EQ(plans[5].name, "Q8_0 @rpc2");
  EXPECT_EQ(plans[5].runtime.managed_rpc_servers, 2);
}

TEST_F(PlacementStudyTest, BadPlacementsAreRefusedWithTheirLine) {
  EXPECT_NE(refusal("gpu_layers = \"most\"\n").find("study.toml:6: 'gpu_layers' must be a layer count"),
            std::string::npos)
      << refusal("gpu_layers = \"most\"\n");
  EXPECT_NE(refusal("split_mode = \"columns\"\n").find("study.toml:6: split mode must be none, layer, row or tensor"),
            std::string::npos);
  EXPECT_NE(refusal("rpc = [\"h:1\"]\nrpc_local = 2\n").find("'rpc_local' and 'rpc' exclude each other"),
            std::string::npos);
  EXPECT_NE(refusal("[[runtime.placements]]\nname = \"a b\"\n").find("a placement needs a name"), std::string::npos);
  EXPECT_NE(refusal("[[runtime.placements]]\nname = \"a\"\n[[runtime.placements]]\nname = \"a\"\n")
                .find("two placements are named 'a'"),
            std::string::npos);
  EXPECT_NE(refusal("[[runtime.placements]]\nname = \"a\"\ngpu_layer = 3\n").find("unknown key 'gpu_layer'"),
            std::string::npos);
}

}  // namespace
}  // namespace uaqf
