#include "study/study.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include "core/environment.h"
#include "core/error.h"
#include "decide/decide.h"
#include "perf/serving.h"
#include "tasks/calibration.h"
#include "tasks/registry.h"

namespace uaqf::study {
namespace {

namespace fs = std::filesystem;

class Reader {
 public:
  explicit Reader(fs::path file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const toml::node& node, const std::string& message) const {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}:{}: {}", file_.string(), node.source().begin.line, message));
  }

  // Rejects keys of `table` not in `allowed`, naming the section.
  void only(const toml::table& table, const std::string& section, const std::set<std::string>& allowed) const {
    for (const auto& [key, node] : table) {
      if (!allowed.contains(std::string(key.str()))) {
        std::string list;
        for (const auto& name : allowed) {
          list += list.empty() ? name : ", " + name;
        }
        fail(node, fmt::format("unknown key '{}' in [{}] (known: {})", key.str(), section, list));
      }
    }
  }

  const toml::table* table(const toml::table& root, const char* key) const {
    const toml::node* node = root.get(key);
    if (node == nullptr) {
      return nullptr;
    }
    if (!node->is_table()) {
      fail(*node, fmt::format("'{}' must be a table", key));
    }
    return node->as_table();
  }

  template <typename T>
  void read(const toml::table& t, const char* key, T& out) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) {
      return;
    }
    if constexpr (std::is_same_v<T, std::string>) {
      if (!node->is_string()) {
        fail(*node, fmt::format("'{}' must be a string", key));
      }
      out = node->as_string()->get();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!node->is_boolean()) {
        fail(*node, fmt::format("'{}' must be true or false", key));
      }
      out = node->as_boolean()->get();
    } else if constexpr (std::is_same_v<T, double>) {
      if (!node->is_number()) {
        fail(*node, fmt::format("'{}' must be a number", key));
      }
      out = node->is_integer() ? static_cast<double>(node->as_integer()->get()) : node->as_floating_point()->get();
    } else {
      if (!node->is_integer()) {
        fail(*node, fmt::format("'{}' must be an integer", key));
      }
      const int64_t value = node->as_integer()->get();
      if (value < 0) {
        fail(*node, fmt::format("'{}' must not be negative, got {}", key, value));
      }
      // Read as 64 bits and range-checked, so that 4294967424 is refused, not narrowed to 128.
      if (static_cast<uint64_t>(value) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        fail(*node, fmt::format("'{}' is too large: {} (at most {})", key, value, std::numeric_limits<T>::max()));
      }
      out = static_cast<T>(value);
    }
  }

  void read_path(const toml::table& t, const char* key, fs::path& out) const {
    std::string text;
    read(t, key, text);
    if (!text.empty()) {
      out = resolve(text);
    }
  }
  void read_path(const toml::table& t, const char* key, std::optional<fs::path>& out) const {
    std::string text;
    read(t, key, text);
    if (!text.empty()) {
      out = resolve(text);
    }
  }

  template <typename T>
  void read_list(const toml::table& t, const char* key, std::vector<T>& out, bool allow_empty = false) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) {
      return;
    }
    if (!node->is_array()) {
      fail(*node, fmt::format("'{}' must be a list", key));
    }
    out.clear();
    for (const auto& element : *node->as_array()) {
      if constexpr (std::is_same_v<T, std::string>) {
        if (!element.is_string()) {
          fail(element, fmt::format("'{}' must be a list of strings", key));
        }
        out.push_back(element.as_string()->get());
      } else {
        if (!element.is_integer() || element.as_integer()->get() < 0) {
          fail(element, fmt::format("'{}' must be a list of non-negative integers", key));
        }
        if (static_cast<uint64_t>(element.as_integer()->get()) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
          fail(element, fmt::format("'{}' has a value too large: {} (at most {})", key, element.as_integer()->get(),
                                    std::numeric_limits<T>::max()));
        }
        out.push_back(static_cast<T>(element.as_integer()->get()));
      }
    }
    if (out.empty() && !allow_empty) {
      fail(*node, fmt::format("'{}' must not be empty", key));
    }
  }

  // Fails at `key`'s line (the table's when the key is absent) when value < minimum.
  template <typename T>
  void at_least(const toml::table& t, const char* key, T value, T minimum) const {
    if (value < minimum) {
      const toml::node* node = t.get(key);
      fail(node != nullptr ? *node : static_cast<const toml::node&>(t),
           fmt::format("'{}' must be at least {}, got {}", key, minimum, value));
    }
  }
  // The same with an upper bound: sizes past any real model or run are typos that would hang or
  // exhaust memory (reps = 2000000000).
  template <typename T>
  void within(const toml::table& t, const char* key, T value, T minimum, T maximum) const {
    at_least(t, key, value, minimum);
    if (value > maximum) {
      fail(*t.get(key), fmt::format("'{}' must be at most {}, got {}", key, maximum, value));
    }
  }

  fs::path resolve(const std::string& text) const {
    const fs::path path(text);
    return path.is_absolute() ? path : (file_.parent_path() / path).lexically_normal();
  }

 private:
  fs::path file_;
};

