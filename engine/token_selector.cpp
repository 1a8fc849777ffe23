#include "token_selector.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/ops/kv_scores.hpp"
#include "engine/ops/topk_select.hpp"
#include "engine/pipelines.hpp"
#include "vk/transfer.hpp"

namespace ckv {

namespace {

std::unique_ptr<vk::Buffer> upload_ids(vk::Context& ctx, const std::vector<uint32_t>& ids, const char* name) {
  auto buffer = std::make_unique<vk::Buffer>(ctx.device(), std::max<size_t>(ids.size() * 4, 16),
                                             vk::MemoryKind::DeviceLocal, name);
  vk::upload(ctx.device(), *buffer, std::span<const uint32_t>(ids));
  return buffer;
}

// Grows `buffer` to at least `bytes` (contents not kept).
void ensure_size(vk::Context& ctx, std::unique_ptr<vk::Buffer>& buffer, size_t bytes, const char* name) {
  bytes = std::max<size_t>(bytes, 16);
  if (!buffer || buffer->size() < bytes)
    buffer = std::make_unique<vk::Buffer>(ctx.device(), bytes, vk::MemoryKind::DeviceLocal, name);
}

}  // namespace

TokenSelector::TokenSelector(vk::Context& ctx, const AttentionShape& shape, const CompressionConfig& config)
    : ctx_(ctx), shape_(shape), config_(config) {
  if (!shape.n_q || !shape.n_kv || shape.n_q % shape.n_kv)
    throw std::invalid_argument("query heads must be a positive multiple of KV heads");
  if (config.window == 0) throw std::invalid_argument("the observation window must be at least 1 token");
  if (config.policy == KvPolicy::CompressKV) {
    if (config.retrieval_heads.size() < shape.n_layers)
      throw std::invalid_argument("retrieval heads are given for " + std::to_string(config.retrieval_heads.size()) +
                                  " layers; the model has " + std::to_string(shape.n_layers));
    if (config.retrieval_heads_used == 0) throw std::invalid_argument("CompressKV needs at least one retrieval head");
    for (uint32_t l = 0; l < shape.n_layers; ++l) {
      const auto& ranked = config.retrieval_heads[l];
      if (ranked.empty()) throw std::invalid_argument("layer " + std::to_string(l) + " has no retrieval heads");
      // Every layer uses the same number of heads (a short list repeats its last head) so one shape serves all.
      const size_t per_row = std::min<size_t>(config.retrieval_heads_used, shape.n_q);
      std::vector<uint32_t> used(ranked.begin(), ranked.begin() + std::min(ranked.size(), per_row));
      while (used.size() < per_row) used.push_back(used.back());
      try {
        ops::validate_head_sets(used, shape.n_q);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("layer " + std::to_string(l) + ": " + e.what());
      }
      layer_head_sets_.push_back(upload_ids(ctx, used, "retrieval head set"));
    }
  } else if (config.policy == KvPolicy::SnapKV || config.policy == KvPolicy::PyramidKV) {
    std::vector<uint32_t> ids(shape.n_q);
    for (uint32_t h = 0; h < shape.n_q; ++h) ids[h] = h;  // row g = the query heads of KV head g
    grouped_head_sets_ = upload_ids(ctx, ids, "grouped head sets");
  }
}

const vk::Buffer& TokenSelector::head_sets_for(uint32_t layer, uint32_t& rows, uint32_t& per_row) const {
  if (config_.policy == KvPolicy::CompressKV) {
    rows = 1;
    per_row = std::min<uint32_t>(config_.retrieval_heads_used, shape_.n_q);
    return *layer_head_sets_.at(layer);
  }
  rows = shape_.n_kv;
  per_row = shape_.n_q / shape_.n_kv;
  return *grouped_head_sets_;
}

ops::KvScoreParams TokenSelector::score_params(uint32_t t, uint32_t capacity, uint32_t rows, uint32_t per_row,
                                               uint32_t head_stride, uint32_t row_stride) const {
  ops::KvScoreParams sp;
  sp.n_q = shape_.n_q;
  sp.n_kv = shape_.n_kv;
  sp.head_dim = shape_.head_dim;
  sp.t = t;
  sp.window = config_.window;
  sp.kv_capacity = capacity;
  sp.scale = 1.0f / std::sqrt(float(shape_.head_dim));
  sp.kv_dtype = shape_.dtype;
  sp.rows = rows;
  sp.heads_per_row = per_row;
  sp.pool_kernel = config_.pool_kernel;
  sp.pool = config_.pool;
  sp.qw_head_stride = head_stride ? head_stride : config_.window * shape_.head_dim;
  sp.qw_row_stride = row_stride ? row_stride : shape_.head_dim;
  return sp;
}

void TokenSelector::reserve(uint32_t max_tokens, uint32_t max_budget) {
  if (max_tokens <= reserved_tokens_ && max_budget <= reserved_budget_) return;
  max_tokens = std::max(max_tokens, reserved_tokens_);
  max_budget = std::max(max_budget, reserved_budget_);
  const uint32_t rows = (config_.policy == KvPolicy::CompressKV || config_.policy == KvPolicy::Streaming) ? 1 : shape_.n_kv;
  ensure_size(ctx_, indices_, size_t(rows) * max_budget * 4, "selected token indices");
  if (config_.policy != KvPolicy::Streaming && max_tokens > config_.window) {
    uint32_t sets_rows = 0, per_row = 0;
    head_sets_for(0, sets_rows, per_row);
    const ops::KvScoreParams sp = score_params(max_tokens, max_tokens, sets_rows, per_row, 0, 0);
    ensure_size(ctx_, score_scratch_, ops::kv_score_scratch_bytes(sp), "score scratch");
    const uint32_t n = max_tokens - config_.window;
    ensure_size(ctx_, scores_, size_t(sets_rows) * n * 4, "pooled scores");
    const uint32_t most_kept = max_budget > config_.window ? max_budget - config_.window : 0;
    ops::TopkParams tp{sets_rows, n, std::min(most_kept, n - 1), config_.window};
    ensure_size(ctx_, topk_scratch_, ops::topk_scratch_bytes(tp), "top-k scratch");
  }
  reserved_tokens_ = max_tokens;
  reserved_budget_ = max_budget;
}

Selection TokenSelector::record(vk::CommandStream& stream, uint32_t layer, uint32_t budget, uint32_t t,
                                const vk::BufferRange& window_queries, const LayerKv& kv, uint32_t head_stride,
                                uint32_t row_stride) {
  if (layer >= shape_.n_layers) throw std::out_of_range("layer " + std::to_string(layer) + " out of range");
  if (t > kv.length) throw std::invalid_argument("selection over more tokens than the layer holds");
  if (budget >= t) throw std::invalid_argument("budget " + std::to_string(budget) + " keeps all " + std::to_string(t) + " tokens: nothing to select");
  if (t > reserved_tokens_ || budget > reserved_budget_)
    throw std::logic_error("TokenSelector::reserve() was not called for " + std::to_string(t) + " tokens");

  if (config_.policy == KvPolicy::Streaming) {
    if (budget < config_.sink_tokens) throw std::invalid_argument("budget smaller than the sink tokens");
    struct Push {
      uint32_t t, count, sinks;
    } push{t, budget, config_.sink_tokens};
    const auto& pipeline = shader_pipeline(ctx_, "streaming_indices", 1, sizeof(Push), {64});
    stream.dispatch(pipeline, {*indices_}, push, group_count(budget, 64));
    return {indices_.get(), 1, budget};
  }
  if (config_.policy == KvPolicy::FullKV) throw std::logic_error("FullKV selects nothing");
  if (budget < config_.window)
    throw std::invalid_argument("budget " + std::to_string(budget) + " is smaller than the window (" +
                                std::to_string(config_.window) + ")");

  uint32_t rows = 0, per_row = 0;
  const vk::Buffer& head_sets = head_sets_for(layer, rows, per_row);
  const ops::KvScoreParams sp = score_params(t, kv.capacity, rows, per_row, head_stride, row_stride);
  ops::record_kv_scores(ctx_, stream, sp, window_queries, *kv.k, head_sets, *score_scratch_, *scores_);

  ops::TopkParams tp{rows, t - config_.window, budget - config_.window, config_.window};
  ops::record_topk_select(ctx_, stream, tp, *scores_, *topk_scratch_, *indices_);
  return {indices_.get(), rows, budget};
}

}  // namespace ckv
