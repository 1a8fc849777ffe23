#version 450
// Window scores, pass 1, with a key row split across lanes: the same outputs as window_logits.comp (logits of the
// W window rows of one listed query head against every key, log2 domain; each row's max and sum of exp over the
// visible keys of each 256-key block), for f16 keys whose rows are whole 16-byte octets.
//
// Why a second kernel: with one invocation per key, every 16-byte load of a subgroup touches as many cache lines
// as it has invocations. Here KEY_LANES adjacent lanes read one key row together (lane l takes octets l,
// l + KEY_LANES, ...), so a subgroup's load covers whole lines, and each lane keeps its slice of the 8 window rows'
// queries in registers. The lanes' 8 partial dot products are combined by a reduce-scatter over the lane group
// (8 -> 4 -> 2 -> 1 values, then plain xor adds), which leaves each lane with one row's full logit: 8 shuffles per
// key instead of 32. The logits of a block go through shared memory, so the row statistics are computed there
// and the stored logits leave in whole rows.
//
// Needs subgroup shuffles, KEY_LANES a power of two >= 8 dividing the subgroup size, and head_dim = 8 · KEY_LANES
// · CHUNKS; queries vec4-aligned (strides multiples of 4 floats). The host checks all of it.
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require

layout(local_size_x_id = 0) in;                      // a multiple of BLOCK / KEYS_PER_LANE_GROUP ... see below
layout(constant_id = 1) const uint KEY_LANES = 16;   // lanes per key row
layout(constant_id = 2) const uint CHUNKS = 1;       // 8-dim octets per lane: head_dim / (8 · KEY_LANES)
layout(constant_id = 3) const uint BATCH = 4;        // keys each lane group loads before using them

const uint ROWS = 8u;      // window rows per sweep (the reduce-scatter is written for 8)
const uint BLOCK = 256u;   // keys per block of statistics (window_logits.comp's workgroup size)
const float NEG_BIG = -1.0e30;

layout(std430, binding = 0) readonly buffer Queries { vec4 qw4[]; };
layout(std430, binding = 1) readonly buffer Keys { uvec4 k_octets[]; };
layout(std430, binding = 2) readonly buffer HeadSets { uint head_ids[]; };
layout(std430, binding = 3) writeonly buffer Logits { float logits[]; };          // [H, W, N]
layout(std430, binding = 4) writeonly buffer BlockStats { vec2 block_stats[]; };  // [H, W, n_blocks]: (max, sum)

layout(push_constant) uniform Push {
  uint n_q;
  uint group;  // query heads per KV head
  uint head_dim;
  uint t;      // keys
  uint window;
  uint capacity;
  uint qw_head_stride;
  uint qw_row_stride;
  uint n_blocks;
  float scale_log2;  // scale · log2(e)
} pc;

const uint THREADS = gl_WorkGroupSize.x;
const uint STAT_LANES = THREADS / ROWS;  // invocations that reduce one row's block statistics
shared float stage[ROWS * BLOCK];         // the block's logits, row-major
shared vec2 row_partial[THREADS];