// The longest context a study may ask for (16M tokens): past every model's, so only typos exceed it.
constexpr int kMaxTokens = 1 << 24;

bool strings_equal_ignoring_case(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string calibration_source_list() {
  std::string list;
  for (const auto& source : tasks::named_calibration_sources()) {
    list += list.empty() ? source.name : ", " + source.name;
  }
  return list;
}

std::string suite_task_list() {
  std::string list;
  for (const auto& name : tasks::suite_task_names()) {
    list += list.empty() ? name : ", " + name;
  }
  return list;
}

// Every key's line, as "section.key" (nested: "workload.prompts.count"), for errors found later.
void record_lines(const toml::table& table, const std::string& prefix, std::map<std::string, int>& lines) {
  for (const auto& [key, node] : table) {
    const std::string name = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    lines[name] = static_cast<int>(node.source().begin.line);
    if (const auto* sub = node.as_table()) {
      record_lines(*sub, name, lines);
    }
  }
}

toml::table parse_study_file(const fs::path& file) {
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& error) {
    if (!fs::exists(file)) {
      throw Error(ErrorCode::kNotFound, fmt::format("study file not found: {}", file.string()));
    }
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}:{}: {}", file.string(), error.source().begin.line, std::string(error.description())));
  }
}

// [model] calibrations = { name = "FILE or named source" } and the keys that go with them.
void read_calibrations(const Reader& r, const toml::table& model, Study& study) {
  if (const auto* node = model.get("calibrations")) {
    const auto* table = node->as_table();
    if (table == nullptr) {
      r.fail(*node, "'calibrations' must be a table of name = \"FILE or named source\"");
    }
    for (const auto& [key, value] : *table) {
      const std::string name(key.str());
      if (name.empty() || name.size() > 40 || !std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
          })) {
        r.fail(value, fmt::format("calibration name '{}' must be 1-40 letters, digits or '_' (it names variants "
                                  "and files)",
                                  name));
      }
      if (!value.is_string() || value.as_string()->get().empty()) {
        r.fail(value,
               fmt::format("calibration '{}' must be a file or a named source ({})", name, calibration_source_list()));
      }
      const std::string source = value.as_string()->get();
      study.calibrations.push_back(
          {name, tasks::is_named_calibration_source(source) ? source : r.resolve(source).string()});
    }
  }
  r.read(model, "uncalibrated", study.uncalibrated);
  r.read(model, "calibration_ctx", study.calibration_ctx);
  r.within(model, "calibration_ctx", study.calibration_ctx, 16, kMaxTokens);
  if (model.get("calibration_chunks") != nullptr) {
    r.read(model, "calibration_chunks", study.calibration_chunks);
    r.within(model, "calibration_chunks", study.calibration_chunks, 1, 1 << 20);
  }
  r.read(model, "calibration_overlap_limit", study.calibration_overlap_limit);
  r.within(model, "calibration_overlap_limit", study.calibration_overlap_limit, 0.0, 1.0);
  if (!study.uncalibrated && study.calibrations.empty()) {
    r.fail(*model.get("uncalibrated"), "'uncalibrated = false' needs [model] calibrations (else no variant is left)");
  }
}

