#include "topk_select.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kGroupSize = 256;          // every top-k kernel; must divide the 256 digit bins (pick)
constexpr uint32_t kItems = 8;                // scores per invocation in a compaction block
constexpr uint32_t kBlock = kGroupSize * kItems;
constexpr uint32_t kHistogramChunk = 4096;    // scores per histogram workgroup before it strides
constexpr uint32_t kMaxHistogramGroups = 1024;
constexpr uint32_t kRadixPasses = 4;
constexpr uint64_t kStateWords = 4, kHistogramWords = kRadixPasses * 256;
constexpr uint32_t kOneGroupMaxThreads = 1024;  // the one-group kernel needs at least 256 (one per digit bin)
constexpr uint32_t kResidentThreads = 1024;       // topk_resident.comp: kTopkResidentMaxN / 1024 = 9 quads each
constexpr uint32_t kOneGroupDefaultThreads = 512;  // 512 was as fast as 1024 at 32 K and 1.7x faster at 4 K (run 8)

// Mirrors the push-constant block of topk_common.glsl.
struct TopkPush {
  uint32_t rows, n, k, window, blocks, pass;
};

uint32_t block_count(uint32_t n) { return (n + kBlock - 1) / kBlock; }

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("topk_select: " + message);
}

void check_params(const TopkParams& p) {
  require(p.rows > 0, "rows must be at least 1");
  require(p.k < p.n, "k = " + std::to_string(p.k) + " must be less than the " + std::to_string(p.n) +
                         " candidates (with k >= n nothing is evicted; keep the whole cache instead)");
  require(uint64_t(p.k) + p.window > 0, "k + window is 0: nothing to output");
  require(uint64_t(p.n) + p.window <= UINT32_MAX, "n + window does not fit 32-bit indices");
  require(uint64_t(p.rows) * p.n <= UINT32_MAX, "rows x n exceeds 2^32 scores");
  require(uint64_t(p.rows) * (uint64_t(p.k) + p.window) <= UINT32_MAX, "rows x (k + window) exceeds 2^32 indices");
}

}  // namespace

size_t topk_scratch_bytes(const TopkParams& p) {
  return size_t(p.rows) * (kStateWords + kHistogramWords + 2ull * block_count(p.n)) * sizeof(uint32_t);
}

