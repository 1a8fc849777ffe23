#version 450
// StreamingLLM selection: the first `sinks` tokens plus the most recent (count - sinks) tokens of t, ascending.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) writeonly buffer Indices { uint indices[]; };
layout(push_constant) uniform Push {
  uint t;      // tokens in the cache
  uint count;  // tokens to keep (count <= t)
  uint sinks;  // sink tokens at the start (sinks <= count)
} pc;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= pc.count) return;
  indices[i] = i < pc.sinks ? i : pc.t - (pc.count - i);
}