// [model.endpoints.NAME] = { url = "http://host:port/v1", model = "...", api_key_env = "VAR", ... }.
void read_endpoints(const Reader& r, const toml::table& model, Study& study) {
  const auto* node = model.get("endpoints");
  if (node == nullptr) {
    return;
  }
  const auto* table = node->as_table();
  if (table == nullptr) {
    r.fail(*node, "'endpoints' must be a table of [model.endpoints.NAME] tables");
  }
  for (const auto& [key, value] : *table) {
    const std::string name(key.str());
    if (name.empty() || name.size() > 60 || !std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
        })) {
      r.fail(value, fmt::format("endpoint name '{}' must be 1-60 letters, digits, '_', '-' or '.' (it names the "
                                "variant)",
                                name));
    }
    const auto* t = value.as_table();
    if (t == nullptr) {
      r.fail(value,
             fmt::format("endpoint '{}' must be a table ([model.endpoints.{}] with url = \"http://HOST:PORT/v1\")",
                         name, name));
    }
    const std::string section = "model.endpoints." + name;
    r.only(*t, section, {"url", "model", "api_key_env", "timeout_s", "concurrency"});
    EndpointVariant endpoint{.name = name, .line = static_cast<int>(t->source().begin.line)};
    r.read(*t, "url", endpoint.base_url);
    r.read(*t, "model", endpoint.model);
    r.read(*t, "api_key_env", endpoint.api_key_env);
    r.read(*t, "timeout_s", endpoint.timeout_s);
    r.read(*t, "concurrency", endpoint.concurrency);
    if (!endpoint.base_url.starts_with("http://") && !endpoint.base_url.starts_with("https://")) {
      r.fail(t->get("url") != nullptr ? *t->get("url") : value,
             fmt::format("endpoint '{}' needs url = \"http://HOST:PORT/v1\" (the base URL with /v1), not '{}'", name,
                         endpoint.base_url));
    }
    const auto authority = endpoint.base_url.substr(endpoint.base_url.find("://") + 3);
    if (authority.substr(0, authority.find('/')).find('@') != std::string::npos) {
      r.fail(*t->get("url"), fmt::format("endpoint '{}': the url must not hold credentials (user:password@); give "
                                         "the key's variable in api_key_env",
                                         name));
    }
    if (!endpoint.api_key_env.empty() &&
        !std::all_of(endpoint.api_key_env.begin(), endpoint.api_key_env.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; })) {
      r.fail(*t->get("api_key_env"), fmt::format("'api_key_env' is the NAME of an environment variable (letters, "
                                                 "digits, '_'), not '{}'; the key itself never goes into a study",
                                                 endpoint.api_key_env.substr(0, 3) + "..."));
    }
    if (!(endpoint.timeout_s > 0 && endpoint.timeout_s <= 86400)) {
      r.fail(*t->get("timeout_s"), "'timeout_s' must be above 0 and at most 86400");
    }
    r.within(*t, "concurrency", endpoint.concurrency, 1, 4096);
    study.endpoints.push_back(std::move(endpoint));
  }
}

