#include "qkv_projection.hpp"

#include <stdexcept>

#include "engine/ops/normed_matmul.hpp"

namespace ckv::ops {

bool qkv_projection_fused(const vk::DeviceInfo& device, const QkvWeights& w, uint32_t t, const RopeParams& rope,
                          const KvStoreParams& store, const MatmulOptions& options) {
  if (rope.mode != RopeMode::Normal || store.dtype != KvDtype::F16) return false;
  for (const WeightView* weight : {w.q, w.k, w.v})
    if (!weight || !row_pair_epilogue_supported(device, *weight, t, options, rope.head_dim)) return false;
  return true;
}

void record_qkv_projection(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& x, uint32_t t,
                           uint32_t n_embd, const vk::BufferRange& norm_weight, float eps, const vk::BufferRange& xn,
                           const QkvWeights& w, const vk::BufferRange& q, const vk::BufferRange& k,
                           const vk::BufferRange& v, RopeParams rope, KvStoreParams store,
                           const vk::BufferRange& k_cache, const vk::BufferRange& v_cache,
                           const vk::BufferRange& positions, const MatmulOptions& options) {
  if (!w.q || !w.k || !w.v) throw std::invalid_argument("qkv projection: missing a weight");
  if (rope.head_dim != store.head_dim) throw std::invalid_argument("qkv projection: RoPE and store head dims differ");
  const uint32_t q_width = w.q->n, kv_width = w.k->n;
  rope.t = store.t = t;
  rope.row_stride = q_width;
  store.src_row_stride = kv_width;
  if (qkv_projection_fused(ctx.device().info(), w, t, rope, store, options)) {
    const RopeAngles angles = rope_angles(rope);
    RowPairEpilogue pairs;
    pairs.head_dim = rope.head_dim;
    pairs.half_rope = angles.half_rope;
    pairs.log2_inv_freq_step = angles.log2_inv_freq_step;
    pairs.freq_scale = angles.freq_scale;
    pairs.capacity = store.dst_capacity;
    pairs.dst_start = store.dst_start;
    pairs.positions = positions;
    const InputNorm norm{norm_weight, eps};
    const vk::IndependentCommands group(stream);
    pairs.mode = RowPairEpilogue::Mode::RotateIntoY;
    pairs.cache = q;  // bound, never written in this mode
    record_matmul(ctx, stream, *w.q, x, t, n_embd, q, q_width, false, options, &norm, &pairs);
    pairs.mode = RowPairEpilogue::Mode::RotateIntoCache;
    pairs.cache = k_cache;
    record_matmul(ctx, stream, *w.k, x, t, n_embd, k, kv_width, false, options, &norm, &pairs);
    pairs.mode = RowPairEpilogue::Mode::IntoCache;
    pairs.cache = v_cache;
    record_matmul(ctx, stream, *w.v, x, t, n_embd, v, kv_width, false, options, &norm, &pairs);
    return;
  }
  const NormedProduct products[] = {{w.q, q, q_width}, {w.k, k, kv_width}, {w.v, v, kv_width}};
  record_normed_matmuls(ctx, stream, x, t, n_embd, norm_weight, eps, xn, products, options);
  // RoPE of q in place; K is rotated on its way into the cache; V is stored as it is.
  const vk::IndependentCommands rope_and_stores(stream);
  record_rope(ctx, stream, rope, q, positions);
  record_kv_store(ctx, stream, store, k, k_cache, &rope, &positions);
  record_kv_store(ctx, stream, store, v, v_cache);
}

}  // namespace ckv::ops
