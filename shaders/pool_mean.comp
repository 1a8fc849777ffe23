#version 450
// Pooling + mean over head sets, the second step of KV compression: out[r][j] = mean over the Hr slots of row r
// of pool(S[slot])[j]. Pooling is 1-D over keys with stride 1 and zero padding of KERNEL / 2: avg divides by
// KERNEL (padding counted); max ignores the padding. One workgroup per (block of keys, output row).
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint KERNEL = 5;    // odd
layout(constant_id = 2) const uint POOL_MAX = 0;  // 0: avg, 1: max

const uint HALF = KERNEL / 2u;
const uint TILE = gl_WorkGroupSize.x + KERNEL - 1u;

layout(std430, binding = 0) readonly buffer Scores { float scores[]; };  // S [R·Hr, N]
layout(std430, binding = 1) writeonly buffer Out { float pooled[]; };    // [R, N]
layout(push_constant) uniform Push {
  uint n;  // keys scored (N)
  uint heads_per_row;
} pc;

shared float tile[TILE];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row = gl_WorkGroupID.y;
  const uint j0 = gl_WorkGroupID.x * gl_WorkGroupSize.x;
  // Scores are >= 0, so a very negative padding value never wins a max.
  const float padding = POOL_MAX != 0u ? -1.0e30 : 0.0;
  float acc = 0.0;
  for (uint i = 0; i < pc.heads_per_row; ++i) {
    const uint base = (row * pc.heads_per_row + i) * pc.n;
    for (uint idx = tid; idx < TILE; idx += gl_WorkGroupSize.x) {
      const uint src = j0 + idx - HALF;  // wraps to a huge value left of key 0
      tile[idx] = (j0 + idx >= HALF && src < pc.n) ? scores[base + src] : padding;
    }
    barrier();
    float v = tile[tid];
    for (uint k = 1; k < KERNEL; ++k) v = POOL_MAX != 0u ? max(v, tile[tid + k]) : v + tile[tid + k];
    acc += POOL_MAX != 0u ? v : v / float(KERNEL);
    barrier();
  }
  const uint j = j0 + tid;
  if (j < pc.n) pooled[row * pc.n + j] = acc / float(pc.heads_per_row);
}
