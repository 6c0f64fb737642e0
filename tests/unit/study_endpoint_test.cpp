// Endpoint variants ([model.endpoints.NAME]): as the study file writes them, and the plan's refusal
// of metrics an endpoint's engine cannot give, before any work.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "backend/fake/fake_engine.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/files.h"
#include "decide/profile.h"
#include "study/plan.h"
#include "study/runner.h"
#include "study/study.h"

namespace uaqf::study {
namespace {

namespace fs = std::filesystem;

class EndpointStudy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("uaqf-endpoint-study-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A study file whose [model.endpoints.remote] table holds `endpoint` (its first key on line 5).
  fs::path write(const std::string& endpoint) const {
    const fs::path file = dir_ / "study.toml";
    std::ofstream(file) << "[model]\npath = \"m.gguf\"\n\n[model.endpoints.remote]\n" << endpoint;
    return file;
  }
  std::string load_error(const std::string& endpoint) const {
    try {
      load_study(write(endpoint));
    } catch (const Error& error) {
      return error.what();
    }
    return "(accepted)";
  }

  fs::path dir_;
};

TEST_F(EndpointStudy, AnEndpointIsReadWithItsKeyVariableNameOnly) {
  const Study s = load_study(
      write("url = \"http://gpu-host:8000/v1\"\nmodel = \"qwen-awq\"\napi_key_env = \"VLLM_KEY\"\ntimeout_s = 120\n"
            "concurrency = 4\n"));
  ASSERT_EQ(s.endpoints.size(), 1U);
  const auto& e = s.endpoints[0];
  EXPECT_EQ(e.name, "remote");
  EXPECT_EQ(e.base_url, "http://gpu-host:8000/v1");
  EXPECT_EQ(e.model, "qwen-awq");
  EXPECT_EQ(e.api_key_env, "VLLM_KEY");
  EXPECT_EQ(e.timeout_s, 120);
  EXPECT_EQ(e.concurrency, 4);
  EXPECT_EQ(e.line, 4);
  const Study defaults = load_study(write("url = \"http://h:1/v1\"\n"));
  EXPECT_EQ(defaults.endpoints[0].timeout_s, 600);
  EXPECT_EQ(defaults.endpoints[0].concurrency, 8);
  EXPECT_TRUE(defaults.endpoints[0].api_key_env.empty());
}

TEST_F(EndpointStudy, BadEndpointsNameTheirLine) {
  const std::string file = (dir_ / "study.toml").string();
  EXPECT_EQ(load_error("url = \"gpu-host:8000\"\n"),
            file +
                ":5: endpoint 'remote' needs url = \"http://HOST:PORT/v1\" (the base URL with /v1), not "
                "'gpu-host:8000'");
  // A key pasted where its variable's name belongs is refused, and not repeated in the message.
  const std::string pasted = load_error("url = \"http://h:1/v1\"\napi_key_env = \"sk-abcdef123456\"\n");
  EXPECT_NE(pasted.find(file + ":6: 'api_key_env' is the NAME of an environment variable"), std::string::npos)
      << pasted;
  EXPECT_EQ(pasted.find("abcdef123456"), std::string::npos) << pasted;
  const std::string credentials = load_error("url = \"http://me:secret@h:1/v1\"\n");
  EXPECT_NE(credentials.find(":5: endpoint 'remote': the url must not hold credentials"), std::string::npos)
      << credentials;
  EXPECT_EQ(credentials.find("secret"), std::string::npos);
  EXPECT_NE(
      load_error("url = \"http://h:1/v1\"\nkey = \"x\"\n").find(":6: unknown key 'key' in [model.endpoints.remote]"),
      std::string::npos);
  EXPECT_NE(load_error("url = \"http://h:1/v1\"\ntimeout_s = 0\n").find(":6: 'timeout_s' must be above 0"),
            std::string::npos);
}

TEST_F(EndpointStudy, BuiltinConstraintsCanBeDroppedForMetricsEndpointsCannotGive) {
  const fs::path file = write(
      "url = \"http://h:1/v1\"\n\n[profile]\nweights = { \"gsm8k.exact_match_strict\" = 1 }\n"
      "builtin_constraints = false\nconstraints = [\"gsm8k.exact_match_strict >= 0.1\"]\n");
  const Study s = load_study(file);
  EXPECT_FALSE(s.builtin_constraints);
  const auto profile = study_profile(s);
  ASSERT_EQ(profile.constraints.size(), 1U);  // interactive's kld_mean bound is gone, the study's own stays
  EXPECT_EQ(profile.constraints[0].metric, "gsm8k.exact_match_strict");
  EXPECT_EQ(profile.name, "interactive (custom weights) (own constraints)");
  Study kept = s;
  kept.builtin_constraints = true;
  EXPECT_EQ(study_profile(kept).constraints.size(), 2U);
}

// An endpoint variant as planned, with what a probe of a llama-server found: generation, streaming,
// top-k log-probabilities, no prompt log-probabilities.
std::vector<VariantPlan> with_endpoint(const Study& s) {
  backend::openai::ProbeResult probe;
  probe.generation = probe.streaming = probe.usage_in_stream = probe.top_logprobs = true;
  probe.server_hint = "llama.cpp";
  const EndpointProbes probes{{"remote", probe}};
  return plan_variants(s, {{"F16", "m.gguf"}}, 1, &probes);
}

std::string profile_refusal(const decide::Profile& profile, const Study& s) {
  try {
    check_profile_metrics(profile, with_endpoint(s), plan_units(s, false), false);
  } catch (const Error& error) {
    return error.what();
  }
  return "(accepted)";
}

Study endpoint_study() {
  Study s;
  s.model = "m.gguf";
  s.tasks = {"gsm8k", "hellaswag", "divergence"};
  s.endpoints = {{.name = "remote", .base_url = "http://127.0.0.1:8080/v1", .model = "tiny"}};
  return s;
}

TEST(EndpointPlanCheck, EndpointsComeLastWithTheirProbes) {
  const auto variants = with_endpoint(endpoint_study());
  ASSERT_EQ(variants.size(), 2U);
  EXPECT_FALSE(variants[0].is_endpoint());
  ASSERT_TRUE(variants[1].is_endpoint());
  EXPECT_EQ(variants[1].name, "remote");
  EXPECT_FALSE(variants[1].is_baseline);
  EXPECT_TRUE(variants[1].file.empty());
  EXPECT_TRUE(variants[1].endpoint->probe.top_logprobs);
  EXPECT_EQ(endpoint_engine(*variants[1].endpoint), "endpoint (llama.cpp) http://127.0.0.1:8080/v1 model tiny");
  Study clash = endpoint_study();
  clash.endpoints[0].name = "F16";
  EXPECT_THROW(with_endpoint(clash), Error);
}

TEST(EndpointPlanCheck, MetricsAnEndpointCannotGiveAreRefusedWithVariantMetricEngineAndWhy) {
  const Study s = endpoint_study();
  const std::string prefix = "variant 'remote' cannot give ";
  const std::string engine = "its engine is endpoint (llama.cpp) http://127.0.0.1:8080/v1 model tiny, and ";
  const auto weights = [](const std::string& metric) {
    return decide::profile_from_json({{"weights", {{metric, 1}}}});
  };
  EXPECT_EQ(profile_refusal(weights("ppl"), s),
            prefix + "ppl, which profile \"custom\" needs: " + engine +
                "perplexity needs prompt log-probabilities (echo+logprobs or prompt_logprobs on /v1/completions), "
                "and the endpoint returned none when probed");
  EXPECT_EQ(profile_refusal(weights("hellaswag.acc"), s),
            prefix + "hellaswag.acc, which profile \"custom\" needs: " + engine +
                "hellaswag scores choices by log-likelihood, which needs prompt log-probabilities (echo+logprobs or "
                "prompt_logprobs on /v1/completions), and the endpoint returned none when probed");
  EXPECT_NE(profile_refusal(weights("decode_tps"), s).find(engine + "it is measured in-process on the variant's GGUF"),
            std::string::npos);
  EXPECT_NE(profile_refusal(weights("same_top_rate"), s).find("whole next-token distribution"), std::string::npos);
  // The default profile weights in-process speed: refused, naming the endpoint.
  EXPECT_NE(profile_refusal(decide::builtin_profile("interactive"), s).find(prefix), std::string::npos);
  // What goes over HTTP is accepted: generation tasks, divergence, and their retention.
  EXPECT_EQ(profile_refusal(weights("gsm8k.exact_match_strict"), s), "(accepted)");
  EXPECT_EQ(profile_refusal(weights("divergence.identical_rate"), s), "(accepted)");
  EXPECT_EQ(profile_refusal(weights("gsm8k.exact_match_flexible.retention"), s), "(accepted)");
  // Serving metrics only with [workload.serving], as for every variant.
  EXPECT_NE(profile_refusal(weights("goodput_rps"), s).find("the study has no [workload.serving]"), std::string::npos);
  Study served = s;
  served.serving = ServingWorkload{};
  EXPECT_EQ(profile_refusal(weights("goodput_rps"), served), "(accepted)");
}

TEST(EndpointPlanCheck, TasksAnEndpointCannotRunAreNotedAndServingNeedsStreaming) {
  Study s = endpoint_study();
  s.serving = ServingWorkload{};
  auto variants = with_endpoint(s);
  ManualClock clock;
  backend::FakeEngine engine(clock);
  std::ostringstream notes;
  check_plan(engine, {variants[1]}, plan_units(s, false), &notes);
  EXPECT_EQ(notes.str(),
            "uaqf: note: variant 'remote' (endpoint (llama.cpp) http://127.0.0.1:8080/v1 model tiny) does not run task "
            "hellaswag: hellaswag scores choices by log-likelihood, which needs prompt log-probabilities "
            "(echo+logprobs or prompt_logprobs on /v1/completions), and the endpoint returned none when probed\n");
  variants[1].endpoint->probe.streaming = false;
  try {
    check_plan(engine, {variants[1]}, plan_units(s, false), nullptr);
    FAIL() << "serving without streaming was accepted";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("variant 'remote'"), std::string::npos) << message;
    EXPECT_NE(message.find("endpoint (llama.cpp)"), std::string::npos) << message;
  }
}

TEST(EndpointPlanCheck, AnEndpointThatDoesNotAnswerRefusesTheStudyBeforeAnyWork) {
  const fs::path dir = fs::temp_directory_path() / "uaqf-endpoint-unreachable";
  fs::remove_all(dir);
  fs::create_directories(dir);
  ManualClock clock;
  backend::FakeEngine engine(clock);
  const fs::path model = dir / "m-f16.gguf";
  write_file_atomic(model, "GGUF fake baseline");
  engine.add_model(model, backend::FakeModelSpec{.bits_per_weight = 16, .kv_bytes_per_token = 4096});
  Study s;
  s.file = dir / "study.toml";
  s.lines["model.endpoints.remote"] = 7;
  s.model = model;
  s.output_dir = dir / "out";
  s.variants_dir = dir / "variants";
  s.perplexity = s.kld = false;
  s.weights = {{"decode_tps", 1}};
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  s.endpoints = {{.name = "remote", .base_url = "http://127.0.0.1:1/v1", .model = "m", .timeout_s = 5}};
  std::string message = "(not refused)";
  try {
    run_study(engine, s, clock);
  } catch (const Error& error) {
    message = error.what();
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(message, (dir / "study.toml").string() +
                         ":7: endpoint 'remote' at http://127.0.0.1:1/v1 answered no generation request when probed "
                         "(is it running, and is model 'm' served there?)");
  EXPECT_EQ(engine.load_calls(), 0);
  EXPECT_FALSE(fs::exists(s.output_dir / "study.db"));

  // A key variable that is not set: refused before anything is sent, naming the variable.
  ASSERT_EQ(unsetenv("UAQF_TEST_UNSET_KEY"), 0);
  s.endpoints[0].api_key_env = "UAQF_TEST_UNSET_KEY";
  try {
    run_study(engine, s, clock);
    ADD_FAILURE() << "an unset key variable was accepted";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()),
              (dir / "study.toml").string() +
                  ":7: endpoint 'remote': openai client: the environment variable UAQF_TEST_UNSET_KEY (the endpoint's "
                  "api_key_env) is not set");
  }
  EXPECT_FALSE(fs::exists(s.output_dir / "study.db"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace uaqf::study
