#include "get_rows.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {
constexpr uint32_t kThreads = 64;
}

void record_get_rows(vk::Context& ctx, vk::CommandStream& stream, const WeightView& w, const vk::BufferRange& ids,
                     uint32_t t, const vk::BufferRange& out, uint64_t max_piece_bytes) {
  const vk::DeviceInfo& dev = ctx.device().info();
  const std::vector<WeightPiece> pieces = split_weight(dev, w, "get_rows", max_piece_bytes);
  if (t == 0) throw std::invalid_argument("get_rows: no tokens (t = 0)");
  if (!ids.buffer || ids.bytes() < 4ull * t)
    throw std::invalid_argument("get_rows: ids need " + std::to_string(4ull * t) + " bytes, got " +
                                std::to_string(ids.buffer ? ids.bytes() : 0));
  if (!out.buffer || out.bytes() < 4ull * t * w.k)
    throw std::invalid_argument("get_rows: out needs " + std::to_string(4ull * t * w.k) + " bytes (f32 [" +
                                std::to_string(t) + ", " + std::to_string(w.k) + "]), got " +
                                std::to_string(out.buffer ? out.bytes() : 0));
  if (4ull * t * w.k >= (1ull << 32)) throw std::invalid_argument("get_rows: out must be smaller than 4 GiB");

  std::string variant = "get_rows_" + quant::type_name(w.type);
  std::transform(variant.begin(), variant.end(), variant.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  const auto& pipeline = shader_pipeline(ctx, variant, 3, 8 * sizeof(uint32_t), {kThreads});
  const uint32_t row_bytes = uint32_t(quant::row_bytes(w.type, w.k));
  const uint32_t groups_x = group_count((w.k + 7) / 8, kThreads, dev.max_workgroup_count[0]);
  const uint32_t max_tokens = dev.max_workgroup_count[1];
  for (size_t i = 0; i < pieces.size(); ++i) {
    const WeightPiece& p = pieces[i];
    for (uint32_t token0 = 0; token0 < t; token0 += max_tokens) {
      const struct {
        uint32_t k, n, w_base, row_bytes, first_row, total_rows, token0, write_unknown;
      } push{w.k, p.rows, p.base, row_bytes, p.first_row, w.n, token0, i == 0};
      stream.dispatch(pipeline, {vk::BufferRange(*w.buffer, p.bind_offset, p.bind_bytes), ids, out}, push, groups_x,
                      std::min(t - token0, max_tokens));
    }
  }
}

}  // namespace ckv::ops
