#pragma once

// A study file (TOML): the model, the variants to try, the workload, the quality measurements and
// the deployment profile. Every key is documented in examples/*.toml; unknown keys and bad values
// are errors naming the key and the file line.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"

namespace uaqf::study {

struct PromptWorkload {
  std::string source = "gsm8k";               // gsm8k | ifeval | file
  std::optional<std::filesystem::path> file;  // one prompt per line, for source = "file"
  int count = 20;
  int max_new_tokens = 128;
  int parallel = 1;  // requests served side by side
  bool chat_template = true;
};

// [workload.serving]: every variant also served by a managed llama-server (its runtime settings,
// `parallel` slots of `ctx_per_slot` tokens each), driven by the serving load generator at
// concurrency levels (closed loop) or request rates (open loop), then stopped; one server at a time.
struct ServingWorkload {
  std::string prompts = "gsm8k";              // gsm8k | ifeval | file
  std::optional<std::filesystem::path> file;  // one prompt per line, for prompts = "file"
  int requests = 32;                          // per level (open loop: at most)
  std::vector<int> concurrency{1, 4, 8};      // closed-loop levels (empty when rates are given)
  std::vector<double> rates;                  // open-loop levels, requests/s
  std::string arrivals = "poisson";           // poisson | constant (rates only)
  double duration_s = 60;                     // open loop: arrivals stop; closed loop: sending stops
  int max_new_tokens = 128;
  bool ignore_eos = true;  // fixed output lengths make variants comparable
  std::vector<std::string> slos{"ttft_ms<=500", "tpot_ms<=50"};
  double attainment = 0.99;  // target share of requests meeting every SLO
  double search_budget_s = 120;
  int warmup_requests = 2;
  int parallel = 0;  // server slots; 0: the highest concurrency level, or 8 for rates
  int ctx_per_slot = 2048;
  int prompt_cache_mib = 0;  // llama-server's --cache-ram (ServerLaunch::prompt_cache_mib says why 0)
  std::string extra_body;    // JSON object merged into every request (a TOML table in the file)
  // The level (a concurrency or a rate of the sweep) the service must carry: its goodput, attainment
  // and p99s enter the decision. nullopt: the sweep's highest level.
  std::optional<double> service_level;

  bool uses_rates() const { return !rates.empty(); }
  int slots() const;           // parallel, or its default
  int context_tokens() const;  // n_ctx of the server: slots() * ctx_per_slot
};

// [model] calibrations: an importance matrix made by uaqf from each text, crossed with the types
// (variants "<TYPE>+<name>").
struct Calibration {
  std::string name;    // letters, digits and '_' ("wiki_train")
  std::string source;  // a named source ("gsm8k-train") or a file's path (resolved from the study's folder)
};

// Where a variant's layers go ([runtime] placement keys, or one entry of [[runtime.placements]]),
// crossed with the weight types: variants "<TYPE> @<name>" when there are several.
struct Placement {
  std::string name;  // letters, digits, '_' and '-'; "" for the single placement of [runtime]
  backend::LoadOptions load;
};

// [model.endpoints.NAME]: a variant that is an OpenAI-compatible server someone else runs (vLLM,
// SGLang, TGI, Ollama, a llama-server): no GGUF of uaqf's, so no in-process speed, memory,
// perplexity or KLD; generation tasks and the serving workload go through it over HTTP.
struct EndpointVariant {
  std::string name;      // the variant's name (letters, digits, '_', '-', '.')
  std::string base_url;  // "http://host:8000/v1"
  std::string model;     // the served model name, sent as "model" (empty: omitted)
  // NAME of the environment variable that holds the API key (empty: none). The key itself is read
  // when the client is made and never written anywhere.
  std::string api_key_env;
  double timeout_s = 600;  // whole request
  int concurrency = 8;     // task requests in flight at once
  int line = 0;            // where its table stands
};

struct Study {
  std::filesystem::path file;
  std::string name;
  std::filesystem::path output_dir;
  uint32_t seed = 42;
  // Measure everything again: the results store's units are dropped first (run manifests stay).
  bool fresh = false;

