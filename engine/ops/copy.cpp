#include "copy.hpp"

#include <stdexcept>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {
constexpr uint32_t kGroupSize = 256;
}

void record_copy(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& src, const vk::BufferRange& dst) {
  const uint64_t bytes = src.bytes();
  if (bytes != dst.bytes() || bytes % 16)
    throw std::invalid_argument("copy kernel needs equal sizes that are a multiple of 16 bytes");
  struct Push {
    uint32_t n_vec4;
  } push{uint32_t(bytes / 16)};
  const auto& pipeline = shader_pipeline(ctx, "copy_u32", 2, sizeof(Push), {kGroupSize});
  stream.dispatch(pipeline, {src, dst}, push, group_count(push.n_vec4, kGroupSize));
}

void record_fill(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& dst, uint32_t value) {
  if (dst.bytes() % 4) throw std::invalid_argument("fill kernel needs a size that is a multiple of 4 bytes");
  struct Push {
    uint32_t n;
    uint32_t value;
  } push{uint32_t(dst.bytes() / 4), value};
  const auto& pipeline = shader_pipeline(ctx, "fill_u32", 1, sizeof(Push), {kGroupSize});
  stream.dispatch(pipeline, {dst}, push, group_count(push.n, kGroupSize));
}

}  // namespace ckv::ops
