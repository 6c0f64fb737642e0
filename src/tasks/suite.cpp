#include "tasks/suite.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"
#include "stats/summary.h"

namespace uaqf::tasks {
namespace {

using backend::Token;
using nlohmann::json;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TaskMetric mean_metric(const std::string& name, const std::vector<double>& values) {
  TaskMetric metric{.name = name, .n = values.size()};
  if (values.empty()) {
    return metric;
  }
  const auto summary = stats::summarize(values);
  metric.value = summary.mean;
  metric.stderr_value = summary.sem.value_or(0);
  return metric;
}

std::size_t utf8_length(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string prompt_hash(const std::string& text) { return sha256_hex(text).substr(0, 16); }

}  // namespace

std::size_t acc_norm_length(const std::string& continuation) {
  // lm-evaluation-harness divides by len(choice), the choice without the target delimiter (" ")
  // that precedes it in the continuation.
  const std::size_t length = utf8_length(continuation);
  return continuation.starts_with(' ') ? length - 1 : length;
}

double acc_norm_score(double loglikelihood, const std::string& continuation) {
  return loglikelihood / static_cast<double>(std::max<std::size_t>(1, acc_norm_length(continuation)));
}

namespace {

// A context of n_ctx cells for n_seq sequences: one unified cache (a shared beginning is stored
// once and its cells shared), or, batch-invariant, a stream per sequence, so that each sequence's
// cells sit where they would sit alone, and no flash attention, whose CPU kernel changes its
// summation with the number of queries.
backend::ContextSpec context_layout(std::size_t n_ctx, std::size_t n_seq, bool batch_invariant) {
  backend::ContextSpec spec{
      .n_ctx = static_cast<uint32_t>(n_ctx), .n_seq = static_cast<uint32_t>(n_seq), .unified_kv = !batch_invariant};
  if (batch_invariant) {
    spec.flash_attention = backend::FlashAttention::kOff;
  }
  return spec;
}

std::size_t argmax(const std::vector<double>& values) {
  return static_cast<std::size_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

struct PreparedItem {
  std::vector<std::vector<Token>> full;  // context + continuation, per choice
  std::vector<std::size_t> context_length;
  std::size_t common_prefix = 0;  // of all choices' tokens
  // Evaluated once: the common prefix, less at least one token of each choice. Choices that begin
  // alike (PIQA's solutions often do) share their common tokens too, which are scored from the
  // shared pass: every position from scored_from on is scored.
  std::size_t shared = 0;
  std::size_t scored_from = 0;
};

PreparedItem prepare(const backend::Model& model, const McItem& item) {
  if (item.choices.empty()) {  // check_mc_items refuses such data when it is read; never index into none
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: item {} has no choices", item.where, item.id));
  }
  PreparedItem prepared;
  for (const auto& choice : item.choices) {
    prepared.full.push_back(model.tokenize(choice.context + choice.continuation, true));
    // lm-evaluation-harness: the continuation's tokens are those of context+continuation after
    // the context's own tokens.
    prepared.context_length.push_back(model.tokenize(choice.context, true).size());
  }
  std::size_t lcp = prepared.full[0].size();
  for (const auto& tokens : prepared.full) {
    std::size_t k = 0;
    while (k < lcp && k < tokens.size() && tokens[k] == prepared.full[0][k]) {
      ++k;
    }
    lcp = k;
  }
  prepared.common_prefix = lcp;
  // Scores are needed from the first continuation token (lm-evaluation-harness) or the first
  // token after the common prefix (llama.cpp), whichever comes first.
  std::size_t shared = lcp;
  std::size_t scored_from = lcp;
  for (std::size_t c = 0; c < prepared.full.size(); ++c) {
    shared = std::min(shared, prepared.full[c].size() - 1);
    scored_from = std::min(scored_from, prepared.context_length[c]);
  }
  prepared.shared = std::max<std::size_t>(1, shared);
  prepared.scored_from = std::clamp<std::size_t>(scored_from, 1, prepared.shared);
  return prepared;
}

// ---------------------------------------------------------------------------------------------
// run_multiple_choice's steps.

using ChoiceScoreLists = std::vector<std::vector<backend::TokenScore>>;  // per choice, per token

// How a multiple-choice run lays out its cache and packs items into engine passes.
struct McLayout {
  std::size_t n_ctx_cells = 0;
  std::size_t pack_sequences = 1;  // sequences per engine pass
  std::size_t pack_tokens = 0;     // cached tokens per engine pass
};

McLayout mc_layout(const std::vector<PreparedItem>& prepared, const McOptions& options) {
  std::size_t max_tokens = 0;
  std::size_t max_choices = 1;
  std::size_t longest_choice = 0;
  for (const auto& p : prepared) {
    std::size_t needed = p.shared;
    std::size_t longest = 0;
    for (const auto& tokens : p.full) {
      needed += tokens.size() - p.shared;
      longest = std::max(longest, tokens.size());
    }
    max_tokens = std::max(max_tokens, options.share_context ? needed : longest);
    longest_choice = std::max(longest_choice, longest);
    max_choices = std::max(max_choices, p.full.size());
  }
  // Shared context: several items are packed into each engine pass, each item's choices as
  // sequences of their own (up to pack_sequences sequences and pack_tokens cached tokens).
  // Batch-invariant: a stream of longest + 8 cells per sequence, so fewer sequences where choices
  // are long (kInvariantCells bounds the cache).
  constexpr std::size_t kPackSequences = 64;
  constexpr std::size_t kInvariantCells = 8192;
  McLayout layout;
  layout.pack_tokens = std::max<std::size_t>(max_tokens, 512);
  layout.pack_sequences = std::max(max_choices, kPackSequences);
  layout.n_ctx_cells = layout.pack_tokens + 8;
  if (!options.share_context) {
    layout.n_ctx_cells = max_tokens + 8;
    layout.pack_sequences = 1;
  } else if (options.batch_invariant) {
    const std::size_t per_sequence = longest_choice + 8;
    layout.pack_sequences = std::clamp<std::size_t>(kInvariantCells / per_sequence, max_choices, kPackSequences);
    layout.pack_tokens = std::numeric_limits<std::size_t>::max();  // each sequence has its own cells
    layout.n_ctx_cells = per_sequence * layout.pack_sequences;
  }
  return layout;
}

// Identifies an item's content for the journal: every choice's full text.
std::string mc_fingerprint(const McItem& item) {
  std::string joined;
  for (const auto& choice : item.choices) {
    joined += choice.context + choice.continuation + '\x1f';
  }
  return prompt_hash(joined);
}

// An item's choices as suffixes of the tokens they share.
backend::Context::SuffixGroup suffix_group(const PreparedItem& p) {
  backend::Context::SuffixGroup group;
  group.prefix.assign(p.full[0].begin(), p.full[0].begin() + static_cast<std::ptrdiff_t>(p.shared));
  for (const auto& tokens : p.full) {
    group.suffixes.emplace_back(tokens.begin() + static_cast<std::ptrdiff_t>(p.shared), tokens.end());
  }
  group.scored_prefix_tokens = p.shared - p.scored_from;
  return group;
}

// Scores items in packs: the item asked for and the items after it that still fit into one engine
// pass with it. Journaled items and items whose choices share no token are left out.
class PackedScorer {
 public:
  PackedScorer(backend::Context& ctx, const std::vector<PreparedItem>& prepared,
               const std::vector<std::optional<json>>& journaled, const McLayout& layout)
      : ctx_(ctx),
        prepared_(prepared),
        journaled_(journaled),
        layout_(layout),
        scores_(prepared.size()),
        seconds_(prepared.size(), 0.0) {}

  // Item i's scores from position scored_from on; `seconds` gets its share of its pass's time.
  ChoiceScoreLists take(std::size_t i, double& seconds) {
    if (!scores_[i]) {
      score_pack(i);
    }
    seconds = seconds_[i];
    return std::move(*scores_[i]);
  }

 private:
  void score_pack(std::size_t from) {
    const auto pack_start = std::chrono::steady_clock::now();
    std::vector<std::size_t> members;
    std::vector<backend::Context::SuffixGroup> groups;
    std::size_t sequences = 0, tokens = 0;
    for (std::size_t i = from; i < prepared_.size(); ++i) {
      if (journaled_[i] || prepared_[i].common_prefix == 0) {
        continue;
      }
      auto group = suffix_group(prepared_[i]);
      std::size_t needed = group.prefix.size();
      for (const auto& suffix : group.suffixes) needed += suffix.size();
      if (!members.empty() &&
          (sequences + group.suffixes.size() > layout_.pack_sequences || tokens + needed > layout_.pack_tokens)) {
        break;
      }
      sequences += group.suffixes.size();
      tokens += needed;
      members.push_back(i);
      groups.push_back(std::move(group));
    }
    auto scores = ctx_.score_suffix_groups(groups);
    const double share = seconds_since(pack_start) / static_cast<double>(members.size());
    for (std::size_t m = 0; m < members.size(); ++m) {
      scores_[members[m]] = std::move(scores[m]);
      seconds_[members[m]] = share;
    }
  }

  backend::Context& ctx_;
  const std::vector<PreparedItem>& prepared_;
  const std::vector<std::optional<json>>& journaled_;
  const McLayout& layout_;
  std::vector<std::optional<ChoiceScoreLists>> scores_;
  std::vector<double> seconds_;
};

// Each choice on its own from an empty cache (the naive way); scores start at position 1.
ChoiceScoreLists score_alone(backend::Context& ctx, const PreparedItem& p) {
  ChoiceScoreLists scores;
  for (const auto& tokens : p.full) {
    const std::vector<Token> prefix(tokens.begin(), tokens.begin() + 1);
    const std::vector<std::vector<Token>> suffix{std::vector<Token>(tokens.begin() + 1, tokens.end())};
    scores.push_back(ctx.score_suffixes(prefix, suffix)[0]);
  }
  return scores;
}

// One item's judgement from its choices' token scores.
struct McOutcome {
  std::vector<double> loglik, normalized;
  std::vector<std::size_t> n_tokens;  // continuation tokens per choice
  std::vector<bool> greedy;
  std::size_t pred = 0, pred_norm = 0;
};

// `scores` holds every token of each choice from position `first` on.
McOutcome judge_item(const McItem& item, const PreparedItem& p, const ChoiceScoreLists& scores, std::size_t first,
                     McNormalization normalization) {
  McOutcome o;
  o.loglik.resize(item.choices.size());
  o.normalized.resize(item.choices.size());
  o.n_tokens.resize(item.choices.size());
  o.greedy.assign(item.choices.size(), true);
  for (std::size_t c = 0; c < item.choices.size(); ++c) {
    double llama_sum = 0;
    std::size_t llama_count = 0;
    for (std::size_t k = 0; k < scores[c].size(); ++k) {
      const std::size_t position = first + k;
      if (position >= p.context_length[c]) {
        o.loglik[c] += scores[c][k].log_prob;
        o.greedy[c] = o.greedy[c] && scores[c][k].is_greedy;
        ++o.n_tokens[c];
      }
      if (position >= p.common_prefix) {
        llama_sum += scores[c][k].log_prob;
        ++llama_count;
      }
    }
    o.normalized[c] = normalization == McNormalization::kLmEval
                          ? acc_norm_score(o.loglik[c], item.choices[c].continuation)
                          : llama_sum / static_cast<double>(std::max<std::size_t>(1, llama_count));
  }
  o.pred = argmax(normalization == McNormalization::kLmEval ? o.loglik : o.normalized);
  o.pred_norm = argmax(o.normalized);
  return o;
}

json mc_record(const McItem& item, const std::string& fingerprint, const McOutcome& o, bool correct, bool correct_norm,
               double seconds) {
  return {{"id", item.id},
          {"prompt_hash", fingerprint},
          {"loglikelihoods", o.loglik},
          {"continuation_tokens", o.n_tokens},
          {"is_greedy", o.greedy},
          {"normalized_scores", o.normalized},
          {"gold", item.gold},
          {"prediction", o.pred},
          {"prediction_norm", o.pred_norm},
          {"correct", correct},
          {"correct_norm", correct_norm},
          {"seconds", seconds}};
}

}  // namespace

std::vector<std::size_t> select_items(std::size_t n_items, std::optional<std::size_t> limit, uint32_t seed) {
  std::vector<std::size_t> indices(n_items);
  std::iota(indices.begin(), indices.end(), 0);
  if (!limit || *limit >= n_items) {
    return indices;
  }
  std::mt19937 rng(seed);
  std::shuffle(indices.begin(), indices.end(), rng);
  indices.resize(*limit);
  std::sort(indices.begin(), indices.end());
  return indices;
}

std::vector<std::size_t> select_items_like_llama_hellaswag(std::size_t n_items, std::size_t limit) {
  std::vector<std::size_t> remaining(n_items);
  std::iota(remaining.begin(), remaining.end(), 0);
  if (limit >= n_items) {
    return remaining;
  }
  // llama-perplexity draws from the tasks not drawn yet, with a distribution over what is left.
  std::mt19937 rng(1);
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < limit; ++i) {
    std::uniform_int_distribution<std::size_t> dist(0, remaining.size() - 1);
    const std::size_t pick = dist(rng);
    indices.push_back(remaining[pick]);
    remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  return indices;
}

json gsm8k_record(const QaItem& item, const std::string& generation) {
  const Gsm8kVerdict v = judge_gsm8k(generation, item.answer);
  return {{"id", item.id},
          {"question", item.question},
          {"generation", generation},
          {"target", v.target},
          {"strict_answer", v.strict_answer ? json(*v.strict_answer) : json(nullptr)},
          {"flexible_answer", v.flexible_answer ? json(*v.flexible_answer) : json(nullptr)},
          {"correct_strict", v.correct_strict},
          {"correct_flexible", v.correct_flexible}};
}

double items_per_second(const std::vector<double>& item_seconds) {
  const double total = std::accumulate(item_seconds.begin(), item_seconds.end(), 0.0);
  return total > 0 ? static_cast<double>(item_seconds.size()) / total : 0;
}

TaskResult run_multiple_choice(backend::Model& model, const std::string& task, int version,
                               const std::vector<McItem>& items, const McOptions& options, const ItemJournal* journal) {
  TaskResult result{.task = task, .version = version};
  const auto start = std::chrono::steady_clock::now();
  std::vector<PreparedItem> prepared;
  for (const auto& item : items) {
    prepared.push_back(prepare(model, item));
  }
  const McLayout layout = mc_layout(prepared, options);
  auto ctx = model.open_context(context_layout(layout.n_ctx_cells, layout.pack_sequences, options.batch_invariant));
  std::vector<std::string> fingerprints(items.size());
  std::vector<std::optional<json>> journaled(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    fingerprints[i] = mc_fingerprint(items[i]);
    if (journal && journal->find) {
      journaled[i] = journal->find(task, items[i].id, fingerprints[i]);
    }
  }
  PackedScorer packs(*ctx, prepared, journaled, layout);
  std::vector<double> item_seconds;
  std::vector<double> correct, correct_norm;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const McItem& item = items[i];
    const PreparedItem& p = prepared[i];
    if (auto& record = journaled[i]) {
      correct.push_back(record->at("correct").get<bool>() ? 1.0 : 0.0);
      correct_norm.push_back(record->at("correct_norm").get<bool>() ? 1.0 : 0.0);
      item_seconds.push_back(record->value("seconds", 0.0));
      result.records.push_back(std::move(*record));
      continue;
    }
    const auto item_start = std::chrono::steady_clock::now();
    // Choices without a common first token (no BOS) share nothing: scored one by one.
    const bool packed = options.share_context && p.common_prefix > 0;
    double pack_seconds = 0;
    const ChoiceScoreLists scores = packed ? packs.take(i, pack_seconds) : score_alone(*ctx, p);
    const McOutcome outcome = judge_item(item, p, scores, packed ? p.scored_from : 1, options.normalization);
    correct.push_back(static_cast<int>(outcome.pred) == item.gold ? 1.0 : 0.0);
    correct_norm.push_back(static_cast<int>(outcome.pred_norm) == item.gold ? 1.0 : 0.0);
    item_seconds.push_back(packed ? pack_seconds : seconds_since(item_start));
    result.records.push_back(
        mc_record(item, fingerprints[i], outcome, correct.back() > 0, correct_norm.back() > 0, item_seconds.back()));
    if (journal && journal->record) {
      journal->record(task, item.id, fingerprints[i], result.records.back());
    }
  }
  result.metrics.push_back(mean_metric("acc", correct));
  if (options.normalization == McNormalization::kLmEval) {
    result.metrics.push_back(mean_metric("acc_norm", correct_norm));
  }
  result.seconds = seconds_since(start);
  result.items_per_second = items_per_second(item_seconds);
  return result;
}

std::string to_string(PromptFormat format) { return format == PromptFormat::kChat ? "chat" : "lm-eval"; }

PromptFormat parse_prompt_format(const std::string& text, const std::string& what) {
  if (text == "lm-eval") {
    return PromptFormat::kLmEval;
  }
  if (text == "chat") {
    return PromptFormat::kChat;
  }
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("{} must be lm-eval (the task's text, no chat template) or chat (through the model's chat "
                          "template), not '{}'",
                          what, text));
}

void require_chat_template(const backend::Vocabulary& vocabulary, const GenerationOptions& options,
                           const std::string& model_name) {
  if (options.prompt_format == PromptFormat::kChat && !vocabulary.apply_chat_template("", options.chat_template)) {
    // Asked for chat prompts: a plain prompt instead would be a silent change of format.
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{} has no chat template: the chat prompt format needs one (or --chat-template NAME, "
                            "e.g. chatml)",
                            model_name));
  }
}

