#version 450
// Causal grouped-query attention for prefill on tensor cores (cooperative matrices): the fast path of
// attention_prefill.comp, chosen by engine/ops/attention_prefill.cpp when the device has 16x16x16 f16 x f16 -> f32
// subgroup matrices and subgroups of 32.
//
// A workgroup of NSG subgroups owns BR = 16 * NSG consecutive queries of one query head; subgroup g owns rows
// 16g .. 16g + 15 of them. The workgroup walks the key tiles of BC keys that its queries can see; per tile:
//   1. the tile's K and V rows, loaded into registers during the previous tile's arithmetic, go to kv_tile (f16,
//      16 bytes per store); barrier; the next tile's loads are issued.
//   2. each subgroup: S = Q K^T (16 x BC, f32) with Q held in A matrices since the start -> s_tile (its slice).
//   3. lane l owns row l % 16 and half of its columns (l / 16): online softmax in fp32 (exp2, log2 e folded into the
//      Q scale; the causal mask only on tiles that cross the subgroup's diagonal or the end of the keys),
//      P = exp2(S - new max) as f16 -> p_tile; when some row's max moved, the per-row correction
//      exp2(old max - new max) -> a 16 x 16 matrix in s_tile (every column of row r holds row r's factor).
//   4. each subgroup: O *= correction (element by element: matrices of one type share their element order; skipped
//      when no row's max moved), O += P V.
//   barrier before the next tile overwrites kv_tile.
// The output is written through s_tile, 16 x 16 at a time, divided by the row sums, rows past t_q skipped.
// Subgroup-private shared slices are synchronised with subgroup barriers; coopmat operands are subgroup-uniform.
// Shared arrays are uvec4 (8 halves or 4 floats as bits: the one element type both coopmat extensions load any
// matrix from) so that staging, the softmax's reads and writes and the output move 16 bytes per access; coopmat
// offsets and strides count uvec4.
//
// REGISTER_SOFTMAX: steps 2-4 without shared memory, on devices whose accumulator and A matrices put element i of
// invocation l at row l / 4 + 8 * (i / 4), column 2 * (l % 4) + i % 2 + 8 * ((i / 2) % 2) (NVIDIA's mma fragments;
// engine/ops/coopmat_layout.cpp checks it with shaders/coopmat_layout.comp): S stays in its accumulators, each lane
// masks and exponentiates its own elements, row maxima and sums combine over the 4 lanes of a quad with shuffles,
// P is written element by element into A matrices (same element order), O is rescaled per element, and the output
// is written from the accumulators. Only kv_tile remains in shared memory.
//
// Compile-time: HEAD_DIM (64 or 128), BC (32 or 64), COOPMAT_KHR or COOPMAT_NV; PROFILE_STAGES adds binding 4, where
// every subgroup writes the shader-clock cycles it spent per stage (see STAGE_* below; needs shaderSubgroupClock).
// Specialization constant 0: the workgroup size, 32 * NSG (NSG subgroups of exactly 32: the host asks for full
// subgroups of 32 through subgroup size control, or the device has only 32).
// K, V: the cache layout [n_kv, capacity, HEAD_DIM] f16, read as uvec4 (8 halves): HEAD_DIM % 8 == 0 keeps every
// row 16-byte aligned. Q: f32, O: f32, strided as in attention_prefill.comp.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#if PROFILE_STAGES
#extension GL_ARB_shader_clock : require
#endif

#extension GL_GOOGLE_include_directive : require  // the KHR tools (glslang 13) ask for it
#include "coopmat.glsl"

#if !defined(HEAD_DIM) || !defined(BC)
#error "define HEAD_DIM and BC"
#endif
const uint D = HEAD_DIM;
const uint DB = D / 16u;   // 16-wide column blocks of a head row
const uint KB = BC / 16u;  // 16-key blocks of a tile
const uint HALF_BC = BC / 2u;
const uint ROW_VECS = D / 8u;  // uvec4 per K or V row in the cache

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;  // 32 * the number of subgroups
const uint NSG = WG / 32u;
const uint BR = 16u * NSG;
const uint TILE_VECS = 2u * BC * ROW_VECS;         // uvec4 of K and V per key tile
const uint LOADS = (TILE_VECS + WG - 1u) / WG;     // of them per thread

layout(std430, binding = 0) readonly buffer QBuf { float q_in[]; };
layout(std430, binding = 1) readonly buffer KBuf { uvec4 k_in[]; };
layout(std430, binding = 2) readonly buffer VBuf { uvec4 v_in[]; };
layout(std430, binding = 3) writeonly buffer OBuf { float o_out[]; };
#if PROFILE_STAGES
layout(std430, binding = 4) writeonly buffer ClockBuf { uint stage_clocks[]; };
#endif

