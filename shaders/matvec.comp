#version 450
// y[c][n] = sum_k W[n][k] * x[c][k] (+ y[c][n] when accumulating) for up to COLS input vectors x: the decode-time
// matrix-vector product straight from quantized weight blocks.
//
// A workgroup takes ROWS consecutive weight rows at a time (grid-stride over row groups). Its threads walk the
// rows in units (quant_types.glsl: 8 elements of F32/F16, one 32-element block, or 64 elements of a K-quant
// super-block; an F32/F16 row may end in a half unit of 4), adjacent threads on adjacent units so that they read adjacent bytes. A thread loads a unit's
// words once, decodes it 4 values at a time without int-to-float conversions, and applies the values to every
// vector. The per-thread sums are then reduced over the workgroup: with subgroupAdd and one shared slot per
// subgroup (USE_SUBGROUP_ADD), else with a shared-memory tree.
//
// Defines: one WTYPE_* (see quant_types.glsl), USE_SUBGROUP_ADD, WEIGHTS_VEC4 (F32/F16 rows on 16-byte boundaries),
// NORM_INPUT: each input vector goes through an RMS norm on the way in, x · w / sqrt(mean(x²) + eps), so the
// product needs no separate norm pass (every workgroup computes the vector's mean square itself); GATED: the
// binding holds two matrices of the same shape and type, W_gate and, up_delta bytes further, W_up; a workgroup takes
// the same ROWS rows of both and writes silu(W_gate x) * (W_up x) (Llama's SwiGLU), so the FFN needs no separate
// SiLU pass and no barrier before it (push `accumulate` must be 0); ROW_PAIRS: a decode step's Q, K or V
// projection finished in place of the plain write (no RoPE or KV-store pass after it). RoPE pairs (2i, 2i + 1)
// (ggml's normal mode) are rows 2i and 2i + 1, which one workgroup step holds (ROWS even, pieces on even rows):
// matvec_epilogue.glsl stores them.
#include "common.glsl"
#if USE_SUBGROUP_ADD
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;                  // a power of two
layout(constant_id = 1) const uint ROWS = 2;     // weight rows per workgroup step
layout(constant_id = 2) const uint COLS = 1;     // input vectors per dispatch (at most; push t says how many)
layout(constant_id = 3) const uint MAX_SUBGROUPS = 32;  // local size / the device's smallest subgroup size

layout(std430, binding = 0) readonly buffer Weights { uint weights[]; };
#if WEIGHTS_VEC4
// The same binding seen as 16-byte words: one load per F16 unit instead of four (rows are 16-byte aligned).
layout(std430, binding = 0) readonly buffer Weights4 { uvec4 weights4[]; };
#endif
layout(std430, binding = 1) readonly buffer Inputs { vec4 x4[]; };
layout(std430, binding = 2) buffer Outputs { float y[]; };
#if NORM_INPUT
layout(std430, binding = 3) readonly buffer NormWeight { vec4 norm_w4[]; };
#endif
#if ROW_PAIRS
layout(std430, binding = 4) readonly buffer Positions { uint positions[]; };  // per input vector
layout(std430, binding = 5) writeonly buffer Cache { uint cache[]; };         // [n_kv][capacity][head_dim] f16
#endif

layout(push_constant) uniform Push {
  uint k;           // elements per row, a multiple of the block size (of 4 for F32/F16)
  uint n;           // rows in this piece of the weight
  uint w_base;      // byte offset of the piece's first row in the weight binding
  uint row_bytes;
  uint t;           // vectors, 1..COLS
  uint x_col0;      // first vector's index in x
  uint x_stride;    // floats between vectors in x, a multiple of 4
  uint y_stride;    // floats between vectors in y
  uint y_offset;    // float index in y of the piece's first row of vector 0
  uint accumulate;  // 1: add to y
  float norm_eps;   // NORM_INPUT only
  uint up_delta;    // GATED only: bytes from a row of W_gate to the same row of W_up
#if ROW_PAIRS
  uint kv_mode;     // 0: rotate into y; 1: rotate into the cache; 2: into the cache as they are
  uint head_dim;
  uint half_rope;   // rope_dim / 2
  uint capacity;    // cache rows per KV head
  uint dst_start;   // cache row of input vector 0
  float log2_inv_freq_step;
  float freq_scale;
#endif
} pc;

