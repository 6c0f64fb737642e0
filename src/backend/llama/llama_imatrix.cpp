// Importance matrices through the embedded engine, computed as llama-imatrix (tools/imatrix of the
// pinned llama.cpp) computes them, so that its files and uaqf's are interchangeable: the same
// statistics (per-column sums of squared activations and token counts, accumulated in float in
// the same order), the same chunking and batching, the same GGUF layout.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "backend/llama/llama_internal.h"
#include "backend/llama/llama_log.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "llama-cpp.h"

namespace uaqf::backend::llama {
namespace {

namespace fs = std::filesystem;

struct TensorStats {
  std::vector<float> sums;      // per column (times experts): sum of squared activations
  std::vector<int64_t> counts;  // per expert (one for a dense weight): tokens seen
};

// "CUDA0#blk.0.attn_k.weight#0" -> "blk.0.attn_k.weight": the scheduler prefixes copies of a
// weight made for another backend.
std::string weight_name(const char* name) {
  const char* p = std::strchr(name, '#');
  if (p == nullptr) {
    return name;
  }
  ++p;
  const char* q = std::strchr(p, '#');
  return q == nullptr ? std::string(p) : std::string(p, q);
}

bool all_finite(const float* values, std::size_t n) {
  return std::all_of(values, values + n, [](float v) { return std::isfinite(v); });
}

class Collector {
 public:
  explicit Collector(bool process_output) : process_output_(process_output) {}

  static bool callback(ggml_tensor* t, bool ask, void* user_data) {
    return static_cast<Collector*>(user_data)->collect(t, ask);
  }

  std::map<std::string, TensorStats>& stats() { return stats_; }
  // The first defect seen (non-finite activations, a shape change), or "".
  const std::string& error() const { return error_; }

