#version 450
// Window scores, the first step of KV compression (docs/design.md, "Compression pipeline"). One workgroup takes
// one block of keys for one listed query head (slot) and computes the logits of all W window rows against it,
// tiled over the head dim through shared memory. Two variants of this file:
//   default: pass 1 — per row, the block's max logit and sum of exp over the visible keys → block_stats.
//   SUM:     pass 3 — the same logits for keys j < N, normalised with the combined row stats (pass 2) and summed
//            over the rows → scores S[slot][j].
// Logits are kept in the log2 domain (the query is pre-multiplied by scale·log2 e) so that exp2 can be used.
// K_F32 selects f32 keys; by default keys are f16 packed in pairs. K_WIDE reads 16 bytes per load, for head dims
// that keep every key row 16-byte aligned (a multiple of 8 for f16, of 4 for f32).
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BLOCK_KEYS = 64;      // a power of two that divides the workgroup size
layout(constant_id = 2) const uint DIM_CHUNK = 32;       // a multiple of 8
layout(constant_id = 3) const uint ROWS_PER_THREAD = 2;  // ceil(W / ROW_LANES)
layout(constant_id = 4) const uint SHARED_VEC4S = 1088;  // max(key tile + query tile, reduction area) / 4

const uint ROW_LANES = gl_WorkGroupSize.x / BLOCK_KEYS;
const uint ROWS = ROW_LANES * ROWS_PER_THREAD;  // window rows padded up; rows >= W have zero queries
const uint CHUNK4 = DIM_CHUNK / 4u;
const uint K_STRIDE4 = CHUNK4 + 1u;             // vec4s per key row: the padding spreads key lanes over banks
const uint Q_TILE4 = BLOCK_KEYS * K_STRIDE4;    // where the query tile starts in `tile`
const float NEG_BIG = -1.0e30;                  // "no visible key": finite, so merges never make NaN

layout(std430, binding = 0) readonly buffer Queries { float qw[]; };
#if defined(K_F32) && defined(K_WIDE)
layout(std430, binding = 1) readonly buffer Keys { vec4 k_quads[]; };
const uint K_LOAD_DIMS = 4u;
#elif defined(K_F32)
layout(std430, binding = 1) readonly buffer Keys { vec2 k_pairs[]; };
const uint K_LOAD_DIMS = 4u;
#elif defined(K_WIDE)
layout(std430, binding = 1) readonly buffer Keys { uvec4 k_octets[]; };
const uint K_LOAD_DIMS = 8u;
#else
layout(std430, binding = 1) readonly buffer Keys { uint k_words[]; };
const uint K_LOAD_DIMS = 4u;
#endif
layout(std430, binding = 2) readonly buffer HeadSets { uint head_ids[]; };
#ifdef SUM
layout(std430, binding = 3) writeonly buffer Scores { float scores[]; };     // [H, N]
layout(std430, binding = 4) readonly buffer RowStats { vec2 row_stats[]; };  // [H, W]: (max, 1 / sum of exp)
#else
layout(std430, binding = 3) writeonly buffer BlockStats { vec2 block_stats[]; };  // [H, W, n_blocks]: (max, sum)
#endif

layout(push_constant) uniform Push {
  uint n_q;
  uint group;  // query heads per KV head
  uint head_dim;
  uint t;      // keys
  uint window;
  uint capacity;
  uint qw_head_stride;
  uint qw_row_stride;
  uint n_blocks;
  float scale_log2;  // scale · log2(e)
} pc;

// The key and query tiles are read as vec4 (fewer shared-memory loads per FMA); once the logits are done, the
// same memory holds the per-row reductions as floats.
shared vec4 tile[SHARED_VEC4S];
float tile_get(uint i) { return tile[i >> 2u][i & 3u]; }
void tile_set(uint i, float v) { tile[i >> 2u][i & 3u] = v; }

