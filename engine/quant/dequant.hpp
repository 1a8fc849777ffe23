// CPU dequantization of the ggml weight types the kernels support, value for value as ggml's dequantize_row_*
// (ggml-quants.c) computes it, and CPU quantizers that make valid test weights.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/quant/ggml_type.hpp"

namespace ckv::quant {

// Dequantizes out.size() elements (a multiple of the type's block size) from the raw blocks in `data`, which must
// hold at least their bytes. Throws std::invalid_argument for an unsupported type or a size mismatch.
void dequantize(GgmlType type, std::span<const uint8_t> data, std::span<float> out);
std::vector<float> dequantize(GgmlType type, std::span<const uint8_t> data, size_t count);

// Row `row` of a ggml tensor of shape [k, n] (n rows of k elements) stored in `tensor`.
std::vector<float> dequantize_row(GgmlType type, std::span<const uint8_t> tensor, uint32_t k, uint64_t row);

// Quantizes values (a multiple of the block size) into blocks. F32 and F16 store the values; Q8_0, Q4_0 and Q4_1
// follow ggml's reference quantizers (quantize_row_*_ref) bit for bit; Q4_K and Q6_K use a plain min/max scale
// choice (valid blocks that dequantize close to the input, not ggml's optimised search).
// Q4_0_X8 goes through Q4_0's quantizer and then repack_q4_0_x8.
std::vector<uint8_t> quantize(GgmlType type, std::span<const float> values);

// Q4_0 blocks (a multiple of 8: 144 bytes each 8) rearranged into Q4_0_X8 super-blocks of the same size, and back.
// Throws std::invalid_argument when the sizes differ or are not whole super-blocks.
void repack_q4_0_x8(std::span<const uint8_t> q4_0, std::span<uint8_t> out);
void unpack_q4_0_x8(std::span<const uint8_t> x8, std::span<uint8_t> q4_0);

}  // namespace ckv::quant
