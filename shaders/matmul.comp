#version 450
// Y[t][n] = sum_k W[n][k] * X[t][k] (+ Y[t][n] when accumulating): the prefill matrix product straight from
// quantized weight blocks, fp32 accumulation.
//
// A workgroup computes a BN x BT tile of Y (weight rows x tokens). For each step of BK along k it dequantizes the
// BN x BK weight tile once into shared memory (8 elements per thread-step, the same decoder as get_rows), stages
// the BT x BK input tile, and every thread accumulates 4 rows x 4 tokens from one vec4 of each tile per k. The
// register tile is fixed at 4 x 4 and held in four vec4 (no arrays, so nothing can spill to local memory); both
// tiles are k-major so that those vec4 loads are conflict-free.
//
// Defines: one WTYPE_* (see quant_types.glsl).
#include "common.glsl"

layout(local_size_x_id = 0) in;              // (BN / 4) * (BT / 4)
layout(constant_id = 1) const uint BN = 64;  // weight rows per tile, a multiple of 4
layout(constant_id = 2) const uint BT = 64;  // tokens per tile, a multiple of 4
layout(constant_id = 3) const uint BK = 32;  // k per step: 8, 16 or 32 (divides every quantized K, a multiple
                                             // of 32; F32/F16 K, a multiple of 4, is padded with zeros)

layout(std430, binding = 0) readonly buffer Weights { uint weights[]; };
layout(std430, binding = 1) readonly buffer Inputs { vec4 x4[]; };
layout(std430, binding = 2) buffer Outputs { float y[]; };

layout(push_constant) uniform Push {
  uint k;
  uint n;           // rows in this piece of the weight
  uint w_base;      // byte offset of the piece's first row in the weight binding
  uint row_bytes;
  uint t;           // tokens
  uint x_stride;    // floats between tokens in X, a multiple of 4
  uint y_stride;    // floats between tokens in Y
  uint y_offset;    // float index in Y of the piece's first row of token 0
  uint accumulate;  // 1: add to Y
} pc;

#include "quant_types.glsl"

const uint THREADS = gl_WorkGroupSize.x;
const uint TN = BN / 4u;  // threads along the rows
const uint K_GROUPS = BK / 8u;
const uint K_VECS = BK / 4u;

shared vec4 w_tile[BK * TN];         // [kk][rows 4i .. 4i + 3]
shared vec4 x_tile[BK * (BT / 4u)];  // [kk][tokens 4j .. 4j + 3]

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint tn = tid % TN, tt = tid / TN;
  const uint n0 = gl_WorkGroupID.x * BN, t0 = gl_WorkGroupID.y * BT;
  vec4 acc0 = vec4(0.0), acc1 = vec4(0.0), acc2 = vec4(0.0), acc3 = vec4(0.0);  // 4 rows for token 4tt + j

  for (uint k0 = 0u; k0 < pc.k; k0 += BK) {
    // Adjacent threads take adjacent rows, so the scalar stores below hit distinct banks.
    for (uint g = tid; g < BN * K_GROUPS; g += THREADS) {
      const uint row = g % BN, kq = g / BN;
      vec4 lo = vec4(0.0), hi = vec4(0.0);
      if (n0 + row < pc.n) {
        const uint row_off = pc.w_base + (n0 + row) * pc.row_bytes, kk = k0 + 8u * kq;
#if PLAIN_WTYPE
        // F32/F16 rows end anywhere on a multiple of 4: past the end the tile holds zeros.
        if (kk + 8u <= pc.k) dequant8(row_off, kk, lo, hi);
        else if (kk < pc.k) lo = plain_vec4(row_off, kk / 4u);
#else
        dequant8(row_off, kk, lo, hi);
#endif
      }
      const uint base = 8u * kq * TN + row / 4u, lane = row % 4u;
      [[unroll]] for (uint e = 0u; e < 4u; ++e) {
        w_tile[base + e * TN][lane] = lo[e];
        w_tile[base + (e + 4u) * TN][lane] = hi[e];
      }
    }
    for (uint v = tid; v < BT * K_VECS; v += THREADS) {
      const uint tok = v % BT, kv = v / BT;
      vec4 xv = vec4(0.0);
#if PLAIN_WTYPE
      if (t0 + tok < pc.t && k0 + 4u * kv < pc.k) xv = x4[((t0 + tok) * pc.x_stride + k0) / 4u + kv];
#else
      if (t0 + tok < pc.t) xv = x4[((t0 + tok) * pc.x_stride + k0) / 4u + kv];
#endif
      const uint base = 4u * kv * (BT / 4u) + tok / 4u, lane = tok % 4u;
      [[unroll]] for (uint e = 0u; e < 4u; ++e) x_tile[base + e * (BT / 4u)][lane] = xv[e];
    }
    barrier();
    for (uint kk = 0u; kk < BK; ++kk) {
      const vec4 a = w_tile[kk * TN + tn];
      const vec4 b = x_tile[kk * (BT / 4u) + tt];
      acc0 = fma(a, vec4(b.x), acc0);
      acc1 = fma(a, vec4(b.y), acc1);
      acc2 = fma(a, vec4(b.z), acc2);
      acc3 = fma(a, vec4(b.w), acc3);
    }
    barrier();
  }

  [[unroll]] for (uint j = 0u; j < 4u; ++j) {
    const uint tok = t0 + 4u * tt + j;
    if (tok >= pc.t) continue;
    const vec4 sums = j == 0u ? acc0 : j == 1u ? acc1 : j == 2u ? acc2 : acc3;
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      const uint row = n0 + 4u * tn + i;
      if (row >= pc.n) continue;
      const uint yi = pc.y_offset + tok * pc.y_stride + row;
      y[yi] = pc.accumulate != 0u ? y[yi] + sums[i] : sums[i];
    }
  }
}
