#include "coopmat_layout.hpp"

#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "engine/pipelines.hpp"
#include "shader_registry.hpp"
#include "vk/buffer.hpp"
#include "vk/command_stream.hpp"
#include "vk/transfer.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kLanes = 32, kElements = 8, kWords = 2 * kLanes * kElements + 2;

struct NoPush {
  uint32_t unused = 0;
};

}  // namespace

std::optional<std::vector<uint32_t>> coopmat_layout_words(vk::Context& ctx, bool khr) {
  const vk::DeviceInfo& info = ctx.device().info();
  const std::string variant = khr ? "coopmat_layout_khr" : "coopmat_layout_nv";
  if ((khr ? !info.coopmat_khr : !info.coopmat_nv) || !shaders::has(variant)) return std::nullopt;
  const bool size_settable =
      info.subgroup_size_control && info.min_subgroup_size <= kLanes && kLanes <= info.max_subgroup_size;
  if (!size_settable && info.subgroup_size != kLanes) return std::nullopt;
  const auto& pipeline = shader_pipeline(ctx, variant, 1, sizeof(NoPush), {}, size_settable ? kLanes : 0);
  vk::Buffer out(ctx.device(), kWords * 4, vk::MemoryKind::DeviceLocal, "coopmat layout probe");
  vk::CommandStream stream(ctx.device());
  stream.dispatch(pipeline, {vk::BufferRange(out)}, NoPush{}, 1);
  stream.submit_and_wait();
  return vk::download<uint32_t>(ctx.device(), out, kWords);
}

bool coopmat_quad_layout(const std::vector<uint32_t>& words) {
  if (words.size() != kWords || words[kWords - 2] != kElements || words[kWords - 1] != kElements) return false;
  for (uint32_t type = 0; type < 2; ++type)
    for (uint32_t l = 0; l < kLanes; ++l)
      for (uint32_t i = 0; i < kElements; ++i) {
        const uint32_t row = l / 4 + 8 * (i / 4), col = 2 * (l % 4) + i % 2 + 8 * ((i / 2) % 2);
        if (words[(type * kLanes + l) * kElements + i] != 16 * row + col) return false;
      }
  return true;
}

bool coopmat_has_quad_layout(vk::Context& ctx, bool khr) {
  // Keyed by what identifies the layout: the device and its driver.
  static std::mutex mutex;
  static std::map<std::tuple<std::string, std::string, bool>, bool> known;
  const vk::DeviceInfo& info = ctx.device().info();
  const auto key = std::make_tuple(info.name, info.driver_info, khr);
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = known.find(key); it != known.end()) return it->second;
  }
  const auto words = coopmat_layout_words(ctx, khr);
  const bool quad = words && coopmat_quad_layout(*words);
  std::lock_guard<std::mutex> lock(mutex);
  known[key] = quad;
  return quad;
}

}  // namespace ckv::ops
