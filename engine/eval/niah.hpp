// Needle-in-a-haystack prompts: a haystack of prose cut to a target length in tokens, one needle sentence placed
// at a sentence boundary at a given depth, and a question about the needle, wrapped in the model's chat template.
// Also the answer score (ROUGE-1 recall against the expected answer).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/tokenizer.hpp"

namespace ckv {

struct Needle {
  std::string id;
  std::string text;      // the sentence placed in the haystack
  std::string question;  // asked after the haystack
  std::string answer;    // the words a correct answer contains
};

// needles.json: {"heads": [needle...], "evaluation": [needle...]}, each {"id", "needle", "question", "answer"}.
// The two sets must not share an id or a needle sentence. `set` is "heads" or "evaluation". Throws
// std::runtime_error naming the file and the problem.
std::vector<Needle> load_needles(const std::filesystem::path& path, std::string_view set);

// The haystack's sentences (whitespace collapsed, paragraphs joined). Throws std::runtime_error when the file is
// missing or holds no sentence.
std::vector<std::string> load_haystack_sentences(const std::filesystem::path& path);
std::vector<std::string> split_sentences(std::string_view text);

struct NiahPrompt {
  std::vector<int32_t> tokens;     // the whole chat prompt, ending with the assistant turn's header
  uint32_t needle_begin = 0;       // the needle's tokens are tokens[needle_begin, needle_end)
  uint32_t needle_end = 0;
  double depth = 0;                // haystack tokens before the needle / haystack tokens (what was achieved)
};

// Builds the prompt closest to `length` tokens (never longer; shorter by less than one haystack sentence) with
// the needle after the sentence boundary whose position in the haystack is closest to `depth` ∈ [0, 1]. The
// haystack repeats from its start when it is too short. Throws std::invalid_argument for a depth outside [0, 1]
// or a length too short for the template, needle and question, and std::logic_error if the needle's tokens do
// not appear as their own span of the prompt's tokens.
NiahPrompt build_niah_prompt(const Tokenizer& tokenizer, const std::vector<std::string>& haystack,
                             const Needle& needle, uint32_t length, double depth);

// Lower-case words with punctuation removed ("Smoked paprika!" → {"smoked", "paprika"}).
std::vector<std::string> answer_words(std::string_view text);
// ROUGE-1 recall: the share of the expected answer's words (with multiplicity) found in `answer`.
double rouge1_recall(std::string_view answer, std::string_view expected);
constexpr double kRecallThreshold = 0.5;  // an answer recalls the needle when its ROUGE-1 recall is above this
inline bool recalls_needle(double recall) { return recall > kRecallThreshold; }

// Checks a grid before any work: depths in [0, 1], lengths > 0 and length + new_tokens within the model's
// context. Throws std::invalid_argument naming the bad value.
void check_niah_grid(const std::vector<uint32_t>& lengths, const std::vector<double>& depths,
                     uint32_t context_length, uint32_t new_tokens);

}  // namespace ckv
