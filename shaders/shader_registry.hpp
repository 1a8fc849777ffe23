// Embedded SPIR-V of every shader variant, compiled at build time (cmake/Shaders.cmake).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ckv::shaders {

struct ShaderBlob {
  const char* name;
  const uint32_t* words;
  size_t word_count;
};

std::span<const ShaderBlob> all_blobs();

// The SPIR-V words of a variant; throws std::invalid_argument naming the variant when it does not exist.
std::span<const uint32_t> spirv(std::string_view variant_name);

// Whether a variant was built (some, like the KHR cooperative-matrix ones, depend on the build machine's tools).
bool has(std::string_view variant_name);

}  // namespace ckv::shaders
