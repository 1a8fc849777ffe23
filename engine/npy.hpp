// NumPy .npy files (format versions 1.0, 2.0 and 3.0): C-order arrays of little-endian '<f4', '<f8', '<i4',
// '<i8' or '<u4'. Used for calibration data, per-layer scores and test fixtures exchanged with Python.
// Reading never trusts the header: every malformed file throws std::runtime_error("<path>: <problem>") on one
// line, and the data size is checked against the file size before anything is allocated.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace ckv {

struct NpyArray {
  std::string dtype;           // descr as written in the file, e.g. "<f4"
  std::vector<size_t> shape;   // empty for a 0-d (scalar) array
  std::vector<std::byte> data; // element_count() * item_size() bytes, C order, little-endian

  size_t element_count() const;  // product of shape (1 for a scalar)
  size_t item_size() const;      // bytes per element of dtype; throws std::runtime_error if dtype is unsupported
};

NpyArray read_npy(const std::filesystem::path& path);

// The elements converted to float (f8 is rounded to nearest, integers above 2^24 lose precision).
std::vector<float> as_float(const NpyArray& array);
// The elements of an integer array ('<i4', '<i8', '<u4'); throws std::runtime_error for float arrays.
std::vector<int64_t> as_int64(const NpyArray& array);

// Write a C-order .npy (version 1.0, or 2.0 when the header needs it). The file is written under a temporary
// name in the same directory and renamed, so a failure leaves no partial file at `path`.
// Throws std::invalid_argument when the product of shape differs from data.size(), std::runtime_error on I/O errors.
void write_npy_float32(const std::filesystem::path& path, std::span<const size_t> shape, std::span<const float> data);
void write_npy_int32(const std::filesystem::path& path, std::span<const size_t> shape, std::span<const int32_t> data);
void write_npy_int64(const std::filesystem::path& path, std::span<const size_t> shape, std::span<const int64_t> data);

}  // namespace ckv
