// Records, for one layer at the end of prefill, which tokens its KV cache keeps: scores → pooling → top-k for
// CompressKV / SnapKV / PyramidKV, or the fixed StreamingLLM pattern. Everything runs on the GPU; the result stays
// in a GPU buffer that KvCache::compact reads.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/kv_cache.hpp"
#include "engine/kv_policy.hpp"
#include "vk/buffer.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv {

struct AttentionShape {
  uint32_t n_layers = 0, n_q = 0, n_kv = 0, head_dim = 0;
  KvDtype dtype = KvDtype::F16;
};

// Where the kept token indices are: u32 [index_rows, count], ascending per row.
struct Selection {
  const vk::Buffer* indices = nullptr;
  uint32_t index_rows = 1;  // 1: one set for every KV head; n_kv: one per KV head (SnapKV, PyramidKV)
  uint32_t count = 0;
};

class TokenSelector {
 public:
  // Uploads the head sets (retrieval heads per layer, or every query head grouped by KV head) once.
  TokenSelector(vk::Context& ctx, const AttentionShape& shape, const CompressionConfig& config);

  // Sizes the scratch buffers for layers of up to `max_tokens` tokens and budgets of up to `max_budget`. Must be
  // called before record() (and not between record() and the stream's submission).
  void reserve(uint32_t max_tokens, uint32_t max_budget);

  // Records the selection of `budget` tokens (window included) out of the `t` in `kv` (window < budget < t).
  // `window_queries`: f32, the layer's last `window` query rows after RoPE: element (h, w, c) at
  // h * head_stride + w * row_stride + c floats ([n_q, window, head_dim] when the strides are 0).
  // The returned buffer is overwritten by the next record(): compact the layer before selecting the next one.
  Selection record(vk::CommandStream& stream, uint32_t layer, uint32_t budget, uint32_t t,
                   const vk::BufferRange& window_queries, const LayerKv& kv, uint32_t head_stride = 0,
                   uint32_t row_stride = 0);

  const CompressionConfig& config() const { return config_; }

 private:
  const vk::Buffer& head_sets_for(uint32_t layer, uint32_t& rows, uint32_t& per_row) const;
  ops::KvScoreParams score_params(uint32_t t, uint32_t capacity, uint32_t rows, uint32_t per_row,
                                  uint32_t head_stride, uint32_t row_stride) const;

  vk::Context& ctx_;
  AttentionShape shape_;
  CompressionConfig config_;
  std::vector<std::unique_ptr<vk::Buffer>> layer_head_sets_;  // CompressKV: [1, heads] per layer
  std::unique_ptr<vk::Buffer> grouped_head_sets_;             // SnapKV/PyramidKV: [n_kv, n_q / n_kv]
  std::unique_ptr<vk::Buffer> score_scratch_, scores_, topk_scratch_, indices_;
  uint32_t reserved_tokens_ = 0, reserved_budget_ = 0;
};

}  // namespace ckv
