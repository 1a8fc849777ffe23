#version 450
// dst[g][i] = src[g][indices[r(g)][i]] for i < count: compacts a KV tensor [n_kv, capacity, row_words] to the
// kept token rows. Copies raw 32-bit words (f16 pairs or f32), so kept rows are bit-identical. With VEC4 the
// words move as uvec4 (row_words % 4 == 0). y is the KV head; x strides over (row, vector) pairs, consecutive
// invocations taking consecutive vectors of a row, so reads and writes are coalesced.
// An index >= src_capacity is skipped: that destination row is left as it was (no out-of-bounds read).
#include "common.glsl"
layout(local_size_x_id = 0) in;
#ifdef VEC4
#define WORD uvec4
#else
#define WORD uint
#endif
layout(std430, binding = 0) readonly buffer Src { WORD src[]; };
layout(std430, binding = 1) readonly buffer Indices { uint indices[]; };
layout(std430, binding = 2) writeonly buffer Dst { WORD dst[]; };
layout(push_constant) uniform Push {
  uint vectors_per_row;  // row_words, or row_words / 4 with VEC4
  uint src_capacity;
  uint dst_capacity;
  uint count;
  uint per_head_indices;  // 1: index row g for KV head g; 0: index row 0 for every head
} pc;

void main() {
  const uint head = gl_WorkGroupID.y;
  const uint index_base = pc.per_head_indices != 0u ? head * pc.count : 0u;
  const uint src_base = head * pc.src_capacity;
  const uint dst_base = head * pc.dst_capacity;
  const uint items = pc.count * pc.vectors_per_row;
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint e = gl_GlobalInvocationID.x; e < items; e += stride) {
    const uint i = e / pc.vectors_per_row;
    const uint v = e - i * pc.vectors_per_row;
    const uint token = indices[index_base + i];
    if (token < pc.src_capacity)
      dst[(dst_base + i) * pc.vectors_per_row + v] = src[(src_base + token) * pc.vectors_per_row + v];
  }
}
