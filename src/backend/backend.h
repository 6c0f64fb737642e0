#pragma once

// The engine interface every measurement goes through. Only backend/llama includes llama.h;
// perf, tasks and the CLI see these types alone, and tests use backend/fake.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace uaqf::backend {

using Token = int32_t;

// Facts about a model file, known without (inspect) or after (load) loading its weights.
struct ModelInfo {
  std::filesystem::path path;
  uint64_t file_size_bytes = 0;
  uint64_t n_params = 0;
  uint64_t weights_size_bytes = 0;  // bytes of all tensors, as llama-bench's "size"
  double bits_per_weight = 0;       // weights_size_bytes * 8 / n_params
  std::string architecture;         // e.g. "llama"
  std::string type_name;            // weight type, e.g. "Q4_K - Medium"
  std::string description;          // engine's one-line description, e.g. "llama ?B Q4_0"
  bool synthetic = false;           // random weights (uaqf synth): speed and memory only
  int32_t n_vocab = 0;
  std::string vocab_fingerprint;  // hash of the token texts: equal means the same vocabulary
  int32_t n_ctx_train = 0;
  int32_t n_layer = 0;
  int32_t n_embd = 0;
  // Weight bytes read for each generated token: every tensor but the token embeddings, of which
  // one row is read (unless the output layer shares them).
  uint64_t decode_weight_bytes = 0;
  // K and V of one cached token over all layers, at the KV type of the model's context options (0
  // before loading).
  uint64_t kv_bytes_per_token = 0;
};

enum class FlashAttention { kAuto, kOn, kOff };

std::string to_string(FlashAttention mode);
FlashAttention parse_flash_attention(const std::string& text);  // auto|on|off; throws Error

// How llama.cpp spreads a model over several devices (its --split-mode).
enum class SplitMode { kNone, kLayer, kRow, kTensor };

std::string to_string(SplitMode mode);
SplitMode parse_split_mode(const std::string& text);  // none|layer|row|tensor; throws Error

// n_gpu_layers values that are not a count.
inline constexpr int kGpuLayersAll = -1;
// As many layers as fit in the devices' free memory with the variant's context: resolved to a
// count before the load (Engine::fit_placement), and the count recorded.
inline constexpr int kGpuLayersAuto = -2;

// "all", "auto" or the count; and back (throws Error naming `option`).
std::string gpu_layers_to_string(int n_gpu_layers);
int parse_gpu_layers(const std::string& text, const std::string& option);

// Settings that need the weights loaded again when they change: variants that differ in these
// cannot share one load. The placement fields are spelled as llama.cpp's tools spell them.
struct LoadOptions {
  int n_gpu_layers = kGpuLayersAll;          // a count, kGpuLayersAll or kGpuLayersAuto (--gpu-layers)
  SplitMode split_mode = SplitMode::kLayer;  // --split-mode
  std::vector<float> tensor_split;           // --tensor-split: share per device; empty: by free memory
  int main_gpu = 0;                          // --main-gpu
  // --device: the devices to use, by name ("CUDA0", "RPC1"); empty: all (RPC servers' included).
  std::vector<std::string> devices;
  // --rpc: running rpc-servers (host:port) whose devices join the local ones.
  std::vector<std::string> rpc_servers;
  // rpc-server processes uaqf starts on 127.0.0.1 for this load (one per local GPU, else on the
  // CPU) and stops again; their devices are then the only ones used. 0: none.
  int managed_rpc_servers = 0;
  // llama.cpp's CPU weight repacking (faster kernels for Q4_0, Q4_K, ...); its one-row and
  // many-row kernels sum in different orders, so batch-invariant evaluation turns it off.
  bool weight_repack = true;
  bool operator==(const LoadOptions&) const = default;
  // The non-default placement settings as llama.cpp flags ("--gpu-layers auto --rpc h:p"), "" when
  // all are default.
  std::string placement_flags() const;
};

// Settings a new context (KV cache and compute buffers) takes on an already loaded model:
// variants that differ only in these share one load.
struct ContextOptions {
  int n_threads = 0;  // 0: the engine's default (physical cores)
  int n_batch = 2048;
  int n_ubatch = 512;
  std::string kv_cache_type = "f16";  // f16, q8_0, q4_0, ... (applies to K and V)
  FlashAttention flash_attention = FlashAttention::kAuto;
  bool operator==(const ContextOptions&) const = default;
};

