// A whole file memory-mapped read-only (RAII). The mapping stays valid, at the same address, for the object's
// lifetime; moving the object moves ownership of the mapping.
#pragma once
#include <cstddef>
#include <filesystem>
#include <span>

namespace ckv {

class MappedFile {
 public:
  // Throws std::runtime_error("<path>: <reason>") when the file cannot be opened, is not a regular file or
  // cannot be mapped. An empty file gives an empty span.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(data_), size_}; }

 private:
  void unmap() noexcept;

  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ckv
