#include "engine/tokenizer/unicode.hpp"

#include <algorithm>

namespace ckv::unicode {
namespace {

bool in_ranges(uint32_t cp, const CodePointRange* ranges, std::size_t count) {
  const CodePointRange* end = ranges + count;
  const CodePointRange* it = std::upper_bound(ranges, end, cp, [](uint32_t v, const CodePointRange& r) {
    return v < r.first;
  });
  return it != ranges && cp <= (it - 1)->last;
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Sequence length announced by a lead byte, 0 if it cannot start one.
uint32_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Range allowed for the second byte (the first continuation byte) after a lead, which rules out overlong
// forms, surrogates and code points above U+10FFFF.
bool second_byte_ok(unsigned char lead, unsigned char second) {
  switch (lead) {
    case 0xE0: return second >= 0xA0 && second <= 0xBF;
    case 0xED: return second >= 0x80 && second <= 0x9F;
    case 0xF0: return second >= 0x90 && second <= 0xBF;
    case 0xF4: return second >= 0x80 && second <= 0x8F;
    default: return is_continuation(second);
  }
}

}  // namespace

Utf8Char decode_utf8(std::string_view s, std::size_t pos) {
  const auto lead = static_cast<unsigned char>(s[pos]);
  const uint32_t len = sequence_length(lead);
  if (len == 1) return {lead, 1};
  if (len == 0 || pos + len > s.size()) return {kInvalid, 1};
  if (!second_byte_ok(lead, static_cast<unsigned char>(s[pos + 1]))) return {kInvalid, 1};
  for (uint32_t i = 2; i < len; ++i)
    if (!is_continuation(static_cast<unsigned char>(s[pos + i]))) return {kInvalid, 1};
  uint32_t cp = lead & (0x7F >> len);
  for (uint32_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + i]) & 0x3F);
  return {cp, len};
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t pos = 0; pos < s.size();) {
    const Utf8Char c = decode_utf8(s, pos);
    if (c.code_point == kInvalid) return false;
    pos += c.length;
  }
  return true;
}

std::size_t incomplete_utf8_tail(std::string_view s) {
  // The last lead byte within the final 3 bytes, if everything after it is a valid beginning of its sequence.
  for (std::size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const std::size_t pos = s.size() - back;
    const auto c = static_cast<unsigned char>(s[pos]);
    if (is_continuation(c)) continue;
    const uint32_t len = sequence_length(c);
    if (len <= back) return 0;  // ASCII, invalid lead, or a sequence that is already complete
    if (back >= 2 && !second_byte_ok(c, static_cast<unsigned char>(s[pos + 1]))) return 0;
    return back;
  }
  return 0;
}

bool is_letter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return in_ranges(cp, detail::kLetterRanges, detail::kLetterRangesCount);
}

bool is_number(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_ranges(cp, detail::kNumberRanges, detail::kNumberRangesCount);
}

bool is_whitespace(uint32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace ckv::unicode
