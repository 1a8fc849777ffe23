// Embedding lookup: rows of a ggml weight, dequantized to f32, selected by token ids.
#pragma once
#include <cstdint>

#include "engine/ops/matmul.hpp"

namespace ckv::ops {

// out[i, :] = dequantized row ids[i] of w, for i < t. ids: u32 [t]; out: f32 [t, w.k]. Ids >= w.n give zero rows.
// max_piece_bytes: as in MatmulOptions (0: the device's binding limit).
void record_get_rows(vk::Context& ctx, vk::CommandStream& stream, const WeightView& w, const vk::BufferRange& ids,
                     uint32_t t, const vk::BufferRange& out, uint64_t max_piece_bytes = 0);

}  // namespace ckv::ops
