#version 450
// Causal grouped-query attention for prefill, flash-attention style (the portable scalar path).
//
// A workgroup owns BR consecutive queries of one query head. It walks the key tiles of BC keys that any of its
// queries can see (tiles past the causal frontier are skipped) and keeps an online softmax per query row (running
// max and sum, fp32) with the output rows in registers. Per key tile:
//   1. K tile -> shared.                  2. scores S = Q K^T for the thread's block -> shared.
//   3. V tile -> shared (same array); the new row max from the S rows; P = exp(S - max) for the thread's block.
//   4. O += P V for the thread's block.
// Threads form a TR x TC grid. Thread (tr, tc) owns query rows tr + TR * a (a < RPT) in every step, keys
// tc + TC * b in step 2 and output column groups of 4, tc + TC * b, in step 4: register blocks, so each vec4 read
// from shared memory feeds several multiply-adds. Every thread of a row reads the whole S row for the max (no
// cross-thread reduction needed) and keeps its own copy of the row statistics.
// Shared arrays are vec4 rows, padded by one vec4 so that threads reading one column of different rows hit
// different banks; head dims that are not a multiple of 4 are zero-padded.
//
// Variants: KV_F16 (K/V packed as f16 pairs in uints, the cache default) or KV_F32.
// Specialization constants: 0 workgroup size, 1 head dim, 2 query rows per tile, 3 keys per tile, 4 TC.
// The host keeps TR = WG / TC dividing BR, TC dividing BC, BC a multiple of 4, the per-thread blocks within the
// MAX_ sizes below and the shared arrays within the device limit.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint D = 64;
layout(constant_id = 2) const uint BR = 32;
layout(constant_id = 3) const uint BC = 16;
layout(constant_id = 4) const uint TC = 8;

layout(std430, binding = 0) readonly buffer QBuf { float q_in[]; };
#if defined(KV_F16)
layout(std430, binding = 1) readonly buffer KBuf { uint k_in[]; };
layout(std430, binding = 2) readonly buffer VBuf { uint v_in[]; };
vec2 load_k_pair(uint i) { return unpack_f16x2(k_in[i]); }
vec2 load_v_pair(uint i) { return unpack_f16x2(v_in[i]); }
#elif defined(KV_F32)
layout(std430, binding = 1) readonly buffer KBuf { vec2 k_in[]; };
layout(std430, binding = 2) readonly buffer VBuf { vec2 v_in[]; };
vec2 load_k_pair(uint i) { return k_in[i]; }
vec2 load_v_pair(uint i) { return v_in[i]; }
#else
#error "define KV_F16 or KV_F32"
#endif
layout(std430, binding = 3) writeonly buffer OBuf { float o_out[]; };

layout(push_constant) uniform Push {
  uint heads_per_kv;  // n_q / n_kv
  uint t_q;
  uint q_offset;      // position of the first query
  uint kv_length;     // keys present in the cache
  uint capacity;      // rows per KV head in the cache
  uint q_head_stride, q_token_stride;  // in floats
  uint o_token_stride, o_head_stride;  // in floats
  float scale;
} pc;

// Register blocks are flat arrays of fixed size walked by single (never nested) loops of fixed trip count, which
// glslang's optimizer unrolls, so every index is a literal and the spec-constant guards fold away when the pipeline
// is specialised. Loops bounded by spec constants, or nested loops (glslang unrolls only the inner one), left
// dynamically indexed arrays that NVIDIA's compiler put in local memory: five times slower.
const uint MAX_RPT = 4u, MAX_KPT = 8u, MAX_CPT = 8u;
#define FOR_ROW(a) [[unroll]] for (uint a = 0u; a < MAX_RPT; ++a) if (a < RPT)
#define FOR_KEY(b) [[unroll]] for (uint b = 0u; b < MAX_KPT; ++b) if (b < KPT)
#define FOR_COL(c) [[unroll]] for (uint c = 0u; c < MAX_CPT; ++c) if (c < CPT)
// i = a * MAX_KPT + b: row a, key b
#define FOR_ROW_KEY(i) \
  [[unroll]] for (uint i = 0u; i < MAX_RPT * MAX_KPT; ++i) if (i / MAX_KPT < RPT && i % MAX_KPT < KPT)
