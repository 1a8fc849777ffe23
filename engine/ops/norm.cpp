#include "norm.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kMaxGroupSize = 256;
constexpr uint32_t kMinGroupSize = 32;

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("rms_norm: " + message);
}

// A power of two near width / 4, so that narrow rows do not leave most threads idle. A CPU device (lavapipe) runs
// a workgroup on one thread, looping over SIMD rows of invocations and switching rows at every barrier: one
// subgroup per workgroup is fastest there.
uint32_t group_size_for(const vk::DeviceInfo& device, uint32_t width) {
  if (device.type == VK_PHYSICAL_DEVICE_TYPE_CPU && device.max_subgroup_size > 0)
    return std::bit_ceil(device.max_subgroup_size);
  return std::clamp<uint32_t>(std::bit_ceil(std::min(width, 4 * kMaxGroupSize)) / 4, kMinGroupSize, kMaxGroupSize);
}

}  // namespace

void record_rms_norm(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& x,
                     const vk::BufferRange& weight, const vk::BufferRange& y, uint32_t t, uint32_t width, float eps,
                     uint32_t row_stride, bool use_subgroup_ops) {
  require(width > 0, "width must be at least 1");
  require(std::isfinite(eps) && eps >= 0.0f, "eps must be finite and >= 0, got " + std::to_string(eps));
  if (row_stride == 0) row_stride = width;
  require(row_stride >= width,
          "row_stride " + std::to_string(row_stride) + " is smaller than width " + std::to_string(width));
  require(x.buffer && weight.buffer && y.buffer, "x, weight and y need buffers");
  const uint64_t rows_bytes = t == 0 ? 0 : (uint64_t(t - 1) * row_stride + width) * sizeof(float);
  require(uint64_t(t) * row_stride <= UINT32_MAX, "t x row_stride exceeds 2^32 floats");
  require(x.bytes() >= rows_bytes, "x holds " + std::to_string(x.bytes()) + " bytes, need " +
                                       std::to_string(rows_bytes) + " for [t, width] with the row stride");
  require(y.bytes() >= rows_bytes, "y holds " + std::to_string(y.bytes()) + " bytes, need " +
                                       std::to_string(rows_bytes) + " for [t, width] with the row stride");
  require(weight.bytes() >= uint64_t(width) * sizeof(float),
          "weight holds " + std::to_string(weight.bytes()) + " bytes, need " + std::to_string(width * 4ull));
  if (t == 0) return;

  const bool subgroup = use_subgroup_ops && ctx.device().info().subgroup_arithmetic;
  struct Push {
    uint32_t rows, width, row_stride;
    float eps;
  } push{t, width, row_stride, eps};
  const auto& pipeline = shader_pipeline(ctx, subgroup ? "rms_norm" : "rms_norm_shared", 3, sizeof(Push),
                                         {group_size_for(ctx.device().info(), width)});
  stream.dispatch(pipeline,
                  {vk::BufferRange(*x.buffer, x.offset, rows_bytes),
                   vk::BufferRange(*weight.buffer, weight.offset, uint64_t(width) * sizeof(float)),
                   vk::BufferRange(*y.buffer, y.offset, rows_bytes)},
                  push, std::min<uint32_t>(t, 65535));
}

}  // namespace ckv::ops
