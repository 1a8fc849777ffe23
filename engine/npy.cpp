#include "engine/npy.hpp"

#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>

namespace ckv {

static_assert(std::endian::native == std::endian::little, "the .npy code assumes a little-endian host");

namespace {

constexpr std::array<char, 6> kMagic = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
constexpr const char* kSupported = "<f4, <f8, <i4, <i8, <u4";

std::optional<size_t> dtype_size(const std::string& dtype) {
  if (dtype == "<f4" || dtype == "<i4" || dtype == "<u4") return 4;
  if (dtype == "<f8" || dtype == "<i8") return 8;
  return std::nullopt;
}

// Header text or a dtype quoted in an error message: printable ASCII only, bounded, so the message stays one line.
std::string printable(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 40) out += "...";
  return out;
}

std::string shape_string(std::span<const size_t> shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// Product of the dims times item_size, or nullopt when it does not fit size_t.
std::optional<size_t> byte_count(std::span<const size_t> shape, size_t item_size) {
  size_t n = item_size;
  for (size_t d : shape) {
    if (d != 0 && n > std::numeric_limits<size_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

// ---- Header: a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }

struct HeaderValue {
  enum Kind { String, Bool, Tuple } kind = String;
  std::string text;
  bool flag = false;
  std::vector<size_t> dims;
};

class HeaderParser {
 public:
  explicit HeaderParser(const std::string& text) : s_(text) {}

  // Returns an empty string on success, else the problem.
  std::string parse(std::string& descr, bool& fortran, std::vector<size_t>& shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_space();
    if (!eat('{')) return "header is not a dict";
    for (;;) {
      skip_space();
      if (eat('}')) break;
      std::string key;
      if (!read_string(key)) return "bad key in header";
      skip_space();
      if (!eat(':')) return "missing ':' after key '" + printable(key) + "' in header";
      skip_space();
      HeaderValue value;
      if (peek() == '[') return "structured dtypes are not supported (supported: " + std::string(kSupported) + ")";
      if (!read_value(value)) return "bad value for key '" + printable(key) + "' in header";
      if (key == "descr" && value.kind == HeaderValue::String && !have_descr) {
        descr = value.text;
        have_descr = true;
      } else if (key == "fortran_order" && value.kind == HeaderValue::Bool && !have_fortran) {
        fortran = value.flag;
        have_fortran = true;
      } else if (key == "shape" && value.kind == HeaderValue::Tuple && !have_shape) {
        shape = value.dims;
        have_shape = true;
      } else {
        return "unexpected or repeated key '" + printable(key) + "' in header";
      }
      skip_space();
      if (eat(',')) continue;
      skip_space();
      if (eat('}')) break;
      return "expected ',' or '}' in header";
    }
    skip_space();
    if (pos_ != s_.size()) return "text after the header dict";
    if (!have_descr || !have_fortran || !have_shape) return "header lacks one of 'descr', 'fortran_order', 'shape'";
    return "";
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool eat_word(const char* word) {
    const size_t n = std::strlen(word);
    if (s_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }
  bool read_string(std::string& out) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') return false;
    const size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string::npos) return false;
    out = s_.substr(pos_ + 1, end - pos_ - 1);
    if (out.find('\\') != std::string::npos) return false;  // no escapes in any valid key or dtype
    pos_ = end + 1;
    return true;
  }
  bool read_dim(size_t& out) {
    if (peek() < '0' || peek() > '9') return false;
    size_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const size_t digit = size_t(peek() - '0');
      if (v > (std::numeric_limits<size_t>::max() - digit) / 10) return false;
      v = v * 10 + digit;
      ++pos_;
    }
    eat('L');  // Python 2 long suffix written by old NumPy
    out = v;
    return true;
  }
  bool read_tuple(std::vector<size_t>& dims) {
    if (!eat('(')) return false;
    skip_space();
    if (eat(')')) return true;
    for (;;) {
      size_t d;
      if (!read_dim(d)) return false;
      dims.push_back(d);
      skip_space();
      const bool comma = eat(',');
      skip_space();
      if (eat(')')) return dims.size() > 1 || comma;  // "(3)" is an int in Python, not a tuple
      if (!comma) return false;
    }
  }
  bool read_value(HeaderValue& v) {
    if (peek() == '\'' || peek() == '"') {
      v.kind = HeaderValue::String;
      return read_string(v.text);
    }
    if (peek() == '(') {
      v.kind = HeaderValue::Tuple;
      return read_tuple(v.dims);
    }
    v.kind = HeaderValue::Bool;
    v.flag = eat_word("True");
    return v.flag || eat_word("False");
  }

  const std::string& s_;
  size_t pos_ = 0;
};

std::string header_text(const std::string& descr, std::span<const size_t> shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_string(shape) + ", }";
}

// Preamble + header padded with spaces and ended by '\n' to a multiple of 64 bytes.
std::string npy_preamble(const std::string& descr, std::span<const size_t> shape) {
  std::string header = header_text(descr, shape);
  for (int version : {1, 2}) {
    const size_t fixed = 8 + (version == 1 ? 2 : 4);
    const size_t padded = (fixed + header.size() + 1 + 63) / 64 * 64;
    const size_t header_len = padded - fixed;
    if (version == 1 && header_len > 0xffff) continue;
    std::string out(kMagic.begin(), kMagic.end());
    out += char(version);
    out += char(0);
    for (size_t i = 0; i < fixed - 8; ++i) out += char((header_len >> (8 * i)) & 0xff);
    out += header;
    out.append(header_len - header.size() - 1, ' ');
    out += '\n';
    return out;
  }
  throw std::invalid_argument("write_npy: header of shape " + shape_string(shape) + " is too long");
}

void write_npy(const std::filesystem::path& path, const std::string& descr, std::span<const size_t> shape,
               const void* data, size_t count, size_t item_size) {
  const std::optional<size_t> bytes = byte_count(shape, item_size);
  if (!bytes || *bytes != count * item_size)
    throw std::invalid_argument("write_npy: " + path.string() + ": shape " + shape_string(shape) + " holds " +
                                (bytes ? std::to_string(*bytes / item_size) : std::string("too many")) +
                                " elements but " + std::to_string(count) + " were given");
  const std::string preamble = npy_preamble(descr, shape);
  std::filesystem::path temp = path;
  temp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (out) {
      out.write(preamble.data(), std::streamsize(preamble.size()));
      out.write(static_cast<const char*>(data), std::streamsize(*bytes));
      out.close();
    }
    if (!out) {
      const std::string reason = std::strerror(errno);
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
      throw std::runtime_error(path.string() + ": cannot write .npy file: " + reason);
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw std::runtime_error(path.string() + ": cannot write .npy file: " + ec.message());
  }
}

}  // namespace

size_t NpyArray::element_count() const {
  size_t n = 1;
  for (size_t d : shape) n *= d;
  return n;
}

size_t NpyArray::item_size() const {
  const std::optional<size_t> size = dtype_size(dtype);
  if (!size) throw std::runtime_error("npy: unsupported dtype '" + printable(dtype) + "' (supported: " + kSupported + ")");
  return *size;
}

NpyArray read_npy(const std::filesystem::path& path) {
  const std::string name = path.string();
  auto fail = [&](const std::string& problem) -> std::runtime_error { return std::runtime_error(name + ": " + problem); };

  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw fail("is a directory, not a .npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail(std::string("cannot open .npy file: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff file_size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (file_size < 0 || !in) throw fail("cannot determine the file size");

  auto read_exact = [&](void* dst, size_t n) {
    in.read(static_cast<char*>(dst), std::streamsize(n));
    return size_t(in.gcount()) == n;
  };

  std::array<char, 6> magic{};
  const bool got_magic = read_exact(magic.data(), magic.size());
  const size_t got = size_t(in.gcount());
  if (!std::equal(magic.begin(), magic.begin() + got, kMagic.begin())) throw fail("not a .npy file (bad magic)");
  if (!got_magic) throw fail("truncated header (file ends inside the magic string)");

  unsigned char version[2];
  if (!read_exact(version, 2)) throw fail("truncated header (no format version)");
  if (version[0] < 1 || version[0] > 3 || version[1] != 0)
    throw fail("unsupported .npy format version " + std::to_string(version[0]) + "." + std::to_string(version[1]));

  const size_t len_bytes = version[0] == 1 ? 2 : 4;
  unsigned char len_raw[4] = {};
  if (!read_exact(len_raw, len_bytes)) throw fail("truncated header (no header length)");
  size_t header_len = 0;
  for (size_t i = 0; i < len_bytes; ++i) header_len |= size_t(len_raw[i]) << (8 * i);
  const size_t data_offset = 8 + len_bytes + header_len;
  if (data_offset > size_t(file_size))
    throw fail("truncated header (header length " + std::to_string(header_len) + " but the file has " +
               std::to_string(file_size) + " bytes)");

  std::string header(header_len, '\0');
  if (!read_exact(header.data(), header_len)) throw fail("read error in the header");

  NpyArray array;
  bool fortran = false;
  const std::string problem = HeaderParser(header).parse(array.dtype, fortran, array.shape);
  if (!problem.empty()) throw fail(problem);
  const std::optional<size_t> item = dtype_size(array.dtype);
  if (!item) {
    if (!array.dtype.empty() && array.dtype[0] == '>')
      throw fail("big-endian dtype '" + printable(array.dtype) + "' is not supported (supported: " + kSupported + ")");
    throw fail("unsupported dtype '" + printable(array.dtype) + "' (supported: " + kSupported + ")");
  }
  if (fortran) throw fail("Fortran-order arrays are not supported (save a C-order array)");

  const std::optional<size_t> bytes = byte_count(array.shape, *item);
  if (!bytes) throw fail("shape " + shape_string(array.shape) + " is too large");
  const size_t available = size_t(file_size) - data_offset;
  if (*bytes > available)
    throw fail("truncated data (shape " + shape_string(array.shape) + " of " + array.dtype + " needs " +
               std::to_string(*bytes) + " bytes, the file has " + std::to_string(available) + ")");
  if (*bytes < available)
    throw fail("size mismatch (shape " + shape_string(array.shape) + " of " + array.dtype + " needs " +
               std::to_string(*bytes) + " bytes, the file has " + std::to_string(available) + ")");

  array.data.resize(*bytes);
  if (!read_exact(array.data.data(), *bytes)) throw fail("read error in the data");
  return array;
}

namespace {

template <class Out, class In>
void convert(const NpyArray& a, std::vector<Out>& out) {
  const std::byte* p = a.data.data();
  for (size_t i = 0; i < out.size(); ++i) {
    In v;
    std::memcpy(&v, p + i * sizeof(In), sizeof(In));
    out[i] = Out(v);
  }
}

void check_data_size(const NpyArray& a) {
  const std::optional<size_t> bytes = byte_count(a.shape, a.item_size());
  if (!bytes || *bytes != a.data.size())
    throw std::runtime_error("npy: array of shape " + shape_string(a.shape) + " and dtype " + a.dtype + " has " +
                             std::to_string(a.data.size()) + " data bytes");
}

}  // namespace

std::vector<float> as_float(const NpyArray& a) {
  check_data_size(a);
  std::vector<float> out(a.element_count());
  if (a.dtype == "<f4") convert<float, float>(a, out);
  else if (a.dtype == "<f8") convert<float, double>(a, out);
  else if (a.dtype == "<i4") convert<float, int32_t>(a, out);
  else if (a.dtype == "<i8") convert<float, int64_t>(a, out);
  else convert<float, uint32_t>(a, out);
  return out;
}

std::vector<int64_t> as_int64(const NpyArray& a) {
  check_data_size(a);
  std::vector<int64_t> out(a.element_count());
  if (a.dtype == "<i4") convert<int64_t, int32_t>(a, out);
  else if (a.dtype == "<i8") convert<int64_t, int64_t>(a, out);
  else if (a.dtype == "<u4") convert<int64_t, uint32_t>(a, out);
  else throw std::runtime_error("npy: as_int64 needs an integer array, got dtype " + printable(a.dtype));
  return out;
}

void write_npy_float32(const std::filesystem::path& path, std::span<const size_t> shape, std::span<const float> data) {
  write_npy(path, "<f4", shape, data.data(), data.size(), sizeof(float));
}

void write_npy_int32(const std::filesystem::path& path, std::span<const size_t> shape, std::span<const int32_t> data) {
  write_npy(path, "<i4", shape, data.data(), data.size(), sizeof(int32_t));
}

void write_npy_int64(const std::filesystem::path& path, std::span<const size_t> shape, std::span<const int64_t> data) {
  write_npy(path, "<i8", shape, data.data(), data.size(), sizeof(int64_t));
}

}  // namespace ckv
