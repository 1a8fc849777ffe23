#include "engine/tokenizer/pretokenizer.hpp"

#include <stdexcept>
#include <string>

#include "engine/tokenizer/unicode.hpp"

namespace ckv {
namespace {

enum class CharClass : uint8_t { Letter, Number, Space, Other };

struct Char {
  uint32_t cp;
  CharClass cls;
  size_t offset;  // byte offset in the text
};

CharClass classify(uint32_t cp) {
  if (cp == unicode::kInvalid) return CharClass::Other;
  if (unicode::is_letter(cp)) return CharClass::Letter;
  if (unicode::is_number(cp)) return CharClass::Number;
  if (unicode::is_whitespace(cp)) return CharClass::Space;
  return CharClass::Other;
}

uint32_t ascii_lower(uint32_t cp) { return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp; }

// One matcher runs over chars[begin, end) as if that were the whole input (no look-around beyond it).
class Matcher {
 public:
  Matcher(const std::vector<Char>& chars, size_t end) : c_(chars), end_(end) {}

  // Length of the contraction 's 't 're 've 'm 'll 'd at i, or 0.
  size_t contraction(size_t i, bool ignore_case) const {
    if (c_[i].cp != '\'' || i + 1 >= end_) return 0;
    auto at = [&](size_t k) { return k < end_ ? (ignore_case ? ascii_lower(c_[k].cp) : c_[k].cp) : 0u; };
    const uint32_t a = at(i + 1), b = at(i + 2);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }

  size_t run_end(size_t i, CharClass cls) const {
    while (i < end_ && c_[i].cls == cls) ++i;
    return i;
  }
  bool is(size_t i, CharClass cls) const { return i < end_ && c_[i].cls == cls; }
  bool is_newline(size_t i) const { return i < end_ && (c_[i].cp == '\r' || c_[i].cp == '\n'); }

  // \s+(?!\S)|\s+ at a whitespace char: the run, less its last char when a non-space follows the run.
  size_t whitespace(size_t i) const {
    const size_t e = run_end(i, CharClass::Space);
    return (e < end_ && e - i >= 2) ? e - 1 : e;
  }

  size_t gpt2(size_t i) const {
    if (size_t n = contraction(i, false)) return i + n;
    const size_t j = (c_[i].cp == ' ' && i + 1 < end_ && c_[i + 1].cls != CharClass::Space) ? i + 1 : i;
    switch (c_[j].cls) {
      case CharClass::Letter: return run_end(j, CharClass::Letter);
      case CharClass::Number: return run_end(j, CharClass::Number);
      case CharClass::Other: return run_end(j, CharClass::Other);
      case CharClass::Space: return whitespace(i);
    }
    return i + 1;
  }

  size_t llama3(size_t i) const {
    if (size_t n = contraction(i, true)) return i + n;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (is(i, CharClass::Letter)) return run_end(i, CharClass::Letter);
    if (!is_newline(i) && !is(i, CharClass::Number) && is(i + 1, CharClass::Letter))
      return run_end(i + 1, CharClass::Letter);
    // \p{N}{1,3}
    if (is(i, CharClass::Number)) {
      size_t e = i;
      while (e < i + 3 && is(e, CharClass::Number)) ++e;
      return e;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    const size_t j = (c_[i].cp == ' ' && is(i + 1, CharClass::Other)) ? i + 1 : i;
    if (is(j, CharClass::Other)) {
      size_t e = run_end(j, CharClass::Other);
      while (is_newline(e)) ++e;
      return e;
    }
    // \s*[\r\n]+ : through the last newline of the whitespace run, if it has one
    const size_t e = run_end(i, CharClass::Space);
    for (size_t k = e; k > i; --k)
      if (is_newline(k - 1)) return k;
    return whitespace(i);
  }

 private:
  const std::vector<Char>& c_;
  size_t end_;
};

void split_range(const std::vector<Char>& chars, size_t begin, size_t end, PreTokenizer kind,
                 std::vector<size_t>& cuts) {
  const Matcher m(chars, end);
  for (size_t i = begin; i < end;) {
    i = kind == PreTokenizer::Llama3 ? m.llama3(i) : m.gpt2(i);
    cuts.push_back(i);
  }
}

}  // namespace

PreTokenizer pre_tokenizer_from_name(std::string_view pre) {
  if (pre == "smollm") return PreTokenizer::SmolLM;
  if (pre == "llama-bpe" || pre == "llama3") return PreTokenizer::Llama3;
  if (pre == "gpt2" || pre == "default" || pre.empty()) return PreTokenizer::Gpt2;
  throw std::invalid_argument("unsupported tokenizer pre-tokenizer '" + std::string(pre) +
                              "' (supported: smollm, llama-bpe, gpt2, default)");
}

std::vector<std::string_view> pre_tokenize(std::string_view text, PreTokenizer kind) {
  std::vector<Char> chars;
  chars.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const unicode::Utf8Char c = unicode::decode_utf8(text, pos);
    chars.push_back({c.code_point, classify(c.code_point), pos});
    pos += c.length;
  }
  std::vector<size_t> cuts;  // char indices where pieces end
  if (kind == PreTokenizer::SmolLM) {
    size_t begin = 0;
    for (size_t i = 0; i <= chars.size(); ++i) {
      if (i < chars.size() && chars[i].cls != CharClass::Number) continue;
      split_range(chars, begin, i, PreTokenizer::Gpt2, cuts);
      if (i < chars.size()) cuts.push_back(i + 1);
      begin = i + 1;
    }
  } else {
    split_range(chars, 0, chars.size(), kind, cuts);
  }
  std::vector<std::string_view> pieces;
  pieces.reserve(cuts.size());
  size_t start = 0;
  for (size_t cut : cuts) {
    const size_t stop = cut < chars.size() ? chars[cut].offset : text.size();
    pieces.push_back(text.substr(start, stop - start));
    start = stop;
  }
  return pieces;
}

}  // namespace ckv
