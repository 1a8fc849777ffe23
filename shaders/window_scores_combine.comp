#version 450
// Window scores, pass 2: merges the per-block (max, sum of exp) of one window row of one slot into the row's
// softmax normaliser (max, 1 / sum). One workgroup per (slot, row); values are in the log2 domain of pass 1.
#include "common.glsl"

layout(local_size_x_id = 0) in;  // a power of two

layout(std430, binding = 0) readonly buffer BlockStats { vec2 block_stats[]; };  // [H·W, n_blocks]
layout(std430, binding = 1) writeonly buffer RowStats { vec2 row_stats[]; };     // [H·W]
layout(push_constant) uniform Push { uint n_blocks; } pc;

const float NEG_BIG = -1.0e30;
shared vec2 partial[gl_WorkGroupSize.x];

// Both operands may be "empty" (NEG_BIG, 0); exp2 of a huge negative number is 0, so no NaN can appear.
vec2 merge(vec2 a, vec2 b) {
  const float m = max(a.x, b.x);
  return vec2(m, a.y * exp2(a.x - m) + b.y * exp2(b.x - m));
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row = gl_WorkGroupID.x;
  vec2 acc = vec2(NEG_BIG, 0.0);
  for (uint b = tid; b < pc.n_blocks; b += gl_WorkGroupSize.x) acc = merge(acc, block_stats[row * pc.n_blocks + b]);
  partial[tid] = acc;
  barrier();
  for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1) {
    if (tid < s) partial[tid] = merge(partial[tid], partial[tid + s]);
    barrier();
  }
  // Every row sees key 0, so the sum is at least 1.
  if (tid == 0u) row_stats[row] = vec2(partial[0].x, 1.0 / partial[0].y);
}
