// Bounds-checked little-endian cursor over the bytes of a GGUF file (internal to the parser). Every read checks
// the bytes left first; a failure throws GgufError("<name>: <what> at byte <offset>").
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "engine/gguf/gguf_file.hpp"

namespace ckv {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

// A key or tensor name from the file, quoted for an error message: control bytes become '?' and long names are
// cut, so the message stays one short line whatever the file holds.
inline std::string quote_name(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = "'";
  for (char c : s.substr(0, kMax)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (s.size() > kMax) out += "...";
  return out + "'";
}

class GgufReader {
 public:
  GgufReader(std::span<const std::byte> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  [[noreturn]] void fail(const std::string& what, uint64_t at) const {
    throw GgufError(name_ + ": " + what + " at byte " + std::to_string(at));
  }

  // `what` names the item being read in error messages: a string, or a callable returning one, which is only
  // called on failure (for items read in bulk, such as the strings of a 49152-token vocabulary).
  template <typename What>
  static std::string describe(const What& what) {
    if constexpr (std::is_invocable_v<const What&>) return what();
    else return std::string(what);
  }

  // Throws unless n more bytes are available.
  template <typename What>
  void need(uint64_t n, const What& what) const {
    if (n > remaining())
      fail("truncated file: " + describe(what) + " needs " + std::to_string(n) + " bytes, " +
               std::to_string(remaining()) + " left",
           pos_);
  }

  template <typename T, typename What>
  T read(const What& what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  template <typename What>
  std::span<const std::byte> take(uint64_t n, const What& what) {
    need(n, what);
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  // A GGUF string: u64 length + bytes (not NUL-terminated; any byte values are kept).
  template <typename What>
  std::string read_string(const What& what) {
    const uint64_t at = pos_;
    const auto length = read<uint64_t>([&] { return describe(what) + " length"; });
    if (length > remaining())
      fail(describe(what) + " length " + std::to_string(length) + " exceeds the " + std::to_string(remaining()) +
               " bytes left in the file",
           at);
    auto chars = take(length, what);
    return std::string(reinterpret_cast<const char*>(chars.data()), chars.size());
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& name_;
  uint64_t pos_ = 0;
};

}  // namespace ckv
