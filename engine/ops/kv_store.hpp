// Appends the K or V rows of new tokens to a layer's KV cache.
#pragma once
#include <cstdint>

#include "engine/kv_dtype.hpp"
#include "engine/ops/rope.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

struct KvStoreParams {
  uint32_t n_kv = 0;            // KV heads
  uint32_t head_dim = 0;        // even
  uint32_t t = 0;               // tokens to store
  uint32_t src_row_stride = 0;  // floats between tokens in src; 0: n_kv * head_dim
  uint32_t dst_capacity = 0;    // token rows per head in dst
  uint32_t dst_start = 0;       // first row to write; dst_start + t <= dst_capacity
  KvDtype dtype = KvDtype::F16;
};

// src: f32 [t, n_kv, head_dim] token-major (the K or V projection after RoPE); dst: the cache
// [n_kv, dst_capacity, head_dim] of `dtype` (f16 packed in pairs, element 2i in the low half, rounded to nearest
// even; or f32 copied exactly). Writes rows dst_start .. dst_start + t - 1 of every head and nothing else.
// Record once for K and once for V. Throws std::invalid_argument on odd or zero head_dim, zero n_kv or
// capacity, rows past the capacity, a row stride below n_kv * head_dim, or buffers too small. t = 0 records
// nothing.
// rope (with positions: u32 [t]): the rows are rotated on the way in, exactly as record_rope would rotate src first
// (rope's n_heads, t and row_stride are ignored: the store's n_kv, t and src_row_stride apply); src is unchanged.
void record_kv_store(vk::Context& ctx, vk::CommandStream& stream, const KvStoreParams& params,
                     const vk::BufferRange& src, const vk::BufferRange& dst, const RopeParams* rope = nullptr,
                     const vk::BufferRange* positions = nullptr);

}  // namespace ckv::ops
