#version 450
// Greedy sampling: out_token[0] = the index of the largest logit, the lowest such index on ties. NaN logits are
// never chosen; when every logit is NaN the token is 0. One workgroup reads the whole vocabulary (coalesced).
// Defines: SUBGROUP_OPS (reduce with subgroup max/min; otherwise a shared-memory tree, which needs a power-of-two
// workgroup size).
#include "common.glsl"
#if SUBGROUP_OPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 1) writeonly buffer Token { uint out_token[]; };
layout(push_constant) uniform Push { uint vocab; } pc;

const uint THREADS = gl_WorkGroupSize.x;
const uint UNROLL = 8;
const uint NONE = 0xffffffffu;
const float NEG_INF = -1.0 / 0.0;
shared float best_value[THREADS];
shared uint best_index[THREADS];

// Whether candidate (v, i) beats (best_v, best_i): larger value, or the same value at a lower index.
bool beats(float v, uint i, float best_v, uint best_i) { return v > best_v || (v == best_v && i < best_i); }

void main() {
  const uint lid = gl_LocalInvocationID.x;
  float v = NEG_INF;
  uint index = NONE;
  // Ascending indices: a strict > keeps the lowest index of equal values. UNROLL loads are issued before any is
  // compared, so that one thread's loads overlap (one at a time, the loop waited on memory for each: 21 us for a
  // 128 K vocabulary on an H200).
  for (uint base = lid; base < pc.vocab; base += THREADS * UNROLL) {
    float l[UNROLL];
    [[unroll]] for (uint u = 0; u < UNROLL; ++u) l[u] = logits[min(base + u * THREADS, pc.vocab - 1u)];
    [[unroll]] for (uint u = 0; u < UNROLL; ++u) {
      const uint i = base + u * THREADS;
      if (i < pc.vocab && beats(l[u], i, v, index)) {
        v = l[u];
        index = i;
      }
    }
  }

#if SUBGROUP_OPS
  const float group_max = subgroupMax(v);
  const uint group_index = subgroupMin(v == group_max ? index : NONE);
  if (subgroupElect()) {
    best_value[gl_SubgroupID] = group_max;
    best_index[gl_SubgroupID] = group_index;
  }
  barrier();
  if (lid == 0) {
    for (uint s = 1; s < gl_NumSubgroups; ++s) {
      if (beats(best_value[s], best_index[s], best_value[0], best_index[0])) {
        best_value[0] = best_value[s];
        best_index[0] = best_index[s];
      }
    }
  }
#else
  best_value[lid] = v;
  best_index[lid] = index;
  barrier();
  for (uint half_size = THREADS / 2; half_size > 0; half_size >>= 1) {
    if (lid < half_size && beats(best_value[lid + half_size], best_index[lid + half_size], best_value[lid], best_index[lid])) {
      best_value[lid] = best_value[lid + half_size];
      best_index[lid] = best_index[lid + half_size];
    }
    barrier();
  }
#endif
  if (lid == 0) out_token[0] = best_index[0] == NONE ? 0u : best_index[0];
}