// [study] and [model]; the name, output and variants folders default from the model's file name.
void read_study_and_model(const Reader& r, const toml::table& root, const fs::path& file, Study& study) {
  if (const auto* t = r.table(root, "study")) {
    r.only(*t, "study", {"name", "output", "seed"});
    r.read(*t, "name", study.name);
    r.read_path(*t, "output", study.output_dir);
    r.read(*t, "seed", study.seed);
  }
  const auto* model = r.table(root, "model");
  if (model == nullptr || model->get("path") == nullptr) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: [model] path is required", file.string()));
  }
  r.only(*model, "model",
         {"path", "types", "imatrix", "variants_dir", "calibrations", "uncalibrated", "calibration_ctx",
          "calibration_chunks", "calibration_overlap_limit", "endpoints"});
  r.read_path(*model, "path", study.model);
  r.read_list(*model, "types", study.types);
  r.read_path(*model, "imatrix", study.imatrix);
  r.read_path(*model, "variants_dir", study.variants_dir);
  read_calibrations(r, *model, study);
  read_endpoints(r, *model, study);
  study.variants_dir_given = !study.variants_dir.empty();
  for (std::size_t i = 0; i < study.types.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (strings_equal_ignoring_case(study.types[i], study.types[j])) {
        r.fail(*model->get("types"), fmt::format("'types' names {} twice", study.types[i]));
      }
    }
  }
  for (const auto& type : study.types) {
    // A type names a file in the variants folder: letters, digits and '_' only (Q4_K_M).
    if (type.empty() || !std::all_of(type.begin(), type.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
        })) {
      r.fail(*model->get("types"), fmt::format("'types' has '{}', not a quantization type name (e.g. Q4_K_M)", type));
    }
  }
  if (const auto* t = r.table(root, "study"); t != nullptr && t->get("name") != nullptr) {
    if (const std::string why = unsafe_name_reason(study.name); !why.empty()) {
      r.fail(*t->get("name"), fmt::format("study name '{}' {}", study.name, why));
    }
  }
  if (study.name.empty()) {
    study.name = study.model.stem().string();
  }
  if (study.output_dir.empty()) {
    study.output_dir = r.resolve("out/" + study.name);
  }
  if (study.variants_dir.empty()) {
    study.variants_dir = study.output_dir / "variants";
  }
}

// The placement keys of [runtime] or of one [[runtime.placements]] entry, over `load`.
void read_placement(const Reader& r, const toml::table& t, backend::LoadOptions& load) {
  if (const auto* node = t.get("gpu_layers"); node != nullptr) {
    if (!node->is_integer() && !node->is_string()) {
      r.fail(*node, "'gpu_layers' must be a layer count, \"all\" or \"auto\" (as many as fit)");
    }
    try {
      load.n_gpu_layers = backend::parse_gpu_layers(
          node->is_integer() ? std::to_string(node->as_integer()->get()) : node->as_string()->get(), "'gpu_layers'");
    } catch (const Error& error) {
      r.fail(*node, error.what());
    }
  }
  std::string split_mode = backend::to_string(load.split_mode);
  r.read(t, "split_mode", split_mode);
  try {
    load.split_mode = backend::parse_split_mode(split_mode);
  } catch (const Error& error) {
    r.fail(*t.get("split_mode"), error.what());
  }
  if (const auto* node = t.get("tensor_split"); node != nullptr) {
    if (!node->is_array()) {
      r.fail(*node, "'tensor_split' must be a list of shares, e.g. [3, 1]");
    }
    load.tensor_split.clear();
    for (const auto& share : *node->as_array()) {
      if (!share.is_number() || share.value_or(-1.0) < 0) {
        r.fail(share, "'tensor_split' shares must be non-negative numbers");
      }
      load.tensor_split.push_back(static_cast<float>(share.value_or(0.0)));
    }
  }
  r.read(t, "main_gpu", load.main_gpu);
  r.read_list(t, "devices", load.devices);
  r.read_list(t, "rpc", load.rpc_servers);
  r.read(t, "rpc_local", load.managed_rpc_servers);
  if (load.managed_rpc_servers > 16) {
    r.fail(*t.get("rpc_local"), fmt::format("'rpc_local' must be 0 to 16, got {}", load.managed_rpc_servers));
  }
  if (load.managed_rpc_servers > 0 && !load.rpc_servers.empty()) {
    r.fail(*t.get("rpc_local"), "'rpc_local' and 'rpc' exclude each other");
  }
}

