// Writes GGUF version 3 files (little-endian): metadata of any GGUF value type, tensor infos and aligned tensor
// data, readable by GgufFile and by llama.cpp. Used by model converters and to make synthetic models for tests and
// benchmarks.
//
// Layout: header, metadata in insertion order (general.alignment first), tensor infos in insertion order, padding
// to the alignment, then each tensor's bytes at an offset that is a multiple of the alignment (zero padding).
// Tensor data is either copied in when added, or produced by a callback at write time, so a multi-gigabyte synthetic
// model never has to be held in memory at once.
//
// Every problem (duplicate key or tensor name, bad shape for the type, wrong data size, unwritable path) throws
// GgufError with one line naming the key, tensor or path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.hpp"

namespace ckv {

class GgufWriter {
 public:
  // Fills the tensor's bytes (`out` has exactly the tensor's byte size) when the file is written.
  using TensorFill = std::function<void(std::span<std::byte> out)>;

  // alignment: a power of two in 1..GgufFile::kMaxAlignment, written as general.alignment (UINT32).
  explicit GgufWriter(uint32_t alignment = GgufFile::kDefaultAlignment);

  // Metadata. Keys must be unique and non-empty; general.alignment comes from the constructor.
  void add(const std::string& key, GgufValue value);
  void add_u32(const std::string& key, uint32_t value) { add(key, GgufValue{value}); }
  void add_i32(const std::string& key, int32_t value) { add(key, GgufValue{value}); }
  void add_u64(const std::string& key, uint64_t value) { add(key, GgufValue{value}); }
  void add_f32(const std::string& key, float value) { add(key, GgufValue{value}); }
  void add_bool(const std::string& key, bool value) { add(key, GgufValue{value}); }
  void add_string(const std::string& key, std::string value) { add(key, GgufValue{std::move(value)}); }
  void add_string_array(const std::string& key, std::vector<std::string> values);
  void add_f32_array(const std::string& key, std::vector<float> values);
  void add_i32_array(const std::string& key, std::vector<int32_t> values);

  // Tensors. dims in ggml order (dims[0] contiguous), 1 to 4 of them, each positive; dims[0] a multiple of the
  // type's block size. `data` must hold exactly the tensor's byte size and is copied.
  void add_tensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type, std::span<const std::byte> data);
  void add_tensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type, TensorFill fill);
  // F32 values stored as F32, or converted to F16 (round to nearest even).
  void add_f32_tensor(const std::string& name, std::vector<uint64_t> dims, std::span<const float> values);
  void add_f16_tensor(const std::string& name, std::vector<uint64_t> dims, std::span<const float> values);

  uint32_t alignment() const { return alignment_; }
  // Bytes the whole file will have.
  uint64_t file_size() const;

  // The whole file in memory (for tests and small models).
  std::vector<std::byte> to_bytes() const;
  // Writes the file under a temporary name next to `path` and renames it, so a failure leaves no partial file.
  void write(const std::filesystem::path& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    GgmlType type;
    uint64_t byte_size = 0;
    uint64_t offset = 0;  // in the data section
    std::vector<std::byte> data;  // when copied in
    TensorFill fill;              // otherwise
  };
  // Throws unless the name is new and the shape suits the type.
  uint64_t checked_byte_size(const std::string& name, const std::vector<uint64_t>& dims, GgmlType type) const;
  Tensor& new_tensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type);
  uint64_t header_size() const;  // everything before the data section, padding excluded
  void write_to(std::ostream& out) const;

  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
  uint64_t data_size_ = 0;  // data section bytes so far (aligned end of the last tensor)
};

}  // namespace ckv
