// Token importance scores for KV compression (compression pipeline steps 1 and 2): window scores over a set of
// query heads, then 1-D pooling per head and the mean over each output row's head set.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/kv_dtype.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

enum class PoolKind { Avg, Max };

constexpr uint32_t kMaxScoreWindow = 64;
constexpr uint32_t kMaxPoolKernel = 255;
constexpr uint32_t kMaxPoolMergePairs = 512;   // window_scores_pool.comp's MAX_PAIRS
constexpr uint32_t kMaxPoolMergeStats = 8192;  // pairs x key blocks of 256

struct KvScoreParams {
  uint32_t n_q = 0, n_kv = 0, head_dim = 0;
  uint32_t t = 0;       // keys in the cache (T); the window rows sit at positions T - W .. T - 1
  uint32_t window = 0;  // W, 1 .. kMaxScoreWindow
  uint32_t kv_capacity = 0;
  float scale = 0;  // usually 1 / sqrt(head_dim)
  KvDtype kv_dtype = KvDtype::F16;
  uint32_t rows = 0;           // R output rows (1 for CompressKV, n_kv for SnapKV)
  uint32_t heads_per_row = 0;  // Hr query heads averaged into each output row
  uint32_t pool_kernel = 5;    // odd, 1 .. kMaxPoolKernel
  PoolKind pool = PoolKind::Avg;
  uint32_t qw_head_stride = 0, qw_row_stride = 0;  // floats
  bool subgroup_ops = true;  // false: the portable shared-memory reductions even where subgroup ops exist (tests)
  // Where the device and shape allow it (f16 keys, head_dim a multiple of 64, subgroup shuffles, vec4-aligned query
  // strides), the logits pass reads each key row with a group of lanes (window_logits_lanes.comp); false keeps one
  // invocation per key (tests and benches compare the two).
  bool split_key_rows = true;
  // The pool pass merges the per-block softmax statistics itself (no separate combine pass) where the row's slots
  // have at most kMaxPoolMergePairs (slot, window row) pairs and every pool workgroup would read at most
  // kMaxPoolMergeStats statistics (H200, r15b: 30.4 against 32.1 µs at 32 K, 98.5 against 93.9 at 128 K, where
  // each of 512 workgroups would read 16 K of them); false always records the combine pass.
  bool merge_stats_in_pool = true;
};

// Keys that get a score: N = T - W.
inline uint32_t kv_scored_keys(const KvScoreParams& p) { return p.t >= p.window ? p.t - p.window : 0; }

// Bytes of scratch record_kv_scores needs: the per-head window scores S, f32 [R·Hr, N], at offset 0 (so a
// caller may read them), then the logits [R·Hr, W, N] and the softmax statistics of the passes. 0 when N = 0.
size_t kv_score_scratch_bytes(const KvScoreParams& params);

// Lanes that share one key row in the logits pass on this device (8 or 16), or 0 where the pass takes one
// invocation per key (see KvScoreParams::split_key_rows).
uint32_t kv_score_key_lanes(const KvScoreParams& params, const vk::DeviceInfo& device);

// Throws std::invalid_argument("head index 12 out of range: the model has 9 query heads") for the first id
// >= n_q. The GPU cannot check ids, so callers validate the ids they upload with this. Duplicate ids are valid:
// a head listed twice in a row weighs twice in that row's mean.
void validate_head_sets(std::span<const uint32_t> ids, uint32_t n_q);

// window_queries: f32, element (h, w, c) of the last W query rows (after RoPE) at
//   h * qw_head_stride + w * qw_row_stride + c.
// k: the layer's keys [n_kv, kv_capacity, head_dim] in kv_dtype (f16 packed in pairs).
// head_sets: u32 [R, Hr] query head ids (validate them with validate_head_sets).
// scratch: at least kv_score_scratch_bytes(params), offset aligned like any storage binding.
// scores_out: f32 [R, N]: out[r][j] = mean over the heads h of row r of pool(S_h)[j], where
//   S_h[j] = sum over window rows w of softmax_w(Q_h[w] · K_g(h)[0 .. N + w] · scale)[j]  (fp32, causal).
// Records two or three passes (logits + per-block softmax stats, their combine unless the pool pass merges them,
// normalised sums + pool + mean); nothing is read back. When N = 0 there is
// nothing to score and nothing is recorded. Throws std::invalid_argument on bad shapes or buffer sizes (and, from
// the dispatch, beyond the device's workgroup-count limits: about 4 M keys at W >= 4 on the minimum limits).
void record_kv_scores(vk::Context& ctx, vk::CommandStream& stream, const KvScoreParams& params,
                      const vk::BufferRange& window_queries, const vk::BufferRange& k,
                      const vk::BufferRange& head_sets, const vk::BufferRange& scratch,
                      const vk::BufferRange& scores_out);

}  // namespace ckv::ops