std::vector<std::vector<Token>> tokenize_prompts(const backend::Model& model, const std::vector<std::string>& prompts,
                                                 bool use_chat_template,
                                                 const std::optional<std::string>& chat_template) {
  std::vector<std::vector<Token>> tokenized;
  for (const auto& prompt : prompts) {
    std::optional<std::string> templated;
    if (use_chat_template) {
      templated = model.apply_chat_template(prompt, chat_template);
    }
    tokenized.push_back(templated ? model.tokenize_chat(*templated) : model.tokenize(prompt, true));
  }
  return tokenized;
}

std::string batch_invariance_warning(const std::string& model_name) {
  return fmt::format(
      "uaqf: warning: {}: batch-invariant tasks asked for, but this engine's kernels change with batch width "
      "(llama.cpp's LLAMAFILE CPU path or a GPU), so answers and scores may still differ from one prompt at a "
      "time; a CPU build with -DUAQF_BATCH_INVARIANT=ON gives identical ones",
      model_name);
}

std::vector<std::vector<Token>> generate_answers(backend::Model& model, const std::vector<std::string>& prompts,
                                                 const std::vector<std::string>& stop_strings,
                                                 const GenerationOptions& options, std::vector<double>* seconds,
                                                 const JournalScope& scope) {
  const bool chat = options.prompt_format == PromptFormat::kChat;
  if (chat) {
    require_chat_template(model, options, model.info().path.filename().string());
  }
  const auto tokenized = tokenize_prompts(model, prompts, chat, options.chat_template);
  std::vector<std::vector<Token>> answers(prompts.size());
  std::vector<double> answer_seconds(prompts.size(), 0.0);
  std::vector<std::string> fingerprints(prompts.size());
  std::vector<std::size_t> pending;  // not in the journal: generated now
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (scope.journal) {
      fingerprints[i] = prompt_hash(prompts[i]);
      if (scope.journal->find) {
        if (auto found = scope.journal->find(scope.task, scope.ids->at(i), fingerprints[i])) {
          answers[i] = found->at("tokens").get<std::vector<Token>>();
          answer_seconds[i] = found->value("seconds", 0.0);
          continue;
        }
      }
    }
    pending.push_back(i);
  }
  std::size_t longest = 0;
  for (std::size_t i : pending) {
    longest = std::max(longest, tokenized[i].size());
  }
  const auto batch = static_cast<std::size_t>(std::max(1, options.batch_size));
  const std::size_t per_sequence = longest + static_cast<std::size_t>(options.max_new_tokens) + 8;
  // Batch-invariant: the shared prompt beginning is evaluated once and copied into each stream.
  const std::size_t group_size = std::min(batch, std::max<std::size_t>(1, pending.size()));
  std::unique_ptr<backend::Context> ctx;
  if (!pending.empty()) {
    ctx = model.open_context(context_layout(per_sequence * group_size, group_size, options.batch_invariant));
  }
  for (std::size_t begin = 0; begin < pending.size(); begin += batch) {
    const auto group_start = std::chrono::steady_clock::now();
    const std::size_t end = std::min(pending.size(), begin + batch);
    std::vector<std::vector<Token>> group;
    for (std::size_t k = begin; k < end; ++k) {
      group.push_back(tokenized[pending[k]]);
    }
    auto stop = [&](std::size_t, const std::vector<Token>& generated) {
      if (stop_strings.empty()) {
        return false;
      }
      // Only the tail can newly contain a stop string.
      const std::size_t from = generated.size() > 16 ? generated.size() - 16 : 0;
      const std::string tail = model.detokenize(std::span<const Token>(generated).subspan(from));
      return std::any_of(stop_strings.begin(), stop_strings.end(),
                         [&](const std::string& s) { return tail.find(s) != std::string::npos; });
    };
    auto generated = ctx->generate_greedy(group, options.max_new_tokens, stop);
    const double share = seconds_since(group_start) / static_cast<double>(end - begin);
    for (std::size_t k = begin; k < end; ++k) {
      const std::size_t i = pending[k];
      answers[i] = std::move(generated[k - begin]);
      answer_seconds[i] = share;
      if (scope.journal && scope.journal->record) {
        scope.journal->record(scope.task, scope.ids->at(i), fingerprints[i],
                              {{"tokens", answers[i]}, {"seconds", share}});
      }
    }
  }
  if (seconds) {
    *seconds = answer_seconds;
  }
  return answers;
}

