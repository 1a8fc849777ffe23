// NIAH prompts on the default model's tokenizer (no GPU): the needle's token span, its depth, the prompt length;
// ROUGE-1 scoring; needles and haystack files and their errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "engine/eval/niah.hpp"
#include "engine/gguf/gguf_file.hpp"
#include "engine/model/gguf_tokenizer.hpp"
#include "paths.hpp"

namespace ckv::test {
namespace {

class Niah : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto model = source_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf";
    ASSERT_TRUE(std::filesystem::exists(model)) << model << " is missing: run tools/fetch-model.sh";
    tokenizer_ = new Tokenizer(tokenizer_data_from_gguf(GgufFile::open(model)));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  static std::filesystem::path data(const char* name) { return source_dir() / "data/niah" / name; }
  static Tokenizer* tokenizer_;
};

Tokenizer* Niah::tokenizer_ = nullptr;

TEST_F(Niah, NeedleSpanHoldsTheNeedlesTokensAtTheRequestedDepthAndLength) {
  const auto haystack = load_haystack_sentences(data("haystack.txt"));
  const auto needles = load_needles(data("needles.json"), "heads");
  for (uint32_t length : {256u, 1024u}) {
    for (double depth : {0.0, 0.25, 0.5, 0.9, 1.0}) {
      const Needle& needle = needles[size_t(depth * 4) % needles.size()];
      const NiahPrompt p = build_niah_prompt(*tokenizer_, haystack, needle, length, depth);
      SCOPED_TRACE("length " + std::to_string(length) + " depth " + std::to_string(depth));
      EXPECT_LE(p.tokens.size(), length);
      EXPECT_GE(p.tokens.size(), length - 80);  // shorter by less than about one sentence
      ASSERT_LT(p.needle_begin, p.needle_end);
      ASSERT_LE(p.needle_end, p.tokens.size());
      // The span decodes to exactly the needle sentence (with the space before it when not first).
      const std::vector<int32_t> span(p.tokens.begin() + p.needle_begin, p.tokens.begin() + p.needle_end);
      std::string text = tokenizer_->decode(span);
      if (!text.empty() && text[0] == ' ') text.erase(0, 1);
      EXPECT_EQ(text, needle.text);
      // The whole prompt is the canonical tokenization of its text, in the chat template, ending with the
      // question and the assistant header.
      const std::string all = tokenizer_->decode(p.tokens);
      EXPECT_EQ(tokenizer_->encode(all, tokenizer_->data().add_bos, true), p.tokens);
      EXPECT_NE(all.find(needle.question + "<|im_end|>\n<|im_start|>assistant\n"), std::string::npos);
      EXPECT_NEAR(p.depth, depth, 0.1);
      // Relative position of the needle among the prompt's tokens follows the depth.
      const double where = double(p.needle_begin) / double(p.tokens.size());
      EXPECT_NEAR(where, depth, 0.2);
    }
  }
}

TEST_F(Niah, LongPromptsRepeatTheHaystackAndShortOnesAreAnError) {
  const auto haystack = load_haystack_sentences(data("haystack.txt"));
  const auto needles = load_needles(data("needles.json"), "evaluation");
  const NiahPrompt p = build_niah_prompt(*tokenizer_, {haystack.begin(), haystack.begin() + 5}, needles[0], 512, 0.5);
  EXPECT_GE(p.tokens.size(), 432u);
  EXPECT_LE(p.tokens.size(), 512u);
  EXPECT_THROW(build_niah_prompt(*tokenizer_, haystack, needles[0], 40, 0.5), std::invalid_argument);
  EXPECT_THROW(build_niah_prompt(*tokenizer_, haystack, needles[0], 512, 1.5), std::invalid_argument);
  EXPECT_THROW(build_niah_prompt(*tokenizer_, haystack, needles[0], 512, -0.1), std::invalid_argument);
}

TEST(NiahScore, Rouge1RecallOfTheExpectedAnswerWords) {
  EXPECT_EQ(answer_words("Smoked  Paprika! (Mara's)"), (std::vector<std::string>{"smoked", "paprika", "maras"}));
  EXPECT_DOUBLE_EQ(rouge1_recall("The secret ingredient is smoked paprika.", "smoked paprika"), 1.0);
  EXPECT_DOUBLE_EQ(rouge1_recall("It is paprika", "smoked paprika"), 0.5);
  EXPECT_FALSE(recalls_needle(0.5));
  EXPECT_TRUE(recalls_needle(2.0 / 3.0));
  EXPECT_DOUBLE_EQ(rouge1_recall("I don't know", "smoked paprika"), 0.0);
  EXPECT_DOUBLE_EQ(rouge1_recall("The code is 2291", "2291"), 1.0);
  EXPECT_DOUBLE_EQ(rouge1_recall("The code is 2219", "2291"), 0.0);
  // Repeated expected words count only as often as the answer has them.
  EXPECT_DOUBLE_EQ(rouge1_recall("the tea", "the red the tea"), 0.5);
  EXPECT_DOUBLE_EQ(rouge1_recall("anything", ""), 0.0);
}

TEST(NiahData, NeedleSetsAreDisjointAndBadFilesAreClearErrors) {
  const auto path = source_dir() / "data/niah/needles.json";
  const auto heads = load_needles(path, "heads");
  const auto eval = load_needles(path, "evaluation");
  EXPECT_GE(heads.size() + eval.size(), 6u);
  for (const auto& a : heads)
    for (const auto& b : eval) {
      EXPECT_NE(a.id, b.id);
      EXPECT_NE(a.text, b.text);
    }
  EXPECT_THROW(load_needles(path, "test"), std::invalid_argument);
  EXPECT_THROW(load_needles("/nonexistent/needles.json", "heads"), std::runtime_error);
  const auto dir = std::filesystem::temp_directory_path();
  const auto write = [&](const std::string& text) {
    const auto p = dir / "ckv_needles_test.json";
    std::ofstream(p) << text;
    return p;
  };
  const std::string n = R"({"id": "a", "needle": "A is b.", "question": "What is A?", "answer": "b"})";
  EXPECT_THROW(load_needles(write("{"), "heads"), std::runtime_error);
  EXPECT_THROW(load_needles(write(R"({"heads": [)" + n + "]}"), "heads"), std::runtime_error);  // no evaluation
  EXPECT_THROW(load_needles(write(R"({"heads": [)" + n + R"(], "evaluation": [)" + n + "]}"), "heads"),
               std::runtime_error);  // shared needle
  EXPECT_THROW(load_needles(write(R"({"heads": [{"id": "x"}], "evaluation": [)" + n + "]}"), "heads"),
               std::runtime_error);  // missing fields
  std::filesystem::remove(dir / "ckv_needles_test.json");
  EXPECT_THROW(load_haystack_sentences("/nonexistent/haystack.txt"), std::runtime_error);
  EXPECT_EQ(split_sentences("One two.  Three?\n\nFour! Five"),
            (std::vector<std::string>{"One two.", "Three?", "Four!", "Five"}));
}

TEST(NiahData, GridChecksDepthsAndTheModelsContext) {
  EXPECT_NO_THROW(check_niah_grid({512, 1024}, {0.0, 0.5, 1.0}, 8192, 50));
  EXPECT_THROW(check_niah_grid({512}, {1.2}, 8192, 50), std::invalid_argument);
  EXPECT_THROW(check_niah_grid({512}, {-0.1}, 8192, 50), std::invalid_argument);
  EXPECT_THROW(check_niah_grid({8192}, {0.5}, 8192, 50), std::invalid_argument);
  EXPECT_THROW(check_niah_grid({}, {0.5}, 8192, 50), std::invalid_argument);
}

}  // namespace
}  // namespace ckv::test
