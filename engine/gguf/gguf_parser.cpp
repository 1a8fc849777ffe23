// The GGUF parser: header, metadata, tensor infos, data section layout. Every count is bounded by the bytes that
// could hold it before anything is allocated, so a hostile file costs at most a few times its own size in memory.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "engine/gguf/gguf_file.hpp"
#include "engine/gguf/gguf_reader.hpp"

namespace ckv {

namespace {

constexpr std::array<char, 4> kMagic = {'G', 'G', 'U', 'F'};

// The fewest bytes one item can take in the file, used to bound counts before they are trusted.
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;         // key length, value type, a 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;   // name length, n_dims, type, offset
constexpr uint64_t kMinArrayBytes = 4 + 8;                // element type, count

// Bytes of one element of a scalar value type; strings and arrays have a minimum instead.
uint64_t min_value_bytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16:
    case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::FLOAT64: return 8;
    case GgufValueType::STRING: return 8;
    case GgufValueType::ARRAY: return kMinArrayBytes;
  }
  return 1;
}

std::string printable_magic(std::span<const std::byte> magic) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::byte b : magic) {
    const auto c = static_cast<unsigned char>(b);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out + "\"";
}

}  // namespace

class GgufParser {
 public:
  GgufParser(std::span<const std::byte> bytes, std::string name) : r_(bytes, file_.name_) {
    file_.name_ = std::move(name);
    file_.bytes_ = bytes;
  }

  GgufFile parse() {
    read_header();
    for (uint64_t i = 0; i < kv_count_; ++i) read_key_value(i);
    read_alignment();
    file_.tensors_.reserve(tensor_count_);  // bounded by the bytes left (checked in read_header)
    for (uint64_t i = 0; i < tensor_count_; ++i) read_tensor_info(i);
    place_tensor_data();
    return std::move(file_);
  }

 private:
  void read_header() {
    auto magic = r_.take(kMagic.size(), "magic");
    if (std::memcmp(magic.data(), kMagic.data(), kMagic.size()) != 0)
      r_.fail("bad magic " + printable_magic(magic) + " (expected \"GGUF\")", 0);

    const uint64_t version_at = r_.pos();
    const auto version = r_.read<uint32_t>("version");
    if (version != 2 && version != 3) {
      const uint32_t swapped = (version >> 24) | ((version >> 8) & 0xff00u) | ((version << 8) & 0xff0000u) | (version << 24);
      if (swapped == 2 || swapped == 3)
        r_.fail("big-endian GGUF files are not supported (version " + std::to_string(swapped) + ")", version_at);
      r_.fail("unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3)", version_at);
    }
    file_.version_ = version;

    const uint64_t counts_at = r_.pos();
    tensor_count_ = r_.read<uint64_t>("tensor count");
    kv_count_ = r_.read<uint64_t>("metadata key/value count");
    const uint64_t left = r_.remaining();
    if (tensor_count_ > left / kMinTensorInfoBytes)
      r_.fail("tensor count " + std::to_string(tensor_count_) + " cannot fit in the " + std::to_string(left) +
                  " bytes left in the file",
              counts_at);
    if (kv_count_ > (left - tensor_count_ * kMinTensorInfoBytes) / kMinKeyValueBytes)
      r_.fail("metadata key/value count " + std::to_string(kv_count_) + " cannot fit in the " +
                  std::to_string(left) + " bytes left in the file",
              counts_at + 8);
  }

  void read_key_value(uint64_t index) {
    const uint64_t key_at = r_.pos();
    std::string key = r_.read_string("metadata key #" + std::to_string(index));
    if (file_.metadata_index_.count(key)) r_.fail("duplicate metadata key " + quote_name(key), key_at);
    const std::string context = "metadata key " + quote_name(key);
    const uint64_t type_at = r_.pos();
    const auto type = r_.read<uint32_t>("value type of " + context);
    const uint64_t value_at = r_.pos();
    GgufValue value = read_value(type, type_at, context);
    if (key == "general.alignment") alignment_at_ = value_at;
    file_.metadata_index_.emplace(key, file_.metadata_.size());
    file_.metadata_.emplace_back(std::move(key), std::move(value));
  }

  GgufValue read_value(uint32_t type, uint64_t type_at, const std::string& context) {
    GgufValue v;
    switch (type) {
      case 0: v.value = r_.read<uint8_t>(context); break;
      case 1: v.value = r_.read<int8_t>(context); break;
      case 2: v.value = r_.read<uint16_t>(context); break;
      case 3: v.value = r_.read<int16_t>(context); break;
      case 4: v.value = r_.read<uint32_t>(context); break;
      case 5: v.value = r_.read<int32_t>(context); break;
      case 6: v.value = r_.read<float>(context); break;
      case 7: v.value = read_bool(context); break;
      case 8: v.value = r_.read_string("string of " + context); break;
      case 9: v.value = read_array(context, 1); break;
      case 10: v.value = r_.read<uint64_t>(context); break;
      case 11: v.value = r_.read<int64_t>(context); break;
      case 12: v.value = r_.read<double>(context); break;
      default: r_.fail("unknown value type " + std::to_string(type) + " of " + context, type_at);
    }
    return v;
  }

