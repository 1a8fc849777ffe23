#version 450
// Window scores, pass 1 (docs/design.md, "Compression pipeline"): one invocation per key computes the logits of
// the W window rows of one listed query head (slot) against its key, in the log2 domain (queries pre-multiplied by
// scale·log2 e, so that exp2 can be used). Logits of scored keys (j < N) are stored for pass 3; for every window row
// the workgroup's max and sum of exp over its visible keys (row w sits at position N + w and sees keys j <= N + w)
// go to block_stats. Rows are taken ROW_GROUP at a time, so any W up to the host's limit fits the registers.
// K_F32 selects f32 keys (else f16 packed in pairs); K_WIDE reads 16 bytes per load (head dims that keep every key
// row 16-byte aligned). USE_SUBGROUP_OPS reduces the rows with subgroup max/add and one shared slot per subgroup;
// without it, a shared-memory tree over all rows of the group at once.
#include "common.glsl"
#if USE_SUBGROUP_OPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;                     // keys per workgroup, a power of two
layout(constant_id = 1) const uint ROW_GROUP = 8;    // window rows per sweep
layout(constant_id = 2) const uint MAX_DIM4 = 32;    // head dim / 4, upper bound (query tile)
layout(constant_id = 3) const uint MAX_SUBGROUPS = 32;  // local size / the device's smallest subgroup size

const float NEG_BIG = -1.0e30;  // "no visible key": finite, so merges never make NaN

layout(std430, binding = 0) readonly buffer Queries { float qw[]; };
#if defined(K_F32) && defined(K_WIDE)
layout(std430, binding = 1) readonly buffer Keys { vec4 k_quads[]; };
#elif defined(K_F32)
layout(std430, binding = 1) readonly buffer Keys { vec2 k_pairs[]; };
#elif defined(K_WIDE)
layout(std430, binding = 1) readonly buffer Keys { uvec4 k_octets[]; };
#else
layout(std430, binding = 1) readonly buffer Keys { uint k_words[]; };
#endif
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

shared vec4 q_tile[ROW_GROUP * MAX_DIM4];
#if USE_SUBGROUP_OPS
shared float partial[ROW_GROUP * MAX_SUBGROUPS];
#else
shared float partial[ROW_GROUP * gl_WorkGroupSize.x];
#endif

#if !defined(K_WIDE) || defined(K_F32)
// Key dims 4c .. 4c + 3 of the key row starting at element e (head dims are even; a missing pair reads as 0). The
// f16 K_WIDE variant reads whole 16-byte octets in main() instead.
vec4 load_key4(uint e, uint c) {
#if defined(K_F32) && defined(K_WIDE)
  return k_quads[e / 4u + c];
#elif defined(K_F32)
  const uint at = e / 2u + 2u * c;
  return vec4(k_pairs[at], 4u * c + 2u < pc.head_dim ? k_pairs[at + 1u] : vec2(0.0));
#else
  const uint at = e / 2u + 2u * c;
  return vec4(unpack_f16x2(k_words[at]), 4u * c + 2u < pc.head_dim ? unpack_f16x2(k_words[at + 1u]) : vec2(0.0));
#endif
}
#endif

