// A layer's attention inputs for new tokens: the Q/K/V projections of the RMS-normed input, RoPE on Q and K, and
// K/V appended to the layer's KV cache. On the matrix-vector kernel with an f16 cache and normal-mode RoPE, each
// projection finishes its rows in place (rotated, stored) in one group of three dispatches; otherwise the products
// go to scratch rows, then RoPE of Q and the two cache stores run as one group.
#pragma once
#include <cstdint>

#include "engine/ops/kv_store.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/ops/rope.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

struct QkvWeights {
  const WeightView *q = nullptr, *k = nullptr, *v = nullptr;  // [n_embd, n_heads * head_dim], [n_embd, kv width] x 2
};

// x: f32 [t, n_embd]; norm_weight f32 [n_embd]; xn: f32 [t, n_embd] scratch (the fallback may normalise into it).
// q: f32 [t, n_heads * head_dim], rotated on return. k, v: f32 [t, n_kv * head_dim] scratch (the fallback's
// projections). rope: the model's RoPE (n_heads = query heads; t and row_stride are taken from here); store: where
// the rows go in the caches (t, n_kv, head_dim, capacity, dst_start, dtype). positions: u32 [t].
void record_qkv_projection(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& x, uint32_t t,
                           uint32_t n_embd, const vk::BufferRange& norm_weight, float eps, const vk::BufferRange& xn,
                           const QkvWeights& weights, const vk::BufferRange& q, const vk::BufferRange& k,
                           const vk::BufferRange& v, RopeParams rope, KvStoreParams store,
                           const vk::BufferRange& k_cache, const vk::BufferRange& v_cache,
                           const vk::BufferRange& positions, const MatmulOptions& options = {});

// Whether record_qkv_projection finishes the rows inside the projections on this device (for tests and benches).
bool qkv_projection_fused(const vk::DeviceInfo& device, const QkvWeights& weights, uint32_t t, const RopeParams& rope,
                          const KvStoreParams& store, const MatmulOptions& options = {});

}  // namespace ckv::ops