  bool read_bool(const std::string& context) {
    const uint64_t at = r_.pos();
    const auto b = r_.read<uint8_t>(context);
    if (b > 1) r_.fail("invalid BOOL value " + std::to_string(b) + " of " + context, at);
    return b == 1;
  }

  template <typename T>
  std::vector<T> read_fixed_elements(uint64_t count, const std::string& context) {
    auto raw = r_.take(count * sizeof(T), [&] { return "elements of " + context; });  // count * size <= remaining: checked
    std::vector<T> out(count);
    if (count) std::memcpy(out.data(), raw.data(), raw.size());
    return out;
  }

  GgufArray read_array(const std::string& context, uint32_t depth) {
    const uint64_t at = r_.pos();
    if (depth > GgufFile::kMaxArrayDepth)
      r_.fail("arrays nested deeper than " + std::to_string(GgufFile::kMaxArrayDepth) + " levels in " + context,
              at);
    const auto element_type = r_.read<uint32_t>([&] { return "array element type of " + context; });
    if (element_type >= kGgufValueTypeCount)
      r_.fail("unknown array element type " + std::to_string(element_type) + " of " + context, at);
    const auto type = static_cast<GgufValueType>(element_type);
    const uint64_t count_at = r_.pos();
    const auto count = r_.read<uint64_t>([&] { return "array count of " + context; });
    const uint64_t min_bytes = min_value_bytes(type);
    if (count > r_.remaining() / min_bytes)
      r_.fail("array count " + std::to_string(count) + " of " + context + " (" + gguf_value_type_name(element_type) +
                  ", at least " + std::to_string(min_bytes) + " bytes each) exceeds the " +
                  std::to_string(r_.remaining()) + " bytes left in the file",
              count_at);

    GgufArray a;
    switch (type) {
      case GgufValueType::UINT8: a.elements = read_fixed_elements<uint8_t>(count, context); break;
      case GgufValueType::INT8: a.elements = read_fixed_elements<int8_t>(count, context); break;
      case GgufValueType::UINT16: a.elements = read_fixed_elements<uint16_t>(count, context); break;
      case GgufValueType::INT16: a.elements = read_fixed_elements<int16_t>(count, context); break;
      case GgufValueType::UINT32: a.elements = read_fixed_elements<uint32_t>(count, context); break;
      case GgufValueType::INT32: a.elements = read_fixed_elements<int32_t>(count, context); break;
      case GgufValueType::FLOAT32: a.elements = read_fixed_elements<float>(count, context); break;
      case GgufValueType::UINT64: a.elements = read_fixed_elements<uint64_t>(count, context); break;
      case GgufValueType::INT64: a.elements = read_fixed_elements<int64_t>(count, context); break;
      case GgufValueType::FLOAT64: a.elements = read_fixed_elements<double>(count, context); break;
      case GgufValueType::BOOL: {
        std::vector<bool> v(count);
        for (uint64_t i = 0; i < count; ++i) v[i] = read_bool(context);
        a.elements = std::move(v);
        break;
      }
      case GgufValueType::STRING: {
        std::vector<std::string> v;
        v.reserve(count);  // count <= remaining / 8
        for (uint64_t i = 0; i < count; ++i)
          v.push_back(r_.read_string([&] { return "string #" + std::to_string(i) + " of " + context; }));
        a.elements = std::move(v);
        break;
      }
      case GgufValueType::ARRAY: {
        std::vector<GgufArray> v;
        v.reserve(count);  // count <= remaining / 12
        for (uint64_t i = 0; i < count; ++i) v.push_back(read_array(context, depth + 1));
        a.elements = std::move(v);
        break;
      }
    }
    return a;
  }

  void read_alignment() {
    const GgufValue* value = file_.find("general.alignment");
    if (!value) return;
    const auto* a = value->get_if<uint32_t>();
    if (!a)
      r_.fail("general.alignment has type " + gguf_value_type_name(value->type()) + " (expected UINT32)",
              alignment_at_);
    if (*a == 0 || !std::has_single_bit(*a) || *a > GgufFile::kMaxAlignment)
      r_.fail("general.alignment " + std::to_string(*a) + " is not a power of two between 1 and " +
                  std::to_string(GgufFile::kMaxAlignment),
              alignment_at_);
    file_.alignment_ = *a;
  }