layout(push_constant) uniform Push {
  uint heads_per_kv;
  uint t_q;
  uint q_offset;
  uint kv_length;
  uint capacity;
  uint q_head_stride, q_token_stride;  // in floats
  uint o_token_stride, o_head_stride;  // in floats
  float scale;
} pc;

// Row strides in uvec4, padded by 16 bytes so that rows start in different banks (coopmat loads and stores want
// 16-byte aligned rows). The byte sizes match coopmat_shared_bytes in engine/ops/attention_prefill_coopmat.cpp.
const uint KVS = D / 8u + 1u;   // D + 8 halves
const uint SS = BC / 4u + 1u;   // BC + 4 floats
const uint PS = BC / 8u + 1u;   // BC + 8 halves
const uint S_SLICE = 16u * SS;
const uint P_SLICE = 16u * PS;

// kv_tile also stages Q (2 * BC rows at a time) before the key loop.
shared uvec4 kv_tile[2u * BC * KVS];
#if !REGISTER_SOFTMAX
shared uvec4 s_tile[NSG * S_SLICE];
shared uvec4 p_tile[NSG * P_SLICE];
#endif

const float NEG_BIG = -3.0e38;
const float LOG2E = 1.4426950408889634;

#if PROFILE_STAGES
const uint STAGE_Q = 0u;        // Q into registers
const uint STAGE_STAGE = 1u;    // K/V registers -> shared, both barriers (waits on the loads and the other subgroups)
const uint STAGE_QK = 2u;       // S = Q K^T and its store
const uint STAGE_SOFTMAX = 3u;  // S read, max, exp, P and correction writes
const uint STAGE_PV = 4u;       // O rescale and O += P V
const uint STAGE_OUT = 5u;      // the output
const uint STAGES = 6u;
uint stage_sum[STAGES];
uint stage_mark;
void stage_begin() { stage_mark = clock2x32ARB().x; }
void stage_end(uint s) {
  const uint now = clock2x32ARB().x;
  stage_sum[s] += now - stage_mark;
  stage_mark = now;
}
#define STAGE_BEGIN() stage_begin()
#define STAGE_END(s) stage_end(s)
#else
#define STAGE_BEGIN()
#define STAGE_END(s)
#endif

void sync_subgroup() {
  subgroupMemoryBarrierShared();
  subgroupBarrier();
}

// This thread's share of the K and V rows key0 .. key0 + BC of one cache head (head_vec0 points at key0's K row);
// rows past `keys` become zeros (V zeros keep P V finite).
uvec4 staged[LOADS];
void fetch_kv(uint tid, uint head_vec0, uint keys) {
  [[unroll]] for (uint n = 0u; n < LOADS; ++n) {
    const uint i = tid + n * WG;
    const uint row = i / ROW_VECS, v8 = i % ROW_VECS;
    const bool is_v = row >= BC;
    const uint j = is_v ? row - BC : row;
    staged[n] = uvec4(0u);
    if (i < TILE_VECS && j < keys) {
      const uint at = head_vec0 + j * ROW_VECS + v8;
      staged[n] = is_v ? v_in[at] : k_in[at];
    }
  }
}

void store_kv(uint tid) {
  [[unroll]] for (uint n = 0u; n < LOADS; ++n) {
    const uint i = tid + n * WG;
    if (i < TILE_VECS) kv_tile[(i / ROW_VECS) * KVS + i % ROW_VECS] = staged[n];
  }
}

uint pack_halves(float a, float b) { return packFloat2x16(f16vec2(a, b)); }

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint sg = gl_SubgroupID;
  const uint lane = gl_SubgroupInvocationID;
  const uint head = gl_WorkGroupID.y;
  const uint kv_head = head / pc.heads_per_kv;
#if PROFILE_STAGES
  [[unroll]] for (uint s = 0u; s < STAGES; ++s) stage_sum[s] = 0u;
#endif
  STAGE_BEGIN();
  // Later query tiles see more keys: hand them out first so the long ones do not finish last.
  const uint row0 = (gl_NumWorkGroups.x - 1u - gl_WorkGroupID.x) * BR;
  const uint rows = min(BR, pc.t_q - row0);
  const uint key_end = min(pc.kv_length, pc.q_offset + row0 + rows);  // keys any row of the workgroup can see

  // This subgroup's rows; a subgroup wholly past t_q only joins the barriers.
  const uint sg_row0 = 16u * sg;
  const bool sg_has_rows = sg_row0 < rows;
  const uint sg_first_pos = pc.q_offset + row0 + sg_row0;                        // its first query's position
  const uint sg_last_pos = pc.q_offset + row0 + min(sg_row0 + 15u, rows - 1u);  // its last query's position