  std::filesystem::path model;     // the baseline (full-precision) file
  std::vector<std::string> types;  // quantization types to make and compare
  std::optional<std::filesystem::path> imatrix;
  std::vector<Calibration> calibrations;
  std::vector<EndpointVariant> endpoints;  // [model.endpoints.NAME], after the GGUF variants
  // Also each type without calibration (a type that needs an importance matrix is then made only
  // with the calibrations, or with `imatrix`).
  bool uncalibrated = true;
  int calibration_ctx = 512;    // tokens per chunk (llama-imatrix's default)
  int calibration_chunks = -1;  // at most; -1: every whole chunk of the text
  // The largest share of an evaluation input's 13-word sequences that may also be in a calibration
  // text; above it the study is refused (tasks/calibration.h).
  double calibration_overlap_limit = 0.01;
  std::filesystem::path variants_dir;
  bool variants_dir_given = false;  // written in the study (else the output folder's variants/)

  // Runtime settings; lists are crossed with the weight types.
  int threads = 0;
  int batch_size = 2048;
  // The first is the baseline's, and importance matrices are computed with its layer count.
  std::vector<Placement> placements{Placement{}};
  std::vector<std::string> kv_types{"f16"};
  std::vector<std::string> flash_attn{"auto"};

  // Fixed-shape benchmark.
  std::vector<int> prompt_tokens{512};
  int gen_tokens = 128;
  std::vector<int> depths{0};
  int reps = 5;
  int warmup = 1;
  double max_cv = 0.05;
  // Concurrency levels: n sequences decoding side by side in one context. The highest level gives
  // the parallel_decode_tps / parallel_itl_ms metrics (e.g. [64] for a batch-serving regime).
  std::vector<int> parallel;
  std::optional<PromptWorkload> prompts;
  std::optional<ServingWorkload> serving;

  // Quality.
  bool perplexity = true;
  bool kld = true;
  int ctx = 512;
  int perplexity_chunks = 20;
  std::optional<std::filesystem::path> corpus;
  std::vector<std::string> tasks;
  std::optional<std::size_t> limit;
  std::optional<std::filesystem::path> data_dir;
  // Answers and scores that do not depend on how many prompts or choices share an engine pass
  // (see tasks::GenerationOptions::batch_invariant); quality then loads its own copy of each model,
  // without weight repacking, so that speed is still measured as deployed.
  bool batch_invariant = false;
  // Generation tasks' prompts: "lm-eval" (the task's text, no chat template, as lm-evaluation-harness
  // by default) or "chat" (through the model's chat template); tasks::PromptFormat.
  std::string prompt_format = "lm-eval";
  // The longest task item or prompt, in bytes: the tokenizer's time grows faster than its length
  // (a 10 MB line took over 10 minutes), so a longer one is refused when the data is read.
  std::size_t max_item_bytes = std::size_t{64} << 10;

  // Decision.
  std::string profile = "interactive";
  std::map<std::string, double> weights;  // custom weights replace the profile's
  std::vector<std::string> constraints;   // added to the profile's
  // false: the built-in profile's own constraints are dropped (only `constraints` stay), e.g. its
  // kld_mean bound in a study with endpoint variants, which cannot give KLD.
  bool builtin_constraints = true;
  std::string normalization = "ratio";  // ratio | min-max | z-score
  bool pessimistic = true;
  int bootstrap_resamples = 1000;
  int profile_line = 0;  // where [profile] (or its weights) stands, for errors found when it is built

  // Where each key stands ("model.types" -> 7), for errors found when the study is planned.
  std::map<std::string, int> lines;
  // "FILE:LINE" of `key` ("runtime.kv_types"), or the file when the study does not write it.
  std::string where(const std::string& key) const;
};

// Why `name` cannot be a study name (it becomes a folder inside the output folder), or "".
std::string unsafe_name_reason(const std::string& name);

// Parses and checks a study file; relative paths are taken from the file's folder.
// Throws Error("FILE:LINE: ...") on bad TOML, unknown keys and bad values.
Study load_study(const std::filesystem::path& file);
// The same from the file's text (the fuzz target's entry point); `file` names it in errors and
// relative paths are resolved from its folder. Throws Error(kInvalidArgument) as load_study.
Study parse_study(std::string_view text, const std::filesystem::path& file);

}  // namespace uaqf::study
