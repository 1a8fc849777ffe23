#version 450
// Window scores, pass 3, fused with pooling and the head mean: for one block of keys of one output row r, each
// head (slot) of the row turns the stored logits into its window score S[slot][j] = sum over rows w of
// exp2(logit - max_w) / sum_w (row stats of pass 2), for the block and the pooling halo; the block's S is written
// (callers may read it), pooled over keys (stride 1, zero padding of KERNEL / 2: avg divides by KERNEL with the
// padding counted, max ignores it) and averaged over the row's slots into out[r][j].
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint KERNEL = 5;    // odd
layout(constant_id = 2) const uint POOL_MAX = 0;  // 0: avg, 1: max

const uint HALF = KERNEL / 2u;
const uint TILE = gl_WorkGroupSize.x + KERNEL - 1u;

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };       // [H, W, N]
layout(std430, binding = 1) readonly buffer RowStats { vec2 row_stats[]; };   // [H, W]: (max, 1 / sum of exp)
layout(std430, binding = 2) writeonly buffer Scores { float scores[]; };      // S [R·Hr, N]
layout(std430, binding = 3) writeonly buffer Out { float pooled[]; };         // [R, N]
layout(push_constant) uniform Push {
  uint n;  // keys scored (N)
  uint window;
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
  for (uint i = 0u; i < pc.heads_per_row; ++i) {
    const uint slot = row * pc.heads_per_row + i;
    for (uint idx = tid; idx < TILE; idx += gl_WorkGroupSize.x) {
      const uint j = j0 + idx - HALF;  // wraps to a huge value left of key 0
      float s = padding;
      if (j0 + idx >= HALF && j < pc.n) {
        s = 0.0;
        for (uint w = 0u; w < pc.window; ++w) {
          const vec2 stats = row_stats[slot * pc.window + w];
          s += exp2(logits[(slot * pc.window + w) * pc.n + j] - stats.x) * stats.y;
        }
      }
      tile[idx] = s;
    }
    barrier();
    const uint j = j0 + tid;
    if (j < pc.n) scores[slot * pc.n + j] = tile[tid + HALF];
    float v = tile[tid];
    for (uint k = 1u; k < KERNEL; ++k) v = POOL_MAX != 0u ? max(v, tile[tid + k]) : v + tile[tid + k];
    acc += POOL_MAX != 0u ? v : v / float(KERNEL);
    barrier();
  }
  const uint j = j0 + tid;
  if (j < pc.n) pooled[row * pc.n + j] = acc / float(pc.heads_per_row);
}