void read_placements(const Reader& r, const toml::table& t, Study& study) {
  backend::LoadOptions base;
  read_placement(r, t, base);
  study.placements = {Placement{.name = "", .load = base}};
  const auto* node = t.get("placements");
  if (node == nullptr) {
    return;
  }
  if (!node->is_array_of_tables() || node->as_array()->empty()) {
    r.fail(*node, "'placements' must be a list of tables ([[runtime.placements]] with a name and placement keys)");
  }
  study.placements.clear();
  for (const auto& entry : *node->as_array()) {
    const auto& table = *entry.as_table();
    r.only(table, "runtime.placements",
           {"name", "gpu_layers", "split_mode", "tensor_split", "main_gpu", "devices", "rpc", "rpc_local"});
    Placement placement{.name = "", .load = base};
    r.read(table, "name", placement.name);
    const bool bad_name =
        placement.name.empty() || std::any_of(placement.name.begin(), placement.name.end(), [](char c) {
          return !std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-';
        });
    if (bad_name) {
      r.fail(entry, fmt::format("a placement needs a name of letters, digits, '_' and '-', got '{}'", placement.name));
    }
    for (const auto& earlier : study.placements) {
      if (earlier.name == placement.name) {
        r.fail(entry, fmt::format("two placements are named '{}'", placement.name));
      }
    }
    read_placement(r, table, placement.load);
    study.placements.push_back(placement);
  }
}

void read_runtime(const Reader& r, const toml::table& t, Study& study) {
  r.only(t, "runtime",
         {"threads", "batch_size", "gpu_layers", "kv_types", "flash_attn", "split_mode", "tensor_split", "main_gpu",
          "devices", "rpc", "rpc_local", "placements"});
  r.read(t, "threads", study.threads);
  if (const auto* node = t.get("threads")) {
    try {
      check_thread_count(study.threads, "'threads'");
    } catch (const Error& error) {
      r.fail(*node, error.what());
    }
  }
  r.read(t, "batch_size", study.batch_size);
  r.at_least(t, "batch_size", study.batch_size, 1);
  read_placements(r, t, study);
  r.read_list(t, "kv_types", study.kv_types);
  r.read_list(t, "flash_attn", study.flash_attn);
  for (const auto& mode : study.flash_attn) {
    if (mode != "auto" && mode != "on" && mode != "off") {
      r.fail(*t.get("flash_attn"), fmt::format("flash_attn values are auto, on or off, not '{}'", mode));
    }
  }
}

PromptWorkload read_prompts(const Reader& r, const toml::table& p) {
  r.only(p, "workload.prompts", {"source", "file", "count", "max_new_tokens", "parallel", "chat_template"});
  PromptWorkload prompts;
  r.read(p, "source", prompts.source);
  r.read_path(p, "file", prompts.file);
  r.read(p, "count", prompts.count);
  r.read(p, "max_new_tokens", prompts.max_new_tokens);
  r.read(p, "parallel", prompts.parallel);
  r.read(p, "chat_template", prompts.chat_template);
  if (prompts.source != "gsm8k" && prompts.source != "ifeval" && prompts.source != "file") {
    r.fail(*p.get("source"), fmt::format("prompt source must be gsm8k, ifeval or file, not '{}'", prompts.source));
  }
  if (prompts.source == "file" && !prompts.file) {
    r.fail(p, "prompt source 'file' needs file = \"...\"");
  }
  if (prompts.count < 1 || prompts.max_new_tokens < 1 || prompts.parallel < 1) {
    r.fail(p, "count, max_new_tokens and parallel must be at least 1");
  }
  return prompts;
}

// A list of positive numbers (integers or not), e.g. request rates.
std::vector<double> read_rates(const Reader& r, const toml::node& node, const char* key) {
  if (!node.is_array() || node.as_array()->empty()) {
    r.fail(node, fmt::format("'{}' must be a non-empty list of numbers", key));
  }
  std::vector<double> values;
  for (const auto& element : *node.as_array()) {
    const double value = element.is_integer()          ? static_cast<double>(element.as_integer()->get())
                         : element.is_floating_point() ? element.as_floating_point()->get()
                                                       : -1;
    if (!(value > 0)) {
      r.fail(element, fmt::format("'{}' must be a list of numbers above 0", key));
    }
    values.push_back(value);
  }
  return values;
}

