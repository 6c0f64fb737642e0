// Chat prompts tokenized as the model expects: a GGUF built here from the shared vocabulary, with
// two control tokens added and a chat template in its metadata, goes through the llama engine.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/engines.h"
#include "gguf.h"
#include "tasks/suite.h"

namespace uaqf {
namespace {

namespace fs = std::filesystem;
using backend::Token;

constexpr Token kBos = 1;  // the llama-spm vocabulary's <s>, </s>
constexpr Token kEos = 2;
constexpr Token kImStart = 32000;  // appended below
constexpr Token kImEnd = 32001;

// ChatML as a model's tokenizer_config.json carries it (Jinja); llama.cpp recognizes it by its markers.
constexpr const char* kChatml =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
// A template that writes the vocabulary's own <s> and </s> (mlabonne/AlphaMonarch-7B's).
constexpr const char* kMonarch =
    "{% for message in messages %}{{bos_token + message['role'] + '\\n' + message['content'] + eos_token + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ bos_token + 'assistant\\n' }}{% endif %}";

fs::path shared_vocabulary() {
  const char* shared = std::getenv("UAQF_SHARED_DIR");
  return shared == nullptr ? fs::path() : fs::path(shared) / "models" / "gguf-vocab" / "ggml-vocab-llama-spm.gguf";
}

// The vocabulary with <|im_start|> and <|im_end|> appended as control tokens and ChatML as its
// template, written as a vocabulary-only GGUF.
void write_chat_vocabulary(const fs::path& from, const fs::path& to) {
  gguf_init_params params{.no_alloc = true, .ctx = nullptr};
  gguf_context* in = gguf_init_from_file(from.c_str(), params);
  ASSERT_NE(in, nullptr) << from;
  const int64_t tokens_id = gguf_find_key(in, "tokenizer.ggml.tokens");
  const int64_t scores_id = gguf_find_key(in, "tokenizer.ggml.scores");
  const int64_t types_id = gguf_find_key(in, "tokenizer.ggml.token_type");
  ASSERT_TRUE(tokens_id >= 0 && scores_id >= 0 && types_id >= 0);
  const std::size_t n = gguf_get_arr_n(in, tokens_id);
  ASSERT_EQ(n, static_cast<std::size_t>(kImStart));
  std::vector<std::string> tokens;
  for (std::size_t i = 0; i < n; ++i) tokens.emplace_back(gguf_get_arr_str(in, tokens_id, i));
  tokens.insert(tokens.end(), {"<|im_start|>", "<|im_end|>"});
  std::vector<const char*> token_texts;
  for (const auto& t : tokens) token_texts.push_back(t.c_str());
  const auto* scores_in = static_cast<const float*>(gguf_get_arr_data(in, scores_id));
  std::vector<float> scores(scores_in, scores_in + n);
  scores.insert(scores.end(), {0.0F, 0.0F});
  const auto* types_in = static_cast<const int32_t*>(gguf_get_arr_data(in, types_id));
  std::vector<int32_t> types(types_in, types_in + n);
  types.insert(types.end(), {3, 3});  // LLAMA_TOKEN_TYPE_CONTROL
  gguf_context* out = gguf_init_empty();
  gguf_set_kv(out, in);
  gguf_set_arr_str(out, "tokenizer.ggml.tokens", token_texts.data(), token_texts.size());
  gguf_set_arr_data(out, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores.data(), scores.size());
  gguf_set_arr_data(out, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types.data(), types.size());
  gguf_set_val_str(out, "tokenizer.chat_template", kChatml);
  const bool written = gguf_write_to_file(out, to.c_str(), true);
  gguf_free(out);
  gguf_free(in);
  ASSERT_TRUE(written) << to;
}

class ChatTemplate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(shared_vocabulary().empty()) << "UAQF_SHARED_DIR is not set (it must name the shared/ dir)";
    dir_ = fs::temp_directory_path() / ("uaqf-chat-template-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    write_chat_vocabulary(shared_vocabulary(), dir_ / "vocab.gguf");
    engine_ = backend::make_engine("llama");
    backend::SynthRequest request;
    request.shape.name = "chat-test";
    request.shape.n_vocab = kImEnd + 1;
    request.shape.n_embd = 64;
    request.shape.n_layer = 1;
    request.shape.n_head = 2;
    request.shape.n_head_kv = 2;
    request.shape.n_ff = 128;
    request.shape.n_ctx = 256;
    request.output = dir_ / "chat.gguf";
    request.vocabulary = dir_ / "vocab.gguf";
    engine_->synthesize(request);
    vocabulary_ = engine_->load_vocabulary(dir_ / "chat.gguf");
  }
  static void TearDownTestSuite() {
    vocabulary_.reset();
    engine_.reset();
    fs::remove_all(dir_);
  }
  static long count(const std::vector<Token>& tokens, Token token) {
    return std::count(tokens.begin(), tokens.end(), token);
  }

  static inline fs::path dir_;
  static inline std::unique_ptr<backend::Engine> engine_;
  static inline std::unique_ptr<backend::Vocabulary> vocabulary_;
};

TEST_F(ChatTemplate, TemplatedMarkersAreSingleSpecialTokens) {
  const auto templated = vocabulary_->apply_chat_template("What is 2+2?", std::nullopt);
  ASSERT_TRUE(templated);
  EXPECT_EQ(*templated, "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
  const auto tokens = vocabulary_->tokenize_chat(*templated);
  ASSERT_GE(tokens.size(), 4U);
  EXPECT_EQ(tokens[0], kBos);
  EXPECT_EQ(tokens[1], kImStart);
  EXPECT_EQ(count(tokens, kImStart), 2);
  EXPECT_EQ(count(tokens, kImEnd), 1);
  EXPECT_EQ(count(tokens, kBos), 1);
  // As plain text the markers fall apart into pieces: what the templated prompt used to be.
  const auto plain = vocabulary_->tokenize(*templated, true);
  EXPECT_EQ(count(plain, kImStart), 0);
  EXPECT_GT(plain.size(), tokens.size());
  // The prompts generation tasks send, through the same path.
  const auto prompts =
      tasks::tokenize_prompts(dynamic_cast<const backend::Model&>(*vocabulary_), {"What is 2+2?"}, true, std::nullopt);
  EXPECT_EQ(prompts.at(0), tokens);
}

TEST_F(ChatTemplate, EndOfSentenceInATemplateIsEosAndBosIsNotDoubled) {
  const auto templated = vocabulary_->apply_chat_template("Hi", std::string(kMonarch));
  ASSERT_TRUE(templated);
  EXPECT_EQ(*templated, "user\nHi</s>\n<s>assistant\n");
  const auto tokens = vocabulary_->tokenize_chat(*templated);
  EXPECT_EQ(tokens.front(), kBos);
  EXPECT_EQ(count(tokens, kEos), 1);  // "</s>" is the EOS token, not '</', 's', '>'
  EXPECT_EQ(count(tokens, kBos), 2);  // the one added and the template's own
  // A template that begins with the BOS text gets no second BOS in front of it.
  const auto led = vocabulary_->tokenize_chat("<s>user\nHi");
  ASSERT_GE(led.size(), 2U);
  EXPECT_EQ(led[0], kBos);
  EXPECT_NE(led[1], kBos);
  EXPECT_EQ(count(led, kBos), 1);
}

}  // namespace
}  // namespace uaqf
