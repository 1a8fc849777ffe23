// The KV cache of a model: per layer K and V as [n_kv, capacity, head_dim] (docs/design.md), with their own
// capacity, length and RoPE position, so layers can hold different token counts after compression.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/kv_dtype.hpp"
#include "vk/buffer.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv {

struct KvShape {
  uint32_t n_layers = 0;
  uint32_t n_kv = 0;
  uint32_t head_dim = 0;
  KvDtype dtype = KvDtype::F16;
};

struct LayerKv {
  std::unique_ptr<vk::Buffer> k, v;
  uint32_t capacity = 0;   // token rows allocated per KV head
  uint32_t length = 0;     // token rows in use
  uint32_t positions = 0;  // RoPE position of the next token (not reduced by compression)
};

class KvCache {
 public:
  KvCache(vk::Context& ctx, const KvShape& shape, uint32_t growth_chunk = 256);

  const KvShape& shape() const { return shape_; }
  LayerKv& layer(uint32_t index);
  const LayerKv& layer(uint32_t index) const;

  uint64_t row_bytes() const { return uint64_t(shape_.head_dim) * kv_dtype_bytes(shape_.dtype); }
  // Bytes of K plus V for one layer holding `tokens` rows per KV head.
  uint64_t layer_bytes(uint64_t tokens) const { return 2ull * shape_.n_kv * tokens * row_bytes(); }
  // What FullKV holds for `tokens` tokens in every layer.
  uint64_t full_bytes(uint64_t tokens) const { return layer_bytes(tokens) * shape_.n_layers; }

  // Grows layer `index` so that it holds at least `tokens` rows, in multiples of the growth chunk; existing rows
  // are copied into the new buffers inside `stream`. The old buffers are retired until release_retired().
  void reserve(vk::CommandStream& stream, uint32_t index, uint32_t tokens);
  // Marks `tokens` more rows as written (their K/V are already in the buffers) at the next positions.
  void append(uint32_t index, uint32_t tokens);
  // Undoes append(index, tokens): the rows stay in the buffers but no longer count (a dropped decode step).
  void drop_last(uint32_t index, uint32_t tokens);

  // Replaces layer `index` by the `keep` rows named in `indices` (u32 [index_rows, keep]; index_rows 1 = the same
  // rows for every KV head, or n_kv = one list per head), in new buffers of capacity keep + headroom rounded up to
  // the growth chunk. Records the gathers into `stream`; the old buffers are retired until release_retired().
  // `positions` is unchanged: new tokens continue at the original position.
  void compact(vk::CommandStream& stream, uint32_t index, const vk::BufferRange& indices, uint32_t index_rows,
               uint32_t keep, uint32_t headroom);

  // Frees buffers retired by reserve()/compact(); call once the stream that used them has been submitted and waited.
  void release_retired();
  // Frees only the `count` oldest retired buffers (those of streams known to be done while a later one still runs).
  void release_retired(size_t count);
  size_t retired_count() const { return retired_.size(); }

  uint64_t allocated_bytes() const { return allocated_; }
  uint64_t peak_bytes() const { return peak_; }
  void reset_peak() { peak_ = allocated_; }

 private:
  struct Pair {
    std::unique_ptr<vk::Buffer> k, v;
  };
  Pair allocate(uint32_t index, uint32_t capacity);
  void retire(LayerKv& layer);
  uint32_t round_up(uint32_t tokens) const;

  vk::Context& ctx_;
  KvShape shape_;
  uint32_t growth_chunk_;
  std::vector<LayerKv> layers_;
  std::vector<std::unique_ptr<vk::Buffer>> retired_;
  uint64_t allocated_ = 0;
  uint64_t peak_ = 0;
};

}  // namespace ckv