void check_serving_values(const Reader& r, const toml::table& t, const ServingWorkload& s) {
  const auto at = [&](const char* key) -> const toml::node& {
    const toml::node* node = t.get(key);
    return node != nullptr ? *node : static_cast<const toml::node&>(t);
  };
  if (s.prompts != "gsm8k" && s.prompts != "ifeval" && s.prompts != "file") {
    r.fail(at("prompts"), fmt::format("'prompts' must be gsm8k, ifeval or file, not '{}'", s.prompts));
  }
  if (s.prompts == "file" && !s.file) {
    r.fail(t, "prompts = \"file\" needs file = \"...\"");
  }
  const std::pair<const char*, int> at_least_one[] = {
      {"requests", s.requests}, {"max_new_tokens", s.max_new_tokens}, {"ctx_per_slot", s.ctx_per_slot}};
  for (const auto& [key, value] : at_least_one) {
    if (value < 1) {
      r.fail(at(key), fmt::format("'{}' must be at least 1", key));
    }
  }
  for (int level : s.concurrency) {
    if (level < 1) {
      r.fail(at("concurrency"), fmt::format("'concurrency' levels must be at least 1, not {}", level));
    }
  }
  if (s.arrivals != "poisson" && s.arrivals != "constant") {
    r.fail(at("arrivals"), fmt::format("'arrivals' must be poisson or constant, not '{}'", s.arrivals));
  }
  if (!(s.duration_s > 0)) {
    r.fail(at("duration_s"), "'duration_s' must be above 0");
  }
  if (!(s.attainment > 0 && s.attainment <= 1)) {
    r.fail(at("attainment"), fmt::format("'attainment' must be in (0, 1], not {}", s.attainment));
  }
  if (s.search_budget_s < 0) {
    r.fail(at("search_budget_s"), "'search_budget_s' must not be negative");
  }
  if (s.max_new_tokens >= s.ctx_per_slot) {
    r.fail(at("max_new_tokens"), fmt::format("'max_new_tokens' ({}) leaves no room for the prompt in a slot of "
                                             "ctx_per_slot = {} tokens",
                                             s.max_new_tokens, s.ctx_per_slot));
  }
}

ServingWorkload read_serving(const Reader& r, const toml::table& t) {
  r.only(t, "workload.serving",
         {"prompts", "file", "requests", "concurrency", "rates", "arrivals", "duration_s", "max_new_tokens",
          "ignore_eos", "slos", "attainment", "search_budget_s", "warmup_requests", "parallel", "ctx_per_slot",
          "prompt_cache_mib", "extra_body", "service_level"});
  ServingWorkload s;
  r.read(t, "prompts", s.prompts);
  r.read_path(t, "file", s.file);
  r.read(t, "requests", s.requests);
  r.read_list(t, "concurrency", s.concurrency);
  if (const auto* node = t.get("rates")) {
    if (t.get("concurrency") != nullptr) {
      r.fail(*node, "give either 'concurrency' (closed loop) or 'rates' (open loop), not both");
    }
    s.rates = read_rates(r, *node, "rates");
    s.concurrency.clear();
  }
  if (t.get("arrivals") != nullptr && s.rates.empty()) {
    r.fail(*t.get("arrivals"), "'arrivals' applies to 'rates' (open loop) only");
  }
  r.read(t, "arrivals", s.arrivals);
  r.read(t, "duration_s", s.duration_s);
  r.read(t, "max_new_tokens", s.max_new_tokens);
  r.read(t, "ignore_eos", s.ignore_eos);
  r.read_list(t, "slos", s.slos, true);
  for (const auto& text : s.slos) {
    try {
      perf::parse_slo(text);
    } catch (const Error& error) {
      r.fail(*t.get("slos"), fmt::format("'slos': {}", error.what()));
    }
  }
  r.read(t, "attainment", s.attainment);
  r.read(t, "search_budget_s", s.search_budget_s);
  r.read(t, "warmup_requests", s.warmup_requests);
  r.read(t, "parallel", s.parallel);
  r.read(t, "ctx_per_slot", s.ctx_per_slot);
  r.read(t, "prompt_cache_mib", s.prompt_cache_mib);
  if (const auto* node = t.get("extra_body")) {
    if (!node->is_table()) {
      r.fail(*node, "'extra_body' must be a table (merged as JSON into every request, e.g. { top_k = 1 })");
    }
    std::ostringstream json_text;
    json_text << toml::json_formatter{*node->as_table()};
    s.extra_body = json_text.str();
  }
  if (const auto* node = t.get("service_level")) {
    double level = 0;
    r.read(t, "service_level", level);
    std::vector<double> levels = s.rates;
    for (int concurrency : s.concurrency) {
      levels.push_back(concurrency);
    }
    if (std::find(levels.begin(), levels.end(), level) == levels.end()) {
      r.fail(*node,
             fmt::format("'service_level' {:g} is not a level of the sweep ({})", level, fmt::join(levels, ", ")));
    }
    s.service_level = level;
  }
  check_serving_values(r, t, s);
  return s;
}

