// Top-k token selection on the GPU (compression pipeline step 3): per row, the k largest scores by radix select
// (four 8-bit passes: histogram, then a pick of the bucket holding the k-th key), then a stable compaction that
// writes the kept indices in ascending order followed by the window indices. Two implementations with the same
// result: one workgroup per row doing everything in one dispatch (rows up to kTopkOneGroupMaxN scores), or
// multi-pass kernels spread over many workgroups (longer rows). On an H200 (bench/RESULTS.md run 8) the one-group
// kernel takes 11.5 µs at 4 K scores and 40 µs at 32 K, growing with the row; the multi-pass kernels about 45 µs
// whatever the length (twelve dispatches).
#pragma once
#include <cstddef>
#include <cstdint>

#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

// OneGroupPortable: the one-group kernel without subgroup operations, what devices without subgroup arithmetic
// run (OneGroup picks it there by itself). Resident: one workgroup of 1024 invocations that reads the row once and
// keeps it in registers (rows of at most kTopkResidentMaxN scores, n a multiple of 4, subgroup arithmetic, 1024
// invocations per workgroup); where a row or device does not allow it, the one-group kernel runs instead. Auto
// takes Resident where it applies from kTopkResidentMinN scores on, else OneGroup up to kTopkOneGroupMaxN scores,
// else MultiPass. H200 (RESULTS run 15): Resident 14.1 / 20.7 µs at 4 K / 32 K scores (r15d), OneGroup with 512
// invocations 11.5 / 34.8, MultiPass 45-46 at every length (r15b).
enum class TopkAlgorithm { Auto, OneGroup, OneGroupPortable, MultiPass, Resident };
inline constexpr uint32_t kTopkOneGroupMaxN = 36864;  // Auto's switch point, where the two times cross
inline constexpr uint32_t kTopkResidentMaxN = 36864;  // 9 quads of scores per invocation
inline constexpr uint32_t kTopkResidentMinN = 12288;  // below, 1024 invocations cost more than they save

struct TopkParams {
  uint32_t rows = 1;    // independent score rows (1 for CompressKV, n_kv for SnapKV)
  uint32_t n = 0;       // candidates per row (T - W)
  uint32_t k = 0;       // candidates to keep per row (B - W); 0 <= k < n
  uint32_t window = 0;  // window indices n .. n + window - 1 appended to every row
  TopkAlgorithm algorithm = TopkAlgorithm::Auto;  // OneGroup falls back to MultiPass on devices without 256 threads
  uint32_t one_group_threads = 0;  // workgroup size of the one-group kernel: 0 = min(512, device limit); >= 256
  // One-group kernel: 16-byte score loads in the compaction where n is a multiple of 4 (rows start and end on
  // 16-byte boundaries); false keeps 4-byte loads (benches compare the two; tests cover both through n).
  bool vec4_loads = true;
};

// Bytes of scratch record_topk_select needs (state, digit histograms, per-block counts).
size_t topk_scratch_bytes(const TopkParams& params);

// scores: f32 [rows, n]. indices_out: u32 [rows, k + window]; row r holds the indices of its k largest scores
// (equal scores: the lower index wins) in ascending order, then n, n + 1, ..., n + window - 1.
// scratch: at least topk_scratch_bytes(params); zeroed by the recorded commands, so it can be reused.
// Scores must be finite (NaN orders above +inf or below -inf by its sign bit); -0 and +0 tie.
// Throws std::invalid_argument when k >= n (nothing to evict), k + window == 0, or a buffer is too small.
void record_topk_select(vk::Context& ctx, vk::CommandStream& stream, const TopkParams& params,
                        const vk::BufferRange& scores, const vk::BufferRange& scratch,
                        const vk::BufferRange& indices_out);

}  // namespace ckv::ops