 private:
  bool collect(ggml_tensor* t, bool ask) {
    const ggml_tensor* weight = t->src[0];
    const ggml_tensor* input = t->src[1];
    const std::string name = weight_name(weight->name);
    if (ask) {
      // As llama-imatrix: every expert product; dense products of block weights (and the output
      // weight when asked) on at least 16 tokens of F32 input.
      if (t->op == GGML_OP_MUL_MAT_ID) {
        return true;
      }
      if (t->op != GGML_OP_MUL_MAT || input->ne[1] < 16 || input->type != GGML_TYPE_F32) {
        return false;
      }
      return name.rfind("blk.", 0) == 0 || (process_output_ && name == "output.weight");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    const char* data = static_cast<const char*>(input->data);
    if (!ggml_backend_buffer_is_host(input->buffer)) {
      host_copy_.resize(ggml_nbytes(input));
      ggml_backend_tensor_get(input, host_copy_.data(), 0, host_copy_.size());
      data = host_copy_.data();
    }
    if (t->op == GGML_OP_MUL_MAT_ID) {
      collect_experts(t, name, data);
    } else {
      collect_dense(weight, input, name, data);
    }
    return true;
  }

  void fail(const std::string& why) {
    if (error_.empty()) {
      error_ = why;
    }
  }

  void collect_dense(const ggml_tensor* weight, const ggml_tensor* input, const std::string& name, const char* data) {
    auto& e = stats_[name];
    const int64_t n_mat = weight->ne[2] * weight->ne[3];
    const int64_t ne0 = input->ne[0];
    if (e.sums.empty()) {
      e.sums.assign(static_cast<std::size_t>(ne0 * n_mat), 0.0F);
      e.counts.assign(1, 0);
    } else if (e.sums.size() != static_cast<std::size_t>(ne0 * n_mat)) {
      fail(fmt::format("{}: input width changed from {} to {} columns", name, e.sums.size(), ne0 * n_mat));
      return;
    }
    for (int64_t i3 = 0; i3 < input->ne[3]; ++i3) {
      for (int64_t i2 = 0; i2 < input->ne[2]; ++i2) {
        const int64_t mat = (i3 % weight->ne[3]) * weight->ne[2] + (i2 % weight->ne[2]);
        float* acc = e.sums.data() + mat * ne0;
        for (int64_t row = 0; row < input->ne[1]; ++row) {
          const auto* x =
              reinterpret_cast<const float*>(data + row * input->nb[1] + i2 * input->nb[2] + i3 * input->nb[3]);
          for (int64_t j = 0; j < ne0; ++j) {
            acc[j] += x[j] * x[j];
          }
        }
      }
    }
    if (!all_finite(e.sums.data(), e.sums.size())) {
      fail(fmt::format("{}: activations are not finite (NaN or inf)", name));
    }
    for (auto& count : e.counts) {
      count += ggml_nrows(input) / n_mat;
    }
  }

  void collect_experts(const ggml_tensor* t, const std::string& name, const char* data) {
    const ggml_tensor* weight = t->src[0];
    const ggml_tensor* input = t->src[1];
    const ggml_tensor* ids = t->src[2];
    const int64_t n_experts = weight->ne[2];
    const int64_t ne0 = input->ne[0];
    const int64_t n_tokens = input->ne[2];
    if (ids->ne[1] != n_tokens || ggml_nrows(input) != input->ne[1] * input->ne[2]) {
      fail(fmt::format("{}: unexpected expert routing shape", name));
      return;
    }
    ids_.resize(ggml_nbytes(ids));
    ggml_backend_tensor_get(ids, ids_.data(), 0, ids_.size());
    auto& e = stats_[name];
    if (e.sums.empty()) {
      e.sums.assign(static_cast<std::size_t>(ne0 * n_experts), 0.0F);
      e.counts.assign(static_cast<std::size_t>(n_experts), 0);
    } else if (e.sums.size() != static_cast<std::size_t>(ne0 * n_experts)) {
      fail(fmt::format("{}: expert input width changed", name));
      return;
    }
    for (int64_t idx = 0; idx < ids->ne[0]; ++idx) {
      for (int64_t row = 0; row < n_tokens; ++row) {
        int32_t expert = 0;
        std::memcpy(&expert, ids_.data() + row * ids->nb[1] + idx * ids->nb[0], sizeof(expert));
        if (expert < 0 || expert >= n_experts) {
          fail(fmt::format("{}: expert id {} out of range", name, expert));
          return;
        }
        const auto* x = reinterpret_cast<const float*>(data + (idx % input->ne[1]) * input->nb[1] + row * input->nb[2]);
        float* acc = e.sums.data() + expert * ne0;
        ++e.counts[static_cast<std::size_t>(expert)];
        for (int64_t j = 0; j < ne0; ++j) {
          acc[j] += x[j] * x[j];
        }
      }
    }
    if (!all_finite(e.sums.data(), e.sums.size())) {
      fail(fmt::format("{}: activations are not finite (NaN or inf)", name));
    }
  }

  bool process_output_;
  std::mutex mutex_;
  std::map<std::string, TensorStats> stats_;
  std::vector<char> host_copy_;
  std::vector<char> ids_;
  std::string error_;
};

// llama-imatrix's GGUF layout: general.type "imatrix", imatrix.datasets / chunk_count /
// chunk_size, and per weight "<name>.in_sum2" [columns, experts] and "<name>.counts" [1, experts].
void write_imatrix(const fs::path& path, const std::map<std::string, TensorStats>& stats,
                   const std::vector<std::string>& datasets, int n_chunks, int chunk_size) {
  std::size_t data_size = 0;
  for (const auto& [name, e] : stats) {
    data_size += GGML_PAD(ggml_tensor_overhead() + sizeof(float) * e.sums.size(), GGML_MEM_ALIGN);
    data_size += GGML_PAD(ggml_tensor_overhead() + sizeof(float) * e.counts.size(), GGML_MEM_ALIGN);
  }
  std::unique_ptr<ggml_context, GgmlDeleter> ctx(ggml_init({data_size + 1024, nullptr, false}));
  std::unique_ptr<gguf_context, GgufDeleter> gguf(gguf_init_empty());
  std::vector<const char*> names;
  names.reserve(datasets.size());
  for (const auto& dataset : datasets) {
    names.push_back(dataset.c_str());
  }
  gguf_set_val_str(gguf.get(), "general.type", "imatrix");
  gguf_set_arr_str(gguf.get(), "imatrix.datasets", names.data(), names.size());
  gguf_set_val_u32(gguf.get(), "imatrix.chunk_count", static_cast<uint32_t>(n_chunks));
  gguf_set_val_u32(gguf.get(), "imatrix.chunk_size", static_cast<uint32_t>(chunk_size));
  for (const auto& [name, e] : stats) {  // std::map: sorted names, as llama-imatrix writes them
    const auto n_mat = static_cast<int64_t>(e.counts.size());
    if (e.sums.empty() || n_mat == 0) {
      continue;
    }
    ggml_tensor* sums =
        ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, static_cast<int64_t>(e.sums.size()) / n_mat, n_mat);
    ggml_tensor* counts = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, 1, n_mat);
    ggml_format_name(sums, "%s.in_sum2", name.c_str());
    ggml_format_name(counts, "%s.counts", name.c_str());
    std::copy(e.sums.begin(), e.sums.end(), static_cast<float*>(sums->data));
    std::transform(e.counts.begin(), e.counts.end(), static_cast<float*>(counts->data),
                   [](int64_t c) { return static_cast<float>(c); });
    gguf_add_tensor(gguf.get(), sums);
    gguf_add_tensor(gguf.get(), counts);
  }
  if (!gguf_write_to_file(gguf.get(), path.c_str(), false)) {
    throw Error(ErrorCode::kIo, fmt::format("cannot write the importance matrix {}", path.string()));
  }
}

// A partial matrix written by an earlier run of the same request: its statistics and chunk count.
int read_partial(const fs::path& path, int chunk_size, std::map<std::string, TensorStats>& stats) {
  gguf_init_params params{.no_alloc = false, .ctx = nullptr};
  ggml_context* raw_ctx = nullptr;
  params.ctx = &raw_ctx;
  std::unique_ptr<gguf_context, GgufDeleter> gguf(gguf_init_from_file(path.c_str(), params));
  std::unique_ptr<ggml_context, GgmlDeleter> ctx(raw_ctx);
  if (!gguf || gguf_string(gguf.get(), "general.type") != "imatrix" ||
      gguf_int(gguf.get(), "imatrix.chunk_size") != chunk_size) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{} is not a partial importance matrix of {}-token chunks", path.string(), chunk_size));
  }
  for (int64_t i = 0; i < gguf_get_n_tensors(gguf.get()); ++i) {
    const std::string tensor = gguf_get_tensor_name(gguf.get(), i);
    const std::string suffix = ".in_sum2";
    if (tensor.size() <= suffix.size() || tensor.compare(tensor.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const std::string name = tensor.substr(0, tensor.size() - suffix.size());
    const ggml_tensor* sums = ggml_get_tensor(ctx.get(), tensor.c_str());
    const ggml_tensor* counts = ggml_get_tensor(ctx.get(), (name + ".counts").c_str());
    if (sums == nullptr || counts == nullptr) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: {} has no counts", path.string(), name));
    }
    auto& e = stats[name];
    const auto* s = static_cast<const float*>(sums->data);
    const auto* c = static_cast<const float*>(counts->data);
    e.sums.assign(s, s + ggml_nelements(sums));
    e.counts.resize(static_cast<std::size_t>(ggml_nelements(counts)));
    std::transform(c, c + ggml_nelements(counts), e.counts.begin(), [](float v) { return std::llround(v); });
  }
  return static_cast<int>(gguf_int(gguf.get(), "imatrix.chunk_count"));
}

struct ChunkPlan {
  int n_ctx = 0;
  int n_seq = 1;  // chunks per engine pass
  int n_chunks = 0;
};

ChunkPlan plan_chunks(const ImatrixRequest& request, std::size_t n_tokens) {
  if (request.n_ctx < 16) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("--ctx {} is too small (at least 16 tokens)", request.n_ctx));
  }
  ChunkPlan plan{.n_ctx = request.n_ctx, .n_seq = std::max(1, request.n_batch / request.n_ctx)};
  if (n_tokens < static_cast<std::size_t>(2 * request.n_ctx)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("the calibration text {} has {} tokens; at least {} are needed (two chunks of {})",
                            request.dataset_name, n_tokens, 2 * request.n_ctx, request.n_ctx));
  }
  const int available = static_cast<int>(n_tokens / static_cast<std::size_t>(request.n_ctx));
  plan.n_chunks = request.n_chunks < 0 ? available : std::min(request.n_chunks, available);
  return plan;
}

