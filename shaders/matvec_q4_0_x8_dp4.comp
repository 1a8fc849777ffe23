#version 450
// y = W x for one input vector and Q4_0_X8 weights (quant_types.glsl) on int8 activations: the decode-time product
// of Q4_0 models with integer dot products (Vulkan 1.3 shaderIntegerDotProduct).
//
// Every workgroup first rounds x into shared memory as int8 (8 invocations per block, subgroups of at least 8 lanes),
// per 32-element block with scale max|x| / 127 (llama.cpp's Q8 activations; with NORM_INPUT of x times the norm
// weight, 1 / rms applied to the row sums), so
// that a weight block of 32 nibbles meets its 32 values in eight 4 x int8 dot products and is scaled once. Workgroups
// are few and take many rows each (grid stride), so that rounding is paid rarely. Each subgroup owns ROWS rows at a
// time: its lanes take whole 32-element blocks, each block's 16 quant bytes in one 16-byte load (they start on 16-byte
// boundaries in this layout), BATCH blocks per lane loaded before any is used; a subgroup sum finishes the rows, with
// no barrier after the rounding.
//
// Interface as matvec.comp (same bindings and push constants, t = 1): plain, NORM_INPUT, GATED (SwiGLU of the same
// rows of W_gate and W_up, up_delta bytes apart) and ROW_PAIRS (matvec_epilogue.glsl). The weight piece's rows and
// up_delta are multiples of 16 bytes.
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_spirv_intrinsics : require

// OpSDot (SPV_KHR_integer_dot_product, core in Vulkan 1.3) on two words as 4 x int8 each (packed format 0).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int dot_4x8(uint a, uint b, spirv_literal int packed_vector_format);

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 2;            // weight rows per subgroup step
layout(constant_id = 2) const uint MAX_BLOCKS = 128;    // the largest k / 32 the shared x holds
layout(constant_id = 3) const uint MAX_SUBGROUPS = 32;  // local size / the device's smallest subgroup size
layout(constant_id = 4) const uint BATCH = 4;           // blocks per lane in flight (of each row) per step
layout(constant_id = 5) const uint X_LOADS = 1;         // vec4 of x per invocation loaded before any is rounded

layout(std430, binding = 0) readonly buffer Weights { uint weights[]; };
layout(std430, binding = 0) readonly buffer Weights4 { uvec4 weights4[]; };
layout(std430, binding = 1) readonly buffer Inputs { vec4 x4[]; };
layout(std430, binding = 2) buffer Outputs { float y[]; };
#if NORM_INPUT
layout(std430, binding = 3) readonly buffer NormWeight { vec4 norm_w4[]; };
#endif
#if ROW_PAIRS
layout(std430, binding = 4) readonly buffer Positions { uint positions[]; };
layout(std430, binding = 5) writeonly buffer Cache { uint cache[]; };
#endif

layout(push_constant) uniform Push {
  uint k, n, w_base, row_bytes, t, x_col0, x_stride, y_stride, y_offset, accumulate;
  float norm_eps;
  uint up_delta;
#if ROW_PAIRS
  uint kv_mode, head_dim, half_rope, capacity, dst_start;
  float log2_inv_freq_step, freq_scale;
#endif
} pc;

#define WTYPE_Q4_0_X8 1
#include "quant_types.glsl"
#include "matvec_epilogue.glsl"

const uint THREADS = gl_WorkGroupSize.x;
#if GATED
const uint WROWS = 2u * ROWS;  // rows r < ROWS of W_gate, then the same rows of W_up
#else
const uint WROWS = ROWS;
#endif
const uint LOW_NIBBLES = 0x0F0F0F0Fu;

