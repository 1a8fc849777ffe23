// Block layouts of the ggml weight types the matrix kernels read directly (ggml/src/ggml-common.h block_* structs,
// checked against gguf-py 0.19.0 quants.py). The GgmlType enum itself is the GGUF parser's (same ids), so the two
// never disagree; this table is the kernels' own, limited to what they support.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "engine/gguf/gguf_types.hpp"

namespace ckv::quant {

struct BlockLayout {
  uint32_t block_size;   // elements per block
  uint32_t block_bytes;  // bytes per block
};

// F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 8, Q4_K = 12, Q6_K = 14, and the engine's own Q4_0_X8.
inline bool kernel_supported(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::Q4_0: case GgmlType::Q4_1:
    case GgmlType::Q8_0: case GgmlType::Q4_K: case GgmlType::Q6_K: case GgmlType::Q4_0_X8:
      return true;
    default:
      return false;
  }
}

// "Q4_K", or "type 99" for an id no table knows.
inline std::string type_name(GgmlType type) {
  if (type == GgmlType::Q4_0_X8) return "Q4_0_X8";
  if (const GgmlTypeTraits* t = find_ggml_type(static_cast<uint32_t>(type))) return std::string(t->name);
  return "type " + std::to_string(static_cast<uint32_t>(type));
}

inline const char* kernel_supported_names() { return "F32, F16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K"; }

// Throws std::invalid_argument naming the type when the kernels do not support it.
inline BlockLayout block_layout(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return {1, 4};
    case GgmlType::F16: return {1, 2};
    case GgmlType::Q4_0: return {32, 18};   // f16 d; u8 qs[16]
    case GgmlType::Q4_1: return {32, 20};   // f16 d, m; u8 qs[16]
    case GgmlType::Q8_0: return {32, 34};   // f16 d; i8 qs[32]
    case GgmlType::Q4_K: return {256, 144}; // f16 d, dmin; u8 scales[12], qs[128]
    case GgmlType::Q6_K: return {256, 210}; // u8 ql[128], qh[64]; i8 scales[16]; f16 d
    case GgmlType::Q4_0_X8: return {256, 144};  // u8 qs[8][16] of 8 Q4_0 blocks; f16 d[8]
    default:
      throw std::invalid_argument("ggml weight type " + type_name(type) + " is not supported (supported: " +
                                  kernel_supported_names() + ")");
  }
}

// The layout the engine keeps a weight of this file type and row length in on the device. Q4_0 rows of whole
// 256-element super-blocks become Q4_0_X8 (same bytes, same values): each block's 16 quant bytes start on a
// 16-byte boundary, so a matrix-vector thread reads them in one load (an 18-byte Q4_0 block starts at any even
// offset), and the scales lie apart in 16 bytes per super-block.
inline GgmlType device_weight_type(GgmlType type, uint64_t k) {
  return type == GgmlType::Q4_0 && k % 256 == 0 ? GgmlType::Q4_0_X8 : type;
}

// Bytes of one row of k elements (k a multiple of the block size).
inline uint64_t row_bytes(GgmlType type, uint64_t k) {
  const BlockLayout layout = block_layout(type);
  return k / layout.block_size * layout.block_bytes;
}

}  // namespace ckv::quant