#if REGISTER_SOFTMAX
  // Element i of this lane's accumulators and A matrices: row quad + 8 * (i / 4), column
  // 2 * pair + i % 2 + 8 * ((i / 2) % 2) of its 16 x 16 block (the layout coopmat_layout.comp found).
  const uint quad = lane / 4u, pair = lane % 4u;
  const uint q_pos[2] = uint[2](pc.q_offset + row0 + sg_row0 + quad, pc.q_offset + row0 + sg_row0 + quad + 8u);
#else
  // Lane roles for the softmax and the output: row r, column half `part`.
  const uint r = lane % 16u;
  const uint part = lane / 16u;
  const uint q_pos = pc.q_offset + row0 + sg_row0 + r;
#endif

  const uint head_vec0 = kv_head * pc.capacity * ROW_VECS;
  if (key_end > 0u) fetch_kv(tid, head_vec0, min(BC, key_end));

  // Q (scaled by scale * log2 e, f16) into A matrices, 2 * BC rows per pass through kv_tile, 8 columns per store.
  MAT_A q_mat[DB];
  const float q_scale = pc.scale * LOG2E;
  for (uint pass0 = 0u; pass0 < BR; pass0 += 2u * BC) {
    for (uint i = tid; i < 2u * BC * ROW_VECS; i += WG) {
      const uint rr = i / ROW_VECS, c = 8u * (i % ROW_VECS);
      const uint qr = pass0 + rr;
      uvec4 x = uvec4(0u);
      if (qr < rows) {
        const uint at = head * pc.q_head_stride + (row0 + qr) * pc.q_token_stride + c;
        [[unroll]] for (uint e = 0u; e < 4u; ++e)
          x[e] = pack_halves(q_in[at + 2u * e] * q_scale, q_in[at + 2u * e + 1u] * q_scale);
      }
      kv_tile[rr * KVS + c / 8u] = x;
    }
    barrier();
    if (sg_row0 >= pass0 && sg_row0 < pass0 + 2u * BC) {
      [[unroll]] for (uint c = 0u; c < DB; ++c) LOAD_ROW_MAJOR(q_mat[c], kv_tile, (sg_row0 - pass0) * KVS + 2u * c, KVS);
    }
    barrier();
  }
  STAGE_END(STAGE_Q);

  MAT_ACC o_mat[DB];
  [[unroll]] for (uint c = 0u; c < DB; ++c) o_mat[c] = MAT_ACC(0.0);
#if REGISTER_SOFTMAX
  float row_max[2] = float[2](NEG_BIG, NEG_BIG);  // of rows quad and quad + 8, identical across the quad
  float row_sum[2] = float[2](0.0, 0.0);          // this lane's part of those rows
#else
  float row_max = NEG_BIG;  // identical in both lanes of a row
  float row_sum = 0.0;      // this lane's half of the row

  const uint s_base = sg * S_SLICE;
  const uint p_base = sg * P_SLICE;
  const uint s_row = s_base + r * SS + part * (HALF_BC / 4u);  // this lane's scores (4 per uvec4)
  const uint p_row = p_base + r * PS + part * (HALF_BC / 8u);  // this lane's numerators (8 per uvec4)
