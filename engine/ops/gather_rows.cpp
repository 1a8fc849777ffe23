#include "gather_rows.hpp"

#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kGroupSize = 256;
constexpr uint32_t kMaxGroups = 4096;  // per head; the kernel strides over the rest

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("gather_rows: " + message);
}

void require_bytes(const vk::BufferRange& range, uint64_t need, const char* what, const char* shape) {
  require(range.buffer != nullptr, std::string(what) + " has no buffer");
  require(range.bytes() >= need, std::string(what) + " holds " + std::to_string(range.bytes()) + " bytes, need " +
                                     std::to_string(need) + " for " + shape);
}

}  // namespace

void record_gather_rows(vk::Context& ctx, vk::CommandStream& stream, const GatherParams& p,
                        const vk::BufferRange& src, const vk::BufferRange& indices, const vk::BufferRange& dst) {
  require(p.n_kv > 0 && p.row_words > 0, "n_kv and row_words must be at least 1");
  require(p.count <= p.dst_capacity, "count " + std::to_string(p.count) + " exceeds dst_capacity " +
                                         std::to_string(p.dst_capacity));
  require(p.index_rows == 1 || p.index_rows == p.n_kv,
          "index_rows is " + std::to_string(p.index_rows) + ", must be 1 or n_kv (" + std::to_string(p.n_kv) + ")");
  const uint64_t row_bytes = uint64_t(p.row_words) * sizeof(uint32_t);
  const uint64_t src_bytes = uint64_t(p.n_kv) * p.src_capacity * row_bytes;
  const uint64_t dst_bytes = uint64_t(p.n_kv) * p.dst_capacity * row_bytes;
  const uint64_t index_bytes = uint64_t(p.index_rows) * p.count * sizeof(uint32_t);
  require(uint64_t(p.count) * p.row_words <= UINT32_MAX, "count x row_words exceeds 2^32 words per head");
  require_bytes(src, src_bytes, "src", "[n_kv, src_capacity, row_words]");
  require_bytes(dst, dst_bytes, "dst", "[n_kv, dst_capacity, row_words]");
  require_bytes(indices, index_bytes, "indices", "[index_rows, count] u32");
  if (p.count == 0) return;
  require(p.src_capacity > 0, "src_capacity is 0 but count is not");

  const bool vec4 = p.row_words % 4 == 0;
  struct Push {
    uint32_t vectors_per_row, src_capacity, dst_capacity, count, per_head_indices;
  } push{vec4 ? p.row_words / 4 : p.row_words, p.src_capacity, p.dst_capacity, p.count, p.index_rows > 1 ? 1u : 0u};
  const auto& pipeline =
      shader_pipeline(ctx, vec4 ? "gather_rows_u32x4" : "gather_rows_u32", 3, sizeof(Push), {kGroupSize});
  const vk::BufferRange used_src(*src.buffer, src.offset, src_bytes);
  const vk::BufferRange used_indices(*indices.buffer, indices.offset, index_bytes);
  const vk::BufferRange used_dst(*dst.buffer, dst.offset, dst_bytes);
  stream.dispatch(pipeline, {used_src, used_indices, used_dst}, push,
                  group_count(uint64_t(p.count) * push.vectors_per_row, kGroupSize, kMaxGroups), p.n_kv);
}

}  // namespace ckv::ops