// One chunk group: chunks [first, first + n) of `tokens`, each its own sequence, every position's
// output requested, in passes of at most n_batch tokens (several passes only for a single chunk
// longer than n_batch), as llama-imatrix does.
void run_chunks(llama_context* ctx, const llama_vocab* vocab, const std::vector<llama_token>& tokens,
                const ChunkPlan& plan, int first, int n) {
  llama_memory_clear(llama_get_memory(ctx), true);
  const int n_batch = static_cast<int>(llama_n_batch(ctx));
  const int n_passes = (plan.n_ctx + n_batch - 1) / n_batch;
  llama_batch batch = llama_batch_init(std::min(n_batch, plan.n_ctx * n), 0, 1);
  std::unique_ptr<llama_batch, void (*)(llama_batch*)> guard(&batch, [](llama_batch* b) { llama_batch_free(*b); });
  const bool add_bos = llama_vocab_get_add_bos(vocab);
  for (int pass = 0; pass < n_passes; ++pass) {
    const int pass_start = pass * n_batch;
    const int pass_tokens = std::min(plan.n_ctx - pass_start, n_batch);
    batch.n_tokens = 0;
    for (int seq = 0; seq < n; ++seq) {
      const std::size_t start = static_cast<std::size_t>(first + seq) * static_cast<std::size_t>(plan.n_ctx) +
                                static_cast<std::size_t>(pass_start);
      for (int k = 0; k < pass_tokens; ++k) {
        const int i = batch.n_tokens++;
        batch.token[i] =
            (pass == 0 && k == 0 && add_bos) ? llama_vocab_bos(vocab) : tokens[start + static_cast<std::size_t>(k)];
        batch.pos[i] = pass_start + k;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = seq;
        batch.logits[i] = 1;
      }
    }
    if (llama_decode(ctx, batch) != 0) {
      throw Error(ErrorCode::kEngine,
                  with_engine_reason(fmt::format("decoding calibration chunks {}..{} failed", first + 1, first + n)));
    }
  }
}

