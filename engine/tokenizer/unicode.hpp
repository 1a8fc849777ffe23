// The few Unicode facts the tokenizers need: strict UTF-8 decoding and encoding, and the classes used by the
// pre-tokenizer regexes (\p{L}, \p{N}, \s).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ckv::unicode {

struct CodePointRange {
  uint32_t first, last;  // inclusive
};

namespace detail {
extern const CodePointRange kLetterRanges[];  // general category L*, generated into unicode_ranges.cpp
extern const std::size_t kLetterRangesCount;
extern const CodePointRange kNumberRanges[];  // general category N*
extern const std::size_t kNumberRangesCount;
}  // namespace detail

// Stands for a byte that does not start a valid UTF-8 sequence; it is in none of the classes below.
inline constexpr uint32_t kInvalid = 0xFFFFFFFFu;

struct Utf8Char {
  uint32_t code_point;  // kInvalid for a byte that is not part of a well-formed sequence
  uint32_t length;      // bytes consumed, 1..4 (1 for an invalid byte)
};

// Decodes the character at s[pos] (pos < s.size()). Overlong forms, surrogates and values above U+10FFFF are invalid.
Utf8Char decode_utf8(std::string_view s, std::size_t pos);
void append_utf8(std::string& out, uint32_t code_point);
bool is_valid_utf8(std::string_view s);
// How many bytes at the end of s form the start of a well-formed sequence that is not complete yet (0..3).
std::size_t incomplete_utf8_tail(std::string_view s);

bool is_letter(uint32_t cp);      // \p{L}
bool is_number(uint32_t cp);      // \p{N}
bool is_whitespace(uint32_t cp);  // \s: the White_Space property

}  // namespace ckv::unicode
