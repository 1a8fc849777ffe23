// RMS normalisation of token rows (Llama's pre-attention and pre-MLP norm).
#pragma once
#include <cstdint>

#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

// y[r, i] = x[r, i] / sqrt(mean_i(x[r, :]^2) + eps) * weight[i] for rows r < t.
// x, y: f32 [t, width] with `row_stride` floats between rows (0: width), the same stride for both;
// weight: f32 [width]. x and y may be the same range (in place). The sum of squares is accumulated in fp32 (it
// overflows once sum x^2 exceeds ~3e38). One workgroup per row. `use_subgroup_ops` = false forces the
// shared-memory reduction that devices without subgroup arithmetic get. Throws std::invalid_argument when a size
// is 0 (t = 0 records nothing), eps is negative or not finite, or a buffer is too small.
void record_rms_norm(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& x,
                     const vk::BufferRange& weight, const vk::BufferRange& y, uint32_t t, uint32_t width, float eps,
                     uint32_t row_stride = 0, bool use_subgroup_ops = true);

}  // namespace ckv::ops
