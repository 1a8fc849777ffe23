// Pipelines of the embedded shaders, created once per (variant, constants) by the context's library.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "vk/context.hpp"

namespace ckv {

const vk::ComputePipeline& shader_pipeline(vk::Context& ctx, std::string_view variant, uint32_t buffer_count,
                                           uint32_t push_constant_bytes, std::vector<uint32_t> spec_constants = {},
                                           uint32_t required_subgroup_size = 0);

// Workgroups needed to cover `items` with `per_group` each, capped for grid-stride kernels.
uint32_t group_count(uint64_t items, uint32_t per_group, uint32_t cap = 65535);

}  // namespace ckv
