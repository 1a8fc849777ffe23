#include "engine/tokenizer/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "engine/tokenizer/byte_level_bpe.hpp"
#include "engine/tokenizer/pretokenizer.hpp"
#include "engine/tokenizer/sentencepiece.hpp"

namespace ckv {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

bool is_special_type(TokenType t) {
  return t == TokenType::Control || t == TokenType::Unknown || t == TokenType::UserDefined;
}

// "<0xAB>" -> 0xAB, else -1.
int byte_token_value(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9') value |= c - '0';
    else if (c >= 'A' && c <= 'F') value |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') value |= c - 'a' + 10;
    else return -1;
  }
  return value;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0;;) {
    const size_t hit = s.find(from, pos);
    out.append(s.substr(pos, hit == std::string_view::npos ? std::string_view::npos : hit - pos));
    if (hit == std::string_view::npos) return out;
    out.append(to);
    pos = hit + from.size();
  }
}

void check_id(int32_t id, size_t n, const char* what) {
  if (id < -1 || id >= int64_t(n))
    throw std::invalid_argument(std::string("tokenizer ") + what + " id " + std::to_string(id) +
                                " is outside the vocabulary of " + std::to_string(n) + " tokens");
}

}  // namespace

struct Tokenizer::Impl {
  struct Special {
    std::string_view text;
    int32_t id;
    bool always;  // user-defined: matched even without parse_special
  };
  struct Fragment {
    std::string_view text;  // raw text when id < 0
    int32_t id = -1;
  };

  TokenizerData data;
  bool is_bpe = false;
  bool escape_spaces = false;  // llama vocabulary written with U+2581
  std::vector<TokenType> types;
  std::vector<std::string> pieces;  // bytes each token decodes to
  TokenIdMap token_ids;
  TokenIdMap spm_piece_ids;
  std::array<std::vector<Special>, 256> specials_by_first_byte;  // longest first
  std::unordered_set<int32_t> end_of_generation;
  PreTokenizer pre = PreTokenizer::Gpt2;
  std::optional<BytePairEncoder> bpe;
  std::optional<SentencePieceEncoder> spm;

  explicit Impl(TokenizerData d);
  Impl(const Impl&) = delete;  // the encoders and specials point into this object
  Impl& operator=(const Impl&) = delete;
  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;
  bool strips_prefix_after(int32_t prev) const {
    return !is_bpe && data.add_space_prefix && (prev < 0 || is_special_type(types[prev]));
  }
  void check_token(int32_t id) const {
    if (id < 0 || id >= int32_t(pieces.size()))
      throw std::invalid_argument("token id " + std::to_string(id) + " is outside [0, " +
                                  std::to_string(pieces.size()) + ")");
  }
};

Tokenizer::Impl::Impl(TokenizerData d) : data(std::move(d)) {
  const size_t n = data.tokens.size();
  if (data.model == "gpt2") {
    is_bpe = true;
  } else if (data.model != "llama") {
    throw std::invalid_argument("unsupported tokenizer model '" + data.model + "' (expected \"gpt2\" or \"llama\")");
  }
  if (n == 0) throw std::invalid_argument("tokenizer has no tokens");
  if (n > size_t(INT32_MAX)) throw std::invalid_argument("tokenizer has too many tokens");
  if (!data.token_types.empty() && data.token_types.size() != n)
    throw std::invalid_argument("tokenizer has " + std::to_string(data.token_types.size()) + " token types for " +
                                std::to_string(n) + " tokens");
  if (!is_bpe && data.scores.size() != n)
    throw std::invalid_argument("llama tokenizer has " + std::to_string(data.scores.size()) + " scores for " +
                                std::to_string(n) + " tokens");
  check_id(data.bos, n, "bos");
  check_id(data.eos, n, "eos");
  check_id(data.unk, n, "unknown");
  check_id(data.pad, n, "padding");
  for (int32_t id : data.end_of_generation_ids)
    if (id < 0 || id >= int64_t(n))
      throw std::invalid_argument("tokenizer end-of-generation id " + std::to_string(id) +
                                  " is outside the vocabulary of " + std::to_string(n) + " tokens");

  types.resize(n, TokenType::Normal);
  for (size_t i = 0; i < data.token_types.size(); ++i) types[i] = TokenType(data.token_types[i]);
  if (!is_bpe && data.token_types.empty()) {
    for (size_t i = 0; i < n; ++i)
      if (byte_token_value(data.tokens[i]) >= 0) types[i] = TokenType::Byte;
  }
  token_ids.reserve(n);
  for (size_t i = 0; i < n; ++i) token_ids.try_emplace(data.tokens[i], int32_t(i));

  escape_spaces = !is_bpe && std::any_of(data.tokens.begin(), data.tokens.end(), [](const std::string& t) {
    return t.find(kSpaceMarker) != std::string::npos;
  });

  pieces.resize(n);
  std::array<int32_t, 256> byte_tokens;
  byte_tokens.fill(-1);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = data.tokens[i];
    const int byte = types[i] == TokenType::Byte ? byte_token_value(text) : -1;
    if (byte >= 0) {
      pieces[i] = std::string(1, char(byte));
      if (byte_tokens[byte] < 0) byte_tokens[byte] = int32_t(i);
    } else if (is_special_type(types[i])) {
      pieces[i] = text;
    } else if (is_bpe) {
      pieces[i] = byte_level_decode(text);
    } else {
      pieces[i] = escape_spaces ? replace_all(text, kSpaceMarker, " ") : text;
    }
  }

  if (is_bpe) {
    pre = pre_tokenizer_from_name(data.pre);
    bpe.emplace(data.merges, token_ids, data.unk, pre == PreTokenizer::Llama3);
  } else {
    for (size_t i = 0; i < n; ++i)
      if (!is_special_type(types[i]) && types[i] != TokenType::Byte)
        spm_piece_ids.try_emplace(data.tokens[i], int32_t(i));
    spm.emplace(spm_piece_ids, data.scores, byte_tokens, data.unk);
  }

  for (size_t i = 0; i < n; ++i) {
    if (!is_special_type(types[i]) || data.tokens[i].empty()) continue;
    const std::string& text = data.tokens[i];
    specials_by_first_byte[uint8_t(text[0])].push_back({text, int32_t(i), types[i] == TokenType::UserDefined});
  }
  for (auto& bucket : specials_by_first_byte)
    std::stable_sort(bucket.begin(), bucket.end(),
                     [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });

  if (data.eos >= 0) end_of_generation.insert(data.eos);
  for (int32_t id : data.end_of_generation_ids) end_of_generation.insert(id);
  for (const char* marker : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>"}) {
    const auto it = token_ids.find(marker);
    if (it != token_ids.end() && (data.token_types.empty() || is_special_type(types[it->second])))
      end_of_generation.insert(it->second);
  }
}

