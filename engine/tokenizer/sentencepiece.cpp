#include "engine/tokenizer/sentencepiece.hpp"

#include <queue>
#include <stdexcept>

#include "engine/tokenizer/unicode.hpp"

namespace ckv {

SentencePieceEncoder::SentencePieceEncoder(const TokenIdMap& piece_ids,
                                           const std::vector<float>& scores,
                                           const std::array<int32_t, 256>& byte_tokens, int32_t unk)
    : piece_ids_(&piece_ids), scores_(&scores), byte_tokens_(byte_tokens), unk_(unk) {}

void SentencePieceEncoder::encode(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  struct Symbol {
    size_t start, length;  // bytes of text; length 0 once merged into its left neighbour
    int32_t prev, next;
  };
  std::vector<Symbol> sym;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = unicode::decode_utf8(text, pos).length;
    sym.push_back({pos, len, int32_t(sym.size()) - 1, -1});
    pos += len;
  }
  for (size_t i = 0; i + 1 < sym.size(); ++i) sym[i].next = int32_t(i + 1);

  struct Candidate {
    float score;
    int32_t left, right;
    size_t length;  // of the concatenation; differs from the symbols' sum once either side has changed
    bool operator<(const Candidate& o) const { return score != o.score ? score < o.score : left > o.left; }
  };
  std::priority_queue<Candidate> queue;
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const size_t length = sym[left].length + sym[right].length;
    const auto it = piece_ids_->find(text.substr(sym[left].start, length));
    if (it != piece_ids_->end()) queue.push({(*scores_)[it->second], left, right, length});
  };
  for (int32_t i = 0; i + 1 < int32_t(sym.size()); ++i) consider(i, i + 1);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    Symbol& r = sym[c.right];
    if (l.length == 0 || r.length == 0 || l.length + r.length != c.length) continue;
    l.length += r.length;
    r.length = 0;
    l.next = r.next;
    if (l.next >= 0) sym[l.next].prev = c.left;
    consider(l.prev, c.left);
    consider(c.left, l.next);
  }

  for (int32_t i = 0; i >= 0; i = sym[i].next) {
    const std::string_view symbol = text.substr(sym[i].start, sym[i].length);
    if (const auto it = piece_ids_->find(symbol); it != piece_ids_->end()) {
      out.push_back(it->second);
      continue;
    }
    for (char ch : symbol) {
      const int32_t id = byte_tokens_[uint8_t(ch)];
      if (id >= 0) {
        out.push_back(id);
      } else if (unk_ >= 0) {
        out.push_back(unk_);
      } else {
        throw std::runtime_error("SentencePiece: no token for byte " + std::to_string(uint8_t(ch)) +
                                 " and no unknown token");
      }
    }
  }
}

}  // namespace ckv
