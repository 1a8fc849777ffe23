#version 450
// Rotary position embedding, in place, on x = f32 [T, n_heads, head_dim] with `row_stride` floats between tokens.
// One thread per rotated pair (grid-stride). Only the first rope_dim dims of a head rotate; pair i < rope_dim/2 is
// (2i, 2i+1) in normal mode (ggml's llama mode 0) or (i, i + rope_dim/2) in NeoX mode.
//
// The angle and the rotation: rope_angle.glsl.
#include "common.glsl"
#include "rope_angle.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Positions { uint positions[]; };
layout(push_constant) uniform Push {
  uint tokens;
  uint n_heads;
  uint head_dim;
  uint half_rope;  // rope_dim / 2: pairs per head
  uint row_stride;
  uint neox;       // 1: pairs (i, i + half_rope); 0: pairs (2i, 2i + 1)
  float log2_inv_freq_step;
  float freq_scale;
} pc;

void main() {
  const uint pairs_per_token = pc.n_heads * pc.half_rope;
  const uint total = pc.tokens * pairs_per_token;
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint idx = gl_GlobalInvocationID.x; idx < total; idx += stride) {
    const uint token = idx / pairs_per_token;
    const uint in_token = idx - token * pairs_per_token;
    const uint head = in_token / pc.half_rope;
    const uint i = in_token - head * pc.half_rope;

    const vec2 cs = rope_cos_sin(positions[token], i, pc.log2_inv_freq_step, pc.freq_scale);
    const uint base = token * pc.row_stride + head * pc.head_dim;
    const uint i0 = base + (pc.neox != 0 ? i : 2 * i);
    const uint i1 = i0 + (pc.neox != 0 ? pc.half_rope : 1);
    const vec2 rotated = rope_rotate(vec2(x[i0], x[i1]), cs);
    x[i0] = rotated.x;
    x[i1] = rotated.y;
  }
}