  void read_tensor_info(uint64_t index) {
    const uint64_t name_at = r_.pos();
    GgufTensorInfo t;
    t.name = r_.read_string("name of tensor #" + std::to_string(index));
    if (file_.tensor_index_.count(t.name)) r_.fail("duplicate tensor name " + quote_name(t.name), name_at);
    const std::string context = "tensor " + quote_name(t.name);

    const uint64_t dims_at = r_.pos();
    const auto n_dims = r_.read<uint32_t>("n_dims of " + context);
    if (n_dims > GgufFile::kMaxDims)
      r_.fail(context + " has " + std::to_string(n_dims) + " dimensions (at most " +
                  std::to_string(GgufFile::kMaxDims) + " are allowed)",
              dims_at);
    constexpr uint64_t kMaxElements = uint64_t(std::numeric_limits<int64_t>::max());  // ggml counts in int64
    t.element_count = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = r_.read<uint64_t>("dims of " + context);
      if (dim != 0 && t.element_count > kMaxElements / dim)
        r_.fail(context + " dims overflow: their product exceeds 2^63 - 1 (dim " + std::to_string(d) + " = " +
                    std::to_string(dim) + ")",
                dims_at);
      t.element_count *= dim;
      t.dims.push_back(dim);
    }

    const uint64_t type_at = r_.pos();
    const auto type_id = r_.read<uint32_t>("type of " + context);
    const GgmlTypeTraits* traits = find_ggml_type(type_id);
    if (!traits) r_.fail(context + " has unknown ggml type id " + std::to_string(type_id), type_at);
    t.type = traits->type;
    const uint64_t dim0 = t.dims.empty() ? 1 : t.dims[0];
    if (dim0 % traits->block_size != 0)
      r_.fail(context + " has " + std::to_string(dim0) + " elements along dim 0, not a multiple of the " +
                  std::string(traits->name) + " block size " + std::to_string(traits->block_size),
              dims_at);
    // Checked against the file size first: the product could overflow 64 bits (2^62 F64 elements are 2^65 bytes).
    const uint64_t blocks = t.element_count / traits->block_size;
    if (blocks > r_.size() / traits->block_bytes)
      r_.fail(context + " " + t.shape_text() + " of " + std::string(traits->name) + " needs more bytes than the " +
                  std::to_string(r_.size()) + " of the whole file",
              dims_at);
    t.byte_size = blocks * traits->block_bytes;

    const uint64_t offset_at = r_.pos();
    t.offset = r_.read<uint64_t>("data offset of " + context);
    if (t.offset % file_.alignment_ != 0)
      r_.fail(context + " data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                  std::to_string(file_.alignment_),
              offset_at);
    offset_fields_.push_back(offset_at);
    file_.tensor_index_.emplace(t.name, file_.tensors_.size());
    file_.tensors_.push_back(std::move(t));
  }

  // The data section starts at the first multiple of the alignment after the tensor infos; every tensor's
  // range must lie inside the file, and no two ranges may overlap.
  void place_tensor_data() {
    const uint64_t size = r_.size();
    const uint64_t end_of_infos = r_.pos();
    file_.data_offset_ = (end_of_infos + file_.alignment_ - 1) / file_.alignment_ * file_.alignment_;
    for (size_t i = 0; i < file_.tensors_.size(); ++i) {
      GgufTensorInfo& t = file_.tensors_[i];
      const uint64_t start = file_.data_offset_;
      if (start > size || t.offset > size - start || t.byte_size > size - start - t.offset)
        r_.fail("tensor " + quote_name(t.name) + " data (" + std::to_string(t.byte_size) + " bytes at offset " +
                    std::to_string(t.offset) + " of the data section at byte " + std::to_string(start) +
                    ") lies outside the file of " + std::to_string(size) + " bytes",
                offset_fields_[i]);
      t.file_offset = start + t.offset;
    }

    // Empty tensors occupy no bytes and cannot overlap anything.
    std::vector<size_t> order;
    for (size_t i = 0; i < file_.tensors_.size(); ++i)
      if (file_.tensors_[i].byte_size > 0) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return file_.tensors_[a].offset < file_.tensors_[b].offset;
    });
    for (size_t k = 1; k < order.size(); ++k) {
      const GgufTensorInfo& prev = file_.tensors_[order[k - 1]];
      const GgufTensorInfo& cur = file_.tensors_[order[k]];
      if (prev.offset + prev.byte_size > cur.offset)
        r_.fail("tensors " + quote_name(prev.name) + " and " + quote_name(cur.name) + " overlap in the data section",
                offset_fields_[order[k]]);
    }
  }

  GgufFile file_;
  GgufReader r_;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  uint64_t alignment_at_ = 0;
  std::vector<uint64_t> offset_fields_;  // position of each tensor's offset field, for error messages
};

GgufFile GgufFile::parse_memory(std::span<const std::byte> bytes, std::string name) {
  return GgufParser(bytes, std::move(name)).parse();
}

}  // namespace ckv
