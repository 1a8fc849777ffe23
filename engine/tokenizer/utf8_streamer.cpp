#include "engine/tokenizer/utf8_streamer.hpp"

#include "engine/tokenizer/unicode.hpp"

namespace ckv {

std::string Utf8Streamer::push(std::string_view bytes) {
  pending_.append(bytes);
  const size_t keep = unicode::incomplete_utf8_tail(pending_);
  std::string ready = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return ready;
}

std::string Utf8Streamer::flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace ckv
