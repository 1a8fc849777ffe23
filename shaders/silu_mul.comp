#version 450
// out[i] = silu(gate[i]) * up[i], silu(g) = g * sigmoid(g) = g / (1 + exp(-g)). out may alias gate or up.
// Defines: VEC4 (the buffers are read as vec4; n counts vec4s).
#include "common.glsl"

#if VEC4
#define VALUE vec4
#else
#define VALUE float
#endif

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Gate { VALUE gate[]; };
layout(std430, binding = 1) readonly buffer Up { VALUE up[]; };
layout(std430, binding = 2) writeonly buffer Out { VALUE result[]; };
layout(push_constant) uniform Push { uint n; } pc;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
    const VALUE g = gate[i];
    // exp(-g) overflows to inf for g < -88: g / inf = -0, the limit of silu.
    result[i] = g / (1.0 + exp(-g)) * up[i];
  }
}