#endif
  for (uint key0 = 0u; key0 < key_end; key0 += BC) {
    const uint keys = min(BC, key_end - key0);
    STAGE_BEGIN();
    barrier();  // the previous tile's K and V reads are done
    store_kv(tid);
    barrier();
    STAGE_END(STAGE_STAGE);
    const uint next0 = key0 + BC;
    if (next0 < key_end) fetch_kv(tid, head_vec0 + next0 * ROW_VECS, min(BC, key_end - next0));

    // Tiles wholly past this subgroup's causal frontier change nothing for it.
    if (sg_has_rows && key0 <= sg_last_pos) {
      STAGE_BEGIN();
      MAT_ACC s_mat[KB];
      [[unroll]] for (uint j = 0u; j < KB; ++j) s_mat[j] = MAT_ACC(0.0);
      [[unroll]] for (uint c = 0u; c < DB; ++c)
        [[unroll]] for (uint j = 0u; j < KB; ++j) {
          MAT_B k_mat;  // K^T block: element (d, key) = K[key][d], i.e. K rows read column-major
          LOAD_COL_MAJOR(k_mat, kv_tile, (16u * j) * KVS + 2u * c, KVS);
          s_mat[j] = MUL_ADD(q_mat[c], k_mat, s_mat[j]);
        }
      // Every key of the tile is visible to every row of the subgroup unless the tile crosses its diagonal or the
      // end of the keys.
      const bool masked = keys < BC || key0 + BC - 1u > sg_first_pos;
#if REGISTER_SOFTMAX
      float tile_max[2] = float[2](NEG_BIG, NEG_BIG);
      [[unroll]] for (uint j = 0u; j < KB; ++j)
        [[unroll]] for (int i = 0; i < 8; ++i) {
          const uint h = uint(i) / 4u;
          const uint col = 16u * j + 2u * pair + uint(i) % 2u + 8u * ((uint(i) / 2u) % 2u);
          if (masked && !(col < keys && key0 + col <= q_pos[h])) s_mat[j][i] = NEG_BIG;
          tile_max[h] = max(tile_max[h], s_mat[j][i]);
        }
      STAGE_END(STAGE_QK);
      float correction[2];
      bool moved = false;
      [[unroll]] for (uint h = 0u; h < 2u; ++h) {
        tile_max[h] = max(tile_max[h], subgroupShuffleXor(tile_max[h], 1u));
        tile_max[h] = max(tile_max[h], subgroupShuffleXor(tile_max[h], 2u));
        const float new_max = max(row_max[h], tile_max[h]);
        // The first tile holds key 0, visible to every row, so new_max is a real score from then on.
        correction[h] = exp2(row_max[h] - new_max);
        moved = moved || new_max != row_max[h];
        row_max[h] = new_max;
      }
      MAT_A p_mat[KB];
      float tile_sum[2] = float[2](0.0, 0.0);
      [[unroll]] for (uint j = 0u; j < KB; ++j)
        [[unroll]] for (int i = 0; i < 8; ++i) {
          const uint h = uint(i) / 4u;
          const float x = s_mat[j][i];
          const float p = x == NEG_BIG ? 0.0 : exp2(x - row_max[h]);
          tile_sum[h] += p;
          p_mat[j][i] = float16_t(p);
        }
      [[unroll]] for (uint h = 0u; h < 2u; ++h) row_sum[h] = row_sum[h] * correction[h] + tile_sum[h];
      STAGE_END(STAGE_SOFTMAX);

      if (subgroupAny(moved))
        [[unroll]] for (uint c = 0u; c < DB; ++c)
          [[unroll]] for (int i = 0; i < 8; ++i) o_mat[c][i] *= correction[uint(i) / 4u];
      [[unroll]] for (uint kb = 0u; kb < KB; ++kb)
        [[unroll]] for (uint c = 0u; c < DB; ++c) {
          MAT_B v_mat;  // V rows kb*16.., columns c*16..: row-major
          LOAD_ROW_MAJOR(v_mat, kv_tile, (BC + 16u * kb) * KVS + 2u * c, KVS);
          o_mat[c] = MUL_ADD(p_mat[kb], v_mat, o_mat[c]);
        }
      STAGE_END(STAGE_PV);
#else
      [[unroll]] for (uint j = 0u; j < KB; ++j) STORE_ROW_MAJOR(s_mat[j], s_tile, s_base + 4u * j, SS);
      sync_subgroup();
      STAGE_END(STAGE_QK);

      float s[HALF_BC];
      float tile_max = NEG_BIG;
      [[unroll]] for (uint e4 = 0u; e4 < HALF_BC / 4u; ++e4) {
        const vec4 x = uintBitsToFloat(s_tile[s_row + e4]);
        [[unroll]] for (uint e = 0u; e < 4u; ++e) {
          const uint col = part * HALF_BC + 4u * e4 + e;
          const bool visible = !masked || (col < keys && key0 + col <= q_pos);
          s[4u * e4 + e] = visible ? x[e] : NEG_BIG;
          tile_max = max(tile_max, s[4u * e4 + e]);
        }
      }
      tile_max = max(tile_max, subgroupShuffleXor(tile_max, 16u));
      const float new_max = max(row_max, tile_max);
      // The first tile holds key 0, visible to every row, so new_max is a real score from then on.
      const float correction = exp2(row_max - new_max);
      const bool rescale = subgroupAny(new_max != row_max);
      row_max = new_max;
      float tile_sum = 0.0;
      [[unroll]] for (uint e8 = 0u; e8 < HALF_BC / 8u; ++e8) {
        uvec4 packed;
        [[unroll]] for (uint e = 0u; e < 4u; ++e) {
          const float a = s[8u * e8 + 2u * e], b = s[8u * e8 + 2u * e + 1u];
          const float pa = a == NEG_BIG ? 0.0 : exp2(a - new_max);
          const float pb = b == NEG_BIG ? 0.0 : exp2(b - new_max);
          tile_sum += pa + pb;
          packed[e] = pack_halves(pa, pb);
        }
        p_tile[p_row + e8] = packed;
      }
      row_sum = row_sum * correction + tile_sum;
      if (rescale) {
        sync_subgroup();  // every lane has read its scores before the correction matrix overwrites them
        s_tile[s_base + r * 4u + part * 2u] = uvec4(floatBitsToUint(correction));
        s_tile[s_base + r * 4u + part * 2u + 1u] = uvec4(floatBitsToUint(correction));
      }
      sync_subgroup();
      STAGE_END(STAGE_SOFTMAX);

      if (rescale) {
        MAT_ACC corr_mat;
        LOAD_ROW_MAJOR(corr_mat, s_tile, s_base, 4u);
        [[unroll]] for (uint c = 0u; c < DB; ++c)
          for (int i = 0; i < o_mat[c].length(); ++i) o_mat[c][i] *= corr_mat[i];
      }
      [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
        MAT_A p_mat;
        LOAD_ROW_MAJOR(p_mat, p_tile, p_base + 2u * kb, PS);
        [[unroll]] for (uint c = 0u; c < DB; ++c) {
          MAT_B v_mat;  // V rows kb*16.., columns c*16..: row-major
          LOAD_ROW_MAJOR(v_mat, kv_tile, (BC + 16u * kb) * KVS + 2u * c, KVS);
          o_mat[c] = MUL_ADD(p_mat, v_mat, o_mat[c]);
        }
      }
      sync_subgroup();  // corr_mat and P reads done before the next tile's S store
      STAGE_END(STAGE_PV);
#endif
    }
  }

  STAGE_BEGIN();
