// Buffer copy and fill kernels (the bandwidth reference of the benchmarks).
#pragma once
#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

// Copies src to dst with a compute shader; both ranges must have the same size, a multiple of 16 bytes.
void record_copy(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& src, const vk::BufferRange& dst);
// Sets every 32-bit word of dst to value with a compute shader.
void record_fill(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& dst, uint32_t value);

}  // namespace ckv::ops