// Key dims c .. c + K_LOAD_DIMS - 1 (element offset e in the cache) into the tile at vec4 index `at`.
void load_key(uint e, uint c, uint at) {
#if defined(K_F32) && defined(K_WIDE)
  tile[at] = k_quads[e / 4u];
#elif defined(K_F32)
  tile[at] = vec4(k_pairs[e / 2u], c + 2u < pc.head_dim ? k_pairs[e / 2u + 1u] : vec2(0.0));
#elif defined(K_WIDE)
  const uvec4 raw = k_octets[e / 8u];
  tile[at] = vec4(unpack_f16x2(raw.x), unpack_f16x2(raw.y));
  tile[at + 1u] = vec4(unpack_f16x2(raw.z), unpack_f16x2(raw.w));
#else
  tile[at] = vec4(unpack_f16x2(k_words[e / 2u]), c + 2u < pc.head_dim ? unpack_f16x2(k_words[e / 2u + 1u]) : vec2(0.0));
#endif
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint key_lane = tid % BLOCK_KEYS;
  const uint row_lane = tid / BLOCK_KEYS;
  // Slots vary fastest across workgroups, so the heads sharing a KV head read the same key block at about the
  // same time and mostly hit in L2.
  const uint slot = gl_WorkGroupID.x;
  const uint block = gl_WorkGroupID.y;
  const uint n_scored = pc.t - pc.window;  // N
#ifdef SUM
  const uint key_end = n_scored;
#else
  const uint key_end = pc.t;
#endif
  // Head ids are validated on the host; the clamp only keeps a bad id from reading outside the queries.
  const uint h = min(head_ids[slot], pc.n_q - 1u);
  const uint k_base = (h / pc.group) * pc.capacity * pc.head_dim;  // in elements
  const uint q_base = h * pc.qw_head_stride;
  const uint j0 = block * BLOCK_KEYS;

  float acc[ROWS_PER_THREAD];
  [[unroll]] for (uint i = 0; i < ROWS_PER_THREAD; ++i) acc[i] = 0.0;

  for (uint c0 = 0; c0 < pc.head_dim; c0 += DIM_CHUNK) {
    // Key tile [BLOCK_KEYS][DIM_CHUNK]: consecutive threads read consecutive parts of a key row.
    const uint parts = DIM_CHUNK / K_LOAD_DIMS;
    for (uint idx = tid; idx < BLOCK_KEYS * parts; idx += gl_WorkGroupSize.x) {
      const uint kl = idx / parts;
      const uint c = c0 + (idx % parts) * K_LOAD_DIMS;
      const uint j = j0 + kl;
      const uint at = kl * K_STRIDE4 + (idx % parts) * (K_LOAD_DIMS / 4u);
      if (j < key_end && c < pc.head_dim) {
        load_key(k_base + j * pc.head_dim + c, c, at);
      } else {
        [[unroll]] for (uint q = 0; q < K_LOAD_DIMS / 4u; ++q) tile[at + q] = vec4(0.0);
      }
    }
    // Query tile [ROWS][DIM_CHUNK], pre-scaled.
    for (uint idx = tid; idx < ROWS * CHUNK4; idx += gl_WorkGroupSize.x) {
      const uint w = idx / CHUNK4;
      const uint c = c0 + 4u * (idx % CHUNK4);
      vec4 v = vec4(0.0);
      if (w < pc.window) {
        const uint at = q_base + w * pc.qw_row_stride + c;
        [[unroll]] for (uint e = 0; e < 4u; ++e)
          if (c + e < pc.head_dim) v[e] = qw[at + e];
      }
      tile[Q_TILE4 + idx] = v * pc.scale_log2;
    }
    barrier();
    for (uint c = 0; c < CHUNK4; ++c) {
      const vec4 k = tile[key_lane * K_STRIDE4 + c];
      [[unroll]] for (uint i = 0; i < ROWS_PER_THREAD; ++i)
        acc[i] += dot(tile[Q_TILE4 + (row_lane + ROW_LANES * i) * CHUNK4 + c], k);
    }
    barrier();
  }

  const uint j = j0 + key_lane;
#ifdef SUM
  // Every key j < N is visible to every window row.
  float total = 0.0;
  [[unroll]] for (uint i = 0; i < ROWS_PER_THREAD; ++i) {
    const uint w = row_lane + ROW_LANES * i;
    if (w < pc.window) {
      const vec2 stats = row_stats[slot * pc.window + w];
      total += exp2(acc[i] - stats.x) * stats.y;
    }
  }
  tile_set(row_lane * BLOCK_KEYS + key_lane, total);
  barrier();
  if (row_lane == 0u && j < n_scored) {
    float sum = 0.0;
    for (uint r = 0; r < ROW_LANES; ++r) sum += tile_get(r * BLOCK_KEYS + key_lane);
    scores[slot * n_scored + j] = sum;
  }
#else
  // Window row w sits at position N + w and sees keys j <= N + w.
  bool visible[ROWS_PER_THREAD];
  [[unroll]] for (uint i = 0; i < ROWS_PER_THREAD; ++i) {
    const uint w = row_lane + ROW_LANES * i;
    visible[i] = w < pc.window && j < pc.t && j <= n_scored + w;
    tile_set(w * BLOCK_KEYS + key_lane, visible[i] ? acc[i] : NEG_BIG);
  }
  barrier();
  for (uint s = BLOCK_KEYS / 2u; s > 0u; s >>= 1) {
    for (uint idx = tid; idx < ROWS * s; idx += gl_WorkGroupSize.x) {
      const uint at = (idx / s) * BLOCK_KEYS + idx % s;
      tile_set(at, max(tile_get(at), tile_get(at + s)));
    }
    barrier();
  }
  float row_max[ROWS_PER_THREAD];
  [[unroll]] for (uint i = 0; i < ROWS_PER_THREAD; ++i) row_max[i] = tile_get((row_lane + ROW_LANES * i) * BLOCK_KEYS);
  barrier();
  [[unroll]] for (uint i = 0; i < ROWS_PER_THREAD; ++i) {
    const uint w = row_lane + ROW_LANES * i;
    tile_set(w * BLOCK_KEYS + key_lane, visible[i] ? exp2(acc[i] - row_max[i]) : 0.0);
  }
  barrier();
  for (uint s = BLOCK_KEYS / 2u; s > 0u; s >>= 1) {
    for (uint idx = tid; idx < ROWS * s; idx += gl_WorkGroupSize.x) {
      const uint at = (idx / s) * BLOCK_KEYS + idx % s;
      tile_set(at, tile_get(at) + tile_get(at + s));
    }
    barrier();
  }
  if (key_lane == 0u) {
    [[unroll]] for (uint i = 0; i < ROWS_PER_THREAD; ++i) {
      const uint w = row_lane + ROW_LANES * i;
      if (w < pc.window)
        block_stats[(slot * pc.window + w) * pc.n_blocks + block] = vec2(row_max[i], tile_get(w * BLOCK_KEYS));
    }
  }
#endif
}
