// Where a device's cooperative matrices keep their elements: shaders/coopmat_layout.comp reads back, for every
// invocation of a subgroup of 32 and every element index, the (row, column) of a 16x16 f32 accumulator and of a
// 16x16 f16 A matrix. The register-softmax prefill kernel needs the "quad" layout of NVIDIA's mma fragments.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "vk/context.hpp"

namespace ckv::ops {

// The probe's raw output (514 words: 16 * row + column per (type, invocation, element), then the two element
// counts), or nullopt when the probe cannot run (no such API, no shader variant, no subgroups of 32).
std::optional<std::vector<uint32_t>> coopmat_layout_words(vk::Context& ctx, bool khr);

// True when both types hold 8 elements per invocation and element i of invocation l sits at row
// l / 4 + 8 * (i / 4), column 2 * (l % 4) + i % 2 + 8 * ((i / 2) % 2) (what NVIDIA's driver reports).
bool coopmat_quad_layout(const std::vector<uint32_t>& words);

// coopmat_quad_layout of the device's probe, run once per device and API.
bool coopmat_has_quad_layout(vk::Context& ctx, bool khr);

}  // namespace ckv::ops
