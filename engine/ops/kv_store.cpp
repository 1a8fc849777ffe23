#include "kv_store.hpp"

#include <span>
#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kGroupSize = 256;

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("kv_store: " + message);
}

}  // namespace

void record_kv_store(vk::Context& ctx, vk::CommandStream& stream, const KvStoreParams& p, const vk::BufferRange& src,
                     const vk::BufferRange& dst, const RopeParams* rope, const vk::BufferRange* positions) {
  require(p.n_kv > 0, "n_kv must be at least 1");
  require(p.head_dim > 0 && p.head_dim % 2 == 0, "head_dim must be even and > 0, got " + std::to_string(p.head_dim));
  require(p.dst_capacity > 0, "dst_capacity must be at least 1");
  require(uint64_t(p.dst_start) + p.t <= p.dst_capacity,
          "rows " + std::to_string(p.dst_start) + " .. " + std::to_string(uint64_t(p.dst_start) + p.t) +
              " (exclusive) do not fit dst_capacity " + std::to_string(p.dst_capacity));
  const uint64_t token_floats = uint64_t(p.n_kv) * p.head_dim;
  const uint64_t row_stride = p.src_row_stride == 0 ? token_floats : p.src_row_stride;
  require(row_stride >= token_floats, "src_row_stride " + std::to_string(row_stride) +
                                          " is smaller than n_kv x head_dim (" + std::to_string(token_floats) + ")");
  require(src.buffer && dst.buffer, "src and dst need buffers");
  const uint64_t src_bytes = p.t == 0 ? 0 : ((p.t - 1) * row_stride + token_floats) * sizeof(float);
  const uint64_t dst_elements = token_floats * p.dst_capacity;
  const uint64_t dst_bytes = dst_elements * kv_dtype_bytes(p.dtype);
  require(uint64_t(p.t) * row_stride <= UINT32_MAX && dst_elements <= UINT32_MAX, "tensor exceeds 2^32 elements");
  require(src.bytes() >= src_bytes, "src holds " + std::to_string(src.bytes()) + " bytes, need " +
                                        std::to_string(src_bytes) + " for f32 [t, n_kv, head_dim] with the row stride");
  require(dst.bytes() >= dst_bytes, "dst holds " + std::to_string(dst.bytes()) + " bytes, need " +
                                        std::to_string(dst_bytes) + " for [n_kv, dst_capacity, head_dim]");
  RopeAngles angles;
  if (rope) {
    require(rope->head_dim == p.head_dim, "rope head_dim " + std::to_string(rope->head_dim) + " differs from " +
                                              std::to_string(p.head_dim));
    angles = rope_angles(*rope);
    require(positions && positions->buffer && positions->bytes() >= uint64_t(p.t) * 4,
            "a rotating store needs u32 positions for its " + std::to_string(p.t) + " tokens");
  }
  if (p.t == 0) return;

  struct Push {
    uint32_t tokens, n_kv, head_dim, src_row_stride, capacity, dst_start;
    uint32_t half_rope, neox;  // rotating variants only
    float log2_inv_freq_step, freq_scale;
  } push{p.t,         p.n_kv,      p.head_dim,         uint32_t(row_stride), p.dst_capacity,
         p.dst_start, angles.half_rope, angles.neox, angles.log2_inv_freq_step, angles.freq_scale};
  const uint32_t push_bytes = rope ? sizeof(Push) : 6 * sizeof(uint32_t);
  const bool f16 = p.dtype == KvDtype::F16;
  const uint64_t words = uint64_t(p.t) * token_floats / (f16 ? 2 : 1);
  const std::string name = std::string(f16 ? "kv_store_f16" : "kv_store_f32") + (rope ? "_rope" : "");
  const auto& pipeline = shader_pipeline(ctx, name, rope ? 3 : 2, push_bytes, {kGroupSize});
  const vk::BufferRange used_src(*src.buffer, src.offset, src_bytes), used_dst(*dst.buffer, dst.offset, dst_bytes);
  const uint32_t groups = group_count(words, kGroupSize);
  const vk::BufferRange bindings[] = {used_src, used_dst,
                                      rope ? vk::BufferRange(*positions->buffer, positions->offset, uint64_t(p.t) * 4)
                                           : used_src};
  stream.dispatch(pipeline, std::span<const vk::BufferRange>(bindings, rope ? 3 : 2), &push, push_bytes, groups);
}

}  // namespace ckv::ops