// Everything a variant runs with (recorded with every result): what its load needs and what its
// contexts need.
struct RuntimeOptions : LoadOptions, ContextOptions {
  const LoadOptions& load_options() const { return *this; }
  const ContextOptions& context_options() const { return *this; }
};

// The logits the model produced for one token of one sequence; valid only inside the callback
// that receives it.
struct TokenLogits {
  std::size_t sequence = 0;
  int32_t position = 0;
  const float* logits = nullptr;  // n_vocab values
};

// Receives the logits of one engine pass at a time, so that callers can process a block in
// parallel while the engine is idle.
using LogitsBlockFn = std::function<void(std::span<const TokenLogits>)>;

// A token's log-probability given everything before it, and whether it was the model's top pick.
struct TokenScore {
  float log_prob = 0;
  bool is_greedy = false;
};

// Called after each generated token, the end-of-generation one included: (sequence, tokens generated
// so far); true stops that sequence.
using StopFn = std::function<bool(std::size_t, const std::vector<Token>&)>;

// Where one buffer type of a context's memory lives, and how much of it: the model's weights,
// the context (KV cache) and the compute buffers (llama.cpp's memory breakdown).
struct MemoryPlacement {
  std::string buffer;  // llama.cpp's buffer type name: "CPU", "CPU_REPACK", "CUDA0", "RPC0[127.0.0.1:50052]"
  std::string device;  // the device it belongs to ("CPU", "CUDA0", "RPC0"; "CUDA0+CUDA1" split over both)
  bool host = false;   // host memory (CPU buffers, pinned host buffers of a GPU)
  uint64_t weights_bytes = 0;
  uint64_t kv_bytes = 0;
  uint64_t compute_bytes = 0;
};

// One KV cache and its compute buffers on a loaded model. decode() grows sequence 0;
// eval_sequences() runs several independent sequences side by side.
class Context {
 public:
  virtual ~Context() = default;
  virtual uint32_t n_ctx() const = 0;
  virtual uint32_t n_past() const = 0;
  // Empties the KV cache.
  virtual void clear() = 0;
  // Appends `tokens` to the sequence and evaluates them (in batches of n_batch); returns once the
  // device has finished. Throws Error when the context is full or the engine fails.
  virtual void decode(std::span<const Token> tokens) = 0;
  // Arg-max of the next-token distribution after the last decoded token.
  virtual Token greedy_next() const = 0;
  // Empties the cache, then evaluates each sequence from position 0 as its own sequence (at most
  // n_seq of the context, each at most n_ctx / n_seq long) and hands out the logits of every
  // position >= logits_from, in passes of at most n_batch tokens.
  virtual void eval_sequences(std::span<const std::vector<Token>> sequences, int32_t logits_from,
                              const LogitsBlockFn& on_block) = 0;
  // One engine pass that appends tokens[i] to sequence i at positions[i] (the sequences filled
  // before, e.g. by eval_sequences), as a server decoding for several users at once does. The logits
  // are computed, not read.
  virtual void decode_parallel(std::span<const Token> tokens, std::span<const int32_t> positions) = 0;
  // Where the weights, this context's KV cache and its compute buffers live (empty when the
  // engine cannot say).
  virtual std::vector<MemoryPlacement> memory_placement() const { return {}; }
  // Empties the cache, evaluates `prefix` once, then each suffix as its own sequence continuing
  // it (the prefix's cache is shared, so the context needs unified_kv), and scores every suffix
  // token. The prefix must not be empty.
  virtual std::vector<std::vector<TokenScore>> score_suffixes(const std::vector<Token>& prefix,
                                                              std::span<const std::vector<Token>> suffixes) = 0;
  // score_suffixes for several independent groups at once (e.g. several multiple-choice items):
  // every group's prefix and suffixes get sequences of their own, packed into shared engine passes.
  // The context needs as many sequences as there are suffixes in all groups. Returns, per group,
  // what score_suffixes returns, except that each suffix's scores begin with those of the prefix's
  // last `scored_prefix_tokens` tokens (choices that begin alike: their common tokens are evaluated
  // once and still scored). The default runs the groups one after the other.
  struct SuffixGroup {
    std::vector<Token> prefix;
    std::vector<std::vector<Token>> suffixes;
    std::size_t scored_prefix_tokens = 0;  // at most prefix.size() - 1: the first token has no score
  };
  virtual std::vector<std::vector<std::vector<TokenScore>>> score_suffix_groups(std::span<const SuffixGroup> groups) {
    std::vector<std::vector<std::vector<TokenScore>>> scores;
    for (const auto& group : groups) {
      // The scored prefix tokens move into every suffix: the same scores, without the sharing.
      const auto cut = group.prefix.size() - std::min(group.scored_prefix_tokens, group.prefix.size() - 1);
      const std::vector<Token> prefix(group.prefix.begin(), group.prefix.begin() + static_cast<std::ptrdiff_t>(cut));
      std::vector<std::vector<Token>> suffixes;
      for (const auto& suffix : group.suffixes) {
        auto& joined =
            suffixes.emplace_back(group.prefix.begin() + static_cast<std::ptrdiff_t>(cut), group.prefix.end());
        joined.insert(joined.end(), suffix.begin(), suffix.end());
      }
      scores.push_back(score_suffixes(prefix, suffixes));
    }
    return scores;
  }
  // Empties the cache and continues every prompt greedily, side by side, until its end-of-generation
  // token, `max_new_tokens`, or `should_stop` says so. Returns the generated tokens (without the
  // end-of-generation token).
  virtual std::vector<std::vector<Token>> generate_greedy(std::span<const std::vector<Token>> prompts,
                                                          int max_new_tokens, const StopFn& should_stop) = 0;
};

