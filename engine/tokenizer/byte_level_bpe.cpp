#include "engine/tokenizer/byte_level_bpe.hpp"

#include <queue>
#include <stdexcept>

#include "engine/tokenizer/unicode.hpp"

namespace ckv {
namespace {

bool printable_latin1(uint32_t b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

constexpr uint32_t kMappedLimit = 256 + 68;  // every mapped code point is below this

struct ByteMaps {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, kMappedLimit> from_cp{};
  ByteMaps() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      to_cp[b] = printable_latin1(b) ? b : next++;
      from_cp[to_cp[b]] = int16_t(b);
    }
  }
};

const ByteMaps& byte_maps() {
  static const ByteMaps maps;
  return maps;
}

}  // namespace

uint32_t byte_to_code_point(uint8_t byte) { return byte_maps().to_cp[byte]; }

int code_point_to_byte(uint32_t cp) {
  return cp < kMappedLimit ? byte_maps().from_cp[cp] : -1;
}

std::string byte_level_decode(std::string_view token_text) {
  std::string out;
  out.reserve(token_text.size());
  for (size_t pos = 0; pos < token_text.size();) {
    const unicode::Utf8Char c = unicode::decode_utf8(token_text, pos);
    const int byte = c.code_point == unicode::kInvalid ? -1 : code_point_to_byte(c.code_point);
    if (byte >= 0)
      out += char(byte);
    else
      out.append(token_text.substr(pos, c.length));
    pos += c.length;
  }
  return out;
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) unicode::append_utf8(out, byte_to_code_point(uint8_t(b)));
  return out;
}

BytePairEncoder::BytePairEncoder(const std::vector<std::string>& merges, const TokenIdMap& token_ids, int32_t unk,
                                 bool ignore_merges)
    : token_ids_(&token_ids), unk_(unk), ignore_merges_(ignore_merges) {
  for (int b = 0; b < 256; ++b) {
    const auto it = token_ids.find(byte_level_encode(std::string(1, char(b))));
    byte_token_[b] = it == token_ids.end() ? -1 : it->second;
  }
  merges_.reserve(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view m = merges[rank];
    const size_t space = m.find(' ', 1);  // from 1: the left part may itself be a space
    if (space == std::string::npos)
      throw std::invalid_argument("tokenizer merge " + std::to_string(rank) + " '" + std::string(m) +
                                  "' has no space between its two parts");
    const std::string_view left = m.substr(0, space), right = m.substr(space + 1);
    joined.assign(left).append(right);
    const auto l = token_ids.find(left), r = token_ids.find(right), res = token_ids.find(joined);
    if (l == token_ids.end() || r == token_ids.end() || res == token_ids.end()) continue;
    merges_.try_emplace(pair_key(l->second, r->second), Merge{int32_t(rank), res->second});
  }
}

const BytePairEncoder::Merge* BytePairEncoder::find_merge(int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return nullptr;
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BytePairEncoder::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    const auto it = token_ids_->find(byte_level_encode(piece));
    if (it != token_ids_->end()) {
      out.push_back(it->second);
      return;
    }
  }
  // Symbols form a linked list over the piece's bytes; a merge keeps the left symbol and drops the right one.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
  };
  std::vector<Symbol> sym(piece.size());
  for (size_t i = 0; i < piece.size(); ++i)
    sym[i] = {byte_token_[uint8_t(piece[i])], int32_t(i) - 1, i + 1 < piece.size() ? int32_t(i + 1) : -1};

  struct Candidate {
    int32_t rank, left, right, left_id, right_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    if (const Merge* m = find_merge(sym[left].id, sym[right].id))
      queue.push({m->rank, left, right, sym[left].id, sym[right].id});
  };
  for (int32_t i = 0; i + 1 < int32_t(piece.size()); ++i) consider(i, i + 1);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    // Stale when either side was merged since: the ids or the adjacency no longer match.
    if (l.next != c.right || l.id != c.left_id || sym[c.right].id != c.right_id) continue;
    l.id = find_merge(c.left_id, c.right_id)->result;
    l.next = sym[c.right].next;
    if (l.next >= 0) sym[l.next].prev = c.left;
    sym[c.right].id = -2;  // removed
    consider(l.prev, c.left);
    consider(c.left, l.next);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) {
    if (sym[i].id >= 0) {
      out.push_back(sym[i].id);
    } else if (unk_ >= 0) {
      out.push_back(unk_);
    } else {
      throw std::runtime_error("byte-level BPE: no token for byte " + std::to_string(uint8_t(piece[i])) +
                               " and no unknown token");
    }
  }
}

}  // namespace ckv
