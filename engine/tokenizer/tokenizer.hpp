// Text <-> token ids for the two vocabulary families of GGUF Llama-style models: byte-level BPE ("gpt2", e.g.
// SmolLM2, Llama 3) and SentencePiece-style score merging ("llama", e.g. Llama 2, llama2.c's tok512).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/tokenizer_data.hpp"

namespace ckv {

class Tokenizer {
 public:
  // Throws std::invalid_argument for an unknown model or pre-tokenizer, mismatched array sizes, special ids out
  // of range, or a malformed merge.
  explicit Tokenizer(TokenizerData data);

  // add_bos: start with the BOS id (std::invalid_argument if the vocabulary has none); callers usually pass
  // data().add_bos. parse_special: control tokens written in the text (e.g. "<|im_start|>") become their ids;
  // user-defined tokens are always matched, and without it control-token text is tokenized as plain text.
  // "llama" vocabularies with add_space_prefix put a space before the text and after each special token.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;

  // The exact bytes of ids. Control and unknown tokens are written as their text when render_special, else
  // dropped. For "llama" with add_space_prefix, the space at the start of the text and after a special token is
  // removed again, so decode(encode(s, b, p)) == s (with b = false or render_special = false).
  // Throws std::invalid_argument for an id outside [0, vocab_size()).
  std::string decode(std::span<const int32_t> ids, bool render_special = true) const;

  // The bytes of one token (control tokens as their text), for streaming; may hold part of a UTF-8 character
  // (see Utf8Streamer).
  std::string token_text(int32_t id) const;
  // token_text as it appears after `prev` inside decode(): without the dummy-prefix space of "llama"
  // vocabularies right after BOS or another special token, or when prev < 0 (start of the text). This is how
  // llama2.c prints a sampled token.
  std::string token_text_after(int32_t prev, int32_t id) const;

  int32_t vocab_size() const;
  // eos, the end-of-turn tokens <|im_end|>, <|endoftext|>, <|eot_id|>, <|end_of_text|> when the vocabulary has
  // them as special tokens, and data().end_of_generation_ids.
  bool is_end_of_generation(int32_t id) const;
  int32_t bos() const;
  int32_t eos() const;
  const TokenizerData& data() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace ckv