// Block b's 32 int8 values, 4 per word: values 0-15 in x_q8_lo[b], 16-31 in x_q8_hi[b]. Lanes read consecutive
// blocks, so a subgroup's 16-byte reads are contiguous (eight word reads from 8 words per block put every 4th lane
// on one bank; on the H100 both forms time the same).
shared uvec4 x_q8_lo[MAX_BLOCKS];
shared uvec4 x_q8_hi[MAX_BLOCKS];
shared vec2 x_block[MAX_BLOCKS];     // block b's scale s and 8 s sum(q): its values are s q, the weights' offset -8

#if NORM_INPUT
shared float square_sums[MAX_SUBGROUPS];  // each subgroup's sum of x² (NORM_INPUT)
#endif

// Packs 4 values already in -127..127 as 4 x int8.
uint pack_int8x4(ivec4 q) { return uint((q.x & 0xFF) | ((q.y & 0xFF) << 8) | ((q.z & 0xFF) << 16) | (q.w << 24)); }

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint blocks = pc.k / 32u;
  const uint x_row = (pc.x_col0 * pc.x_stride) / 4u;
  // Each invocation rounds 4 values; the 8 invocations of a block (adjacent lanes of one subgroup) share its max and
  // sum through shuffles, so that rounding costs one load and a few instructions per invocation.
  // With NORM_INPUT the values rounded are x * norm weight: the per-block rounding does not depend on the vector's
  // 1 / rms, a common factor of every block scale, which is applied to the row sums instead. So the mean square is
  // summed in the same pass, and the one barrier after the rounding also publishes the subgroups' sums of squares.
#if NORM_INPUT
  float squares = 0.0;
#endif
  // Long inputs (k > 4 x THREADS) issue X_LOADS loads per invocation before rounding any, one memory round trip
  // instead of X_LOADS.
  const uint vecs = pc.k / 4u;
  for (uint e0 = 0u; e0 < vecs; e0 += X_LOADS * THREADS) {  // uniform: every lane takes part in the shuffles
    vec4 loaded[X_LOADS];
    [[unroll]] for (uint i = 0u; i < X_LOADS; ++i) {
      const uint e = e0 + i * THREADS + tid;
#if NORM_INPUT
      const vec4 raw = e < vecs ? x4[x_row + e] : vec4(0.0);
      squares += dot(raw, raw);
      loaded[i] = e < vecs ? raw * norm_w4[e] : vec4(0.0);
#else
      loaded[i] = e < vecs ? x4[x_row + e] : vec4(0.0);
#endif
    }
    [[unroll]] for (uint i = 0u; i < X_LOADS; ++i) {
      const uint e = e0 + i * THREADS + tid;
      const bool live = e < vecs;  // the same for all 8 invocations of a block (THREADS and vecs multiples of 8)
      const vec4 v = loaded[i];
      const vec4 a = abs(v);
      float amax = max(max(a.x, a.y), max(a.z, a.w));
      amax = max(amax, subgroupShuffleXor(amax, 1u));
      amax = max(amax, subgroupShuffleXor(amax, 2u));
      amax = max(amax, subgroupShuffleXor(amax, 4u));
      const float inv = amax > 0.0 ? 127.0 / amax : 0.0;
      const ivec4 qx = clamp(ivec4(roundEven(v * inv)), -127, 127);
      int sum = (qx.x + qx.y) + (qx.z + qx.w);
      sum += subgroupShuffleXor(sum, 1u);
      sum += subgroupShuffleXor(sum, 2u);
      sum += subgroupShuffleXor(sum, 4u);
      if (live) {
        const uint word = e & 7u;
        if (word < 4u)
          x_q8_lo[e >> 3u][word] = pack_int8x4(qx);
        else
          x_q8_hi[e >> 3u][word - 4u] = pack_int8x4(qx);
        if ((e & 7u) == 0u) {
          const float scale = amax / 127.0;
          x_block[e >> 3u] = vec2(scale, 8.0 * scale * float(sum));
        }
      }
    }
  }
#if NORM_INPUT
  squares = subgroupAdd(squares);
  if (subgroupElect()) square_sums[gl_SubgroupID] = squares;
#endif
  barrier();