std::vector<llama_token> tokenize_calibration(const llama_vocab* vocab, const std::string& text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int32_t>::max() / 2)) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("calibration text of {} bytes is too large", text.size()));
  }
  const auto len = static_cast<int32_t>(text.size());
  std::vector<llama_token> tokens(text.size() + 2);
  int32_t n = llama_tokenize(vocab, text.data(), len, tokens.data(), static_cast<int32_t>(tokens.size()), true, false);
  if (n < 0) {
    tokens.resize(static_cast<std::size_t>(-n));
    n = llama_tokenize(vocab, text.data(), len, tokens.data(), static_cast<int32_t>(tokens.size()), true, false);
  }
  if (n < 0) {
    throw Error(ErrorCode::kEngine, "tokenizing the calibration text failed");
  }
  tokens.resize(static_cast<std::size_t>(n));
  return tokens;
}

}  // namespace

ImatrixOutcome compute_imatrix(const ImatrixRequest& request, const ImatrixProgressFn& progress) {
  llama_model_params model_params = llama_model_default_params();
  model_params.n_gpu_layers = request.n_gpu_layers;
  llama_log::clear_errors();
  llama_model_ptr model(llama_model_load_from_file(request.model.c_str(), model_params));
  if (!model) {
    throw Error(ErrorCode::kEngine, with_engine_reason(fmt::format("failed to load model {}", request.model.string())));
  }
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  // As llama-imatrix reads its -f file: one trailing newline dropped, BOS added, special tokens as text.
  std::string_view text = request.calibration_text;
  if (!text.empty() && text.back() == '\n') {
    text.remove_suffix(1);
  }
  const auto tokens = tokenize_calibration(vocab, std::string(text));
  const ChunkPlan plan = plan_chunks(request, tokens.size());

  Collector collector(request.process_output);
  ImatrixOutcome outcome;
  outcome.n_text_tokens = static_cast<int64_t>(tokens.size());
  if (request.resume && fs::exists(request.output)) {
    outcome.n_chunks_resumed = std::min(read_partial(request.output, plan.n_ctx, collector.stats()), plan.n_chunks);
  }
  llama_context_params params = llama_context_default_params();
  params.n_ctx = static_cast<uint32_t>(plan.n_ctx * plan.n_seq);
  params.n_seq_max = static_cast<uint32_t>(plan.n_seq);
  params.n_batch = static_cast<uint32_t>(std::min(request.n_batch, plan.n_ctx * plan.n_seq));
  params.n_ubatch = std::min(params.n_ubatch, params.n_batch);
  const int n_threads = request.n_threads > 0 ? request.n_threads : physical_core_count();
  params.n_threads = n_threads;
  params.n_threads_batch = n_threads;
  params.cb_eval = &Collector::callback;
  params.cb_eval_user_data = &collector;
  llama_context_ptr ctx(llama_init_from_model(model.get(), params));
  if (!ctx) {
    throw Error(ErrorCode::kEngine, with_engine_reason(fmt::format("{}: cannot create a context of {} tokens",
                                                                   request.model.filename().string(), params.n_ctx)));
  }
  const std::vector<std::string> datasets{request.dataset_name};
  int done = outcome.n_chunks_resumed;
  int since_save = 0;
  if (progress) {
    progress(done, plan.n_chunks);
  }
  while (done < plan.n_chunks) {
    const int n = std::min(plan.n_seq, plan.n_chunks - done);
    run_chunks(ctx.get(), vocab, tokens, plan, done, n);
    if (!collector.error().empty()) {
      throw Error(ErrorCode::kEngine, fmt::format("{}: {}", request.model.filename().string(), collector.error()));
    }
    done += n;
    since_save += n;
    if (request.save_every_chunks > 0 && since_save >= request.save_every_chunks && done < plan.n_chunks) {
      write_imatrix(request.output, collector.stats(), datasets, done, plan.n_ctx);
      since_save = 0;
    }
    if (progress) {
      progress(done, plan.n_chunks);
    }
  }
  write_imatrix(request.output, collector.stats(), datasets, done, plan.n_ctx);
  outcome.n_chunks = done;
  outcome.n_tokens = static_cast<int64_t>(done) * plan.n_ctx;
  outcome.n_entries = static_cast<int>(collector.stats().size());
  return outcome;
}

}  // namespace uaqf::backend::llama
