#include "engine/gguf/gguf_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/half.hpp"

namespace ckv {

namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

constexpr uint32_t kVersion = 3;

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

[[noreturn]] void fail(const std::string& what) { throw GgufError("gguf writer: " + what); }

// Serialized size of a metadata value (without its type id).
uint64_t value_bytes(const GgufValue& v);

uint64_t array_bytes(const GgufArray& a) {
  return 4 + 8 + std::visit(
                     [](const auto& elements) -> uint64_t {
                       using T = typename std::decay_t<decltype(elements)>::value_type;
                       if constexpr (std::is_same_v<T, std::string>) {
                         uint64_t n = 0;
                         for (const auto& s : elements) n += 8 + s.size();
                         return n;
                       } else if constexpr (std::is_same_v<T, GgufArray>) {
                         uint64_t n = 0;
                         for (const auto& inner : elements) n += array_bytes(inner);
                         return n;
                       } else if constexpr (std::is_same_v<T, bool>) {
                         return elements.size();
                       } else {
                         return elements.size() * sizeof(T);
                       }
                     },
                     a.elements);
}

uint64_t value_bytes(const GgufValue& v) {
  return std::visit(
      [](const auto& x) -> uint64_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) return 8 + x.size();
        else if constexpr (std::is_same_v<T, GgufArray>) return array_bytes(x);
        else if constexpr (std::is_same_v<T, bool>) return 1;
        else return sizeof(T);
      },
      v.value);
}

class Out {
 public:
  explicit Out(std::ostream& s) : s_(s) {}
  template <typename T>
  void pod(const T& x) { s_.write(reinterpret_cast<const char*>(&x), sizeof(T)); }
  void bytes(const void* p, size_t n) { s_.write(static_cast<const char*>(p), std::streamsize(n)); }
  void string(const std::string& x) {
    pod(uint64_t(x.size()));
    bytes(x.data(), x.size());
  }
  void zeros(uint64_t n) {
    static const char kZeros[64] = {};
    for (; n > 0; n -= std::min<uint64_t>(n, sizeof kZeros)) bytes(kZeros, std::min<uint64_t>(n, sizeof kZeros));
  }

  void array(const GgufArray& a) {
    pod(uint32_t(a.element_type()));
    pod(uint64_t(a.size()));
    std::visit(
        [&](const auto& elements) {
          using T = typename std::decay_t<decltype(elements)>::value_type;
          if constexpr (std::is_same_v<T, std::string>) {
            for (const auto& s : elements) string(s);
          } else if constexpr (std::is_same_v<T, GgufArray>) {
            for (const auto& inner : elements) array(inner);
          } else if constexpr (std::is_same_v<T, bool>) {
            for (bool b : elements) pod(uint8_t(b ? 1 : 0));
          } else {
            bytes(elements.data(), elements.size() * sizeof(T));
          }
        },
        a.elements);
  }

  void value(const GgufValue& v) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>) string(x);
          else if constexpr (std::is_same_v<T, GgufArray>) array(x);
          else if constexpr (std::is_same_v<T, bool>) pod(uint8_t(x ? 1 : 0));
          else pod(x);
        },
        v.value);
  }

 private:
  std::ostream& s_;
};

uint32_t array_depth(const GgufArray& a) {
  const auto* inner = std::get_if<std::vector<GgufArray>>(&a.elements);
  uint32_t depth = 0;
  if (inner)
    for (const auto& x : *inner) depth = std::max(depth, array_depth(x));
  return 1 + depth;
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > GgufFile::kMaxAlignment)
    fail("alignment " + std::to_string(alignment) + " is not a power of two between 1 and " +
         std::to_string(GgufFile::kMaxAlignment));
  metadata_.emplace_back("general.alignment", GgufValue{alignment});
}

void GgufWriter::add(const std::string& key, GgufValue value) {
  if (key.empty()) fail("empty metadata key");
  for (const auto& [k, v] : metadata_)
    if (k == key)
      fail(key == "general.alignment" ? "general.alignment is set by the writer's constructor"
                                      : "duplicate metadata key '" + key + "'");
  if (const auto* a = value.get_if<GgufArray>(); a && array_depth(*a) > GgufFile::kMaxArrayDepth)
    fail("metadata key '" + key + "' nests arrays deeper than " + std::to_string(GgufFile::kMaxArrayDepth) +
         " levels");
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::add_string_array(const std::string& key, std::vector<std::string> values) {
  add(key, GgufValue{GgufArray{std::move(values)}});
}
void GgufWriter::add_f32_array(const std::string& key, std::vector<float> values) {
  add(key, GgufValue{GgufArray{std::move(values)}});
}
void GgufWriter::add_i32_array(const std::string& key, std::vector<int32_t> values) {
  add(key, GgufValue{GgufArray{std::move(values)}});
}

uint64_t GgufWriter::checked_byte_size(const std::string& name, const std::vector<uint64_t>& dims,
                                       GgmlType type) const {
  const std::string context = "tensor '" + name + "'";
  if (name.empty()) fail("empty tensor name");
  for (const Tensor& t : tensors_)
    if (t.name == name) fail("duplicate tensor name '" + name + "'");
  const GgmlTypeTraits* traits = find_ggml_type(static_cast<uint32_t>(type));
  if (!traits) fail(context + " has unknown ggml type id " + std::to_string(static_cast<uint32_t>(type)));
  if (dims.empty() || dims.size() > GgufFile::kMaxDims)
    fail(context + " has " + std::to_string(dims.size()) + " dimensions (1 to " + std::to_string(GgufFile::kMaxDims) +
         " are allowed)");
  uint64_t elements = 1;
  for (uint64_t d : dims) {
    if (d == 0) fail(context + " has a zero dimension");
    if (elements > (uint64_t(1) << 62) / d) fail(context + " has too many elements");
    elements *= d;
  }
  if (dims[0] % traits->block_size)
    fail(context + " has " + std::to_string(dims[0]) + " elements along dim 0, not a multiple of the " +
         std::string(traits->name) + " block size " + std::to_string(traits->block_size));
  return elements / traits->block_size * traits->block_bytes;
}

GgufWriter::Tensor& GgufWriter::new_tensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type) {
  Tensor t;
  t.byte_size = checked_byte_size(name, dims, type);
  t.name = name;
  t.dims = std::move(dims);
  t.type = type;
  t.offset = data_size_;
  data_size_ = align_up(t.offset + t.byte_size, alignment_);
  tensors_.push_back(std::move(t));
  return tensors_.back();
}

