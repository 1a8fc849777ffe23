// GGUF model files (versions 2 and 3, little-endian): metadata key/values, tensor infos and the tensor data,
// which is memory-mapped and handed out as spans into the map (no copies).
//
// The parser trusts nothing in the file: every count, length, size and offset is checked against the bytes that
// remain before it is used, and nothing is allocated beyond a small multiple of the file size. A malformed or
// truncated file throws GgufError with one line, "<path>: <what> at byte <offset>".
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/gguf/gguf_types.hpp"
#include "engine/gguf/gguf_value.hpp"

namespace ckv {

class MappedFile;

struct GgufError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: dims[0] is the contiguous (innermost) dimension; 0 to 4 entries
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;         // of the data, relative to the start of the data section (as stored)
  uint64_t element_count = 0;  // product of dims (1 for no dims)
  uint64_t byte_size = 0;      // element_count / block size * bytes per block
  uint64_t file_offset = 0;    // absolute offset of the data in the file

  std::string shape_text() const;  // dims for messages, e.g. "[576, 49152]" ("[]" for no dims)
};

// Throws GgufError("tensor '<name>' has type Q5_K, which this engine does not support (supported: ...)") unless
// the engine has kernels for the tensor's type.
void require_supported(const GgufTensorInfo& tensor);

class GgufFile {
 public:
  static constexpr uint32_t kDefaultAlignment = 32;
  static constexpr uint32_t kMaxAlignment = 1u << 20;
  static constexpr uint32_t kMaxArrayDepth = 8;   // nesting of arrays inside arrays
  static constexpr uint32_t kMaxDims = 4;

  // Maps the file read-only and parses it. Throws GgufError on any problem (also when it cannot be opened).
  static GgufFile open(const std::filesystem::path& path);
  // Parses a buffer the caller owns; `bytes` must outlive the returned object (tensor_data points into it).
  // `name` stands for the path in error messages.
  static GgufFile parse_memory(std::span<const std::byte> bytes, std::string name);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute start of the data section
  uint64_t size() const { return bytes_.size(); }

  // Metadata in file order, and lookup by key (nullptr when absent).
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;

  // Typed getters. get_* throw GgufError when the key is missing or holds the wrong type; find_* return nullopt
  // when the key is missing and throw when it is present with the wrong type.
  // Integer getters accept any integer type whose value fits; float getters accept FLOAT32 and FLOAT64.
  uint32_t get_u32(std::string_view key) const;
  uint64_t get_u64(std::string_view key) const;
  float get_f32(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  std::optional<uint32_t> find_u32(std::string_view key) const;
  std::optional<uint64_t> find_u64(std::string_view key) const;
  std::optional<float> find_f32(std::string_view key) const;
  std::optional<bool> find_bool(std::string_view key) const;
  std::optional<std::string> find_string(std::string_view key) const;
  // Arrays: string arrays must hold STRING; f32 arrays FLOAT32 or FLOAT64; i32 arrays any integer type whose
  // values all fit in int32.
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<float> get_f32_array(std::string_view key) const;
  std::vector<int32_t> get_i32_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes inside the mapping. Throws GgufError when the info does not describe a range of this file.
  std::span<const std::byte> tensor_data(const GgufTensorInfo& tensor) const;

 private:
  friend class GgufParser;
  GgufFile();
  const GgufValue& require(std::string_view key) const;
  float to_float(double d, std::string_view key, const std::string& element) const;
  [[noreturn]] void fail(const std::string& what) const;

  std::string name_;
  std::unique_ptr<MappedFile> map_;  // null for parse_memory
  std::span<const std::byte> bytes_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace ckv