void read_workload(const Reader& r, const toml::table& t, Study& study) {
  r.only(t, "workload",
         {"prompt_tokens", "gen_tokens", "depths", "reps", "warmup", "max_cv", "parallel", "prompts", "serving"});
  r.read_list(t, "parallel", study.parallel, true);
  for (int level : study.parallel) {
    if (level < 1) {
      r.fail(*t.get("parallel"), fmt::format("'parallel' levels must be at least 1, not {}", level));
    }
  }
  r.read_list(t, "prompt_tokens", study.prompt_tokens);
  r.read(t, "gen_tokens", study.gen_tokens);
  r.read_list(t, "depths", study.depths);
  r.read(t, "reps", study.reps);
  r.read(t, "warmup", study.warmup);
  r.read(t, "max_cv", study.max_cv);
  if (study.reps < 1) {
    r.fail(*t.get("reps"), "'reps' must be at least 1");
  }
  r.within(t, "gen_tokens", study.gen_tokens, 1, kMaxTokens);
  for (int tokens : study.prompt_tokens) {
    r.within(t, "prompt_tokens", tokens, 1, kMaxTokens);
  }
  for (int depth : study.depths) {
    r.within(t, "depths", depth, 0, kMaxTokens);
  }
  r.within(t, "reps", study.reps, 1, 10000);
  r.within(t, "warmup", study.warmup, 0, 1000);
  for (int level : study.parallel) {
    r.within(t, "parallel", level, 1, 4096);
  }
  if (!(study.max_cv >= 0 && std::isfinite(study.max_cv))) {
    r.fail(*t.get("max_cv"), "'max_cv' must be a finite number >= 0");
  }
  if (const auto* p = r.table(t, "prompts")) {
    study.prompts = read_prompts(r, *p);
  }
  if (const auto* p = r.table(t, "serving")) {
    study.serving = read_serving(r, *p);
  }
}

void read_quality(const Reader& r, const toml::table& t, Study& study) {
  r.only(t, "quality",
         {"perplexity", "kld", "ctx", "chunks", "corpus", "tasks", "limit", "data_dir", "batch_invariant",
          "max_item_bytes", "prompt_format"});
  r.read(t, "max_item_bytes", study.max_item_bytes);
  r.read(t, "prompt_format", study.prompt_format);
  if (study.prompt_format != "lm-eval" && study.prompt_format != "chat") {
    r.fail(*t.get("prompt_format"),
           fmt::format("prompt_format must be lm-eval (the task's text) or chat (through the model's chat template), "
                       "not '{}'",
                       study.prompt_format));
  }
  r.read(t, "batch_invariant", study.batch_invariant);
  r.read(t, "perplexity", study.perplexity);
  r.read(t, "kld", study.kld);
  r.read(t, "ctx", study.ctx);
  r.read(t, "chunks", study.perplexity_chunks);
  r.read_path(t, "corpus", study.corpus);
  r.read_list(t, "tasks", study.tasks, true);
  std::size_t limit = 0;
  r.read(t, "limit", limit);
  if (limit > 0) {
    study.limit = limit;
  }
  r.read_path(t, "data_dir", study.data_dir);
  // A chunk scores its second half: two tokens at least.
  r.within(t, "ctx", study.ctx, 2, kMaxTokens);
  r.within(t, "chunks", study.perplexity_chunks, 1, 1000000);
  r.at_least(t, "max_item_bytes", study.max_item_bytes, std::size_t{1});
  for (const auto& task : study.tasks) {
    if (!tasks::is_suite_task(task)) {
      r.fail(*t.get("tasks"), fmt::format("unknown task '{}' in 'tasks' (known: {})", task, suite_task_list()));
    }
  }
}