void GgufWriter::add_tensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type,
                            std::span<const std::byte> data) {
  // Checked before the tensor is added, so a failed call leaves the writer unchanged.
  const uint64_t size = checked_byte_size(name, dims, type);
  if (data.size() != size)
    fail("tensor '" + name + "' needs " + std::to_string(size) + " bytes of data, got " + std::to_string(data.size()));
  Tensor& t = new_tensor(name, std::move(dims), type);
  t.data.assign(data.begin(), data.end());
}

void GgufWriter::add_tensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type, TensorFill fill) {
  if (!fill) fail("tensor '" + name + "' has no fill function");
  new_tensor(name, std::move(dims), type).fill = std::move(fill);
}

void GgufWriter::add_f32_tensor(const std::string& name, std::vector<uint64_t> dims, std::span<const float> values) {
  add_tensor(name, std::move(dims), GgmlType::F32, std::as_bytes(values));
}

void GgufWriter::add_f16_tensor(const std::string& name, std::vector<uint64_t> dims, std::span<const float> values) {
  std::vector<uint16_t> halves(values.size());
  std::transform(values.begin(), values.end(), halves.begin(), float_to_half);
  add_tensor(name, std::move(dims), GgmlType::F16, std::as_bytes(std::span<const uint16_t>(halves)));
}

uint64_t GgufWriter::header_size() const {
  uint64_t n = 4 + 4 + 8 + 8;
  for (const auto& [key, value] : metadata_) n += 8 + key.size() + 4 + value_bytes(value);
  for (const Tensor& t : tensors_) n += 8 + t.name.size() + 4 + 8 * t.dims.size() + 4 + 8;
  return n;
}

uint64_t GgufWriter::file_size() const { return align_up(header_size(), alignment_) + data_size_; }

void GgufWriter::write_to(std::ostream& stream) const {
  Out out(stream);
  out.bytes("GGUF", 4);
  out.pod(kVersion);
  out.pod(uint64_t(tensors_.size()));
  out.pod(uint64_t(metadata_.size()));
  for (const auto& [key, value] : metadata_) {
    out.string(key);
    out.pod(uint32_t(value.type()));
    out.value(value);
  }
  for (const Tensor& t : tensors_) {
    out.string(t.name);
    out.pod(uint32_t(t.dims.size()));
    for (uint64_t d : t.dims) out.pod(d);
    out.pod(static_cast<uint32_t>(t.type));
    out.pod(t.offset);
  }
  const uint64_t header = header_size();
  out.zeros(align_up(header, alignment_) - header);
  std::vector<std::byte> scratch;
  for (const Tensor& t : tensors_) {
    if (t.fill) {
      scratch.assign(t.byte_size, std::byte{0});
      t.fill(scratch);
      out.bytes(scratch.data(), scratch.size());
    } else {
      out.bytes(t.data.data(), t.data.size());
    }
    out.zeros(align_up(t.byte_size, alignment_) - t.byte_size);
  }
}

std::vector<std::byte> GgufWriter::to_bytes() const {
  std::ostringstream s(std::ios::binary);
  write_to(s);
  const std::string text = std::move(s).str();
  std::vector<std::byte> bytes(text.size());
  if (!text.empty()) std::memcpy(bytes.data(), text.data(), text.size());
  return bytes;
}

void GgufWriter::write(const std::filesystem::path& path) const {
  const std::filesystem::path temp = path.string() + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) fail(path.string() + ": cannot write: " + std::strerror(errno));
    try {
      write_to(out);
    } catch (...) {
      out.close();
      std::filesystem::remove(temp, ec);
      throw;
    }
    out.close();
    if (!out) {
      const std::string reason = std::strerror(errno);
      std::filesystem::remove(temp, ec);
      fail(path.string() + ": cannot write: " + reason);
    }
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    fail(path.string() + ": cannot write: " + ec.message());
  }
}

}  // namespace ckv