#if REGISTER_SOFTMAX
  if (sg_has_rows) {
    [[unroll]] for (uint h = 0u; h < 2u; ++h) {
      row_sum[h] += subgroupShuffleXor(row_sum[h], 1u);
      row_sum[h] += subgroupShuffleXor(row_sum[h], 2u);
      row_sum[h] = 1.0 / row_sum[h];
    }
    [[unroll]] for (uint h = 0u; h < 2u; ++h) {
      const uint out_row = sg_row0 + quad + 8u * h;
      if (out_row < rows) {
        const uint o_at = (row0 + out_row) * pc.o_token_stride + head * pc.o_head_stride + 2u * pair;
        [[unroll]] for (uint c = 0u; c < DB; ++c)
          [[unroll]] for (int i = 0; i < 8; ++i)
            if (uint(i) / 4u == h) o_out[o_at + 16u * c + uint(i) % 2u + 8u * ((uint(i) / 2u) % 2u)] = o_mat[c][i] * row_sum[h];
      }
    }
  }
#else
  if (sg_has_rows) {
    const float total = row_sum + subgroupShuffleXor(row_sum, 16u);
    const float inv_sum = 1.0 / total;
    const uint out_row = sg_row0 + r;
    const bool write_row = out_row < rows;
    const uint o_at = (row0 + out_row) * pc.o_token_stride + head * pc.o_head_stride;
    [[unroll]] for (uint c = 0u; c < DB; ++c) {
      STORE_ROW_MAJOR(o_mat[c], s_tile, s_base, 4u);
      sync_subgroup();
      if (write_row)
        [[unroll]] for (uint e4 = 0u; e4 < 2u; ++e4) {
          const vec4 x = uintBitsToFloat(s_tile[s_base + r * 4u + part * 2u + e4]) * inv_sum;
          [[unroll]] for (uint e = 0u; e < 4u; ++e) o_out[o_at + 16u * c + part * 8u + 4u * e4 + e] = x[e];
        }
      sync_subgroup();
    }
  }
#endif
  STAGE_END(STAGE_OUT);
#if PROFILE_STAGES
  if (lane == 0u) {
    const uint slot = ((gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * NSG + sg) * STAGES;
    [[unroll]] for (uint s = 0u; s < STAGES; ++s) stage_clocks[slot + s] = stage_sum[s];
  }
#endif
}
