#include "rope.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kGroupSize = 256;

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("rope: " + message);
}

}  // namespace

RopeAngles rope_angles(const RopeParams& p) {
  require(p.head_dim > 0 && p.head_dim % 2 == 0, "head_dim must be even and > 0, got " + std::to_string(p.head_dim));
  require(p.rope_dim > 0 && p.rope_dim % 2 == 0 && p.rope_dim <= p.head_dim,
          "rope_dim must be even, > 0 and <= head_dim (" + std::to_string(p.head_dim) + "), got " +
              std::to_string(p.rope_dim));
  require(std::isfinite(p.freq_base) && p.freq_base > 0.0f, "freq_base must be finite and > 0");
  require(std::isfinite(p.freq_scale) && p.freq_scale > 0.0f, "freq_scale must be finite and > 0");
  return {p.rope_dim / 2, p.mode == RopeMode::Neox ? 1u : 0u,
          float(-2.0 * std::log2(double(p.freq_base)) / p.rope_dim), p.freq_scale};
}

void record_rope(vk::Context& ctx, vk::CommandStream& stream, const RopeParams& p, const vk::BufferRange& x,
                 const vk::BufferRange& positions) {
  require(p.n_heads > 0, "n_heads must be at least 1");
  const RopeAngles angles = rope_angles(p);
  const uint64_t token_floats = uint64_t(p.n_heads) * p.head_dim;
  const uint64_t row_stride = p.row_stride == 0 ? token_floats : p.row_stride;
  require(row_stride >= token_floats, "row_stride " + std::to_string(row_stride) + " is smaller than n_heads x head_dim (" +
                                          std::to_string(token_floats) + ")");
  require(x.buffer && positions.buffer, "x and positions need buffers");
  const uint64_t x_bytes = p.t == 0 ? 0 : ((p.t - 1) * row_stride + token_floats) * sizeof(float);
  const uint64_t positions_bytes = uint64_t(p.t) * sizeof(uint32_t);
  require(uint64_t(p.t) * row_stride <= UINT32_MAX, "t x row_stride exceeds 2^32 floats");
  require(x.bytes() >= x_bytes, "x holds " + std::to_string(x.bytes()) + " bytes, need " + std::to_string(x_bytes) +
                                    " for [t, n_heads, head_dim] with the row stride");
  require(positions.bytes() >= positions_bytes, "positions holds " + std::to_string(positions.bytes()) +
                                                    " bytes, need " + std::to_string(positions_bytes) + " (u32 [t])");
  if (p.t == 0) return;

  struct Push {
    uint32_t tokens, n_heads, head_dim, half_rope, row_stride, neox;
    float log2_inv_freq_step, freq_scale;
  } push{p.t,        p.n_heads,   p.head_dim, angles.half_rope, uint32_t(row_stride), angles.neox,
         angles.log2_inv_freq_step, angles.freq_scale};
  const uint64_t pairs = uint64_t(p.t) * p.n_heads * push.half_rope;
  const auto& pipeline = shader_pipeline(ctx, "rope", 2, sizeof(Push), {kGroupSize});
  stream.dispatch(pipeline,
                  {vk::BufferRange(*x.buffer, x.offset, x_bytes),
                   vk::BufferRange(*positions.buffer, positions.offset, positions_bytes)},
                  push, group_count(pairs, kGroupSize));
}

}  // namespace ckv::ops