// Text to tokens with a model's vocabulary.
class Vocabulary {
 public:
  virtual ~Vocabulary() = default;
  // add_special adds BOS (and EOS) where the vocabulary asks for them.
  virtual std::vector<Token> tokenize(const std::string& text, bool add_special) const = 0;
  virtual std::string detokenize(std::span<const Token> tokens) const = 0;
  // The prompt for one user message through the model's chat template (or `override_template`, a
  // template text or a name llama.cpp knows such as "chatml"); nullopt when there is none.
  virtual std::optional<std::string> apply_chat_template(const std::string& user_message,
                                                         const std::optional<std::string>& override_template) const = 0;
  // A chat template's output as the model expects it: its special markers (<|im_start|>, </s>, ...)
  // parsed as the special tokens they name, BOS added where the vocabulary asks for it unless the
  // text already begins with it (BOS never doubled).
  virtual std::vector<Token> tokenize_chat(const std::string& templated) const = 0;
};

// How a context is laid out.
struct ContextSpec {
  uint32_t n_ctx = 0;
  uint32_t n_seq = 1;
  bool unified_kv = false;
  // This context's own setting; unset: the model's runtime options.
  std::optional<FlashAttention> flash_attention;
};

class Model : public Vocabulary {
 public:
  virtual const ModelInfo& info() const = 0;
  virtual int32_t n_vocab() const = 0;
  // The token a sequence starts with when the vocabulary adds one.
  virtual std::optional<Token> bos() const = 0;
  // n_ctx is the total cache size, shared by n_seq parallel sequences: split evenly between them,
  // or (unified_kv) one pool that sequences can share cells of.
  std::unique_ptr<Context> new_context(uint32_t n_ctx, uint32_t n_seq = 1, bool unified_kv = false) {
    return open_context({.n_ctx = n_ctx, .n_seq = n_seq, .unified_kv = unified_kv});
  }
  // A context with this model's context options (those it was loaded or bound with).
  std::unique_ptr<Context> open_context(const ContextSpec& spec) { return open_context_with(spec, context_options()); }
  virtual std::unique_ptr<Context> open_context_with(const ContextSpec& spec, const ContextOptions& options) = 0;
  virtual const ContextOptions& context_options() const = 0;
  virtual const LoadOptions& load_options() const = 0;
  // Bytes of K and V that one cached token takes over all layers with these context options.
  virtual uint64_t kv_bytes_per_token(const ContextOptions& options) const = 0;
  // Whether a sequence's logits are bit-identical however many other sequences share its engine
  // passes, given separate cache streams and no flash attention, so that batched generation
  // reproduces one prompt at a time. False where the kernels change with batch width (llama.cpp's
  // tinyBLAS CPU path for two or more rows, repacked weights (LoadOptions::weight_repack), or
  // a GPU).
  virtual bool batch_invariant_kernels() const = 0;
};