// Leftmost-longest matching of special tokens; the text between matches stays raw.
std::vector<Tokenizer::Impl::Fragment> Tokenizer::Impl::split_special(std::string_view text,
                                                                      bool parse_special) const {
  std::vector<Fragment> out;
  size_t raw_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const Special* hit = nullptr;
    for (const Special& s : specials_by_first_byte[uint8_t(text[pos])]) {
      if ((parse_special || s.always) && text.substr(pos, s.text.size()) == s.text) {
        hit = &s;
        break;
      }
    }
    if (!hit) {
      ++pos;
      continue;
    }
    if (pos > raw_start) out.push_back({text.substr(raw_start, pos - raw_start)});
    out.push_back({{}, hit->id});
    pos += hit->text.size();
    raw_start = pos;
  }
  if (raw_start < text.size()) out.push_back({text.substr(raw_start)});
  return out;
}

Tokenizer::Tokenizer(TokenizerData data) : impl_(std::make_shared<const Impl>(std::move(data))) {}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos) {
    if (m.data.bos < 0) throw std::invalid_argument("encode: add_bos is set but the vocabulary has no BOS token");
    out.push_back(m.data.bos);
  }
  bool after_special = true;  // the start of the text counts as following a special token
  for (const Impl::Fragment& f : m.split_special(text, parse_special)) {
    if (f.id >= 0) {
      out.push_back(f.id);
      after_special = true;
      continue;
    }
    if (m.is_bpe) {
      for (std::string_view piece : pre_tokenize(f.text, m.pre)) m.bpe->encode(piece, out);
    } else {
      std::string s(m.data.add_space_prefix && after_special ? 1 : 0, ' ');
      s.append(f.text);
      if (m.escape_spaces) s = replace_all(s, " ", kSpaceMarker);
      m.spm->encode(s, out);
    }
    after_special = false;
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  const Impl& m = *impl_;
  std::string out;
  int32_t prev = -1;
  for (int32_t id : ids) {
    m.check_token(id);
    const bool special = m.types[id] == TokenType::Control || m.types[id] == TokenType::Unknown;
    if (!special || render_special) {
      std::string_view piece = m.pieces[id];
      if (m.strips_prefix_after(prev) && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
      out.append(piece);
    }
    prev = id;
  }
  return out;
}

std::string Tokenizer::token_text(int32_t id) const {
  impl_->check_token(id);
  return impl_->pieces[id];
}

std::string Tokenizer::token_text_after(int32_t prev, int32_t id) const {
  const Impl& m = *impl_;
  m.check_token(id);
  if (prev >= 0) m.check_token(prev);
  std::string_view piece = m.pieces[id];
  if (m.strips_prefix_after(prev) && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
  return std::string(piece);
}

int32_t Tokenizer::vocab_size() const { return int32_t(impl_->pieces.size()); }

bool Tokenizer::is_end_of_generation(int32_t id) const { return impl_->end_of_generation.count(id) != 0; }

int32_t Tokenizer::bos() const { return impl_->data.bos; }
int32_t Tokenizer::eos() const { return impl_->data.eos; }
const TokenizerData& Tokenizer::data() const { return impl_->data; }

}  // namespace ckv