TaskResult run_gsm8k(backend::Model& model, int version, const std::vector<QaItem>& items,
                     const std::vector<std::string>& prompts, const std::vector<std::string>& stop_sequences,
                     const GenerationOptions& options, const ItemJournal* journal) {
  TaskResult result{.task = "gsm8k", .version = version, .prompt_format = to_string(options.prompt_format)};
  std::vector<std::string> ids;
  for (const auto& item : items) {
    ids.push_back(item.id);
  }
  std::vector<double> seconds;
  const auto answers = generate_answers(model, prompts, stop_sequences, options, &seconds,
                                        {.journal = journal, .task = "gsm8k", .ids = &ids});
  std::vector<double> strict, flexible;
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string text = model.detokenize(answers[i]);
    for (const auto& stop : stop_sequences) {
      const auto at = text.find(stop);
      if (at != std::string::npos) {
        text.resize(at);
      }
    }
    json record = gsm8k_record(items[i], text);
    record["prompt_hash"] = prompt_hash(prompts[i]);
    record["generated_tokens"] = answers[i].size();
    strict.push_back(record["correct_strict"].get<bool>() ? 1.0 : 0.0);
    flexible.push_back(record["correct_flexible"].get<bool>() ? 1.0 : 0.0);
    result.records.push_back(std::move(record));
  }
  result.metrics.push_back(mean_metric("exact_match_strict", strict));
  result.metrics.push_back(mean_metric("exact_match_flexible", flexible));
  result.seconds = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  result.items_per_second = items_per_second(seconds);
  return result;
}

