// SentencePiece-style encoding of llama vocabularies (llama2.c / llama.cpp): start from one symbol per UTF-8
// character, repeatedly merge the adjacent pair whose concatenation is a token with the highest score (ties: the
// leftmost pair), then map each symbol to its token, or to byte-fallback tokens <0xAB> when it has none.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/token_id_map.hpp"

namespace ckv {

class SentencePieceEncoder {
 public:
  // piece_ids: text -> id of the tokens that text may turn into (not control, byte or unknown tokens).
  // byte_tokens[b]: id of <0xBB>, or -1.
  SentencePieceEncoder(const TokenIdMap& piece_ids, const std::vector<float>& scores,
                       const std::array<int32_t, 256>& byte_tokens, int32_t unk);

  // Appends the ids of text (spaces already escaped to U+2581 where the vocabulary uses it).
  // A byte with neither a piece nor a byte token becomes unk (std::runtime_error if there is none).
  void encode(std::string_view text, std::vector<int32_t>& out) const;

 private:
  const TokenIdMap* piece_ids_;
  const std::vector<float>* scores_;
  std::array<int32_t, 256> byte_tokens_;
  int32_t unk_;
};

}  // namespace ckv