// Reduces every v[r] over the workgroup with max (want_max) or sum, all rows at once; every invocation gets them.
void reduce_rows(inout float v[ROW_GROUP], bool want_max) {
  const uint tid = gl_LocalInvocationID.x;
#if USE_SUBGROUP_OPS
  [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r) {
    const float s = want_max ? subgroupMax(v[r]) : subgroupAdd(v[r]);
    if (subgroupElect()) partial[r * MAX_SUBGROUPS + gl_SubgroupID] = s;
  }
  barrier();
  [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r) {
    float total = want_max ? NEG_BIG : 0.0;
    for (uint g = 0u; g < gl_NumSubgroups; ++g) {
      const float p = partial[r * MAX_SUBGROUPS + g];
      total = want_max ? max(total, p) : total + p;
    }
    v[r] = total;
  }
  barrier();
#else
  const uint n = gl_WorkGroupSize.x;
  [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r) partial[r * n + tid] = v[r];
  barrier();
  for (uint s = n / 2u; s > 0u; s >>= 1) {
    if (tid < s) {
      [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r) {
        const float a = partial[r * n + tid], b = partial[r * n + tid + s];
        partial[r * n + tid] = want_max ? max(a, b) : a + b;
      }
    }
    barrier();
  }
  [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r) v[r] = partial[r * n];
  barrier();
#endif
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint slot = gl_WorkGroupID.x;
  const uint block = gl_WorkGroupID.y;
  const uint j = block * gl_WorkGroupSize.x + tid;
  const uint n_scored = pc.t - pc.window;  // N
  const uint dim4 = pc.head_dim / 4u + (pc.head_dim % 4u != 0u ? 1u : 0u);
  // Head ids are validated on the host; the clamp only keeps a bad id from reading outside the queries.
  const uint h = min(head_ids[slot], pc.n_q - 1u);
  const uint k_row = (h / pc.group) * pc.capacity * pc.head_dim + min(j, pc.t - 1u) * pc.head_dim;  // in elements
  const uint q_base = h * pc.qw_head_stride;

  for (uint w0 = 0u; w0 < pc.window; w0 += ROW_GROUP) {
    for (uint idx = tid; idx < ROW_GROUP * dim4; idx += gl_WorkGroupSize.x) {
      const uint r = idx / dim4, c = 4u * (idx % dim4);
      vec4 v = vec4(0.0);
      if (w0 + r < pc.window) {
        const uint at = q_base + (w0 + r) * pc.qw_row_stride + c;
        [[unroll]] for (uint e = 0u; e < 4u; ++e)
          if (c + e < pc.head_dim) v[e] = qw[at + e];
      }
      q_tile[r * MAX_DIM4 + idx % dim4] = v * pc.scale_log2;
    }
    barrier();
    float acc[ROW_GROUP];
    [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r) acc[r] = 0.0;
#if defined(K_WIDE) && !defined(K_F32)
    for (uint c8 = 0u; c8 < pc.head_dim / 8u; ++c8) {
      const uvec4 raw = k_octets[k_row / 8u + c8];
      const vec4 k0 = vec4(unpack_f16x2(raw.x), unpack_f16x2(raw.y)), k1 = vec4(unpack_f16x2(raw.z), unpack_f16x2(raw.w));
      [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r)
        acc[r] += dot(q_tile[r * MAX_DIM4 + 2u * c8], k0) + dot(q_tile[r * MAX_DIM4 + 2u * c8 + 1u], k1);
    }
#else
    for (uint c = 0u; c < dim4; ++c) {
      const vec4 k = load_key4(k_row, c);
      [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r) acc[r] += dot(q_tile[r * MAX_DIM4 + c], k);
    }
#endif

    float v[ROW_GROUP];
    [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r) {
      const uint w = w0 + r;
      const bool visible = w < pc.window && j < pc.t && j <= n_scored + w;
      if (w < pc.window && j < n_scored) logits[(slot * pc.window + w) * n_scored + j] = acc[r];
      v[r] = visible ? acc[r] : NEG_BIG;
    }
    reduce_rows(v, true);  // its first barrier also lets the next sweep overwrite q_tile
    float e[ROW_GROUP];
    [[unroll]] for (uint r = 0u; r < ROW_GROUP; ++r) {
      const uint w = w0 + r;
      const bool visible = w < pc.window && j < pc.t && j <= n_scored + w;
      e[r] = visible ? exp2(acc[r] - v[r]) : 0.0;
    }
    reduce_rows(e, false);
    if (tid < ROW_GROUP && w0 + tid < pc.window)
      block_stats[(slot * pc.window + w0 + tid) * pc.n_blocks + block] = vec2(v[tid], e[tid]);
  }
}