// `model` seen with other context options: what a variant that differs from another only in its
// context settings measures, without loading the weights again. The view borrows `model`, which
// must outlive it.
std::unique_ptr<Model> with_context_options(Model& model, ContextOptions options);
// The same, owning the model.
std::unique_ptr<Model> with_context_options(std::unique_ptr<Model> model, ContextOptions options);

// What an engine can do. Planning checks every unit's needs against these before any work.
enum class Capability {
  kTokenDecode,     // raw decode of token ids, for prefill/decode timing
  kGenerate,        // text continuations (every engine)
  kStreaming,       // generated tokens arrive one by one, with their arrival times
  kFullLogits,      // the whole next-token distribution at every position (perplexity, KLD)
  kPromptLogprobs,  // log-probabilities of given tokens (multiple choice, rolling log-likelihood)
  kTopLogprobs,     // top-k log-probabilities of generated tokens only
  kQuantize,        // writes quantized variants of a model file
  kDeviceMemory,    // reports accelerator memory in use
  kSynthesize,      // writes random-weight models of real shapes
  kImatrix,         // computes importance matrices from calibration text
};
std::string to_string(Capability capability);

struct Capabilities {
  std::vector<Capability> supported;
  bool has(Capability capability) const;
};

// A unit of work's need, and why it has it (shown when the engine lacks it).
struct Need {
  Capability capability;
  std::string reason;  // e.g. "kld" or "the prompt workload"
};

// Throws Error (kInvalidArgument) naming the variant, the first need the engine lacks and the
// engine, before any work starts.
void require_capabilities(const Capabilities& capabilities, const std::vector<Need>& needs, const std::string& variant,
                          const std::string& engine);

struct QuantType {
  std::string name;  // canonical upper-case name, e.g. "Q4_K_M"
  int32_t id = 0;    // engine's own id
  std::string description;
};

struct QuantizeRequest {
  std::filesystem::path input;
  std::filesystem::path output;
  std::string type;  // a QuantType name
  std::optional<std::filesystem::path> imatrix;
  int n_threads = 0;
  // For synthetic (random) weights, whose values mean nothing: each tensor gets llama.cpp's type
  // for it, but only a few distinct rows are quantized and then repeated. Same file layout, size
  // and speed as a full quantization, in the time it takes to write the file.
  bool tile_rows = false;
};

struct QuantizeOutcome {
  uint64_t output_size_bytes = 0;
  int n_fallback_tensors = 0;
};

// Called with (tensors done, tensors total).
using ProgressFn = std::function<void(long, long)>;

// An importance matrix as llama-imatrix computes it: for every matrix multiplication with a weight
// of a transformer block, the sum over tokens of each input column's squared activation, and the
// token count. The text is cut into chunks of n_ctx tokens (the first token of each replaced by
// BOS where the model adds one), chunks run max(1, n_batch / n_ctx) at a time as separate
// sequences with every position's output requested (so that the last layer sees every token).
struct ImatrixRequest {
  std::filesystem::path model;
  std::string calibration_text;
  std::string dataset_name;  // recorded in the file (imatrix.datasets)
  std::filesystem::path output;
  int n_ctx = 512;    // tokens per chunk
  int n_chunks = -1;  // at most; -1: every whole chunk of the text
  int n_batch = 2048;
  int n_threads = 0;
  int n_gpu_layers = -1;
  bool process_output = false;  // also output.weight (llama-imatrix --process-output)
  // Resume: `output` holds a partial matrix of this request whose chunks are not done again.
  bool resume = false;
  // Chunks between writes of `output` (a resumable record); 0: only at the end.
  int save_every_chunks = 10;
};

struct ImatrixOutcome {
  int n_chunks = 0;           // chunks in the matrix (resumed ones included)
  int n_chunks_resumed = 0;   // of which were read back from a partial matrix
  int64_t n_tokens = 0;       // calibration tokens the matrix was computed from
  int64_t n_text_tokens = 0;  // tokens of the whole calibration text
  int n_entries = 0;          // weight tensors with statistics
};

// Called with (chunks done, chunks total): first before any work (the chunks read back from a
// partial matrix), then after every engine pass.
using ImatrixProgressFn = std::function<void(int, int)>;

// The architecture numbers of a LLaMA-type model, for synthetic models of real shapes.
struct ModelShape {
  std::string name;
  int32_t n_vocab = 32000;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t n_ff = 0;
  int32_t n_ctx = 4096;
  float rope_freq_base = 10000.0F;
  float rms_norm_eps = 1e-5F;
};

