#include "kv_scores.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kLogitGroup = 256;    // keys per workgroup of the logits pass (one invocation per key)
constexpr uint32_t kRowGroup = 8;        // window rows per sweep of the logits pass
constexpr uint32_t kCombineGroup = 128;  // threads of the row-stats pass (a power of two)
constexpr uint32_t kPoolGroup = 256;     // keys per workgroup of the score + pool pass
constexpr uint32_t kSplitBatch = 4;      // key rows each lane group of window_logits_lanes loads at once
constexpr uint32_t kMaxSplitChunks = 4;  // 8-dim octets per lane there (its queries live in registers)
constexpr VkDeviceSize kSectionAlign = 256;  // the largest minStorageBufferOffsetAlignment Vulkan allows

VkDeviceSize align_up(VkDeviceSize v) { return (v + kSectionAlign - 1) / kSectionAlign * kSectionAlign; }

struct ScratchLayout {
  VkDeviceSize scores = 0, logits = 0, block_stats = 0, row_stats = 0;  // byte offsets
  VkDeviceSize scores_bytes = 0, logits_bytes = 0, block_stats_bytes = 0, row_stats_bytes = 0;
  VkDeviceSize total = 0;
  uint32_t n_blocks = 0;
};

ScratchLayout scratch_layout(const KvScoreParams& p) {
  ScratchLayout l;
  const uint32_t n = kv_scored_keys(p);
  if (n == 0) return l;
  const uint64_t heads = uint64_t(p.rows) * p.heads_per_row;
  l.n_blocks = (p.t + kLogitGroup - 1) / kLogitGroup;
  l.scores_bytes = heads * n * 4;
  l.logits_bytes = heads * p.window * n * 4;
  l.block_stats_bytes = heads * p.window * l.n_blocks * 8;
  l.row_stats_bytes = heads * p.window * 8;
  l.logits = align_up(l.scores_bytes);
  l.block_stats = align_up(l.logits + l.logits_bytes);
  l.row_stats = align_up(l.block_stats + l.block_stats_bytes);
  l.total = l.row_stats + l.row_stats_bytes;
  return l;
}

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("kv scores: " + message); }

void check_buffer(const char* what, const vk::BufferRange& range, uint64_t needed_bytes) {
  if (range.bytes() < needed_bytes)
    fail(std::string(what) + " holds " + std::to_string(range.bytes()) + " bytes, needs " +
         std::to_string(needed_bytes));
}

void check_params(const KvScoreParams& p) {
  if (p.n_q == 0 || p.n_kv == 0 || p.n_q % p.n_kv)
    fail("n_q (" + std::to_string(p.n_q) + ") must be a nonzero multiple of n_kv (" + std::to_string(p.n_kv) + ")");
  if (p.head_dim == 0 || p.head_dim % 2) fail("head_dim must be even and nonzero, got " + std::to_string(p.head_dim));
  if (p.window < 1 || p.window > kMaxScoreWindow)
    fail("window must be 1 .. " + std::to_string(kMaxScoreWindow) + ", got " + std::to_string(p.window));
  if (p.t < p.window)
    fail("t (" + std::to_string(p.t) + " keys) is smaller than the window (" + std::to_string(p.window) + ")");
  if (p.t > p.kv_capacity)
    fail("t (" + std::to_string(p.t) + ") exceeds the cache capacity (" + std::to_string(p.kv_capacity) + ")");
  if (!std::isfinite(p.scale) || p.scale <= 0) fail("scale must be positive and finite");
  if (p.rows == 0 || p.heads_per_row == 0) fail("rows and heads_per_row must be nonzero");
  if (p.pool_kernel % 2 == 0 || p.pool_kernel > kMaxPoolKernel)
    fail("pool_kernel must be odd and at most " + std::to_string(kMaxPoolKernel) + ", got " +
         std::to_string(p.pool_kernel));
  if (p.qw_row_stride < p.head_dim || (p.n_q > 1 && p.qw_head_stride < p.head_dim))
    fail("query strides (head " + std::to_string(p.qw_head_stride) + ", row " + std::to_string(p.qw_row_stride) +
         ") must be at least head_dim (" + std::to_string(p.head_dim) + ")");
}

struct ScorePush {
  uint32_t n_q, group, head_dim, t, window, capacity, qw_head_stride, qw_row_stride, n_blocks;
  float scale_log2;
};

}  // namespace

uint32_t kv_score_key_lanes(const KvScoreParams& p, const vk::DeviceInfo& dev) {
  if (!p.split_key_rows || !p.subgroup_ops || !dev.subgroup_shuffle || p.kv_dtype != KvDtype::F16) return 0;
  if (p.qw_head_stride % 4 || p.qw_row_stride % 4) return 0;
  // The shader's key loop steps by (lane groups x batch) through a block: that step must divide the block.
  static_assert(kLogitGroup % (kLogitGroup / 8 * kSplitBatch) == 0 &&
                kLogitGroup % (kLogitGroup / 16 * kSplitBatch) == 0);
  for (uint32_t lanes : {16u, 8u}) {
    // A power of two no larger than the smallest subgroup divides every subgroup size the device may pick.
    if (lanes > dev.min_subgroup_size || p.head_dim % (8 * lanes)) continue;
    if (p.head_dim / (8 * lanes) <= kMaxSplitChunks) return lanes;
  }
  return 0;
}

