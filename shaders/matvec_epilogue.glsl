// Where a matrix-vector kernel's finished row sums go (matvec.comp, matvec_q4_0_x8_dp4.comp). The includer
// declares `y`, the push constants `pc` with matvec.comp's fields and, with ROW_PAIRS, `positions` and `cache`.
// Rows are indices inside the weight piece, c the input vector counted from pc.x_col0.
#ifndef CKV_MATVEC_EPILOGUE_GLSL
#define CKV_MATVEC_EPILOGUE_GLSL

// y = sum, or y += sum when the push says accumulate.
void store_sum(uint row, uint c, float sum) {
  const uint yi = pc.y_offset + (pc.x_col0 + c) * pc.y_stride + row;
  y[yi] = pc.accumulate != 0u ? y[yi] + sum : sum;
}

// Llama's SwiGLU of a gate and an up sum. exp(-g) overflows to inf for g < -88: g / inf = -0, the limit of silu
// (as silu_mul.comp).
float swiglu(float g, float u) { return g / (1.0 + exp(-g)) * u; }

#if ROW_PAIRS
#include "rope_angle.glsl"
// Rows row0 (even) and row0 + 1, one RoPE pair (2i, 2i + 1) of ggml's normal mode: kv_mode 0 writes the rotated
// rows to y (Q), 1 stores them f16 into the KV cache (K), 2 stores them as they are (V).
void store_row_pair(uint row0, uint c, vec2 pair) {
  const uint row = pc.y_offset + row0;  // the weight's row: pieces start on even rows
  const uint token = pc.x_col0 + c, e0 = row % pc.head_dim;
  if (pc.kv_mode != 2u && e0 < 2u * pc.half_rope)
    pair = rope_rotate(pair, rope_cos_sin(positions[token], e0 / 2u, pc.log2_inv_freq_step, pc.freq_scale));
  if (pc.kv_mode == 0u) {
    const uint yi = pc.y_offset + token * pc.y_stride + row0;
    y[yi] = pair.x;
    y[yi + 1u] = pair.y;
  } else {
    const uint head = row / pc.head_dim;
    cache[((head * pc.capacity + pc.dst_start + token) * pc.head_dim + e0) / 2u] = pack_f16x2(pair);
  }
}
#endif

#endif
