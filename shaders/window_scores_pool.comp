#version 450
// Window scores, pass 3, fused with pooling and the head mean: for one block of keys of one output row r, each
// head (slot) of the row turns the stored logits into its window score S[slot][j] = sum over rows w of
// exp2(logit - max_w) / sum_w (row stats of pass 2), for the block and the pooling halo; the block's S is written
// (callers may read it), pooled over keys (stride 1, zero padding of KERNEL / 2: avg divides by KERNEL with the
// padding counted, max ignores it) and averaged over the row's slots into out[r][j].
// MERGE_STATS: there is no pass 2; every workgroup merges the per-block statistics of its row's slots itself
// (teams of TEAM invocations per (slot, window row), at most MAX_PAIRS pairs), which saves a dispatch and the
// barrier before it for a few KiB of cached reads per workgroup.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint KERNEL = 5;    // odd
layout(constant_id = 2) const uint POOL_MAX = 0;  // 0: avg, 1: max

const uint HALF = KERNEL / 2u;
const uint TILE = gl_WorkGroupSize.x + KERNEL - 1u;

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };       // [H, W, N]
#if MERGE_STATS
layout(std430, binding = 1) readonly buffer BlockStats { vec2 block_stats[]; };  // [H, W, n_blocks]: (max, sum)
#else
layout(std430, binding = 1) readonly buffer RowStats { vec2 row_stats[]; };   // [H, W]: (max, 1 / sum of exp)
#endif
layout(std430, binding = 2) writeonly buffer Scores { float scores[]; };      // S [R·Hr, N]
layout(std430, binding = 3) writeonly buffer Out { float pooled[]; };         // [R, N]
layout(push_constant) uniform Push {
  uint n;  // keys scored (N)
  uint window;
  uint heads_per_row;
  uint n_blocks;  // MERGE_STATS only
} pc;

const uint HEADS = 4u;  // slots whose tiles are filled together
shared float tile[HEADS * TILE];

#if MERGE_STATS
const uint TEAM = 8u;
const uint MAX_PAIRS = 512u;
const float NEG_BIG = -1.0e30;
shared vec2 row_stats[MAX_PAIRS];                  // this row's slots: (max, 1 / sum of exp) per (slot, window row)
shared vec2 team_partial[gl_WorkGroupSize.x];

// As window_scores_combine.comp: both operands may be "empty" (NEG_BIG, 0) without making NaN.
vec2 merge(vec2 a, vec2 b) {
  const float m = max(a.x, b.x);
  return vec2(m, a.y * exp2(a.x - m) + b.y * exp2(b.x - m));
}

// Fills row_stats for the slots of output row `row`: team t merges the blocks of pairs t, t + teams, ...
void merge_row_stats(uint row) {
  const uint tid = gl_LocalInvocationID.x;
  const uint teams = gl_WorkGroupSize.x / TEAM, team = tid / TEAM, member = tid % TEAM;
  const uint pairs = pc.heads_per_row * pc.window;
  for (uint pair0 = 0u; pair0 < pairs; pair0 += teams) {
    const uint pair = pair0 + team;
    const uint stats_row = row * pairs + pair;  // (slot, w) of this row in block_stats' [H·W] order
    vec2 acc = vec2(NEG_BIG, 0.0);
    if (pair < pairs)
      for (uint b = member; b < pc.n_blocks; b += TEAM) acc = merge(acc, block_stats[stats_row * pc.n_blocks + b]);
    team_partial[tid] = acc;
    barrier();
    if (member == 0u && pair < pairs) {
      for (uint i = 1u; i < TEAM; ++i) acc = merge(acc, team_partial[tid + i]);
      row_stats[pair] = vec2(acc.x, 1.0 / acc.y);  // every row sees key 0, so the sum is at least 1
    }
    barrier();
  }
}
#endif

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row = gl_WorkGroupID.y;
  const uint j0 = gl_WorkGroupID.x * gl_WorkGroupSize.x;
  // Scores are >= 0, so a very negative padding value never wins a max.
  const float padding = POOL_MAX != 0u ? -1.0e30 : 0.0;
#if MERGE_STATS
  merge_row_stats(row);
#endif
  float acc = 0.0;
  // Up to HEADS slots at a time: their tiles fill in one sweep, so the logits loads of all of them are in flight
  // together (one sweep per slot, each a memory round trip behind a barrier, cost more than the pooling).
  for (uint i0 = 0u; i0 < pc.heads_per_row; i0 += HEADS) {
    const uint heads = min(HEADS, pc.heads_per_row - i0);
    for (uint idx = tid; idx < heads * TILE; idx += gl_WorkGroupSize.x) {
      const uint i = i0 + idx / TILE, e = idx % TILE;
      const uint slot = row * pc.heads_per_row + i;
#if MERGE_STATS
      const uint stats_base = i * pc.window;  // this row's pairs only
#else
      const uint stats_base = slot * pc.window;
#endif
      const uint j = j0 + e - HALF;  // wraps to a huge value left of key 0
      float s = padding;
      if (j0 + e >= HALF && j < pc.n) {
        s = 0.0;
        // Window rows 8 at a time, unrolled so that their loads issue together; added in row order.
        for (uint w0 = 0u; w0 < pc.window; w0 += 8u) {
          float part[8];
          [[unroll]] for (uint u = 0u; u < 8u; ++u) {
            const uint w = min(w0 + u, pc.window - 1u);
            const vec2 stats = row_stats[stats_base + w];
            part[u] = w0 + u < pc.window ? exp2(logits[(slot * pc.window + w) * pc.n + j] - stats.x) * stats.y : 0.0;
          }
          [[unroll]] for (uint u = 0u; u < 8u; ++u) s += part[u];
        }
      }
      tile[idx] = s;
    }
    barrier();
    const uint j = j0 + tid;
    for (uint h = 0u; h < heads; ++h) {
      const uint base = h * TILE;
      if (j < pc.n) scores[(row * pc.heads_per_row + i0 + h) * pc.n + j] = tile[base + tid + HALF];
      float v = tile[base + tid];
      for (uint k = 1u; k < KERNEL; ++k) v = POOL_MAX != 0u ? max(v, tile[base + tid + k]) : v + tile[base + tid + k];
      acc += POOL_MAX != 0u ? v : v / float(KERNEL);
    }
    barrier();
  }
  const uint j = j0 + tid;
  if (j < pc.n) pooled[row * pc.n + j] = acc / float(pc.heads_per_row);
}
