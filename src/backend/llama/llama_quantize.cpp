#include "backend/llama/llama_internal.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "backend/llama/llama_log.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "core/parallel.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "gguf.h"
#include "llama-cpp.h"
#include "uaqf/build_info.h"

#if UAQF_LLAMA_HAVE_COMMON
#include "imatrix-loader.h"
#endif

namespace uaqf::backend::llama {
namespace {

namespace fs = std::filesystem;

// The type llama.cpp's quantizer gives each tensor for `ftype`, in its output order, from a dry run.
std::vector<std::pair<std::string, ggml_type>> quantization_plan(const fs::path& input, llama_ftype ftype) {
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.ftype = ftype;
  params.dry_run = true;
  // "[  5/ 75] blk.0.attn_q.weight - [ 4096,  4096,  1,  1], type =    f16, size = 32.000 MiB -> 9.000 MiB (q4_K)"
  static const std::regex line_pattern(
      R"(^\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[[^\]]*\], type =\s*(\w+),.*?(?:\((\w+)\))?\s*$)");
  std::vector<std::pair<std::string, std::string>> lines;
  llama_log::clear_errors();
  llama_log::set_line_hook([&](const std::string& line) {
    std::smatch match;
    if (std::regex_search(line, match, line_pattern)) {
      lines.emplace_back(match[1].str(), match[3].matched ? match[3].str() : match[2].str());
    }
  });
  const uint32_t status = llama_model_quantize(input.c_str(), "/dev/null", &params);
  llama_log::set_line_hook(nullptr);
  if (status != 0) {
    throw Error(ErrorCode::kEngine,
                with_engine_reason(fmt::format("cannot plan the quantization of {}", input.string())));
  }
  std::map<std::string, ggml_type> by_name;
  for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
    const char* name = ggml_type_name(static_cast<ggml_type>(t));
    if (name != nullptr && ggml_get_type_traits(static_cast<ggml_type>(t))->blck_size > 0) {
      by_name.emplace(name, static_cast<ggml_type>(t));
    }
  }
  std::vector<std::pair<std::string, ggml_type>> plan;
  for (const auto& [tensor, type] : lines) {
    const auto it = by_name.find(type);
    if (it == by_name.end()) {
      throw Error(ErrorCode::kEngine,
                  fmt::format("quantization plan of {}: unknown type '{}' for {}", input.string(), type, tensor));
    }
    plan.emplace_back(tensor, it->second);
  }
  return plan;
}

// Copies `bytes` from `input` to `output` through `chunk`; `what` names the data when it cannot be read.
template <typename What>
void copy_bytes(std::ifstream& input, std::size_t bytes, RawFileWriter& output, std::vector<char>& chunk, What&& what) {
  chunk.resize(std::min<std::size_t>(bytes, 64U << 20));
  while (bytes > 0) {
    const std::size_t n = std::min(bytes, chunk.size());
    input.read(chunk.data(), static_cast<std::streamsize>(n));
    if (!input) {
      throw Error(ErrorCode::kIo, what());
    }
    output.write(std::span<const char>(chunk.data(), n));
    bytes -= n;
  }
}

QuantizeOutcome quantize_tiled(const QuantizeRequest& request, llama_ftype ftype, const ProgressFn& progress) {
  constexpr int64_t kDistinctRows = 32;
  const auto plan = quantization_plan(request.input, ftype);
  const auto input_header = read_gguf_header(request.input);
  const gguf_context* in = input_header.gguf.get();
  ggml_context* in_meta = input_header.tensors.get();
  if (plan.size() != static_cast<std::size_t>(gguf_get_n_tensors(in))) {
    throw Error(ErrorCode::kEngine, fmt::format("quantization plan of {} covers {} of its {} tensors",
                                                request.input.string(), plan.size(), gguf_get_n_tensors(in)));
  }
  // Metadata as llama-quantize writes it.
  std::unique_ptr<gguf_context, GgufDeleter> out(gguf_init_empty());
  gguf_set_kv(out.get(), in);
  gguf_set_val_u32(out.get(), "general.quantization_version", GGML_QNT_VERSION);
  gguf_set_val_u32(out.get(), "general.file_type", static_cast<uint32_t>(ftype));
  const ggml_init_params header_params{
      .mem_size = (plan.size() + 1) * ggml_tensor_overhead(), .mem_buffer = nullptr, .no_alloc = true};
  std::unique_ptr<ggml_context, GgmlDeleter> headers(ggml_init(header_params));
  for (const auto& [name, type] : plan) {
    const ggml_tensor* source = ggml_get_tensor(in_meta, name.c_str());
    if (source == nullptr) {
      throw Error(ErrorCode::kEngine, fmt::format("{}: no tensor {}", request.input.string(), name));
    }
    ggml_tensor* tensor = ggml_new_tensor(headers.get(), type, ggml_n_dims(source), source->ne);
    ggml_set_name(tensor, name.c_str());
    gguf_add_tensor(out.get(), tensor);
  }
  // First the few distinct rows of every tensor, quantized for real (in parallel: K-quant
  // searches are the only computation here); then the file, each tensor its rows repeated.
  struct TiledTensor {
    std::vector<char> rows;  // `distinct` rows in the output type; empty when copied as it is
    int64_t n_rows = 0;
    std::size_t row_bytes = 0;
  };
  const std::size_t data_offset = gguf_get_data_offset(in);
  std::vector<TiledTensor> tiled(plan.size());
  std::vector<std::string> failures(plan.size());
  auto quantize_rows = [&](std::size_t i) {
    const auto& [name, type] = plan[i];
    const ggml_tensor* source = ggml_get_tensor(in_meta, name.c_str());
    if (source == nullptr) {
      failures[i] = fmt::format("{}: no tensor {}", request.input.string(), name);
      return;
    }
    const int64_t n_per_row = source->ne[0];
    tiled[i].n_rows = ggml_nrows(source);
    tiled[i].row_bytes = ggml_row_size(type, n_per_row);
    if (type == source->type) {
      return;
    }
    const int64_t distinct = std::min(kDistinctRows, tiled[i].n_rows);
    std::ifstream input(request.input, std::ios::binary);
    std::vector<char> raw(ggml_row_size(source->type, n_per_row) * static_cast<std::size_t>(distinct));
    const int64_t tensor_id = gguf_find_tensor(in, name.c_str());
    input.seekg(static_cast<std::streamoff>(data_offset + gguf_get_tensor_offset(in, tensor_id)));
    input.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    if (!input) {
      failures[i] = fmt::format("cannot read tensor {} of {}", name, request.input.string());
      return;
    }
    std::vector<float> values(static_cast<std::size_t>(n_per_row * distinct));
    if (source->type == GGML_TYPE_F32) {
      std::memcpy(values.data(), raw.data(), values.size() * sizeof(float));
    } else {
      const auto* traits = ggml_get_type_traits(source->type);
      if (traits->to_float == nullptr) {
        failures[i] = fmt::format("{}: tensor {} of type {} cannot be read", request.input.string(), name,
                                  ggml_type_name(source->type));
        return;
      }
      traits->to_float(raw.data(), values.data(), n_per_row * distinct);
    }
    tiled[i].rows.resize(tiled[i].row_bytes * static_cast<std::size_t>(distinct));
    ggml_quantize_chunk(type, values.data(), tiled[i].rows.data(), 0, distinct, n_per_row, nullptr);
  };
  parallel_for(plan.size(),
               request.n_threads > 0 ? static_cast<unsigned>(request.n_threads)
                                     : std::max(1U, std::thread::hardware_concurrency()),
               quantize_rows);
  for (const auto& failure : failures) {
    if (!failure.empty()) {
      throw Error(ErrorCode::kIo, failure);
    }
  }
  std::ifstream input(request.input, std::ios::binary);
  RawFileWriter output(request.output);
  std::vector<char> meta(gguf_get_meta_size(out.get()));
  gguf_get_meta_data(out.get(), meta.data());
  output.write(meta);
  const std::size_t alignment = gguf_get_alignment(out.get());
  std::vector<char> chunk;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& name = plan[i].first;
    const ggml_tensor* source = ggml_get_tensor(in_meta, name.c_str());
    if (tiled[i].rows.empty()) {
      // Kept as it is (norms, or F16 into F16): copied.
      const int64_t tensor_id = gguf_find_tensor(in, name.c_str());
      input.seekg(static_cast<std::streamoff>(data_offset + gguf_get_tensor_offset(in, tensor_id)));
      copy_bytes(input, ggml_nbytes(source), output, chunk,
                 [&] { return fmt::format("cannot read tensor {} of {}", name, request.input.string()); });
    } else {
      // Whole periods of the distinct rows, then the rest of a period.
      output.write_repeated(tiled[i].rows, tiled[i].row_bytes * static_cast<std::size_t>(tiled[i].n_rows));
    }
    output.pad_to(alignment);
    if (progress) {
      progress(static_cast<long>(i + 1), static_cast<long>(plan.size()));
    }
  }
  output.close();
  return QuantizeOutcome{.output_size_bytes = file_size_bytes(request.output), .n_fallback_tensors = 0};
}

