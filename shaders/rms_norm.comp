#version 450
// RMS norm of token rows: y[r, i] = x[r, i] / sqrt(mean_i(x[r, :]^2) + eps) * weight[i].
// One workgroup per row (striding over rows when there are more rows than groups); the sum of squares is fp32.
// x and y may be the same memory: every thread reads an element before it writes that same element.
// Defines: SUBGROUP_OPS (reduce with subgroupAdd; otherwise a shared-memory tree, which needs a power-of-two
// workgroup size).
#include "common.glsl"
#if SUBGROUP_OPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float weight[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push {
  uint rows;
  uint width;
  uint row_stride;  // floats between rows, in x and y
  float eps;
} pc;

const uint THREADS = gl_WorkGroupSize.x;
shared float partial[THREADS];

// The sum of v over the workgroup, the same value in every thread. Call from uniform control flow.
float workgroup_sum(float v) {
#if SUBGROUP_OPS
  v = subgroupAdd(v);
  if (subgroupElect()) partial[gl_SubgroupID] = v;
  barrier();
  float total = 0.0;
  for (uint s = 0; s < gl_NumSubgroups; ++s) total += partial[s];
#else
  const uint lid = gl_LocalInvocationID.x;
  partial[lid] = v;
  barrier();
  for (uint half_size = THREADS / 2; half_size > 0; half_size >>= 1) {
    if (lid < half_size) partial[lid] += partial[lid + half_size];
    barrier();
  }
  const float total = partial[0];
#endif
  barrier();  // partial is reused by the next call
  return total;
}

void main() {
  const uint lid = gl_LocalInvocationID.x;
  for (uint row = gl_WorkGroupID.x; row < pc.rows; row += gl_NumWorkGroups.x) {
    const uint base = row * pc.row_stride;
    float squares = 0.0;
    for (uint i = lid; i < pc.width; i += THREADS) {
      const float v = x[base + i];
      squares += v * v;
    }
    const float inv_rms = inversesqrt(workgroup_sum(squares) / float(pc.width) + pc.eps);
    for (uint i = lid; i < pc.width; i += THREADS) y[base + i] = x[base + i] * inv_rms * weight[i];
  }
}