void read_profile(const Reader& r, const toml::table& t, Study& study) {
  r.only(t, "profile",
         {"name", "weights", "constraints", "builtin_constraints", "normalization", "pessimistic", "bootstrap"});
  r.read(t, "name", study.profile);
  study.profile_line = static_cast<int>(t.source().begin.line);
  if (const auto* w = r.table(t, "weights")) {
    study.profile_line = static_cast<int>(w->source().begin.line);
    for (const auto& [key, node] : *w) {
      if (!node.is_number()) {
        r.fail(node, fmt::format("weight '{}' must be a number", key.str()));
      }
      study.weights[std::string(key.str())] =
          node.is_integer() ? static_cast<double>(node.as_integer()->get()) : node.as_floating_point()->get();
    }
  }
  r.read_list(t, "constraints", study.constraints, true);
  r.read(t, "builtin_constraints", study.builtin_constraints);
  r.read(t, "normalization", study.normalization);
  if (study.normalization != "ratio" && study.normalization != "min-max" && study.normalization != "z-score") {
    r.fail(*t.get("normalization"),
           fmt::format("normalization must be ratio, min-max or z-score, not '{}'", study.normalization));
  }
  r.read(t, "pessimistic", study.pessimistic);
  r.read(t, "bootstrap", study.bootstrap_resamples);
  if (const auto* node = t.get("bootstrap");
      node != nullptr &&
      (study.bootstrap_resamples < 1 || study.bootstrap_resamples > decide::kMaxBootstrapResamples)) {
    r.fail(*node, fmt::format("'bootstrap' must be between 1 and {}, got {}", decide::kMaxBootstrapResamples,
                              study.bootstrap_resamples));
  }
}

}  // namespace

int ServingWorkload::slots() const {
  if (parallel > 0) {
    return parallel;
  }
  return uses_rates() || concurrency.empty() ? 8 : *std::max_element(concurrency.begin(), concurrency.end());
}

int ServingWorkload::context_tokens() const { return slots() * ctx_per_slot; }

std::string unsafe_name_reason(const std::string& name) {
  // The name becomes a folder (out/<name>): it must stay inside the study's output folder.
  if (name.empty() || name == "." || name == "..") {
    return "is not a folder name";
  }
  if (name.find_first_of("/\\") != std::string::npos) {
    return "must not contain '/' or '\\' (it names a folder inside the study's output folder)";
  }
  if (std::any_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    return "must not contain control characters";
  }
  return "";
}

std::string Study::where(const std::string& key) const {
  const auto it = lines.find(key);
  return it == lines.end() ? file.string() : fmt::format("{}:{}", file.string(), it->second);
}

namespace {

Study study_from_table(const toml::table& root, const fs::path& file) {
  const Reader r(file);
  Study study;
  study.file = file;
  record_lines(root, "", study.lines);
  r.only(root, "top level", {"study", "model", "runtime", "workload", "quality", "profile"});
  read_study_and_model(r, root, file, study);
  if (const auto* t = r.table(root, "runtime")) {
    read_runtime(r, *t, study);
  }
  if (const auto* t = r.table(root, "workload")) {
    read_workload(r, *t, study);
  }
  if (const auto* t = r.table(root, "quality")) {
    read_quality(r, *t, study);
  }
  if (const auto* t = r.table(root, "profile")) {
    read_profile(r, *t, study);
  }
  return study;
}

}  // namespace

Study load_study(const fs::path& file) { return study_from_table(parse_study_file(file), file); }

Study parse_study(std::string_view text, const fs::path& file) {
  toml::table root;
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error& error) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}:{}: {}", file.string(), error.source().begin.line, std::string(error.description())));
  }
  return study_from_table(root, file);
}

}  // namespace uaqf::study