// i = a * MAX_CPT + c: row a, column group c
#define FOR_ROW_COL(i) \
  [[unroll]] for (uint i = 0u; i < MAX_RPT * MAX_CPT; ++i) if (i / MAX_CPT < RPT && i % MAX_CPT < CPT)

const uint TR = WG / TC;
const uint RPT = BR / TR;                // query rows per thread
const uint KPT = BC / TC;                // keys per thread in step 2
const uint D4 = (D + 3) / 4;             // vec4 columns of a row
const uint CPT = (D4 + TC - 1) / TC;     // vec4 output columns per thread in step 4
const uint PAIRS = D / 2;                // f16 pairs (or vec2) per K/V row
const uint QS = D4 + 1;                  // row strides in vec4
const uint KVS = CPT * TC + 1;           // columns D4.. stay zero, read by step 4 when D4 % TC != 0
const uint SS = BC / 4 + 1;

// Finite stand-in for -infinity: masked scores and the initial running max. Key 0 is visible to every query, so
// each row's max is a real score after the first tile and exp(NEG_BIG - max) underflows to exactly 0.
const float NEG_BIG = -3.0e38;

shared vec4 q_tile[BR * QS];    // queries, pre-scaled
shared vec4 kv_tile[BC * KVS];  // K in steps 1-2, V in steps 3-4
shared vec4 s_tile[BR * SS];    // scores (NEG_BIG where masked)
shared vec4 p_tile[BR * SS];    // softmax numerators (0 where masked)

// Stages rows key0 .. key0 + BC of one cache head (a contiguous block: coalesced reads); rows past `keys` and
// columns past D become zeros.
void stage_kv_tile(uint tid, uint tile_pairs, uint keys, bool is_v) {
  for (uint i = tid; i < BC * KVS; i += WG) {
    const uint j = i / KVS, c4 = i % KVS;
    const uint pair = 2u * c4;
    vec4 x = vec4(0.0);
    if (j < keys && pair < PAIRS) {
      const uint at = tile_pairs + j * PAIRS + pair;
      x.xy = is_v ? load_v_pair(at) : load_k_pair(at);
      if (pair + 1u < PAIRS) x.zw = is_v ? load_v_pair(at + 1u) : load_k_pair(at + 1u);
    }
    kv_tile[i] = x;
  }
}

