#version 450
// Causal grouped-query attention for prefill on tensor cores (cooperative matrices): the fast path of
// attention_prefill.comp, chosen by engine/ops/attention_prefill.cpp when the device has 16x16x16 f16 x f16 -> f32
// subgroup matrices and subgroups of 32.
//
// A workgroup of NSG subgroups owns BR = 16 * NSG consecutive queries of one query head; subgroup g owns rows
// 16g .. 16g + 15 of them. The workgroup walks the key tiles of BC keys that its queries can see; per tile:
//   1. all threads stage K and V rows (f16) into kv_tile (K rows 0..BC-1, V rows BC..2BC-1); barrier.
//   2. each subgroup: S = Q K^T (16 x BC, f32) with Q held in A matrices since the start -> s_tile (its slice).
//   3. lane l owns row l % 16 and half of its columns (l / 16): masked online softmax in fp32 (exp2, log2 e folded
//      into the Q scale), P = exp2(S - new max) as f16 -> p_tile, per-row correction exp2(old max - new max) ->
//      a 16 x 16 matrix in s_tile (every column of row r holds row r's factor).
//   4. each subgroup: O *= correction (element by element: matrices of one type share their element order), O += P V.
//   barrier before the next tile overwrites kv_tile.
// The output is written through s_tile, 16 x 16 at a time, divided by the row sums, rows past t_q skipped.
// Subgroup-private shared slices are synchronised with subgroup barriers; coopmat operands are subgroup-uniform.
//
// Compile-time: HEAD_DIM (64 or 128), BC (32 or 64), COOPMAT_KHR or COOPMAT_NV.
// Specialization constant 0: the workgroup size, 32 * NSG (NSG subgroups of exactly 32: the host asks for full
// subgroups of 32 through subgroup size control, or the device has only 32).
// K, V: the cache layout [n_kv, capacity, HEAD_DIM] f16, read as uvec4 (8 halves): HEAD_DIM % 8 == 0 keeps every
// row 16-byte aligned. Q: f32, O: f32, strided as in attention_prefill.comp.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require

#if defined(COOPMAT_KHR)
#extension GL_KHR_cooperative_matrix : require
#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define MAT_ACC coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define LOAD_ROW_MAJOR(m, arr, at, stride) coopMatLoad(m, arr, at, stride, gl_CooperativeMatrixLayoutRowMajor)
#define LOAD_COL_MAJOR(m, arr, at, stride) coopMatLoad(m, arr, at, stride, gl_CooperativeMatrixLayoutColumnMajor)
#define STORE_ROW_MAJOR(m, arr, at, stride) coopMatStore(m, arr, at, stride, gl_CooperativeMatrixLayoutRowMajor)
#define MUL_ADD(a, b, c) coopMatMulAdd(a, b, c)
#elif defined(COOPMAT_NV)
#extension GL_NV_cooperative_matrix : require
#define MAT_A fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define MAT_B fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define MAT_ACC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define LOAD_ROW_MAJOR(m, arr, at, stride) coopMatLoadNV(m, arr, at, stride, false)
#define LOAD_COL_MAJOR(m, arr, at, stride) coopMatLoadNV(m, arr, at, stride, true)
#define STORE_ROW_MAJOR(m, arr, at, stride) coopMatStoreNV(m, arr, at, stride, false)
#define MUL_ADD(a, b, c) coopMatMulAddNV(a, b, c)
#else
#error "define COOPMAT_KHR or COOPMAT_NV"
#endif

#if !defined(HEAD_DIM) || !defined(BC)
#error "define HEAD_DIM and BC"
#endif
const uint D = HEAD_DIM;
const uint DB = D / 16u;   // 16-wide column blocks of a head row
const uint KB = BC / 16u;  // 16-key blocks of a tile
const uint HALF_BC = BC / 2u;

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;  // 32 * the number of subgroups
const uint NSG = WG / 32u;
const uint BR = 16u * NSG;

layout(std430, binding = 0) readonly buffer QBuf { float q_in[]; };
layout(std430, binding = 1) readonly buffer KBuf { uvec4 k_in[]; };
layout(std430, binding = 2) readonly buffer VBuf { uvec4 v_in[]; };
layout(std430, binding = 3) writeonly buffer OBuf { float o_out[]; };

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

