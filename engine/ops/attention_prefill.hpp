// Causal grouped-query attention over the KV cache for a chunk of prefill queries (flash-attention style).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/kv_dtype.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

// Query i of the chunk sits at position q_offset + i and sees keys 0 .. q_offset + i of the cache.
// Q: f32, element (h, i, c) at h * q_head_stride + i * q_token_stride + c (floats).
// K, V: the cache layout [n_kv, kv_capacity, head_dim] in kv_dtype (f16 packed in pairs).
// O: f32, element (i, h, c) at i * o_token_stride + h * o_head_stride + c (floats).
// Which kernel runs: Auto takes the tensor-core (cooperative-matrix) kernel when the device and the shape allow it
// (see prefill_attention_coopmat_support), else the portable scalar kernel. The environment variable
// CKV_PREFILL_ATTENTION=scalar turns Auto into Scalar for a whole process. CoopMat throws when it cannot run.
enum class PrefillAttentionPath { Auto, Scalar, CoopMat };

struct PrefillAttentionParams {
  uint32_t n_q = 0, n_kv = 0, head_dim = 0;
  uint32_t t_q = 0, q_offset = 0, kv_length = 0, kv_capacity = 0;
  uint32_t q_head_stride = 0, q_token_stride = 0;
  uint32_t o_token_stride = 0, o_head_stride = 0;
  float scale = 0;  // usually 1 / sqrt(head_dim)
  KvDtype kv_dtype = KvDtype::F16;
  PrefillAttentionPath path = PrefillAttentionPath::Auto;
};

// Throws std::invalid_argument when the shapes, strides or buffer sizes do not fit together.
void record_prefill_attention(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& params,
                              const vk::BufferRange& q, const vk::BufferRange& k, const vk::BufferRange& v,
                              const vk::BufferRange& o);

// The tile shape the kernel runs with: a workgroup of `workgroup` threads owns `query_rows` queries of one head
// and steps through the keys `key_cols` at a time, using `shared_bytes` of shared memory. Its threads form a grid
// of (workgroup / key_threads) x key_threads: rows across the first, keys and output columns across the second.
struct PrefillAttentionTiles {
  uint32_t workgroup = 0, query_rows = 0, key_cols = 0, key_threads = 0;
  uint32_t shared_bytes = 0;
};

// Every tile shape the kernel supports for head_dim within shared_memory_bytes, tallest first.
std::vector<PrefillAttentionTiles> prefill_attention_tile_candidates(uint32_t head_dim, uint32_t shared_memory_bytes);

// The tallest tile that fits `shared_memory_bytes` with bounded registers per thread and no taller than the chunk
// needs; among those, the one with the fewest shared-memory reads per multiply-add. Throws std::invalid_argument when
// no tile fits.
PrefillAttentionTiles choose_prefill_attention_tiles(uint32_t head_dim, uint32_t t_q, uint32_t shared_memory_bytes);

// Runs with the given tile shape (one of the candidates for this device), for tests and benchmarks.
void record_prefill_attention(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& params,
                              const PrefillAttentionTiles& tiles, const vk::BufferRange& q, const vk::BufferRange& k,
                              const vk::BufferRange& v, const vk::BufferRange& o);

// ---- Tensor-core kernel (attention_prefill_cm.comp) ----
// Needs: f16 K/V, head_dim 64 or 128, a 16x16x16 f16 x f16 -> f32 subgroup shape (VK_KHR_cooperative_matrix, else
// VK_NV_cooperative_matrix), shaderFloat16, the Vulkan memory model, subgroup shuffles and subgroups of 32 (fixed,
// or set through subgroup size control). Q is rounded to f16 (after scaling) and P to f16 for P V; sums, maxima and
// the output accumulate in fp32: expect output errors around 1e-3 where the scalar kernel has 1e-6.
struct PrefillAttentionCoopMatTiles {
  bool khr = false;            // VK_KHR_cooperative_matrix variant, else VK_NV_cooperative_matrix
  uint32_t subgroups = 0;      // a workgroup of 32 * subgroups invocations owns 16 * subgroups query rows
  uint32_t key_cols = 0;       // keys per tile: 32 or 64
  uint32_t required_subgroup_size = 0;  // 32 when set through subgroup size control, 0 when the device has 32
  uint32_t shared_bytes = 0;
  bool register_softmax = false;  // the variant that keeps S and P in registers (needs the quad fragment layout)
  uint32_t query_rows() const { return 16 * subgroups; }
  std::string name() const;  // e.g. "nv 128x32", "khr rs 128x64"
};

