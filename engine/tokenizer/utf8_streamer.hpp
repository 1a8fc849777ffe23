// Streaming token output: a token may end in the middle of a UTF-8 character (byte-fallback and byte-level
// tokens); the streamer holds such an incomplete tail back until the rest arrives.
#pragma once
#include <string>
#include <string_view>

namespace ckv {

class Utf8Streamer {
 public:
  // Returns the bytes that can be printed now: everything so far except an incomplete character at the end.
  // Bytes that can never become valid UTF-8 are passed through unchanged.
  std::string push(std::string_view bytes);
  // Returns whatever is held back (an incomplete character at the end of the stream) and clears it.
  std::string flush();
  bool has_pending() const { return !pending_.empty(); }

 private:
  std::string pending_;
};

}  // namespace ckv
