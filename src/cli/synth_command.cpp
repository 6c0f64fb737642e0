#include <charconv>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "backend/engines.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "core/error.h"
#include "core/files.h"
#include "core/paths.h"
#include "core/terminal.h"

namespace uaqf::cli {
namespace {

// Published architecture numbers (the models' config.json files).
const std::map<std::string, backend::ModelShape>& known_shapes() {
  static const std::map<std::string, backend::ModelShape> shapes = {
      {"llama2-7b", {.name = "llama2-7b", .n_embd = 4096, .n_layer = 32, .n_head = 32, .n_head_kv = 32, .n_ff = 11008}},
      {"llama2-13b",
       {.name = "llama2-13b", .n_embd = 5120, .n_layer = 40, .n_head = 40, .n_head_kv = 40, .n_ff = 13824}},
      {"llama2-70b",
       {.name = "llama2-70b", .n_embd = 8192, .n_layer = 80, .n_head = 64, .n_head_kv = 8, .n_ff = 28672}},
      {"llama3-8b",
       {.name = "llama3-8b",
        .n_vocab = 128256,
        .n_embd = 4096,
        .n_layer = 32,
        .n_head = 32,
        .n_head_kv = 8,
        .n_ff = 14336,
        .n_ctx = 8192,
        .rope_freq_base = 500000.0F}},
  };
  return shapes;
}

// "custom:n_embd=512,n_layer=4,n_head=8,n_head_kv=8,n_ff=1536[,n_vocab=32000,n_ctx=4096]"
backend::ModelShape parse_shape(const std::string& text) {
  if (auto it = known_shapes().find(text); it != known_shapes().end()) {
    return it->second;
  }
  if (text.rfind("custom:", 0) != 0) {
    std::string names;
    for (const auto& [name, shape] : known_shapes()) {
      names += names.empty() ? name : ", " + name;
    }
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("unknown shape '{}' (known: {}, or custom:n_embd=...,n_layer=...,n_head=...,"
                            "n_head_kv=...,n_ff=...[,n_vocab=...,n_ctx=...])",
                            text, names));
  }
  backend::ModelShape shape{.name = text};
  const std::map<std::string, int32_t*> fields = {{"n_embd", &shape.n_embd}, {"n_layer", &shape.n_layer},
                                                  {"n_head", &shape.n_head}, {"n_head_kv", &shape.n_head_kv},
                                                  {"n_ff", &shape.n_ff},     {"n_vocab", &shape.n_vocab},
                                                  {"n_ctx", &shape.n_ctx}};
  for (const auto& item : parse_name_list(text.substr(7))) {
    const auto eq = item.find('=');
    const auto field = fields.find(item.substr(0, eq));
    int32_t value = 0;
    const std::string number = eq == std::string::npos ? "" : item.substr(eq + 1);
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (field == fields.end() || ec != std::errc() || end != number.data() + number.size()) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("bad custom shape field '{}' in '{}'", item, text));
    }
    *field->second = value;
  }
  if (shape.n_head_kv == 0) {
    shape.n_head_kv = shape.n_head;
  }
  return shape;
}

}  // namespace

Action add_synth_command(CLI::App& app) {
  struct Flags {
    std::string shape;
    std::string out;
    std::string vocab;
    uint64_t seed = 1;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand(
      "synth", "write an F16 GGUF of a real model's shape with random weights (speed and memory only)");
  command->add_option("--shape", flags->shape, "llama2-7b, llama2-13b, llama2-70b, llama3-8b or custom:...")
      ->required();
  command->add_option("-o,--out", flags->out, "output GGUF file")->required();
  command->add_option("--vocab", flags->vocab,
                      "GGUF whose tokenizer is used (default: the LLaMA-2 vocabulary in the shared folder)");
  command->add_option("--seed", flags->seed, "seed of the random weights")->capture_default_str();
  return [flags]() -> int {
    backend::SynthRequest request;
    request.shape = parse_shape(flags->shape);
    request.output = flags->out;
    request.seed = flags->seed;
    if (!flags->vocab.empty()) {
      request.vocabulary = flags->vocab;
    } else if (auto found =
                   find_shared_file(std::filesystem::path("models") / "gguf-vocab" / "ggml-vocab-llama-spm.gguf")) {
      request.vocabulary = *found;
    } else {
      throw Error(ErrorCode::kNotFound,
                  "no vocabulary given and the shared LLaMA-2 vocabulary was not found: pass --vocab");
    }
    const std::filesystem::path parent = request.output.parent_path();
    require_writable_dir(parent.empty() ? std::filesystem::path(".") : parent, "output");
    auto engine = backend::make_engine(backend::kDefaultEngine);
    Progress progress(fmt::format("synth {} -> {}", request.shape.name, request.output.string()));
    const std::filesystem::path final_path = request.output;
    request.output = partial_path_for(final_path);
    engine->synthesize(request);
    std::filesystem::rename(request.output, final_path);
    progress.finish(fmt::format("{:.2f} GiB", static_cast<double>(file_size_bytes(final_path)) / (1 << 30)));
    return 0;
  };
}

}  // namespace uaqf::cli