// acc[a][c] += p[a][e] * V[j][c] over the thread's rows a and column groups c, V row j staged in kv_tile.
void accumulate_key(inout vec4 acc[MAX_RPT * MAX_CPT], const vec4 p[MAX_RPT], uint e, uint j, uint tc) {
  vec4 v[MAX_CPT];
  FOR_COL(c) v[c] = kv_tile[j * KVS + tc + c * TC];
  FOR_ROW_COL(i) acc[i] += p[i / MAX_CPT][e] * v[i % MAX_CPT];
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint head = gl_WorkGroupID.y;
  const uint kv_head = head / pc.heads_per_kv;
  // Later query tiles see more keys: hand them out first so the long ones do not finish last.
  const uint row0 = (gl_NumWorkGroups.x - 1u - gl_WorkGroupID.x) * BR;
  const uint rows = min(BR, pc.t_q - row0);
  const uint key_end = min(pc.kv_length, pc.q_offset + row0 + rows);  // keys any row of the tile can see
  const uint tr = tid / TC;
  const uint tc = tid % TC;

  for (uint i = tid; i < BR * QS; i += WG) {
    const uint r = i / QS, c = 4u * (i % QS);
    vec4 x = vec4(0.0);
    if (r < rows) {
      const uint at = head * pc.q_head_stride + (row0 + r) * pc.q_token_stride + c;
      [[unroll]] for (uint e = 0; e < 4u; ++e)
        if (c + e < D) x[e] = q_in[at + e] * pc.scale;
    }
    q_tile[i] = x;
  }

  vec4 acc[MAX_RPT * MAX_CPT];
  float row_max[MAX_RPT], row_sum[MAX_RPT];
  FOR_ROW_COL(i) acc[i] = vec4(0.0);
  FOR_ROW(a) {
    row_max[a] = NEG_BIG;
    row_sum[a] = 0.0;
  }

  const uint head_pairs = kv_head * pc.capacity * PAIRS;
  for (uint key0 = 0; key0 < key_end; key0 += BC) {
    const uint keys = min(BC, key_end - key0);
    const uint tile_pairs = head_pairs + key0 * PAIRS;
    stage_kv_tile(tid, tile_pairs, keys, false);
    barrier();

    float s[MAX_RPT * MAX_KPT];
    FOR_ROW_KEY(i) s[i] = 0.0;
    for (uint c = 0; c < D4; ++c) {
      vec4 qv[MAX_RPT], kv[MAX_KPT];
      FOR_ROW(a) qv[a] = q_tile[(tr + a * TR) * QS + c];
      FOR_KEY(b) kv[b] = kv_tile[(tc + b * TC) * KVS + c];
      FOR_ROW_KEY(i) s[i] += dot(qv[i / MAX_KPT], kv[i % MAX_KPT]);
    }
    FOR_ROW_KEY(i) {
      const uint r = tr + (i / MAX_KPT) * TR, j = tc + (i % MAX_KPT) * TC;
      if (j >= keys || key0 + j > pc.q_offset + row0 + r) s[i] = NEG_BIG;
      s_tile[r * SS + j / 4u][j % 4u] = s[i];
    }
    barrier();

    stage_kv_tile(tid, tile_pairs, keys, true);
    const uint key_groups = (keys + 3u) / 4u;  // entries past `keys` hold NEG_BIG / 0
    // Every thread of a row computes the same new max from the S row.
    vec4 m[MAX_RPT];
    FOR_ROW(a) m[a] = vec4(row_max[a]);
    for (uint j4 = 0; j4 < key_groups; ++j4) FOR_ROW(a) m[a] = max(m[a], s_tile[(tr + a * TR) * SS + j4]);
    float correction[MAX_RPT];
    FOR_ROW(a) {
      const float new_max = max(max(m[a].x, m[a].y), max(m[a].z, m[a].w));
      correction[a] = exp(row_max[a] - new_max);
      row_max[a] = new_max;
      row_sum[a] *= correction[a];
    }
    FOR_ROW_COL(i) acc[i] *= correction[i / MAX_CPT];
    FOR_ROW_KEY(i) {
      const uint r = tr + (i / MAX_KPT) * TR, j = tc + (i % MAX_KPT) * TC;
      p_tile[r * SS + j / 4u][j % 4u] = s[i] == NEG_BIG ? 0.0 : exp(s[i] - row_max[i / MAX_KPT]);
    }
    barrier();

    for (uint j4 = 0; j4 < key_groups; ++j4) {
      vec4 p[MAX_RPT];
      FOR_ROW(a) {
        p[a] = p_tile[(tr + a * TR) * SS + j4];
        row_sum[a] += (p[a].x + p[a].y) + (p[a].z + p[a].w);
      }
      accumulate_key(acc, p, 0u, 4u * j4, tc);
      accumulate_key(acc, p, 1u, 4u * j4 + 1u, tc);
      accumulate_key(acc, p, 2u, 4u * j4 + 2u, tc);
      accumulate_key(acc, p, 3u, 4u * j4 + 3u, tc);
    }
    barrier();
  }

  FOR_ROW_COL(i) {
    const uint a = i / MAX_CPT, r = tr + a * TR;
    if (r < rows) {
      const uint col = 4u * (tc + (i % MAX_CPT) * TC);
      const uint at = (row0 + r) * pc.o_token_stride + head * pc.o_head_stride + col;
      const vec4 o = acc[i] / row_sum[a];
      if (col < D) o_out[at] = o.x;
      if (col + 1u < D) o_out[at + 1u] = o.y;
      if (col + 2u < D) o_out[at + 2u] = o.z;
      if (col + 3u < D) o_out[at + 3u] = o.w;
    }
  }
}
