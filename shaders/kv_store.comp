#version 450
// Appends T token rows of K (or V) to a KV cache: src f32 [T, n_kv, head_dim] (token-major, `src_row_stride`
// floats between tokens) -> dst [n_kv, capacity, head_dim] rows dst_start .. dst_start + T - 1 of every head.
// One thread per stored 32-bit word (grid-stride), so writes along a row are contiguous.
// Defines: KV_F32 (f32 cache; default f16 packed in pairs with packHalf2x16, round to nearest even), ROPE (the
// keys are rotated on the way in, each element with its pair partner exactly as rope.comp computes it, so the
// projection needs no separate RoPE pass).
#include "common.glsl"
#include "rope_angle.glsl"

layout(local_size_x_id = 0) in;
#if KV_F32 && !ROPE
// Raw words: the copy keeps every bit (NaN payloads, denormals).
layout(std430, binding = 0) readonly buffer Src { uint src[]; };
#else
layout(std430, binding = 0) readonly buffer Src { float src[]; };
#endif
layout(std430, binding = 1) writeonly buffer Dst { uint dst[]; };
#if KV_F32
const uint ELEMS_PER_WORD = 1;
#else
const uint ELEMS_PER_WORD = 2;
#endif
#if ROPE
layout(std430, binding = 2) readonly buffer Positions { uint positions[]; };
#endif
layout(push_constant) uniform Push {
  uint tokens;
  uint n_kv;
  uint head_dim;
  uint src_row_stride;
  uint capacity;
  uint dst_start;
#if ROPE
  uint half_rope;  // rope_dim / 2
  uint neox;       // 1: pairs (i, i + half_rope); 0: pairs (2i, 2i + 1)
  float log2_inv_freq_step;
  float freq_scale;
#endif
} pc;

#if ROPE
// Element e of the head row starting at `row` after the rotation of its pair at position pos.
float roped(uint row, uint e, uint pos) {
  if (e >= 2u * pc.half_rope) return src[row + e];
  const bool first = pc.neox != 0u ? e < pc.half_rope : (e & 1u) == 0u;
  const uint i = pc.neox != 0u ? (first ? e : e - pc.half_rope) : e / 2u;
  const uint partner = pc.neox != 0u ? (first ? e + pc.half_rope : e - pc.half_rope) : e ^ 1u;
  const vec2 cs = rope_cos_sin(pos, i, pc.log2_inv_freq_step, pc.freq_scale);
  const float x0 = first ? src[row + e] : src[row + partner];
  const float x1 = first ? src[row + partner] : src[row + e];
  const vec2 rotated = rope_rotate(vec2(x0, x1), cs);
  return first ? rotated.x : rotated.y;
}
#endif

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
#if ROPE
    const uint row = token * pc.src_row_stride + head * pc.head_dim, e = word * ELEMS_PER_WORD;
#if KV_F32
    dst[d] = floatBitsToUint(roped(row, e, positions[token]));
#else
    dst[d] = pack_f16x2(vec2(roped(row, e, positions[token]), roped(row, e + 1u, positions[token])));
#endif
#elif KV_F32
    dst[d] = src[s];
#else
    dst[d] = pack_f16x2(vec2(src[s], src[s + 1]));
#endif
  }
}