std::size_t edit_distance(const std::vector<Token>& a, const std::vector<Token>& b) {
  std::vector<std::size_t> previous(b.size() + 1), current(b.size() + 1);
  std::iota(previous.begin(), previous.end(), 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

TaskResult compare_generations(const std::vector<std::string>& ids, const std::vector<std::vector<Token>>& baseline,
                               const std::vector<std::vector<Token>>& variant, double seconds) {
  TaskResult result{.task = "divergence", .version = 1};
  std::vector<double> identical, first_difference, distance;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& a = baseline[i];
    const auto& b = variant[i];
    std::size_t first = 0;
    while (first < a.size() && first < b.size() && a[first] == b[first]) {
      ++first;
    }
    const bool same = a == b;
    const std::size_t longest = std::max(a.size(), b.size());
    const double normalized =
        longest == 0 ? 0.0 : static_cast<double>(edit_distance(a, b)) / static_cast<double>(longest);
    identical.push_back(same ? 1.0 : 0.0);
    first_difference.push_back(static_cast<double>(first));
    distance.push_back(normalized);
    result.records.push_back({{"id", ids[i]},
                              {"identical", same},
                              {"first_difference", same ? json(nullptr) : json(first)},
                              {"baseline_tokens", a.size()},
                              {"variant_tokens", b.size()},
                              {"normalized_edit_distance", normalized}});
  }
  result.metrics.push_back(mean_metric("identical_rate", identical));
  result.metrics.push_back(mean_metric("first_difference_position", first_difference));
  result.metrics.push_back(mean_metric("normalized_edit_distance", distance));
  result.seconds = seconds;
  result.items_per_second = seconds > 0 ? static_cast<double>(ids.size()) / seconds : 0;
  return result;
}

}  // namespace uaqf::tasks