struct SynthRequest {
  ModelShape shape;
  std::filesystem::path output;
  std::filesystem::path vocabulary;  // a GGUF whose tokenizer is copied; its size must equal n_vocab
  uint64_t seed = 1;
};

struct DeviceInfo {
  std::string name;
  std::string description;
  std::string type;  // cpu, gpu, igpu, accel
  uint64_t memory_total_bytes = 0;
  uint64_t memory_free_bytes = 0;
};

struct EngineInfo {
  std::string name;    // "llama.cpp"
  std::string commit;  // source commit of the engine build
  // Which build of the engine ran: "source ..." with the compile flags, or "prebuilt ..." with the
  // CPU variant ggml loaded at run time (manifest key engine_build).
  std::string build;
  std::string system_info;
  std::vector<DeviceInfo> devices;
  int default_threads = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual EngineInfo describe() const = 0;
  virtual Capabilities capabilities() const = 0;
  // Checks that `path` is a complete model file the engine can read, without loading weights.
  // Throws Error naming the file and the defect (missing, not GGUF, truncated, ...).
  virtual ModelInfo inspect(const std::filesystem::path& path) = 0;
  // Loads the weights; the model's contexts open with default ContextOptions until bound to
  // others (with_context_options). Counting calls to this counts weight loads.
  virtual std::unique_ptr<Model> load_weights(const std::filesystem::path& path, const LoadOptions& options) = 0;
  // `options` with n_gpu_layers kGpuLayersAuto resolved: the most layers of `path` that fit in the
  // free memory of the devices `options` place it on, with a context of `n_ctx` tokens and
  // `context`'s settings (and, over several devices, the split that fits), as llama.cpp's own fit
  // finds them; 0 layers when none fit. Other options come back as they are. Throws Error when it
  // cannot be estimated.
  virtual LoadOptions fit_placement(const std::filesystem::path& path, const LoadOptions& options,
                                    const ContextOptions& context, uint32_t n_ctx) = 0;
  // Loads the weights and binds the context options: a model that runs as `options` say.
  // Throws Error naming the setting when a context could never open with `options` (e.g. an unknown
  // KV-cache type): checked before any model is loaded.
  virtual void check_context_options(const ContextOptions& /*options*/) const {}
  std::unique_ptr<Model> load(const std::filesystem::path& path, const RuntimeOptions& options) {
    check_context_options(options.context_options());
    return with_context_options(load_weights(path, options.load_options()), options.context_options());
  }
  // The model's vocabulary alone, without its weights: cheap checks before work.
  virtual std::unique_ptr<Vocabulary> load_vocabulary(const std::filesystem::path& path) = 0;
  // Writes an F16 GGUF of `request.shape` with random weights (not zeros) and the vocabulary's
  // tokenizer, marked synthetic (general key uaqf.synthetic).
  virtual void synthesize(const SynthRequest& request) = 0;
  // Memory in use on the accelerators (all processes), in bytes; nullopt without one.
  virtual std::optional<uint64_t> device_memory_used_bytes() const = 0;
  // Measured read bandwidth (bytes per second streamed through a large matrix-vector product,
  // best of a few runs) of the memory that holds the weights under `runtime`: the GPU's when
  // layers are offloaded to one, else the host's; nullopt when it cannot be measured.
  virtual std::optional<double> memory_bandwidth_bytes_per_s(const RuntimeOptions& /*runtime*/) { return std::nullopt; }
  virtual std::vector<QuantType> quant_types() const = 0;
  // Whether quantizing `input` to `type` cannot succeed without an importance matrix.
  virtual bool quantize_needs_imatrix(const std::filesystem::path& input, const std::string& type) = 0;
  // Writes request.output directly; the caller makes it atomic (partial file, then rename).
  virtual QuantizeOutcome quantize(const QuantizeRequest& request, const ProgressFn& progress) = 0;
  // Writes request.output (llama-imatrix's GGUF format), also every save_every_chunks chunks.
  // Throws Error when the engine cannot (Capability::kImatrix) or the text is shorter than two chunks.
  virtual ImatrixOutcome compute_imatrix(const ImatrixRequest& request, const ImatrixProgressFn& progress);
};

// Finds `name` among `types` ignoring case; nullopt when unknown.
std::optional<QuantType> find_quant_type(const std::vector<QuantType>& types, const std::string& name);

}  // namespace uaqf::backend
