// Elementwise f32 kernels of the MLP and the residual stream.
#pragma once
#include <cstdint>

#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

// out[i] = silu(gate[i]) * up[i] for i < n, silu(g) = g * sigmoid(g) (Llama's SwiGLU). out may be the same
// range as gate or up (in place). Ranges start at their offsets; each must hold n floats.
// Throws std::invalid_argument when a buffer is missing or too small. n = 0 records nothing.
void record_silu_mul(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& gate,
                     const vk::BufferRange& up, const vk::BufferRange& out, uint32_t n);

// out[i] = a[i] + b[i] for i < n (the residual add). out may be the same range as a or b.
// Throws std::invalid_argument when a buffer is missing or too small. n = 0 records nothing.
void record_add(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& a, const vk::BufferRange& b,
                const vk::BufferRange& out, uint32_t n);

}  // namespace ckv::ops