// Which cooperative-matrix APIs put their 16x16 accumulator and A elements in the quad layout the register-softmax
// variant needs (engine/ops/coopmat_layout.hpp finds out on a device; all false means only the shared-memory
// softmax runs).
struct CoopMatLayouts {
  bool khr_quad = false, nv_quad = false;
};

// Probes the device behind ctx once (cached per device) for the APIs the kernel could use.
CoopMatLayouts prefill_attention_coopmat_layouts(vk::Context& ctx);

// Why the tensor-core kernel cannot run for head_dim / kv_dtype on this device, or nullopt when it can.
std::optional<std::string> prefill_attention_coopmat_unsupported(const vk::DeviceInfo& info, uint32_t head_dim,
                                                                 KvDtype kv_dtype);

// Every tile shape the tensor-core kernel supports for head_dim on this device (empty when it cannot run): the KHR
// variant's first where it can run, then the NV variant's; within each, the register-softmax tiles first where the
// layout allows them, then the shared-memory ones; each tallest first, then widest.
std::vector<PrefillAttentionCoopMatTiles> prefill_attention_coopmat_candidates(const vk::DeviceInfo& info,
                                                                               uint32_t head_dim, KvDtype kv_dtype,
                                                                               CoopMatLayouts layouts = {});

// The tallest (then widest) candidate of the preferred API (KHR, else NV) no taller than the chunk needs; nullopt
// when there is none.
std::optional<PrefillAttentionCoopMatTiles> choose_prefill_attention_coopmat_tiles(const vk::DeviceInfo& info,
                                                                                  uint32_t head_dim, uint32_t t_q,
                                                                                  KvDtype kv_dtype,
                                                                                  CoopMatLayouts layouts = {});

// True when the environment has CKV_PREFILL_ATTENTION=scalar (read once).
bool prefill_attention_scalar_forced();

// The embedded shader variant the tiles run.
std::string prefill_attention_coopmat_variant(const PrefillAttentionCoopMatTiles& tiles, uint32_t head_dim);

// Whether record_prefill_attention(ctx, ..., params, ...) runs the tensor-core kernel.
bool prefill_attention_uses_coopmat(const vk::DeviceInfo& info, const PrefillAttentionParams& params);

// Runs the tensor-core kernel with the given tiles (one of the candidates for this device), for tests and benchmarks.
void record_prefill_attention(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& params,
                              const PrefillAttentionCoopMatTiles& tiles, const vk::BufferRange& q,
                              const vk::BufferRange& k, const vk::BufferRange& v, const vk::BufferRange& o);

// ---- Stage profile of the tensor-core kernel (its _profile variants, head_dim 128) ----
// The same attention, plus the shader-clock cycles every subgroup spent in each stage of the kernel, in the order
// of prefill_attention_coopmat_stage_names(): Q into registers, K/V staging with its two barriers, S = Q K^T, the
// softmax, the O rescale with P V, the output. Cycles are the subgroup's own clock (VK_KHR_shader_clock,
// shaderSubgroupClock); a stage that issues loads or matrix products without waiting for them is charged less
// and the stage that first uses their results more.
const std::vector<std::string>& prefill_attention_coopmat_stage_names();

// Why the stage profile cannot run with these tiles, or nullopt when it can.
std::optional<std::string> prefill_attention_coopmat_profile_unsupported(const vk::DeviceInfo& info,
                                                                         const PrefillAttentionCoopMatTiles& tiles,
                                                                         uint32_t head_dim);

// uint32 words the clocks buffer needs: one per stage for every subgroup of the dispatch.
uint64_t prefill_attention_coopmat_profile_words(const PrefillAttentionParams& params,
                                                 const PrefillAttentionCoopMatTiles& tiles);

// Runs the profiling variant; clocks receives prefill_attention_coopmat_profile_words() uint32 (subgroup-major).
void record_prefill_attention_stage_profile(vk::Context& ctx, vk::CommandStream& stream,
                                            const PrefillAttentionParams& params,
                                            const PrefillAttentionCoopMatTiles& tiles, const vk::BufferRange& q,
                                            const vk::BufferRange& k, const vk::BufferRange& v,
                                            const vk::BufferRange& o, const vk::BufferRange& clocks);

}  // namespace ckv::ops