#include "quant_types.glsl"
#include "matvec_epilogue.glsl"

const uint THREADS = gl_WorkGroupSize.x;
#if GATED
const uint WROWS = 2u * ROWS;  // rows r < ROWS of W_gate, then the same rows of W_up
#else
const uint WROWS = ROWS;
#endif
const uint SUMS = WROWS * COLS;
#if PLAIN_WTYPE
const uint BATCH = 1u;  // 16 or 32 bytes per unit: enough already
#else
const uint BATCH = 4u;
#endif
#if USE_SUBGROUP_ADD
shared float partial[MAX_SUBGROUPS * SUMS];
#else
shared float partial[THREADS * SUMS];
#endif

#if NORM_INPUT
#include "matvec_input_norm.glsl"
#endif

// Sum number s of the workgroup's row group, once `partial` holds the per-subgroup (or tree-reduced) sums.
float total_sum(uint s) {
#if USE_SUBGROUP_ADD
  float sum = 0.0;
  for (uint p = 0u; p < gl_NumSubgroups; ++p) sum += partial[p * SUMS + s];
  return sum;
#else
  return partial[s * THREADS];
#endif
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint units = pc.k / UNIT_K;
  uint x_row[COLS];  // vec4 index of each vector's start; columns past t repeat the last one
  [[unroll]] for (uint c = 0u; c < COLS; ++c) x_row[c] = ((pc.x_col0 + min(c, pc.t - 1u)) * pc.x_stride) / 4u;
#if NORM_INPUT
  float inv_rms[COLS];
  [[unroll]] for (uint c = 0u; c < COLS; ++c) inv_rms[c] = input_inv_rms(x_row[c]);
#define LOAD_X(c, xe) (x4[x_row[c] + (xe)] * inv_rms[c] * norm_w4[xe])
#else
#define LOAD_X(c, xe) x4[x_row[c] + (xe)]
#endif
  const uint row_groups = ceil_div(pc.n, ROWS);
  for (uint rg = gl_WorkGroupID.x; rg < row_groups; rg += gl_NumWorkGroups.x) {
    float acc[SUMS];
    [[unroll]] for (uint s = 0u; s < SUMS; ++s) acc[s] = 0.0;
    // Rows past the end repeat the last row; their sums are never written.
    uint row_off[WROWS];
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) row_off[r] = pc.w_base + min(rg * ROWS + r, pc.n - 1u) * pc.row_bytes;
#if GATED
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) row_off[ROWS + r] = row_off[r] + pc.up_delta;
#endif

    // BATCH units per thread per step, all loaded before any is used. Measured on an H200 against one unit at a
    // time it changed nothing (Q4_0 29.47 -> 29.42 us: these kernels are bound by instructions, not latency); it
    // stays because the kernels' later numbers were measured with it.
    for (uint u0 = tid; u0 < units; u0 += THREADS * BATCH) {
      Unit w[WROWS * BATCH];
      [[unroll]] for (uint j = 0u; j < BATCH; ++j) {
        const uint u = min(u0 + j * THREADS, units - 1u);  // past the end: a valid unit, never summed
        [[unroll]] for (uint r = 0u; r < WROWS; ++r) w[j * WROWS + r] = unit_load(row_off[r], u);
      }
      [[unroll]] for (uint j = 0u; j < BATCH; ++j) {
        const uint u = u0 + j * THREADS;
        if (u >= units) break;
#if PLAIN_WTYPE
        [[unroll]] for (uint i = 0u; i < UNIT_VECS; ++i) {
          vec4 wv[WROWS];
          [[unroll]] for (uint r = 0u; r < WROWS; ++r) wv[r] = unit_vec4(w[j * WROWS + r], i);
          const uint xe = unit_elem(u, i) / 4u;
          [[unroll]] for (uint c = 0u; c < COLS; ++c) {
            const vec4 xv = LOAD_X(c, xe);
            [[unroll]] for (uint r = 0u; r < WROWS; ++r) acc[r * COLS + c] += dot(wv[r], xv);
          }
        }
#else
        // Raw quants times x, then the unit's scale (and offset times the sum of x) once.
        float part[SUMS];
        [[unroll]] for (uint s = 0u; s < SUMS; ++s) part[s] = 0.0;
#if UNIT_OFFSET
        float x_sum[COLS];
        [[unroll]] for (uint c = 0u; c < COLS; ++c) x_sum[c] = 0.0;
#endif
        [[unroll]] for (uint i = 0u; i < UNIT_VECS; ++i) {
          vec4 raw[WROWS];
          [[unroll]] for (uint r = 0u; r < WROWS; ++r) raw[r] = unit_raw4(w[j * WROWS + r], i);
          const uint xe = unit_elem(u, i) / 4u;
          [[unroll]] for (uint c = 0u; c < COLS; ++c) {
            const vec4 xv = LOAD_X(c, xe);
            [[unroll]] for (uint r = 0u; r < WROWS; ++r) part[r * COLS + c] += dot(raw[r], xv);
#if UNIT_OFFSET
            x_sum[c] += (xv.x + xv.y) + (xv.z + xv.w);
#endif
          }
        }
        [[unroll]] for (uint r = 0u; r < WROWS; ++r) {
          const vec2 a = unit_affine(w[j * WROWS + r]);
          [[unroll]] for (uint c = 0u; c < COLS; ++c) {
            acc[r * COLS + c] = fma(a.x, part[r * COLS + c], acc[r * COLS + c]);
#if UNIT_OFFSET
            acc[r * COLS + c] = fma(a.y, x_sum[c], acc[r * COLS + c]);
#endif
          }
        }
#endif
      }
    }
