#version 450
// out[i] = a[i] + b[i]. out may alias a or b.
// Defines: VEC4 (the buffers are read as vec4; n counts vec4s).
#include "common.glsl"

#if VEC4
#define VALUE vec4
#else
#define VALUE float
#endif

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer A { VALUE a[]; };
layout(std430, binding = 1) readonly buffer B { VALUE b[]; };
layout(std430, binding = 2) writeonly buffer Out { VALUE result[]; };
layout(push_constant) uniform Push { uint n; } pc;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) result[i] = a[i] + b[i];
}
