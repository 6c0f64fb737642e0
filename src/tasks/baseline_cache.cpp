#include "tasks/baseline_cache.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"

namespace uaqf::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kMagic[8] = {'U', 'A', 'Q', 'F', 'B', 'A', 'S', 'E'};
constexpr uint32_t kVersion = 2;
constexpr std::size_t kHashBytes = 64;  // hex SHA-256 of everything before it

json key_to_json(const BaselineKey& key) {
  return json{{"baseline_sha256", key.baseline_sha256},
              {"corpus_sha256", key.corpus_sha256},
              {"n_ctx", key.n_ctx},
              {"n_chunks", key.n_chunks},
              {"top_k", key.top_k},
              {"tail_samples", key.tail_samples},
              {"n_vocab", key.n_vocab},
              {"engine_commit", key.engine_commit}};
}

template <typename T>
void append_raw(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
void append_array(std::string& out, const std::vector<T>& values) {
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

class Reader {
 public:
  Reader(const std::string& data, const fs::path& file) : data_(data), file_(file) {}
  template <typename T>
  T read() {
    T value{};
    need(sizeof(T));
    std::memcpy(&value, data_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }
  template <typename T>
  void read_array(std::vector<T>& out, std::size_t count) {
    need(count * sizeof(T));
    out.resize(count);
    std::memcpy(out.data(), data_.data() + offset_, count * sizeof(T));
    offset_ += count * sizeof(T);
  }
  std::string read_string(std::size_t size) {
    need(size);
    std::string text = data_.substr(offset_, size);
    offset_ += size;
    return text;
  }
  std::size_t offset() const { return offset_; }

 private:
  void need(std::size_t bytes) const {
    if (offset_ + bytes > data_.size()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("baseline cache {} is truncated; delete it to rebuild", file_.string()));
    }
  }
  const std::string& data_;
  const fs::path& file_;
  std::size_t offset_ = 0;
};

}  // namespace

fs::path baseline_cache_path(const fs::path& dir, const BaselineKey& key) {
  const std::string digest = sha256_hex(key_to_json(key).dump()).substr(0, 24);
  return dir / fmt::format("baseline-{}-c{}-n{}-k{}.uaqfbase", digest, key.n_ctx, key.n_chunks, key.top_k);
}

std::optional<BaselineDistributions> load_baseline(const fs::path& file, const BaselineKey& key, std::string* why) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    if (why) {
      *why = "no cached baseline";
    }
    return std::nullopt;
  }
  const std::string data = read_text_file(file);
  auto damaged = [&](const std::string& what) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("baseline cache {} is damaged ({}); delete it to rebuild", file.string(), what));
  };
  if (data.size() < sizeof(kMagic) + kHashBytes || std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
    throw damaged("not a uaqf baseline file");
  }
  const std::string body = data.substr(0, data.size() - kHashBytes);
  if (sha256_hex(body) != data.substr(data.size() - kHashBytes)) {
    throw damaged("checksum mismatch");
  }
  Reader reader(body, file);
  reader.read_string(sizeof(kMagic));
  const auto version = reader.read<uint32_t>();
  const auto header_size = reader.read<uint32_t>();
  json header;
  try {
    header = json::parse(reader.read_string(header_size));
  } catch (const json::exception&) {
    throw damaged("unreadable header");
  }
  if (version != kVersion || header.value("key", json()) != key_to_json(key)) {
    if (why) {
      *why = "cached baseline was made for other inputs";
    }
    return std::nullopt;
  }
  BaselineDistributions baseline;
  baseline.top_k = key.top_k;
  const auto n_tokens = header.value("n_tokens", std::size_t{0});
  const auto k = static_cast<std::size_t>(key.top_k);
  baseline.tokens.resize(n_tokens);
  for (auto& token : baseline.tokens) {
    token.nll = reader.read<float>();
    token.top1 = reader.read<int32_t>();
    token.tail_mass = reader.read<float>();
  }
  reader.read_array(baseline.top_ids, n_tokens * k);
  reader.read_array(baseline.top_logprobs, n_tokens * k);
  baseline.tail_samples = key.tail_samples;
  const auto m = static_cast<std::size_t>(key.tail_samples);
  reader.read_array(baseline.tail_ids, n_tokens * m);
  reader.read_array(baseline.tail_logprobs, n_tokens * m);
  if (reader.offset() != body.size()) {
    throw damaged("unexpected trailing data");
  }
  return baseline;
}

void save_baseline(const fs::path& file, const BaselineKey& key, const BaselineDistributions& baseline) {
  std::string out(kMagic, sizeof(kMagic));
  append_raw(out, kVersion);
  const std::string header = json{{"key", key_to_json(key)}, {"n_tokens", baseline.tokens.size()}}.dump();
  append_raw(out, static_cast<uint32_t>(header.size()));
  out += header;
  for (const auto& token : baseline.tokens) {
    append_raw(out, token.nll);
    append_raw(out, token.top1);
    append_raw(out, token.tail_mass);
  }
  append_array(out, baseline.top_ids);
  append_array(out, baseline.top_logprobs);
  append_array(out, baseline.tail_ids);
  append_array(out, baseline.tail_logprobs);
  out += sha256_hex(out);
  write_file_atomic(file, out);
}

CachedBaseline load_or_build_baseline(backend::Model& model, const ChunkPlan& plan, const PerplexityOptions& options,
                                      const BaselineKey& key, const fs::path& cache_dir,
                                      const std::function<void(const std::string&)>& on_build) {
  CachedBaseline cached;
  cached.file = baseline_cache_path(cache_dir, key);
  if (auto loaded = load_baseline(cached.file, key, &cached.why_built)) {
    cached.distributions = std::move(*loaded);
    double nll = 0;
    for (const auto& token : cached.distributions.tokens) {
      nll += token.nll;
    }
    cached.ppl = std::exp(nll / static_cast<double>(std::max<std::size_t>(1, cached.distributions.tokens.size())));
    return cached;
  }
  if (on_build) {
    on_build(cached.why_built);
  }
  const auto result = evaluate_perplexity(model, plan, options, nullptr, &cached.distributions);
  require_writable_dir(cache_dir, "cache");
  save_baseline(cached.file, key, cached.distributions);
  cached.built = true;
  cached.ppl = result.ppl;
  return cached;
}

}  // namespace uaqf::tasks
