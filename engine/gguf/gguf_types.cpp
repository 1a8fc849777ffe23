#include "engine/gguf/gguf_types.hpp"

#include <array>
#include <stdexcept>

namespace ckv {

namespace {

constexpr uint32_t kQK = 256;  // QK_K: super-block size of the K-quants and most IQ types

constexpr std::array kTypes = {
    GgmlTypeTraits{GgmlType::F32, "F32", 1, 4, true},
    GgmlTypeTraits{GgmlType::F16, "F16", 1, 2, true},
    GgmlTypeTraits{GgmlType::Q4_0, "Q4_0", 32, 2 + 16, true},
    GgmlTypeTraits{GgmlType::Q4_1, "Q4_1", 32, 2 + 2 + 16, true},
    GgmlTypeTraits{GgmlType::Q5_0, "Q5_0", 32, 2 + 4 + 16, false},
    GgmlTypeTraits{GgmlType::Q5_1, "Q5_1", 32, 2 + 2 + 4 + 16, false},
    GgmlTypeTraits{GgmlType::Q8_0, "Q8_0", 32, 2 + 32, true},
    GgmlTypeTraits{GgmlType::Q8_1, "Q8_1", 32, 2 + 2 + 32, false},
    GgmlTypeTraits{GgmlType::Q2_K, "Q2_K", kQK, 2 + 2 + kQK / 16 + kQK / 4, false},
    GgmlTypeTraits{GgmlType::Q3_K, "Q3_K", kQK, 2 + kQK / 4 + kQK / 8 + 12, false},
    GgmlTypeTraits{GgmlType::Q4_K, "Q4_K", kQK, 2 + 2 + 12 + kQK / 2, true},
    GgmlTypeTraits{GgmlType::Q5_K, "Q5_K", kQK, 2 + 2 + 12 + kQK / 2 + kQK / 8, false},
    GgmlTypeTraits{GgmlType::Q6_K, "Q6_K", kQK, 2 + kQK / 16 + 3 * kQK / 4, true},
    GgmlTypeTraits{GgmlType::Q8_K, "Q8_K", kQK, 4 + kQK + kQK / 16 * 2, false},
    GgmlTypeTraits{GgmlType::IQ2_XXS, "IQ2_XXS", kQK, 2 + kQK / 4, false},
    GgmlTypeTraits{GgmlType::IQ2_XS, "IQ2_XS", kQK, 2 + kQK / 4 + kQK / 32, false},
    GgmlTypeTraits{GgmlType::IQ3_XXS, "IQ3_XXS", kQK, 2 + 3 * kQK / 8, false},
    GgmlTypeTraits{GgmlType::IQ1_S, "IQ1_S", kQK, 2 + kQK / 8 + kQK / 16, false},
    GgmlTypeTraits{GgmlType::IQ4_NL, "IQ4_NL", 32, 2 + 16, false},
    GgmlTypeTraits{GgmlType::IQ3_S, "IQ3_S", kQK, 2 + 13 * kQK / 32 + kQK / 64, false},
    GgmlTypeTraits{GgmlType::IQ2_S, "IQ2_S", kQK, 2 + kQK / 4 + kQK / 16, false},
    GgmlTypeTraits{GgmlType::IQ4_XS, "IQ4_XS", kQK, 2 + 2 + kQK / 64 + kQK / 2, false},
    GgmlTypeTraits{GgmlType::I8, "I8", 1, 1, false},
    GgmlTypeTraits{GgmlType::I16, "I16", 1, 2, false},
    GgmlTypeTraits{GgmlType::I32, "I32", 1, 4, false},
    GgmlTypeTraits{GgmlType::I64, "I64", 1, 8, false},
    GgmlTypeTraits{GgmlType::F64, "F64", 1, 8, false},
    GgmlTypeTraits{GgmlType::IQ1_M, "IQ1_M", kQK, kQK / 8 + kQK / 16 + kQK / 32, false},
    GgmlTypeTraits{GgmlType::BF16, "BF16", 1, 2, false},
    GgmlTypeTraits{GgmlType::TQ1_0, "TQ1_0", kQK, 2 + kQK / 64 + (kQK - 4 * kQK / 64) / 5, false},
    GgmlTypeTraits{GgmlType::TQ2_0, "TQ2_0", kQK, 2 + kQK / 4, false},
    GgmlTypeTraits{GgmlType::MXFP4, "MXFP4", 32, 1 + 16, false},
};

// The sizes the task and the engine's kernels rely on, pinned at compile time.
constexpr const GgmlTypeTraits& traits_of(GgmlType type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t;
  throw std::logic_error("unknown ggml type");
}
static_assert(traits_of(GgmlType::Q4_0).block_bytes == 18 && traits_of(GgmlType::Q4_1).block_bytes == 20);
static_assert(traits_of(GgmlType::Q5_0).block_bytes == 22 && traits_of(GgmlType::Q5_1).block_bytes == 24);
static_assert(traits_of(GgmlType::Q8_0).block_bytes == 34 && traits_of(GgmlType::Q8_1).block_bytes == 36);
static_assert(traits_of(GgmlType::Q2_K).block_bytes == 84 && traits_of(GgmlType::Q3_K).block_bytes == 110);
static_assert(traits_of(GgmlType::Q4_K).block_bytes == 144 && traits_of(GgmlType::Q5_K).block_bytes == 176);
static_assert(traits_of(GgmlType::Q6_K).block_bytes == 210 && traits_of(GgmlType::Q8_K).block_bytes == 292);

}  // namespace

std::span<const GgmlTypeTraits> ggml_types() { return kTypes; }

const GgmlTypeTraits* find_ggml_type(uint32_t id) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

const GgmlTypeTraits& ggml_type_traits(GgmlType type) {
  const GgmlTypeTraits* t = find_ggml_type(static_cast<uint32_t>(type));
  if (!t) throw std::invalid_argument("unknown ggml type id " + std::to_string(static_cast<uint32_t>(type)));
  return *t;
}

std::string_view ggml_type_name(GgmlType type) { return ggml_type_traits(type).name; }

std::string engine_supported_type_names() {
  std::string names;
  for (const auto& t : kTypes) {
    if (!t.engine_supported) continue;
    if (!names.empty()) names += ", ";
    names += t.name;
  }
  return names;
}

}  // namespace ckv
