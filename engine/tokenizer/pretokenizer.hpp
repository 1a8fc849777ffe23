// Pre-tokenization of byte-level BPE: splits text into the pieces that the regex of tokenizer.ggml.pre would
// match, with a hand-written matcher over UTF-8 code points (std::regex has no \p{L}).
#pragma once
#include <string_view>
#include <vector>

namespace ckv {

enum class PreTokenizer {
  Gpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  SmolLM,  // every \p{N} alone, then the GPT-2 pattern on the text between them
  Llama3,  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
           // \s*[\r\n]+|\s+(?!\S)|\s+
};

// "smollm" -> SmolLM; "llama-bpe", "llama3" -> Llama3; "gpt2", "default", "" -> Gpt2.
// Throws std::invalid_argument for any other name.
PreTokenizer pre_tokenizer_from_name(std::string_view pre);

// The pieces, in order, as views into text; they cover text exactly. Bytes that are not valid UTF-8 count as
// characters outside \p{L}, \p{N} and \s.
std::vector<std::string_view> pre_tokenize(std::string_view text, PreTokenizer kind);

}  // namespace ckv