void record_topk_select(vk::Context& ctx, vk::CommandStream& stream, const TopkParams& p,
                        const vk::BufferRange& scores, const vk::BufferRange& scratch,
                        const vk::BufferRange& indices_out) {
  check_params(p);
  const uint64_t score_bytes = uint64_t(p.rows) * p.n * sizeof(float);
  const uint64_t index_bytes = uint64_t(p.rows) * (p.k + p.window) * sizeof(uint32_t);
  const uint64_t scratch_bytes = topk_scratch_bytes(p);
  require(scores.bytes() >= score_bytes, "scores hold " + std::to_string(scores.bytes()) + " bytes, need " +
                                             std::to_string(score_bytes) + " for [rows, n] f32");
  require(indices_out.bytes() >= index_bytes, "indices_out holds " + std::to_string(indices_out.bytes()) +
                                                   " bytes, need " + std::to_string(index_bytes) +
                                                   " for [rows, k + window] u32");
  require(scratch.bytes() >= scratch_bytes, "scratch holds " + std::to_string(scratch.bytes()) + " bytes, need " +
                                                std::to_string(scratch_bytes) + " (topk_scratch_bytes)");

  const vk::BufferRange used_scores(*scores.buffer, scores.offset, score_bytes);
  const vk::BufferRange used_indices(*indices_out.buffer, indices_out.offset, index_bytes);
  TopkPush push{p.rows, p.n, p.k, p.window, block_count(p.n), 0};
  const uint32_t push_bytes = sizeof(TopkPush);

  const vk::DeviceInfo& info = ctx.device().info();
  const uint32_t device_threads = std::min(kOneGroupMaxThreads, info.max_workgroup_invocations);
  require(p.one_group_threads == 0 || (p.one_group_threads >= 256 && p.one_group_threads <= device_threads &&
                                       p.one_group_threads % 32 == 0),
          "one_group_threads must be 0 or a multiple of 32 in 256.." + std::to_string(device_threads));
  const bool resident = (p.algorithm == TopkAlgorithm::Resident ||
                         (p.algorithm == TopkAlgorithm::Auto && p.n >= kTopkResidentMinN)) &&
                        p.n <= kTopkResidentMaxN && p.n % 4 == 0 && info.subgroup_arithmetic &&
                        info.min_subgroup_size > 0 && info.max_workgroup_invocations >= kResidentThreads &&
                        kResidentThreads % info.max_subgroup_size == 0;
  if (resident) {
    const auto& select = shader_pipeline(ctx, "topk_resident", 2, push_bytes,
                                         {kResidentThreads, kResidentThreads / info.min_subgroup_size});
    stream.dispatch(select, {used_scores, used_indices}, push, 1, p.rows);
    return;
  }

  const uint32_t one_group_threads =
      p.one_group_threads ? p.one_group_threads : std::min(kOneGroupDefaultThreads, device_threads);
  const bool one_group = one_group_threads >= 256 && (p.algorithm == TopkAlgorithm::OneGroup ||
                                                      p.algorithm == TopkAlgorithm::OneGroupPortable ||
                                                      p.algorithm == TopkAlgorithm::Resident ||
                                                      (p.algorithm == TopkAlgorithm::Auto && p.n <= kTopkOneGroupMaxN));
  if (one_group) {
    const bool subgroup_scan = info.subgroup_arithmetic && info.min_subgroup_size > 0 &&
                               one_group_threads % info.max_subgroup_size == 0 &&
                               p.algorithm != TopkAlgorithm::OneGroupPortable;
    const uint32_t max_subgroups = subgroup_scan ? one_group_threads / info.min_subgroup_size : 1;
    const uint32_t vec4_rows = p.n % 4 == 0 && p.vec4_loads ? 1 : 0;
    const auto& select = shader_pipeline(ctx, subgroup_scan ? "topk_one_group" : "topk_one_group_portable", 2,
                                         push_bytes, {one_group_threads, max_subgroups, vec4_rows});
    stream.dispatch(select, {used_scores, used_indices}, push, 1, p.rows);
    return;
  }

  const vk::BufferRange used_scratch(*scratch.buffer, scratch.offset, scratch_bytes);
  const uint32_t blocks = push.blocks;

  stream.fill(used_scratch, 0);
  if (p.k > 0) {
    const auto& histogram = shader_pipeline(ctx, "topk_histogram", 2, push_bytes, {kGroupSize});
    const auto& pick = shader_pipeline(ctx, "topk_pick", 1, push_bytes, {kGroupSize});
    const uint32_t histogram_groups = group_count(p.n, kHistogramChunk, kMaxHistogramGroups);
    for (uint32_t pass = 0; pass < kRadixPasses; ++pass) {
      push.pass = pass;
      stream.dispatch(histogram, {used_scores, used_scratch}, push, histogram_groups, p.rows);
      stream.dispatch(pick, {used_scratch}, push, 1, p.rows);
    }
    const auto& count = shader_pipeline(ctx, "topk_count", 2, push_bytes, {kGroupSize, kItems});
    const auto& scan = shader_pipeline(ctx, "topk_scan", 1, push_bytes, {kGroupSize});
    stream.dispatch(count, {used_scores, used_scratch}, push, blocks, p.rows);
    stream.dispatch(scan, {used_scratch}, push, 1, p.rows);
  }
  // With k = 0 only the window is written: enough workgroups for it, none of them compacting.
  const uint32_t write_groups = p.k > 0 ? blocks : group_count(p.window, kGroupSize);
  const auto& write = shader_pipeline(ctx, "topk_write", 3, push_bytes, {kGroupSize, kItems});
  stream.dispatch(write, {used_scores, used_scratch, used_indices}, push, write_groups, p.rows);
}

}  // namespace ckv::ops
