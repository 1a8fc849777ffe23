#include <stdexcept>
#include <string>

#include "shader_registry.hpp"

namespace ckv::shaders {

std::span<const uint32_t> spirv(std::string_view variant_name) {
  for (const ShaderBlob& blob : all_blobs()) {
    if (variant_name == blob.name) return {blob.words, blob.word_count};
  }
  throw std::invalid_argument("no embedded shader named '" + std::string(variant_name) + "'");
}

bool has(std::string_view variant_name) {
  for (const ShaderBlob& blob : all_blobs())
    if (variant_name == blob.name) return true;
  return false;
}

}  // namespace ckv::shaders
