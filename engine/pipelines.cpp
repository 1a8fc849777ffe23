#include "pipelines.hpp"

#include <algorithm>
#include <string>

#include "shader_registry.hpp"

namespace ckv {

const vk::ComputePipeline& shader_pipeline(vk::Context& ctx, std::string_view variant, uint32_t buffer_count,
                                           uint32_t push_constant_bytes, std::vector<uint32_t> spec_constants,
                                           uint32_t required_subgroup_size) {
  vk::PipelineDesc desc;
  desc.name = std::string(variant);
  desc.spirv = shaders::spirv(variant);
  desc.buffer_count = buffer_count;
  desc.push_constant_bytes = push_constant_bytes;
  desc.spec_constants = std::move(spec_constants);
  desc.required_subgroup_size = required_subgroup_size;
  return ctx.pipelines().get(desc);
}

uint32_t group_count(uint64_t items, uint32_t per_group, uint32_t cap) {
  const uint64_t groups = (items + per_group - 1) / per_group;
  return uint32_t(std::clamp<uint64_t>(groups, 1, cap));
}

}  // namespace ckv
