#include <gtest/gtest.h>

#include <sstream>

#include "backend/fake/fake_engine.h"
#include "report/bench_report.h"

namespace uaqf::report {
namespace {

perf::BenchReport fake_report() {
  ManualClock clock;
  backend::FakeEngine engine(clock);
  engine.add_model("good.gguf", backend::FakeModelSpec{});
  engine.add_model("bad.gguf", backend::FakeModelSpec{.fail_load = true});
  perf::BenchOptions options;
  options.prompt_tokens = {64};
  options.gen_tokens = 4;
  options.reps = 2;
  options.runtime.n_threads = 1;
  perf::BenchRunner runner(engine, clock, options);
  perf::BenchReport report;
  report.environment.cpu_model = "Test CPU";
  report.engine = engine.describe();
  report.options = options;
  report.models.push_back(runner.run("good.gguf", "feed"));
  report.models.push_back(runner.run("bad.gguf", ""));
  return report;
}

TEST(BenchReport, JsonKeepsRawSamplesAndMarksFailures) {
  const auto report = fake_report();
  const auto json = bench_to_json(report);
  EXPECT_EQ(json["schema"], kBenchSchema);
  EXPECT_FALSE(json["complete"].get<bool>());
  EXPECT_EQ(json["environment"]["cpu_model"], "Test CPU");
  ASSERT_EQ(json["models"].size(), 2U);
  const auto& good = json["models"][0];
  EXPECT_EQ(good["status"], "ok");
  EXPECT_EQ(good["sha256"], "feed");
  const auto& prefill = good["metrics"][1];
  EXPECT_EQ(prefill["name"], "prefill_tps");
  EXPECT_EQ(prefill["samples"].size(), 2U);
  EXPECT_DOUBLE_EQ(prefill["summary"]["mean"].get<double>(), 100000.0);
  const auto& bad = json["models"][1];
  EXPECT_EQ(bad["status"], "failed");
  EXPECT_NE(bad["error"].get<std::string>().find("failed to load"), std::string::npos);
}

TEST(BenchReport, CsvIsLongFormWithSamples) {
  const auto csv = bench_to_csv(fake_report());
  EXPECT_NE(csv.find("# cpu_model: Test CPU\n"), std::string::npos);
  EXPECT_NE(csv.find("model,model_sha256,status,test,metric,unit,statistic,index,value\n"), std::string::npos);
  EXPECT_NE(csv.find("good.gguf,feed,ok,pp64,prefill_tps,tokens/s,sample,0,100000\n"), std::string::npos);
  EXPECT_NE(csv.find("good.gguf,feed,ok,pp64,prefill_tps,tokens/s,mean,,100000\n"), std::string::npos);
  EXPECT_NE(csv.find("bad.gguf,,failed,,error,,message,,"), std::string::npos);
}

TEST(BenchReport, TableShowsFailureAndMetrics) {
  std::ostringstream out;
  print_bench_table(out, fake_report());
  const std::string text = out.str();
  EXPECT_NE(text.find("FAILED"), std::string::npos);
  EXPECT_NE(text.find("prefill t/s"), std::string::npos);
  EXPECT_NE(text.find("TTFT ms"), std::string::npos);
  EXPECT_NE(text.find("only 2 samples"), std::string::npos);  // the spread warning reaches the user
}

}  // namespace
}  // namespace uaqf::report
