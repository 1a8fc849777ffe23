#version 450
// Appends T token rows of K (or V) to a KV cache: src f32 [T, n_kv, head_dim] (token-major, `src_row_stride`
// floats between tokens) -> dst [n_kv, capacity, head_dim] rows dst_start .. dst_start + T - 1 of every head.
// One thread per stored 32-bit word (grid-stride), so writes along a row are contiguous.
// Defines: KV_F32 (f32 cache; default f16 packed in pairs with packHalf2x16, round to nearest even).
#include "common.glsl"

layout(local_size_x_id = 0) in;
#if KV_F32
// Raw words: the copy keeps every bit (NaN payloads, denormals).
layout(std430, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, binding = 1) writeonly buffer Dst { uint dst[]; };
const uint ELEMS_PER_WORD = 1;
#else
layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) writeonly buffer Dst { uint dst[]; };
const uint ELEMS_PER_WORD = 2;
#endif
layout(push_constant) uniform Push {
  uint tokens;
  uint n_kv;
  uint head_dim;
  uint src_row_stride;
  uint capacity;
  uint dst_start;
} pc;

void main() {
  const uint words_per_row = pc.head_dim / ELEMS_PER_WORD;
  const uint words_per_token = pc.n_kv * words_per_row;
  const uint total = pc.tokens * words_per_token;
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint idx = gl_GlobalInvocationID.x; idx < total; idx += stride) {
    const uint token = idx / words_per_token;
    const uint in_token = idx - token * words_per_token;
    const uint head = in_token / words_per_row;
    const uint word = in_token - head * words_per_row;
    const uint s = token * pc.src_row_stride + head * pc.head_dim + word * ELEMS_PER_WORD;
    const uint d = (head * pc.capacity + pc.dst_start + token) * words_per_row + word;
#if KV_F32
    dst[d] = src[s];
#else
    dst[d] = pack_f16x2(vec2(src[s], src[s + 1]));
#endif
  }
}
