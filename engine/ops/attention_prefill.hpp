// Causal grouped-query attention over the KV cache for a chunk of prefill queries (flash-attention style).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/kv_dtype.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

// Query i of the chunk sits at position q_offset + i and sees keys 0 .. q_offset + i of the cache.
// Q: f32, element (h, i, c) at h * q_head_stride + i * q_token_stride + c (floats).
// K, V: the cache layout [n_kv, kv_capacity, head_dim] in kv_dtype (f16 packed in pairs).
// O: f32, element (i, h, c) at i * o_token_stride + h * o_head_stride + c (floats).
struct PrefillAttentionParams {
  uint32_t n_q = 0, n_kv = 0, head_dim = 0;
  uint32_t t_q = 0, q_offset = 0, kv_length = 0, kv_capacity = 0;
  uint32_t q_head_stride = 0, q_token_stride = 0;
  uint32_t o_token_stride = 0, o_head_stride = 0;
  float scale = 0;  // usually 1 / sqrt(head_dim)
  KvDtype kv_dtype = KvDtype::F16;
};

// Throws std::invalid_argument when the shapes, strides or buffer sizes do not fit together.
void record_prefill_attention(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& params,
                              const vk::BufferRange& q, const vk::BufferRange& k, const vk::BufferRange& v,
                              const vk::BufferRange& o);

// The tile shape the kernel runs with: a workgroup of `workgroup` threads owns `query_rows` queries of one head
// and steps through the keys `key_cols` at a time, using `shared_bytes` of shared memory. Its threads form a grid
// of (workgroup / key_threads) x key_threads: rows across the first, keys and output columns across the second.
struct PrefillAttentionTiles {
  uint32_t workgroup = 0, query_rows = 0, key_cols = 0, key_threads = 0;
  uint32_t shared_bytes = 0;
};

// Every tile shape the kernel supports for head_dim within shared_memory_bytes, tallest first.
std::vector<PrefillAttentionTiles> prefill_attention_tile_candidates(uint32_t head_dim, uint32_t shared_memory_bytes);

// The tallest tile that fits `shared_memory_bytes` with bounded registers per thread and no taller than the chunk
// needs; among those, the one with the fewest shared-memory reads per multiply-add. Throws std::invalid_argument when
// no tile fits.
PrefillAttentionTiles choose_prefill_attention_tiles(uint32_t head_dim, uint32_t t_q, uint32_t shared_memory_bytes);

// Runs with the given tile shape (one of the candidates for this device), for tests and benchmarks.
void record_prefill_attention(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& params,
                              const PrefillAttentionTiles& tiles, const vk::BufferRange& q, const vk::BufferRange& k,
                              const vk::BufferRange& v, const vk::BufferRange& o);

}  // namespace ckv::ops