#if PLAIN_WTYPE
    // A row of 8u + 4 elements: its last vec4 goes to the thread that would take the next unit.
    if (pc.k % UNIT_K != 0u && tid == units % THREADS) {
      const uint xe = units * (UNIT_K / 4u);
      vec4 wv[WROWS];
      [[unroll]] for (uint r = 0u; r < WROWS; ++r) wv[r] = plain_vec4(row_off[r], xe);
      [[unroll]] for (uint c = 0u; c < COLS; ++c) {
        const vec4 xv = LOAD_X(c, xe);
        [[unroll]] for (uint r = 0u; r < WROWS; ++r) acc[r * COLS + c] += dot(wv[r], xv);
      }
    }
#endif

#if USE_SUBGROUP_ADD
    [[unroll]] for (uint s = 0u; s < SUMS; ++s) {
      const float sum = subgroupAdd(acc[s]);
      if (subgroupElect()) partial[gl_SubgroupID * SUMS + s] = sum;
    }
    barrier();
#else
    [[unroll]] for (uint s = 0u; s < SUMS; ++s) partial[s * THREADS + tid] = acc[s];
    barrier();
    for (uint half_ = THREADS / 2u; half_ > 0u; half_ /= 2u) {
      if (tid < half_) {
        [[unroll]] for (uint s = 0u; s < SUMS; ++s) partial[s * THREADS + tid] += partial[s * THREADS + tid + half_];
      }
      barrier();
    }
#endif
#if ROW_PAIRS
    for (uint s = tid; s < ROWS / 2u * COLS; s += THREADS) {
      const uint r0 = 2u * (s / COLS), c = s % COLS;
      if (rg * ROWS + r0 < pc.n && c < pc.t)
        store_row_pair(rg * ROWS + r0, c, vec2(total_sum(r0 * COLS + c), total_sum((r0 + 1u) * COLS + c)));
    }
#else
    for (uint s = tid; s < ROWS * COLS; s += THREADS) {
      const uint r = s / COLS, c = s % COLS;
      if (rg * ROWS + r < pc.n && c < pc.t) {
#if GATED
        store_sum(rg * ROWS + r, c, swiglu(total_sum(s), total_sum(ROWS * COLS + s)));
#else
        store_sum(rg * ROWS + r, c, total_sum(s));
#endif
      }
    }
#endif
    barrier();  // the next row group reuses `partial`
  }
}
