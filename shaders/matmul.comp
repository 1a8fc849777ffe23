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
// Defines: one WTYPE_* (see quant_types.glsl); LANE_ROWS selects the variant for CPU devices described below, with
// LANE_ROWS weight rows per lane and LANE_TOKENS tokens per workgroup.
#include "common.glsl"
#if LANE_ROWS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#endif

#if LANE_ROWS
// The CPU variant (lavapipe/llvmpipe): there a workgroup is one thread looping over SIMD rows of invocations, a
// barrier is a coroutine switch, and every buffer or shared-memory load of a varying address is a scalar loop over
// the lanes. So: one subgroup per workgroup, no shared memory and no barriers, and as few loads per multiply-add
// as possible. Lane l owns weight rows n0 + l + LANES * r (r < RL) and sums them for TT tokens. Each 32-element
// span of x is loaded once per subgroup, lane l holding elements 4(l % 8) .. 4(l % 8) + 3, and handed to every
// lane with subgroupBroadcast (an extract and a splat there).
// RL and TT are compile-time constants, not specialization constants, so that glslc unrolls every loop over them
// and the arrays below become registers (a dynamically indexed array is a per-lane loop on llvmpipe too).
layout(local_size_x_id = 0) in;  // the subgroup size, at least 8
const uint RL = LANE_ROWS;       // weight rows per lane
const uint TT = LANE_TOKENS;     // tokens per workgroup

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

const uint LANES = gl_WorkGroupSize.x;
const uint SPAN = 32u;  // elements per step: whole units (UNIT_K divides 32)
const uint SPAN_UNITS = SPAN / UNIT_K;
const uint SPAN_VECS = SPAN / 4u;

void main() {
  const uint lane = gl_SubgroupInvocationID;
  const uint t0 = gl_WorkGroupID.y * TT;
  uint x_row[TT];  // vec4 index of each token's row; tokens past the end repeat the last one
  [[unroll]] for (uint j = 0u; j < TT; ++j) x_row[j] = (min(t0 + j, pc.t - 1u) * pc.x_stride) / 4u;
  const uint row_groups = ceil_div(pc.n, LANES * RL);
  for (uint rg = gl_WorkGroupID.x; rg < row_groups; rg += gl_NumWorkGroups.x) {
    const uint n0 = rg * LANES * RL;
    // Rows past the end repeat the last row; their sums (like those of repeated tokens) are never written.
    uint row_off[RL];
    [[unroll]] for (uint r = 0u; r < RL; ++r)
      row_off[r] = pc.w_base + min(n0 + r * LANES + lane, pc.n - 1u) * pc.row_bytes;
    float acc[RL * TT];
    [[unroll]] for (uint s = 0u; s < RL * TT; ++s) acc[s] = 0.0;

    for (uint u0 = 0u; u0 < pc.k / UNIT_K; u0 += SPAN_UNITS) {
      Unit w[RL * SPAN_UNITS];
      [[unroll]] for (uint r = 0u; r < RL; ++r)
        [[unroll]] for (uint q = 0u; q < SPAN_UNITS; ++q) w[r * SPAN_UNITS + q] = unit_load(row_off[r], u0 + q);
      vec4 xl[TT * SPAN_VECS / 8u];  // this lane's share of the span, for every token
      [[unroll]] for (uint p = 0u; p < SPAN_VECS / 8u; ++p) {
        const uint v = 8u * p + (lane & 7u);
        const uint xe = unit_elem(u0 + v / UNIT_VECS, v % UNIT_VECS) / 4u;
        [[unroll]] for (uint j = 0u; j < TT; ++j) xl[j * (SPAN_VECS / 8u) + p] = x4[x_row[j] + xe];
      }
      [[unroll]] for (uint v = 0u; v < SPAN_VECS; ++v) {
        vec4 wv[RL];
        [[unroll]] for (uint r = 0u; r < RL; ++r) wv[r] = unit_vec4(w[r * SPAN_UNITS + v / UNIT_VECS], v % UNIT_VECS);
        [[unroll]] for (uint j = 0u; j < TT; ++j) {
          const vec4 src = xl[j * (SPAN_VECS / 8u) + v / 8u];
          const vec4 xv = vec4(subgroupBroadcast(src.x, v % 8u), subgroupBroadcast(src.y, v % 8u),
                               subgroupBroadcast(src.z, v % 8u), subgroupBroadcast(src.w, v % 8u));
          [[unroll]] for (uint r = 0u; r < RL; ++r) acc[r * TT + j] += dot(wv[r], xv);
        }
      }
    }

    [[unroll]] for (uint r = 0u; r < RL; ++r) {
      const uint row = n0 + r * LANES + lane;
      [[unroll]] for (uint j = 0u; j < TT; ++j) {
        const uint tok = t0 + j;
        if (row < pc.n && tok < pc.t) {
          const uint yi = pc.y_offset + tok * pc.y_stride + row;
          y[yi] = pc.accumulate != 0u ? y[yi] + acc[r * TT + j] : acc[r * TT + j];
        }
      }
    }
  }
}
#else
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
#endif
