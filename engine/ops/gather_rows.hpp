// Compaction of a KV tensor to the kept token rows (compression pipeline step 4).
#pragma once
#include <cstdint>

#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

struct GatherParams {
  uint32_t n_kv = 0;          // KV heads
  uint32_t row_words = 0;     // 32-bit words per token row: head_dim / 2 for f16, head_dim for f32
  uint32_t src_capacity = 0;  // token rows per head in src
  uint32_t dst_capacity = 0;  // token rows per head in dst
  uint32_t count = 0;         // rows to gather per head (<= dst_capacity)
  uint32_t index_rows = 1;    // 1: one index row for every head; n_kv: index row g for head g
};

// dst[g][i] = src[g][indices[r][i]] for i < count, r = 0 or g; src: [n_kv, src_capacity, row_words] words,
// indices: u32 [index_rows, count], dst: [n_kv, dst_capacity, row_words]. Rows count .. dst_capacity - 1 of dst
// are untouched. Raw words are copied, so the rows are bit-identical whatever the dtype. An index
// >= src_capacity (not checkable on the host) is skipped: that dst row keeps its old contents.
// Record once for K and once for V. Throws std::invalid_argument on inconsistent sizes.
void record_gather_rows(vk::Context& ctx, vk::CommandStream& stream, const GatherParams& params,
                        const vk::BufferRange& src, const vk::BufferRange& indices, const vk::BufferRange& dst);

}  // namespace ckv::ops
