#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>

#include "backend/fake/fake_engine.h"
#include "core/error.h"
#include "perf/bench.h"

namespace uaqf::perf {
namespace {

using backend::FakeEngine;
using backend::FakeModelSpec;

BenchOptions small_options() {
  BenchOptions options;
  options.prompt_tokens = {100};
  options.gen_tokens = 10;
  options.reps = 3;
  options.warmup = 1;
  options.runtime.n_threads = 1;
  return options;
}

TEST(Bench, MeasuresSimulatedCostsExactly) {
  ManualClock clock;
  FakeEngine engine(clock);
  // prefill: 100 tokens x 10 us = 1 ms -> 100000 t/s; decode: 1 ms per token -> 1000 t/s.
  engine.add_model("m.gguf", FakeModelSpec{.load_ns = 7'000'000, .sample_ns = 500'000});
  BenchRunner runner(engine, clock, small_options());
  const ModelResult result = runner.run("m.gguf", "abc");
  ASSERT_TRUE(result.ok) << result.error;

  const Metric* prefill = result.find("prefill_tps", "pp100");
  ASSERT_NE(prefill, nullptr);
  EXPECT_EQ(prefill->samples.size(), 3U);  // the warm-up run is discarded
  EXPECT_DOUBLE_EQ(prefill->summary.mean, 100000.0);
  EXPECT_EQ(prefill->summary.stddev.value(), 0.0);

  const Metric* decode = result.find("decode_tps", "tg10");
  ASSERT_NE(decode, nullptr);
  EXPECT_DOUBLE_EQ(decode->summary.mean, 1000.0);

  // Request: TTFT = prefill 1 ms + one greedy pick 0.5 ms; each further token 1 + 0.5 ms.
  const Metric* ttft = result.find("ttft_ms", "p100+g10");
  ASSERT_NE(ttft, nullptr);
  EXPECT_DOUBLE_EQ(ttft->summary.mean, 1.5);
  const Metric* itl = result.find("itl_ms", "p100+g10");
  ASSERT_NE(itl, nullptr);
  EXPECT_EQ(itl->samples.size(), 3U * 9U);  // 9 inter-token gaps per request, 3 requests
  EXPECT_DOUBLE_EQ(itl->summary.p99, 1.5);
  const Metric* e2e = result.find("e2e_ms", "p100+g10");
  ASSERT_NE(e2e, nullptr);
  EXPECT_DOUBLE_EQ(e2e->summary.mean, 1.5 + 9 * 1.5);

  const Metric* load = result.find("load_ms", "load");
  ASSERT_NE(load, nullptr);
  EXPECT_DOUBLE_EQ(load->summary.mean, 7.0);
  EXPECT_EQ(result.sha256, "abc");
}

// A study loads a weight file once and measures several variants on it: measuring a model the
// caller loaded must give what loading it inside the runner gives.
TEST(Bench, LoadedModelMeasuresAsLoadingItself) {
  auto options = small_options();
  options.depths = {0, 50};
  options.parallel = {2};
  auto bench = [&](bool load_here) {
    ManualClock clock;
    FakeEngine engine(clock);
    engine.add_model("m.gguf", FakeModelSpec{.load_ns = 7'000'000, .sample_ns = 500'000});
    BenchRunner runner(engine, clock, options);
    if (!load_here) {
      return runner.run("m.gguf", "abc");
    }
    const auto device_before_load_bytes = engine.device_memory_used_bytes();
    const int64_t load_start_ns = clock.now_ns();
    auto model = engine.load("m.gguf", options.runtime);
    const double load_ms = static_cast<double>(clock.now_ns() - load_start_ns) / 1e6;
    return runner.run(LoadedModel{.path = "m.gguf",
                                  .model = *model,
                                  .load_ms = load_ms,
                                  .device_memory_before_load_bytes = device_before_load_bytes},
                      "abc");
  };
  const ModelResult inside = bench(false);
  const ModelResult outside = bench(true);
  ASSERT_TRUE(inside.ok) << inside.error;
  ASSERT_TRUE(outside.ok) << outside.error;
  EXPECT_EQ(outside.path, inside.path);
  EXPECT_EQ(outside.sha256, "abc");
  EXPECT_EQ(outside.info.n_vocab, inside.info.n_vocab);
  for (const auto& [name, test] :
       {std::pair{"prefill_tps", "pp100"}, std::pair{"prefill_tps", "pp100 @ d50"}, std::pair{"decode_tps", "tg10"},
        std::pair{"decode_tps", "tg10 @ d50"}, std::pair{"ttft_ms", "p100+g10"}, std::pair{"itl_ms", "p100+g10"},
        std::pair{"parallel_decode_tps", "tg10 x2"}, std::pair{"load_ms", "load"}}) {
    const Metric* expected = inside.find(name, test);
    const Metric* measured = outside.find(name, test);
    ASSERT_NE(expected, nullptr) << name << " " << test;
    ASSERT_NE(measured, nullptr) << name << " " << test;
    EXPECT_FALSE(measured->samples.empty()) << name << " " << test;
    EXPECT_EQ(measured->samples, expected->samples) << name << " " << test;
  }
  EXPECT_EQ(outside.find("load_ms", "load")->samples, std::vector<double>{7.0});
  EXPECT_EQ(outside.metrics.size(), inside.metrics.size());
}

// A failure while measuring a model the caller loaded is recorded too, not thrown.
TEST(Bench, LoadedModelFailureIsRecordedNotThrown) {
  ManualClock clock;
  FakeEngine engine(clock);
  engine.add_model("broken.gguf", FakeModelSpec{.fail_on_decode_call = 3});
  BenchRunner runner(engine, clock, small_options());
  auto model = engine.load("broken.gguf", small_options().runtime);
  const ModelResult result = runner.run(LoadedModel{.path = "broken.gguf", .model = *model}, "");
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("fake decode failure on call 3"), std::string::npos);
}

TEST(Bench, DepthTestsFillTheCacheOutsideTheTimedRegion) {
  ManualClock clock;
  FakeEngine engine(clock);
  engine.add_model("m.gguf", FakeModelSpec{});
  auto options = small_options();
  options.depths = {0, 200};
  options.request_latency = false;
  BenchRunner runner(engine, clock, options);
  const ModelResult result = runner.run("m.gguf", "");
  ASSERT_TRUE(result.ok) << result.error;
  const Metric* deep_prefill = result.find("prefill_tps", "pp100 @ d200");
  ASSERT_NE(deep_prefill, nullptr);
  EXPECT_DOUBLE_EQ(deep_prefill->summary.mean, 100000.0);
  EXPECT_EQ(deep_prefill->depth, 200);
  const Metric* deep_decode = result.find("decode_tps", "tg10 @ d200");
  ASSERT_NE(deep_decode, nullptr);
  EXPECT_DOUBLE_EQ(deep_decode->summary.mean, 1000.0);
  EXPECT_EQ(result.find("ttft_ms", "p100+g10"), nullptr);
}

TEST(Bench, FailedModelIsRecordedNotThrown) {
  ManualClock clock;
  FakeEngine engine(clock);
  engine.add_model("broken.gguf", FakeModelSpec{.fail_on_decode_call = 3});
  engine.add_model("bad-load.gguf", FakeModelSpec{.fail_load = true});
  BenchRunner runner(engine, clock, small_options());
  const ModelResult broken = runner.run("broken.gguf", "");
  EXPECT_FALSE(broken.ok);
  EXPECT_NE(broken.error.find("fake decode failure on call 3"), std::string::npos);
  const ModelResult bad_load = runner.run("bad-load.gguf", "");
  EXPECT_FALSE(bad_load.ok);
  EXPECT_NE(bad_load.error.find("failed to load"), std::string::npos);
}

TEST(Bench, WarnsWhenContextExceedsTraining) {
  ManualClock clock;
  FakeEngine engine(clock);
  engine.add_model("m.gguf", FakeModelSpec{.n_ctx_train = 64});
  BenchRunner runner(engine, clock, small_options());
  const ModelResult result = runner.run("m.gguf", "");
  ASSERT_TRUE(result.ok);
  ASSERT_EQ(result.warnings.size(), 1U);
  EXPECT_NE(result.warnings[0].find("trained on"), std::string::npos);
}

TEST(BenchValidate, RejectsPromptLongerThanContext) {
  auto options = small_options();
  options.prompt_tokens = {1024};
  options.n_ctx = 512;
  try {
    validate(options);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("does not fit the context of 512"), std::string::npos);
  }
}

TEST(BenchValidate, RejectsNonsense) {
  auto bad_reps = small_options();
  bad_reps.reps = 0;
  EXPECT_THROW(validate(bad_reps), Error);
  auto bad_prompt = small_options();
  bad_prompt.prompt_tokens = {0};
  EXPECT_THROW(validate(bad_prompt), Error);
  auto bad_depth = small_options();
  bad_depth.depths = {-1};
  EXPECT_THROW(validate(bad_depth), Error);
  auto request_too_long = small_options();
  request_too_long.n_ctx = 105;  // prefill 100 fits, but 100 + 10 generated does not
  EXPECT_THROW(validate(request_too_long), Error);
  auto fits = small_options();
  fits.n_ctx = 110;
  EXPECT_NO_THROW(validate(fits));
}

TEST(Bench, RunsPerModelCountsWarmupsAndTests) {
  ManualClock clock;
  FakeEngine engine(clock);
  auto options = small_options();  // 1 prefill + 1 decode + 1 request test, 4 runs each
  BenchRunner runner(engine, clock, options);
  EXPECT_EQ(runner.runs_per_model(), 12);
}

// 100 W: the counter advances 0.1 mJ per simulated microsecond.
class FakeEnergyMeter final : public EnergyMeter {
 public:
  explicit FakeEnergyMeter(const ManualClock& clock) : clock_(clock) {}
  std::optional<uint64_t> total_energy_mj() const override {
    return static_cast<uint64_t>(clock_.now_ns() / 10'000);  // ns / 1e4 = 0.1 mJ per us = 100 W
  }

 private:
  const ManualClock& clock_;
};

TEST(Bench, EnergyPerTokenAndPowerFromTheMeter) {
  ManualClock clock;
  backend::FakeEngine engine(clock);
  engine.add_model("m.gguf", backend::FakeModelSpec{});  // decode: 1 ms per token
  FakeEnergyMeter meter(clock);
  BenchOptions options;
  options.prompt_tokens = {100};
  options.gen_tokens = 10;
  options.reps = 3;
  options.request_latency = false;
  BenchRunner runner(engine, clock, options, {}, &meter);
  const auto result = runner.run("m.gguf", "");
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_TRUE(result.energy_measured);
  const Metric* per_token = result.find("decode_j_per_token", "tg10");
  ASSERT_NE(per_token, nullptr);
  EXPECT_NEAR(per_token->summary.mean, 0.1, 1e-9);  // 100 W x 1 ms
  const Metric* power = result.find("decode_power_w", "tg10");
  ASSERT_NE(power, nullptr);
  EXPECT_NEAR(power->summary.mean, 100.0, 1e-6);
  EXPECT_FALSE(result.peak_device_memory_bytes);  // the fake has no accelerator
}

// A counter that moves in steps of 100 ms at 100 W (10 J a step), as NVML's does in tens of ms.
class SteppedEnergyMeter final : public EnergyMeter {
 public:
  explicit SteppedEnergyMeter(const ManualClock& clock) : clock_(clock) {}
  std::optional<uint64_t> total_energy_mj() const override {
    return static_cast<uint64_t>(clock_.now_ns() / 100'000'000) * 10'000;
  }

 private:
  const ManualClock& clock_;
};

TEST(Bench, ShortRunsTakeTheirEnergyFromOneLongWindow) {
  ManualClock clock;
  backend::FakeEngine engine(clock);
  engine.add_model("m.gguf", backend::FakeModelSpec{});  // prefill 10 us per token, decode 1 ms per token
  SteppedEnergyMeter meter(clock);
  BenchOptions options;
  options.prompt_tokens = {512};  // 5 ms a run: each run alone reads 0 J or a whole 10 J step
  options.gen_tokens = 20;        // 20 ms a run
  options.reps = 5;
  options.request_latency = false;
  BenchRunner runner(engine, clock, options, {}, &meter);
  const auto result = runner.run("m.gguf", "");
  ASSERT_TRUE(result.ok) << result.error;
  for (const auto& [name, test, joules_per_token] :
       {std::tuple{"prefill", "pp512", 100.0 * 10e-6}, std::tuple{"decode", "tg20", 100.0 * 1e-3}}) {
    const Metric* per_token = result.find(std::string(name) + "_j_per_token", test);
    ASSERT_NE(per_token, nullptr) << name;
    ASSERT_EQ(per_token->samples.size(), 1U) << name;
    EXPECT_NEAR(per_token->samples[0], joules_per_token, 0.15 * joules_per_token) << name;
    const Metric* power = result.find(std::string(name) + "_power_w", test);
    ASSERT_NE(power, nullptr) << name;
    EXPECT_NEAR(power->samples[0], 100.0, 15.0) << name;
    EXPECT_TRUE(std::any_of(per_token->warnings.begin(), per_token->warnings.end(), [](const std::string& w) {
      return w.find("one window of") != std::string::npos;
    })) << name;
  }
}

TEST(Bench, NoMeterMeansNoEnergyMetrics) {
  ManualClock clock;
  backend::FakeEngine engine(clock);
  engine.add_model("m.gguf", backend::FakeModelSpec{});
  engine.set_device_memory_used(uint64_t{1} << 30);
  BenchOptions options;
  options.prompt_tokens = {100};
  options.gen_tokens = 10;
  options.reps = 2;
  BenchRunner runner(engine, clock, options);
  const auto result = runner.run("m.gguf", "");
  EXPECT_FALSE(result.energy_measured);
  EXPECT_EQ(result.find("decode_j_per_token", "tg10"), nullptr);
  ASSERT_TRUE(result.peak_device_memory_bytes);
  EXPECT_EQ(*result.peak_device_memory_bytes, 0U);  // nothing added beyond what was in use before
}

TEST(Bench, ConcurrencySweepReportsAggregateAndPerSequenceRates) {
  ManualClock clock;
  backend::FakeEngine engine(clock);
  engine.add_model("m.gguf", backend::FakeModelSpec{});  // one pass: 1 ms + 0.1 ms per sequence
  BenchOptions options;
  options.prompt_tokens = {32};
  options.gen_tokens = 8;
  options.reps = 2;
  options.request_latency = false;
  options.parallel = {1, 4};
  BenchRunner runner(engine, clock, options);
  const auto result = runner.run("m.gguf", "");
  ASSERT_TRUE(result.ok) << result.error;
  const Metric* one = result.find("parallel_decode_tps", "tg8 x1");
  const Metric* four = result.find("parallel_decode_tps", "tg8 x4");
  ASSERT_NE(one, nullptr);
  ASSERT_NE(four, nullptr);
  EXPECT_NEAR(one->summary.mean, 1.0 / 1.1e-3, 1e-6);   // 1 token per 1.1 ms
  EXPECT_NEAR(four->summary.mean, 4.0 / 1.4e-3, 1e-6);  // 4 tokens per 1.4 ms
  const Metric* step = result.find("parallel_itl_ms", "tg8 x4");
  ASSERT_NE(step, nullptr);
  EXPECT_NEAR(step->summary.mean, 1.4, 1e-9);
}

TEST(BenchValidate, ParallelLevelsMustBePositive) {
  BenchOptions options;
  options.parallel = {1, 0};
  EXPECT_THROW(validate(options), Error);
  options.parallel = {1, 4};
  EXPECT_NO_THROW(validate(options));
  options.gen_tokens = 0;  // nothing to time in the sweep
  EXPECT_THROW(validate(options), Error);
}

TEST(BenchValidate, GpuLayersMinusOneMeansAllAndLessIsRefused) {
  BenchOptions options;
  options.runtime.n_gpu_layers = -1;
  EXPECT_NO_THROW(validate(options));
  options.runtime.n_gpu_layers = 0;
  EXPECT_NO_THROW(validate(options));
  options.runtime.n_gpu_layers = -5;
  EXPECT_THROW(validate(options), Error);
}

// A study resumes a benchmark from the repetitions its results store holds: restored ones are not
// run again (nor their warm-up, when all of a test's are there), measured ones are handed over.
TEST(Bench, JournaledRepetitionsAreRestoredNotRun) {
  ManualClock clock;
  FakeEngine engine(clock);
  engine.add_model("m.gguf", FakeModelSpec{.load_ns = 7'000'000, .sample_ns = 500'000});
  auto options = small_options();
  options.parallel = {2};
  std::map<std::string, RepetitionSamples> store;
  std::vector<std::string> recorded;
  RepetitionJournal journal;
  journal.find = [&](const std::string& test, int rep) -> std::optional<RepetitionSamples> {
    const auto it = store.find(test + "#" + std::to_string(rep));
    return it == store.end() ? std::nullopt : std::optional<RepetitionSamples>(it->second);
  };
  journal.record = [&](const std::string& test, int rep, const RepetitionSamples& samples) {
    recorded.push_back(test + "#" + std::to_string(rep));
    store[test + "#" + std::to_string(rep)] = samples;
  };
  const auto whole = BenchRunner(engine, clock, options, {}, nullptr, &journal).run("m.gguf", "abc");
  ASSERT_TRUE(whole.ok) << whole.error;
  EXPECT_EQ(recorded.size(), 4U * 3U);  // pp100, tg10, p100+g10, tg10 x2: three repetitions each

  store.erase("tg10#1");  // lost, as if the run had been killed while measuring it
  recorded.clear();
  const int64_t before = clock.now_ns();
  const auto resumed = BenchRunner(engine, clock, options, {}, nullptr, &journal).run("m.gguf", "abc");
  const int64_t elapsed = clock.now_ns() - before;
  ASSERT_TRUE(resumed.ok) << resumed.error;
  EXPECT_EQ(recorded, std::vector<std::string>{"tg10#1"});
  // Only the load, one warm-up and the lost repetition of the 10-token decode (10 ms each) ran.
  EXPECT_EQ(elapsed, 7'000'000 + 2 * 10'000'000);
  for (const auto& metric : whole.metrics) {
    if (metric.name == "load_ms") continue;
    const Metric* again = resumed.find(metric.name, metric.test);
    ASSERT_NE(again, nullptr) << metric.name << " " << metric.test;
    EXPECT_EQ(again->samples, metric.samples) << metric.name << " " << metric.test;
  }
}

// Decode efficiency: bytes moved per generated token (weights, plus the cache read so far) times
// tokens/s, as a share of the measured memory bandwidth; absent where the bandwidth is unknown.
TEST(Bench, DecodeBandwidthShareFromBytesPerTokenAndBandwidth) {
  ManualClock clock;
  FakeEngine engine(clock);
  // 1e6 weights at 16 bits: 2e6 bytes per token; 1000 bytes of K and V per cached token.
  engine.add_model("m.gguf", FakeModelSpec{.kv_bytes_per_token = 1000});
  engine.set_memory_bandwidth(4e9);
  auto options = small_options();
  options.request_latency = false;
  const auto result = BenchRunner(engine, clock, options).run("m.gguf", "abc");
  ASSERT_TRUE(result.ok) << result.error;
  ASSERT_TRUE(result.memory_bandwidth_bytes_per_s);
  const Metric* share = result.find("decode_bandwidth_share", "tg10");
  ASSERT_NE(share, nullptr);
  // 1000 tokens/s x (2e6 + 1000 x 4.5 cached tokens on average) / 4e9
  EXPECT_DOUBLE_EQ(share->summary.mean, 1000.0 * (2e6 + 4500.0) / 4e9);
  engine.set_memory_bandwidth(std::nullopt);
  const auto without = BenchRunner(engine, clock, options).run("m.gguf", "abc");
  EXPECT_EQ(without.find("decode_bandwidth_share", "tg10"), nullptr);
}

TEST(Bench, PrefillTestsCanTakeMoreRepetitions) {
  ManualClock clock;
  FakeEngine engine(clock);
  engine.add_model("m.gguf", FakeModelSpec{});
  auto options = small_options();
  options.prefill_reps = 10;
  BenchRunner runner(engine, clock, options);
  // pp100: 1 + 10 runs; tg10 and the request test: 1 + 3 each.
  EXPECT_EQ(runner.runs_per_model(), 11 + 4 + 4);
  const auto result = runner.run("m.gguf", "abc");
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.find("prefill_tps", "pp100")->samples.size(), 10U);
  EXPECT_EQ(result.find("decode_tps", "tg10")->samples.size(), 3U);
  options.prefill_reps = 0;
  EXPECT_THROW(validate(options), Error);
}

}  // namespace
}  // namespace uaqf::perf
