// Attention of one new query per query head over one layer's KV cache (flash-decoding): a split pass where each
// workgroup reads one chunk of one KV head's rows once for all query heads of its group, and a merge of the
// chunks with log-sum-exp rescaling, done by the last split workgroup of each KV head to finish (or, with the
// probabilities or when asked, by a second pass).
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/kv_dtype.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"
#include "vk/device_info.hpp"

namespace ckv::ops {

// Q: f32 [n_q, head_dim], contiguous. K, V: the cache layout [n_kv, kv_capacity, head_dim] in kv_dtype (f16 packed
// in pairs); rows kv_length .. kv_capacity - 1 are never read. O: f32 [n_q, head_dim].
struct DecodeAttentionParams {
  uint32_t n_q = 0, n_kv = 0, head_dim = 0, kv_length = 0, kv_capacity = 0;
  float scale = 0;  // usually 1 / sqrt(head_dim)
  KvDtype kv_dtype = KvDtype::F16;
  uint32_t chunk_size = 0;  // keys per split workgroup; 0: chosen from the shape to fill a large GPU
};

// How the split pass runs on a device: teams of `lanes` threads share one key row, `workgroup` threads per
// workgroup, each team takes `rows_per_team` rows per step; `shuffle` reduces dot products with subgroup
// shuffles (else through shared memory). `interleaved`: chunk c takes steps c, c + chunks, ... of the rows instead
// of one run of chunk_size rows, so that the workgroups of a head read neighbouring memory at any moment.
struct DecodeAttentionShape {
  uint32_t workgroup = 128, lanes = 1, rows_per_team = 2;
  bool shuffle = false;
  bool interleaved = true;
  // The last split workgroup of each KV head merges the chunks (no reduce pass, no barrier between the passes);
  // false, or when probabilities are requested: the reduce pass merges.
  bool merge_in_split = true;
};

// The chunk size record_decode_attention uses (params.chunk_size when set) and the resulting chunk count.
uint32_t decode_attention_chunk_size(const DecodeAttentionParams& params);
uint32_t decode_attention_chunks(const DecodeAttentionParams& params);
// Bytes of the scratch buffer: an arrival counter per KV head (a 256-byte region), then per query head and chunk
// the running max, sum and unnormalised output. The counters must be zero before the buffer's first use (fill it
// with zeros once); every call leaves them zero, whatever its shape.
size_t decode_attention_scratch_bytes(const DecodeAttentionParams& params);

// The shape record_decode_attention picks: enough lanes per row to keep a thread's query and output slices in
// registers, subgroup shuffles when the device has them and its subgroups hold a whole team.
DecodeAttentionShape choose_decode_attention_shape(const vk::DeviceInfo& device, const DecodeAttentionParams& params);

// Records the split pass and the merge. scratch: at an offset that is a multiple of 256 bytes. `probs`, when given, receives each query head's softmax over the keys, f32
// [n_q, kv_length]. Throws std::invalid_argument when shapes or buffer sizes do not fit together.
void record_decode_attention(vk::Context& ctx, vk::CommandStream& stream, const DecodeAttentionParams& params,
                             const vk::BufferRange& q, const vk::BufferRange& k, const vk::BufferRange& v,
                             const vk::BufferRange& scratch, const vk::BufferRange& o,
                             const vk::BufferRange* probs = nullptr);
// The same with an explicit split shape (tests and tuning); the shape is checked against the device.
void record_decode_attention(vk::Context& ctx, vk::CommandStream& stream, const DecodeAttentionParams& params,
                             const DecodeAttentionShape& shape, const vk::BufferRange& q, const vk::BufferRange& k,
                             const vk::BufferRange& v, const vk::BufferRange& scratch, const vk::BufferRange& o,
                             const vk::BufferRange* probs = nullptr);

}  // namespace ckv::ops
