#include "quant/quantize.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "uaqf/build_info.h"

namespace uaqf::quant {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kSidecarVersion = 1;

fs::path sidecar_path_for(const fs::path& output) {
  fs::path sidecar = output;
  sidecar += ".uaqf.json";
  return sidecar;
}

fs::path resolved_out_dir(const QuantizeOptions& options) {
  if (options.out_dir) {
    return *options.out_dir;
  }
  const fs::path parent = options.model.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

json file_identity(const fs::path& path) {
  return json{{"path", fs::absolute(path).lexically_normal().string()},
              {"size_bytes", file_size_bytes(path)},
              {"mtime_ns", file_mtime_ns(path)}};
}

// What an output was made from; equal records mean the output is up to date.
json provenance(const QuantizeOptions& options, const std::string& type, bool tile_rows) {
  return json{{"sidecar_version", kSidecarVersion},
              {"source", file_identity(options.model)},
              {"type", type},
              {"method", tile_rows ? "tiled rows (synthetic weights)" : "llama.cpp"},
              {"imatrix", options.imatrix ? file_identity(*options.imatrix) : json(nullptr)},
              {"llama_commit", UAQF_LLAMA_COMMIT}};
}

bool is_up_to_date(const fs::path& output, const json& expected) {
  std::error_code ec;
  if (!fs::exists(output, ec) || !fs::exists(sidecar_path_for(output), ec)) {
    return false;
  }
  try {
    const json recorded = json::parse(read_text_file(sidecar_path_for(output)));
    return recorded.value("made_from", json()) == expected &&
           recorded.value("output_size_bytes", uint64_t{0}) == file_size_bytes(output);
  } catch (const std::exception&) {
    return false;  // an unreadable sidecar only means the output is redone
  }
}

std::string valid_type_list(const std::vector<backend::QuantType>& types) {
  std::string list;
  for (const auto& type : types) {
    list += list.empty() ? type.name : ", " + type.name;
  }
  return list;
}

}  // namespace

fs::path output_path_for(const fs::path& model, const std::string& type, const fs::path& out_dir) {
  std::string stem = model.stem().string();
  // Drop a trailing precision tag so that "x-f16" becomes "x-Q8_0", not "x-f16-Q8_0".
  for (const char* suffix : {"-f16", "-f32", "-bf16", "_f16", "_f32", "_bf16", ".f16", ".f32", ".bf16"}) {
    const std::string tag = suffix;
    if (stem.size() > tag.size()) {
      std::string tail = stem.substr(stem.size() - tag.size());
      std::transform(tail.begin(), tail.end(), tail.begin(), [](unsigned char c) { return std::tolower(c); });
      if (tail == tag) {
        stem.resize(stem.size() - tag.size());
        break;
      }
    }
  }
  return out_dir / fmt::format("{}-{}.gguf", stem, type);
}

std::vector<std::string> plan(backend::Engine& engine, const QuantizeOptions& options) {
  if (options.types.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--types needs at least one quantization type");
  }
  const auto known = engine.quant_types();
  std::vector<std::string> canonical;
  for (const auto& requested : options.types) {
    const auto type = backend::find_quant_type(known, requested);
    if (!type) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("unknown quantization type '{}' (valid: {})", requested, valid_type_list(known)));
    }
    if (std::find(canonical.begin(), canonical.end(), type->name) == canonical.end()) {
      canonical.push_back(type->name);
    }
  }
  engine.inspect(options.model);
  if (options.imatrix) {
    require_readable_file(*options.imatrix, "imatrix");
  }
  require_writable_dir(resolved_out_dir(options), "output");
  if (!options.imatrix && !options.imatrix_follows) {
    for (const auto& type : canonical) {
      if (engine.quantize_needs_imatrix(options.model, type)) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{} quantization of {} needs an importance matrix: pass --imatrix FILE (make one "
                                "with `uaqf imatrix`), or in a study add a calibration, e.g. [model] calibrations = "
                                "{{ wiki = \"wikitext-valid\" }} (or imatrix = \"FILE\")",
                                type, options.model.filename().string()));
      }
    }
  }
  return canonical;
}

std::vector<QuantizeResult> quantize_all(backend::Engine& engine, const QuantizeOptions& options,
                                         const QuantizeObserver& observer) {
  const auto types = plan(engine, options);
  const fs::path out_dir = resolved_out_dir(options);
  const bool tile_rows = !options.exact && engine.inspect(options.model).synthetic;
  std::vector<QuantizeResult> results;
  for (const auto& type : types) {
    QuantizeResult result;
    result.type = type;
    result.name = type + options.name_suffix;
    result.output = output_path_for(options.model, result.name, out_dir);
    if (observer.on_start) {
      observer.on_start(result.name, result.output);
    }
    const auto start = std::chrono::steady_clock::now();
    const json made_from = provenance(options, type, tile_rows);
    if (!options.force && is_up_to_date(result.output, made_from)) {
      result.status = QuantizeStatus::kUpToDate;
      result.size_bytes = file_size_bytes(result.output);
    } else {
      const fs::path partial = partial_path_for(result.output);
      try {
        std::error_code ec;
        fs::remove(sidecar_path_for(result.output), ec);
        backend::QuantizeRequest request{.input = options.model,
                                         .output = partial,
                                         .type = type,
                                         .imatrix = options.imatrix,
                                         .n_threads = options.n_threads,
                                         .tile_rows = tile_rows};
        const auto outcome = engine.quantize(request, observer.on_progress);
        fs::rename(partial, result.output);
        result.size_bytes = outcome.output_size_bytes;
        result.n_fallback_tensors = outcome.n_fallback_tensors;
        json sidecar{{"made_from", made_from},
                     {"output_size_bytes", result.size_bytes},
                     {"n_fallback_tensors", result.n_fallback_tensors}};
        write_file_atomic(sidecar_path_for(result.output), sidecar.dump(2) + "\n");
        result.status = QuantizeStatus::kQuantized;
      } catch (const std::exception& error) {
        std::error_code ec;
        fs::remove(partial, ec);
        result.status = QuantizeStatus::kFailed;
        result.error = error.what();
      }
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (observer.on_finish) {
      observer.on_finish(result);
    }
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace uaqf::quant