size_t kv_score_scratch_bytes(const KvScoreParams& params) { return size_t(scratch_layout(params).total); }

void validate_head_sets(std::span<const uint32_t> ids, uint32_t n_q) {
  for (uint32_t id : ids)
    if (id >= n_q)
      throw std::invalid_argument("head index " + std::to_string(id) + " out of range: the model has " +
                                  std::to_string(n_q) + " query heads");
}

void record_kv_scores(vk::Context& ctx, vk::CommandStream& stream, const KvScoreParams& params,
                      const vk::BufferRange& window_queries, const vk::BufferRange& k,
                      const vk::BufferRange& head_sets, const vk::BufferRange& scratch,
                      const vk::BufferRange& scores_out) {
  const KvScoreParams& p = params;
  check_params(p);
  const uint64_t heads = uint64_t(p.rows) * p.heads_per_row;
  const uint32_t n = kv_scored_keys(p);
  const uint64_t qw_floats =
      uint64_t(p.n_q - 1) * p.qw_head_stride + uint64_t(p.window - 1) * p.qw_row_stride + p.head_dim;
  check_buffer("window_queries", window_queries, qw_floats * 4);
  check_buffer("k", k, uint64_t(p.n_kv) * p.kv_capacity * p.head_dim * kv_dtype_bytes(p.kv_dtype));
  check_buffer("head_sets", head_sets, heads * 4);
  const ScratchLayout layout = scratch_layout(p);
  check_buffer("scratch", scratch, layout.total);
  check_buffer("scores_out", scores_out, uint64_t(p.rows) * n * 4);
  if (n == 0) return;  // every key is inside the window: nothing to score

  const vk::DeviceInfo& dev = ctx.device().info();
  const vk::BufferRange scores(*scratch.buffer, scratch.offset + layout.scores, layout.scores_bytes);
  const vk::BufferRange logits(*scratch.buffer, scratch.offset + layout.logits, layout.logits_bytes);
  const vk::BufferRange block_stats(*scratch.buffer, scratch.offset + layout.block_stats, layout.block_stats_bytes);
  const vk::BufferRange row_stats(*scratch.buffer, scratch.offset + layout.row_stats, layout.row_stats_bytes);
  const vk::BufferRange out(*scores_out.buffer, scores_out.offset, uint64_t(p.rows) * n * 4);
  const vk::BufferRange ids(*head_sets.buffer, head_sets.offset, heads * 4);

  const bool f32 = p.kv_dtype == KvDtype::F32;
  const bool wide = p.head_dim % (f32 ? 4 : 8) == 0;  // every key row 16-byte aligned: 16-byte key loads
  const bool subgroup = p.subgroup_ops && dev.subgroup_arithmetic && dev.min_subgroup_size > 0;
  const std::string variant = std::string(f32 ? "_f32" : "_f16") + (wide ? "_wide" : "") + (subgroup ? "_sg" : "");
  const uint32_t dim4 = (p.head_dim + 3) / 4;
  const uint32_t max_subgroups = subgroup ? (kLogitGroup + dev.min_subgroup_size - 1) / dev.min_subgroup_size : 1;
  const ScorePush push{p.n_q,         p.n_q / p.n_kv,   p.head_dim,       p.t,
                       p.window,      p.kv_capacity,    p.qw_head_stride, p.qw_row_stride,
                       layout.n_blocks, p.scale * std::numbers::log2e_v<float>};
  const uint32_t n_heads = uint32_t(heads);

  const uint32_t key_lanes = kv_score_key_lanes(p, dev);
  const auto& logit_pass =
      key_lanes != 0 ? shader_pipeline(ctx, "window_logits_lanes", 5, sizeof(ScorePush),
                                       {kLogitGroup, key_lanes, p.head_dim / (8 * key_lanes), kSplitBatch})
                     : shader_pipeline(ctx, "window_logits" + variant, 5, sizeof(ScorePush),
                                       {kLogitGroup, kRowGroup, dim4, max_subgroups});
  stream.dispatch(logit_pass, {window_queries, k, ids, logits, block_stats}, push, n_heads, layout.n_blocks);

  const uint64_t pairs = uint64_t(p.heads_per_row) * p.window;
  const bool merge_in_pool =
      p.merge_stats_in_pool && pairs <= kMaxPoolMergePairs && pairs * layout.n_blocks <= kMaxPoolMergeStats;
  if (!merge_in_pool) {
    struct CombinePush {
      uint32_t n_blocks;
    } combine_push{layout.n_blocks};
    const auto& combine = shader_pipeline(ctx, "window_scores_combine", 2, sizeof(CombinePush), {kCombineGroup});
    stream.dispatch(combine, {block_stats, row_stats}, combine_push, n_heads * p.window);
  }

  struct PoolPush {
    uint32_t n, window, heads_per_row, n_blocks;
  } pool_push{n, p.window, p.heads_per_row, layout.n_blocks};
  const auto& pool = shader_pipeline(ctx, merge_in_pool ? "window_scores_pool_merged" : "window_scores_pool", 4,
                                     sizeof(PoolPush), {kPoolGroup, p.pool_kernel, p.pool == PoolKind::Max ? 1u : 0u});
  stream.dispatch(pool, {logits, merge_in_pool ? block_stats : row_stats, scores, out}, pool_push,
                  (n + kPoolGroup - 1) / kPoolGroup, p.rows);
}

}  // namespace ckv::ops
