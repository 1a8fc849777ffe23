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
// The same binding as 16-byte words (the op binds logits from a 16-byte aligned offset).
layout(std430, binding = 0) readonly buffer Logits4 { vec4 logits4[]; };
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
  // Ascending indices: a strict > keeps the lowest index of equal values. A thread takes 16-byte groups of 4 logits,
  // UNROLL groups loaded before any is compared: one workgroup has to keep enough bytes in flight to stream the
  // vocabulary (scalar loads one at a time: 21 us for 128 K logits on an H200; 8 scalar loads at a time: 17 us).
  const uint groups = pc.vocab / 4u;
  for (uint base = lid; base < groups; base += THREADS * UNROLL) {
    vec4 l[UNROLL];
    [[unroll]] for (uint u = 0; u < UNROLL; ++u) l[u] = logits4[min(base + u * THREADS, groups - 1u)];
    [[unroll]] for (uint u = 0; u < UNROLL; ++u) {
      const uint g = base + u * THREADS;
      [[unroll]] for (uint e = 0; e < 4; ++e) {
        if (g < groups && beats(l[u][e], 4u * g + e, v, index)) {
          v = l[u][e];
          index = 4u * g + e;
        }
      }
    }
  }
  for (uint i = 4u * groups + lid; i < pc.vocab; i += THREADS) {  // the last vocab % 4 logits
    if (beats(logits[i], i, v, index)) {
      v = logits[i];
      index = i;
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