// One reduce-scatter step: lanes whose `bit` is set keep the upper half of v, the others the lower half, and each
// adds the half its partner (lane ^ bit) kept of its own.
void halve(inout float v[ROWS], uint count, uint lane_bit) {
  const bool upper = (gl_SubgroupInvocationID & lane_bit) != 0u;
  [[unroll]] for (uint i = 0u; i < ROWS / 2u; ++i) {
    if (i < count / 2u) {
      const float keep = upper ? v[i + count / 2u] : v[i];
      const float give = upper ? v[i] : v[i + count / 2u];
      v[i] = keep + subgroupShuffleXor(give, lane_bit);
    }
  }
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint slot = gl_WorkGroupID.x;
  const uint block = gl_WorkGroupID.y;
  const uint lane = gl_SubgroupInvocationID % KEY_LANES;
  const uint groups = gl_NumSubgroups * (gl_SubgroupSize / KEY_LANES);  // lane groups in the workgroup
  const uint group_id = gl_SubgroupID * (gl_SubgroupSize / KEY_LANES) + gl_SubgroupInvocationID / KEY_LANES;
  const uint n_scored = pc.t - pc.window;  // N
  const uint h = min(head_ids[slot], pc.n_q - 1u);  // ids are validated on the host; the clamp keeps reads inside
  const uint k_base = (h / pc.group) * pc.capacity * (pc.head_dim / 8u);  // in octets
  const uint q_base = h * pc.qw_head_stride;
  // After the reduce-scatter, lane bits KEY_LANES/2, /4, /8 name the row this lane holds (4, 2, 1).
  const uint my_row = (lane / (KEY_LANES / 8u)) % ROWS;
  const bool writer = lane % (KEY_LANES / 8u) == 0u;  // one of the lanes that hold the same row
  const uint key0 = block * BLOCK;

  for (uint w0 = 0u; w0 < pc.window; w0 += ROWS) {
    // This lane's slice of the rows' queries: octet lane + KEY_LANES·c, pre-scaled into the log2 domain.
    vec4 q[ROWS * CHUNKS * 2u];
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      const uint w = min(w0 + r, pc.window - 1u);  // rows past W compute garbage that is never kept
      [[unroll]] for (uint c = 0u; c < CHUNKS; ++c) {
        const uint at = (q_base + w * pc.qw_row_stride) / 4u + 2u * (lane + KEY_LANES * c);
        q[(r * CHUNKS + c) * 2u] = qw4[at] * pc.scale_log2;
        q[(r * CHUNKS + c) * 2u + 1u] = qw4[at + 1u] * pc.scale_log2;
      }
    }

    for (uint kk = group_id; kk < BLOCK; kk += groups * BATCH) {
      uvec4 raw[BATCH * CHUNKS];
      [[unroll]] for (uint b = 0u; b < BATCH; ++b) {
        const uint j = min(key0 + kk + b * groups, pc.t - 1u);
        [[unroll]] for (uint c = 0u; c < CHUNKS; ++c)
          raw[b * CHUNKS + c] = k_octets[k_base + j * (pc.head_dim / 8u) + lane + KEY_LANES * c];
      }
      [[unroll]] for (uint b = 0u; b < BATCH; ++b) {
        float acc[ROWS];
        [[unroll]] for (uint r = 0u; r < ROWS; ++r) acc[r] = 0.0;
        [[unroll]] for (uint c = 0u; c < CHUNKS; ++c) {
          const uvec4 o = raw[b * CHUNKS + c];
          const vec4 k0 = vec4(unpack_f16x2(o.x), unpack_f16x2(o.y)), k1 = vec4(unpack_f16x2(o.z), unpack_f16x2(o.w));
          [[unroll]] for (uint r = 0u; r < ROWS; ++r)
            acc[r] += dot(q[(r * CHUNKS + c) * 2u], k0) + dot(q[(r * CHUNKS + c) * 2u + 1u], k1);
        }
        halve(acc, 8u, KEY_LANES / 2u);
        halve(acc, 4u, KEY_LANES / 4u);
        halve(acc, 2u, KEY_LANES / 8u);
        float logit = acc[0];
        for (uint bit = KEY_LANES / 16u; bit > 0u; bit /= 2u) logit += subgroupShuffleXor(logit, bit);
        const uint kb = kk + b * groups;
        if (writer && kb < BLOCK) stage[my_row * BLOCK + kb] = logit;
      }
    }
    barrier();

    // Row statistics of the block: STAT_LANES invocations per row, then one of them merges their partials.
    {
      const uint r = tid / STAT_LANES, part = tid % STAT_LANES;
      const uint w = w0 + r;
      float m = NEG_BIG;
      for (uint kb = part; kb < BLOCK; kb += STAT_LANES) {
        const uint j = key0 + kb;
        if (w < pc.window && j < pc.t && j <= n_scored + w) m = max(m, stage[r * BLOCK + kb]);
      }
      float s = 0.0;
      for (uint kb = part; kb < BLOCK; kb += STAT_LANES) {
        const uint j = key0 + kb;
        if (w < pc.window && j < pc.t && j <= n_scored + w) s += exp2(stage[r * BLOCK + kb] - m);
      }
      row_partial[tid] = vec2(m, s);
    }
    barrier();
    if (tid < ROWS && w0 + tid < pc.window) {
      vec2 acc = vec2(NEG_BIG, 0.0);
      for (uint p = 0u; p < STAT_LANES; ++p) {
        const vec2 b = row_partial[tid * STAT_LANES + p];
        const float m = max(acc.x, b.x);
        acc = vec2(m, acc.y * exp2(acc.x - m) + b.y * exp2(b.x - m));
      }
      block_stats[(slot * pc.window + w0 + tid) * pc.n_blocks + block] = acc;
    }
    for (uint idx = tid; idx < ROWS * BLOCK; idx += THREADS) {
      const uint r = idx / BLOCK, j = key0 + idx % BLOCK;
      if (w0 + r < pc.window && j < n_scored) logits[(slot * pc.window + w0 + r) * n_scored + j] = stage[idx];
    }
    barrier();  // the next sweep rewrites stage and row_partial
  }
}