void load_imatrix(const fs::path& path, std::map<std::string, std::vector<float>>& values) {
  require_readable_file(path, "imatrix");
#if UAQF_LLAMA_HAVE_COMMON
  common_imatrix loaded;
  llama_log::clear_errors();
  if (!common_imatrix_load(path.string(), loaded)) {
    throw Error(ErrorCode::kInvalidArgument,
                with_engine_reason(fmt::format("{} is not a readable importance matrix", path.string())));
  }
  // Mean squared activations per column: GGUF imatrix files store sums and counts per expert,
  // legacy files store sums scaled by the call count (as llama-quantize reads them).
  for (const auto& [name, entry] : loaded.entries) {
    auto& out = values[name];
    out.resize(entry.sums.size());
    if (!loaded.is_legacy) {
      const std::size_t n_counts = std::max<std::size_t>(1, entry.counts.size());
      const std::size_t row = entry.sums.size() / n_counts;
      for (std::size_t j = 0; j < n_counts; ++j) {
        const float count = entry.counts.empty() ? 0.0f : static_cast<float>(entry.counts[j]);
        for (std::size_t i = 0; i < row; ++i) {
          out[j * row + i] = count > 0 ? entry.sums[j * row + i] / count : 1.0f;
        }
      }
    } else {
      const float calls = entry.counts.empty() ? 0.0f : static_cast<float>(entry.counts[0]);
      for (std::size_t i = 0; i < entry.sums.size(); ++i) {
        out[i] = calls > 0 ? entry.sums[i] / calls : entry.sums[i];
      }
    }
  }
#else
  (void)values;
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("--imatrix needs the bundled llama.cpp build (this uaqf uses a system llama.cpp): {}",
                          path.string()));