// Row strides in elements, padded by 16 bytes so that rows start in different banks; every stride stays a multiple
// of 16 bytes (coopmat loads and stores want 16-byte aligned rows).
const uint KVS = D + 8u;    // halves
const uint SS = BC + 4u;    // floats
const uint PS = BC + 8u;    // halves
const uint S_SLICE = 16u * SS;
const uint P_SLICE = 16u * PS;

// kv_tile also stages Q (2 * BC rows at a time) before the key loop.
shared float16_t kv_tile[2u * BC * KVS];
shared float s_tile[NSG * S_SLICE];
shared float16_t p_tile[NSG * P_SLICE];

const float NEG_BIG = -3.0e38;
const float LOG2E = 1.4426950408889634;

void sync_subgroup() {
  subgroupMemoryBarrierShared();
  subgroupBarrier();
}

// Rows key0 .. key0 + BC of K and V of one cache head; rows past `keys` become zeros (V zeros keep P V finite).
void stage_kv(uint tid, uint head_vec0, uint keys) {
  const uint row_vecs = D / 8u;
  for (uint i = tid; i < 2u * BC * row_vecs; i += WG) {
    const uint row = i / row_vecs, v8 = i % row_vecs;
    const bool is_v = row >= BC;
    const uint j = is_v ? row - BC : row;
    uvec4 x = uvec4(0u);
    if (j < keys) {
      const uint at = head_vec0 + j * row_vecs + v8;
      x = is_v ? v_in[at] : k_in[at];
    }
    const uint base = row * KVS + 8u * v8;
    [[unroll]] for (uint e = 0u; e < 4u; ++e) {
      const f16vec2 h = unpackFloat2x16(x[e]);
      kv_tile[base + 2u * e] = h.x;
      kv_tile[base + 2u * e + 1u] = h.y;
    }
  }
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint sg = gl_SubgroupID;
  const uint lane = gl_SubgroupInvocationID;
  const uint head = gl_WorkGroupID.y;
  const uint kv_head = head / pc.heads_per_kv;
  // Later query tiles see more keys: hand them out first so the long ones do not finish last.
  const uint row0 = (gl_NumWorkGroups.x - 1u - gl_WorkGroupID.x) * BR;
  const uint rows = min(BR, pc.t_q - row0);
  const uint key_end = min(pc.kv_length, pc.q_offset + row0 + rows);  // keys any row of the workgroup can see

  // This subgroup's rows; a subgroup wholly past t_q only joins the barriers.
  const uint sg_row0 = 16u * sg;
  const bool sg_has_rows = sg_row0 < rows;
  const uint sg_last_pos = pc.q_offset + row0 + min(sg_row0 + 15u, rows - 1u);  // its last query's position

  // Lane roles for the softmax and the output: row r, column half `part`.
  const uint r = lane % 16u;
  const uint part = lane / 16u;
  const uint q_pos = pc.q_offset + row0 + sg_row0 + r;

  // Q (scaled by scale * log2 e, f16) into A matrices, 2 * BC rows per pass through kv_tile.
  MAT_A q_mat[DB];
  const float q_scale = pc.scale * LOG2E;
  for (uint pass0 = 0u; pass0 < BR; pass0 += 2u * BC) {
    for (uint i = tid; i < 2u * BC * D; i += WG) {
      const uint rr = i / D, c = i % D;
      const uint qr = pass0 + rr;
      float x = 0.0;
      if (qr < rows) x = q_in[head * pc.q_head_stride + (row0 + qr) * pc.q_token_stride + c] * q_scale;
      kv_tile[rr * KVS + c] = float16_t(x);
    }
    barrier();
    if (sg_row0 >= pass0 && sg_row0 < pass0 + 2u * BC) {
      [[unroll]] for (uint c = 0u; c < DB; ++c) LOAD_ROW_MAJOR(q_mat[c], kv_tile, (sg_row0 - pass0) * KVS + 16u * c, KVS);
    }
    barrier();
  }

  MAT_ACC o_mat[DB];
  [[unroll]] for (uint c = 0u; c < DB; ++c) o_mat[c] = MAT_ACC(0.0);
  float row_max = NEG_BIG;  // identical in both lanes of a row
  float row_sum = 0.0;      // this lane's half of the row

  const uint s_base = sg * S_SLICE;
  const uint p_base = sg * P_SLICE;
  const uint head_vec0 = kv_head * pc.capacity * (D / 8u);
  for (uint key0 = 0u; key0 < key_end; key0 += BC) {
    const uint keys = min(BC, key_end - key0);
    stage_kv(tid, head_vec0 + key0 * (D / 8u), keys);
    barrier();

    // Tiles wholly past this subgroup's causal frontier change nothing for it.
    if (sg_has_rows && key0 <= sg_last_pos) {
      [[unroll]] for (uint j = 0u; j < KB; ++j) {
        MAT_ACC s_mat = MAT_ACC(0.0);
        [[unroll]] for (uint c = 0u; c < DB; ++c) {
          MAT_B k_mat;  // K^T block: element (d, key) = K[key][d], i.e. K rows read column-major
          LOAD_COL_MAJOR(k_mat, kv_tile, (16u * j) * KVS + 16u * c, KVS);
          s_mat = MUL_ADD(q_mat[c], k_mat, s_mat);
        }
        STORE_ROW_MAJOR(s_mat, s_tile, s_base + 16u * j, SS);
      }
      sync_subgroup();

      float s[HALF_BC];
      float tile_max = NEG_BIG;
      [[unroll]] for (uint e = 0u; e < HALF_BC; ++e) {
        const uint col = part * HALF_BC + e;
        const bool visible = col < keys && key0 + col <= q_pos;
        s[e] = visible ? s_tile[s_base + r * SS + col] : NEG_BIG;
        tile_max = max(tile_max, s[e]);
      }
      tile_max = max(tile_max, subgroupShuffleXor(tile_max, 16u));
      const float new_max = max(row_max, tile_max);
      // The first tile holds key 0, visible to every row, so new_max is a real score from then on.
      const float correction = exp2(row_max - new_max);
      row_max = new_max;
      float tile_sum = 0.0;
      [[unroll]] for (uint e = 0u; e < HALF_BC; ++e) {
        const float p = s[e] == NEG_BIG ? 0.0 : exp2(s[e] - new_max);
        tile_sum += p;
        p_tile[p_base + r * PS + part * HALF_BC + e] = float16_t(p);
      }
      row_sum = row_sum * correction + tile_sum;
      sync_subgroup();  // every lane has read its scores before the correction matrix overwrites them
      [[unroll]] for (uint e = 0u; e < 8u; ++e) s_tile[s_base + r * 16u + part * 8u + e] = correction;
      sync_subgroup();

      MAT_ACC corr_mat;
      LOAD_ROW_MAJOR(corr_mat, s_tile, s_base, 16u);
      [[unroll]] for (uint c = 0u; c < DB; ++c)
        for (int i = 0; i < o_mat[c].length(); ++i) o_mat[c][i] *= corr_mat[i];
      [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
        MAT_A p_mat;
        LOAD_ROW_MAJOR(p_mat, p_tile, p_base + 16u * kb, PS);
        [[unroll]] for (uint c = 0u; c < DB; ++c) {
          MAT_B v_mat;  // V rows kb*16.., columns c*16..: row-major
          LOAD_ROW_MAJOR(v_mat, kv_tile, (BC + 16u * kb) * KVS + 16u * c, KVS);
          o_mat[c] = MUL_ADD(p_mat, v_mat, o_mat[c]);
        }
      }
      sync_subgroup();  // corr_mat and P reads done before the next tile's S store
    }
    barrier();
  }

  if (!sg_has_rows) return;
  const float total = row_sum + subgroupShuffleXor(row_sum, 16u);
  const float inv_sum = 1.0 / total;
  const uint out_row = sg_row0 + r;
  const bool write_row = out_row < rows;
  const uint o_at = (row0 + out_row) * pc.o_token_stride + head * pc.o_head_stride;
  [[unroll]] for (uint c = 0u; c < DB; ++c) {
    STORE_ROW_MAJOR(o_mat[c], s_tile, s_base, 16u);
    sync_subgroup();
    if (write_row)
      [[unroll]] for (uint e = 0u; e < 8u; ++e)
        o_out[o_at + 16u * c + part * 8u + e] = s_tile[s_base + r * 16u + part * 8u + e] * inv_sum;
    sync_subgroup();
  }
}
