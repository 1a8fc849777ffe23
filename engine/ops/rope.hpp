// Rotary position embedding of query or key heads, in place.
#pragma once
#include <cstdint>

#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

enum class RopeMode {
  Normal,  // pairs (2i, 2i + 1): ggml's llama mode 0 (GGUF Llama checkpoints)
  Neox,    // pairs (i, i + rope_dim / 2): ggml's NeoX mode (HF-layout checkpoints)
};

struct RopeParams {
  uint32_t n_heads = 0;
  uint32_t head_dim = 0;   // even
  uint32_t rope_dim = 0;   // even, <= head_dim: dims rope_dim .. head_dim - 1 of a head are left as they are
  uint32_t t = 0;          // tokens
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // linear position scaling (1 / factor)
  RopeMode mode = RopeMode::Normal;
  uint32_t row_stride = 0;  // floats between tokens in x; 0: n_heads * head_dim
};

// x: f32 [t, n_heads, head_dim] (token-major, heads contiguous within a token), rotated in place;
// positions: u32 [t], the position of each token. Pair i < rope_dim / 2 of every head turns by
// theta = pos * freq_scale * freq_base^(-2i / rope_dim): (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos).
// theta is computed in fp32 like ggml does, so its absolute error grows with the position: a relative error of
// about (6 + 4 |log2 f|) * 2^-24 for frequency f (the fp32 exponent and exp2, the products), up to ~0.01 rad at
// position 32768; cos/sin are taken after reducing theta to [-pi, pi]. Throws std::invalid_argument on odd or zero head_dim/rope_dim, rope_dim > head_dim, a row stride
// below n_heads * head_dim, a non-positive base or scale, or buffers too small. t = 0 records nothing.
void record_rope(vk::Context& ctx, vk::CommandStream& stream, const RopeParams& params, const vk::BufferRange& x,
                 const vk::BufferRange& positions);

// What the rotating shaders (rope, the RoPE-fused KV store) take from RopeParams.
struct RopeAngles {
  uint32_t half_rope = 0, neox = 0;
  float log2_inv_freq_step = 0, freq_scale = 1;
};
// Checks head_dim, rope_dim, freq_base and freq_scale (std::invalid_argument as record_rope) and returns them.
RopeAngles rope_angles(const RopeParams& params);

}  // namespace ckv::ops