#endif
}

}  // namespace

bool quantize_needs_imatrix(const fs::path& input, const std::string& type) {
  const auto quant = find_quant_type(all_quant_types(), type);
  if (!quant) {
    return false;
  }
  // A dry run computes the plan without quantizing and reports whether an imatrix is needed.
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.ftype = static_cast<llama_ftype>(quant->id);
  params.dry_run = true;
  bool needs = false;
  llama_log::clear_errors();
  llama_log::set_line_hook([&needs](const std::string& line) {
    if (line.find("will require an imatrix") != std::string::npos) {
      needs = true;
    }
  });
  const uint32_t status = llama_model_quantize(input.c_str(), "/dev/null", &params);
  llama_log::set_line_hook(nullptr);
  if (status != 0) {
    throw Error(ErrorCode::kEngine,
                with_engine_reason(fmt::format("cannot plan {} quantization of {}", quant->name, input.string())));
  }
  return needs;
}

QuantizeOutcome quantize(const QuantizeRequest& request, const ProgressFn& progress) {
  const auto quant = find_quant_type(all_quant_types(), request.type);
  if (!quant) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown quantization type '{}'", request.type));
  }
  if (request.tile_rows) {
    return quantize_tiled(request, static_cast<llama_ftype>(quant->id), progress);
  }
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.nthread = request.n_threads;
  params.ftype = static_cast<llama_ftype>(quant->id);

  std::map<std::string, std::vector<float>> imatrix_values;
  std::vector<llama_model_imatrix_data> imatrix_entries;
  if (request.imatrix) {
    load_imatrix(*request.imatrix, imatrix_values);
    for (const auto& [name, values] : imatrix_values) {
      imatrix_entries.push_back({name.c_str(), values.data(), values.size()});
    }
    imatrix_entries.push_back({nullptr, nullptr, 0});
    params.imatrix = imatrix_entries.data();
  }

  QuantizeOutcome outcome;
  static const std::regex tensor_line(R"(^\[\s*(\d+)/\s*(\d+)\])");
  static const std::regex fallback_line(R"((\d+) of (\d+) tensor\(s\) required fallback)");
  llama_log::clear_errors();
  llama_log::set_line_hook([&](const std::string& line) {
    std::smatch match;
    if (progress && std::regex_search(line, match, tensor_line)) {
      progress(std::stol(match[1]), std::stol(match[2]));
    } else if (std::regex_search(line, match, fallback_line)) {
      outcome.n_fallback_tensors = std::stoi(match[1]);
    }
  });
  errno = 0;
  const uint32_t status = llama_model_quantize(request.input.c_str(), request.output.c_str(), &params);
  const int write_errno = errno;
  llama_log::set_line_hook(nullptr);
  if (status != 0 && (write_errno == ENOSPC || write_errno == EDQUOT || write_errno == EROFS || write_errno == EACCES ||
                      write_errno == EIO)) {
    // llama.cpp reports a failed write as "basic_ios::clear: iostream error"; the cause is errno's.
    throw Error(ErrorCode::kIo, fmt::format("quantizing {} to {} failed writing {}: {}", request.input.string(),
                                            quant->name, request.output.string(), std::strerror(write_errno)));
  }
  if (status != 0) {
    throw Error(ErrorCode::kEngine,
                with_engine_reason(fmt::format("quantizing {} to {} failed", request.input.string(), quant->name)));
  }
  outcome.output_size_bytes = file_size_bytes(request.output);
  return outcome;
}

}  // namespace uaqf::backend::llama
