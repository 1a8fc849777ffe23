// Byte-level BPE (GPT-2 style): each byte is written as one printable code point (GPT-2's bytes_to_unicode), and
// adjacent symbols are merged lowest merge rank first.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/token_id_map.hpp"

namespace ckv {

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 to U+0100 upward.
uint32_t byte_to_code_point(uint8_t byte);
// The byte a code point stands for, or -1 if it is not in the mapping.
int code_point_to_byte(uint32_t cp);
// Token text (mapped code points) -> raw bytes. Characters outside the mapping are kept as their UTF-8.
std::string byte_level_decode(std::string_view token_text);
// Raw bytes -> token text.
std::string byte_level_encode(std::string_view bytes);

class BytePairEncoder {
 public:
  // merges: "left right" in rank order; a merge whose parts or result are not tokens is skipped.
  // ignore_merges: a piece that is a token as a whole is emitted as that token (Llama-3 tokenizers).
  // Throws std::invalid_argument for a merge line without a separating space.
  BytePairEncoder(const std::vector<std::string>& merges, const TokenIdMap& token_ids, int32_t unk,
                  bool ignore_merges);

  // Appends the ids of one pre-token piece. A byte without a token becomes unk (std::runtime_error if none).
  void encode(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  }
  const Merge* find_merge(int32_t left, int32_t right) const;

  std::array<int32_t, 256> byte_token_{};
  std::unordered_map<uint64_t, Merge> merges_;
  const TokenIdMap* token_ids_;
  int32_t unk_;
  bool ignore_merges_;
};

}  // namespace ckv