#if NORM_INPUT
  float total = 0.0;
  for (uint p = gl_SubgroupInvocationID; p < gl_NumSubgroups; p += gl_SubgroupSize) total += square_sums[p];
  const float row_scale = inversesqrt(subgroupAdd(total) / float(pc.k) + pc.norm_eps);
#else
  const float row_scale = 1.0;
#endif

  const uint lane = gl_SubgroupInvocationID, lanes = gl_SubgroupSize;
  const uint row_groups = ceil_div(pc.n, ROWS);
  for (uint rg = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; rg < row_groups;
       rg += gl_NumWorkGroups.x * gl_NumSubgroups) {
    uint row_off[WROWS];  // rows past the end repeat the last row; their sums are never written
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) row_off[r] = pc.w_base + min(rg * ROWS + r, pc.n - 1u) * pc.row_bytes;
#if GATED
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) row_off[ROWS + r] = row_off[r] + pc.up_delta;
#endif
    float acc[WROWS];
    [[unroll]] for (uint r = 0u; r < WROWS; ++r) acc[r] = 0.0;
    for (uint b0 = lane; b0 < blocks; b0 += BATCH * lanes) {
      uvec4 q[WROWS * BATCH];
      float d[WROWS * BATCH];
      [[unroll]] for (uint j = 0u; j < BATCH; ++j) {
        const uint b = min(b0 + j * lanes, blocks - 1u);  // past the end: a valid block, never summed
        const uint in_super = (b >> 3u) * QBLOCK_BYTES, jj = b & 7u;  // 8 x 16 quant bytes, then 8 f16 scales
        [[unroll]] for (uint r = 0u; r < WROWS; ++r) {
          const uint super_off = row_off[r] + in_super;
          q[j * WROWS + r] = weights4[(super_off >> 4u) + jj];
          d[j * WROWS + r] = w_half(super_off + 128u + 2u * jj);
        }
      }
      [[unroll]] for (uint j = 0u; j < BATCH; ++j) {
        const uint b = b0 + j * lanes;
        if (b >= blocks) break;
        const uvec4 xa = x_q8_lo[b], xb = x_q8_hi[b];
        const vec2 xs = x_block[b];
        [[unroll]] for (uint r = 0u; r < WROWS; ++r) {
          const uvec4 w = q[j * WROWS + r];
          const uvec4 wl = w & LOW_NIBBLES, wh = (w >> 4u) & LOW_NIBBLES;
          const int dot32 = ((dot_4x8(wl.x, xa.x, 0) + dot_4x8(wl.y, xa.y, 0)) +
                             (dot_4x8(wl.z, xa.z, 0) + dot_4x8(wl.w, xa.w, 0))) +
                            ((dot_4x8(wh.x, xb.x, 0) + dot_4x8(wh.y, xb.y, 0)) +
                             (dot_4x8(wh.z, xb.z, 0) + dot_4x8(wh.w, xb.w, 0)));
          // sum (q_w - 8) s q_x = s sum(q_w q_x) - 8 s sum(q_x)
          acc[r] = fma(d[j * WROWS + r], fma(xs.x, float(dot32), -xs.y), acc[r]);
        }
      }
    }
    [[unroll]] for (uint r = 0u; r < WROWS; ++r) acc[r] = subgroupAdd(acc[r]) * row_scale;
    if (subgroupElect()) {
#if ROW_PAIRS
      [[unroll]] for (uint r = 0u; r < ROWS; r += 2u)
        if (rg * ROWS + r < pc.n) store_row_pair(rg * ROWS + r, 0u, vec2(acc[r], acc[r + 1u]));
#else
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        if (rg * ROWS + r >= pc.n) break;
#if GATED
        store_sum(rg * ROWS + r, 0u, swiglu(acc[r], acc[ROWS + r]));
#else
        store_sum(rg * ROWS + r, 0u, acc[r]);
#endif
      }
#endif
    }
  }
}
