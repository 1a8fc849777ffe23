// ggml tensor types as stored in GGUF files: id, name, block size (elements per block) and bytes per block.
// Block sizes follow ggml/src/ggml-common.h (the block_* structs and their static_asserts) in ggml-org/llama.cpp;
// they agree with GGML_QUANT_SIZES of the `gguf` Python package 0.19.0 except Q8_1, where gguf-py still lists the
// old float layout (40 B) while ggml's block_q8_1 is two halves + 32 int8 = 36 B. ggml is what writes the data.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ckv {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  // Not a ggml type and never read from a file: the engine's device layout of Q4_0 rows of k % 256 == 0, eight
  // blocks' quants (8 x 16 bytes) and then their eight f16 scales per 144-byte super-block (engine/quant).
  Q4_0_X8 = 0x10002,
};

struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;     // as ggml/gguf-py spell it, e.g. "Q4_K"
  uint32_t block_size;       // elements per block (1 for plain types)
  uint32_t block_bytes;      // bytes per block
  bool engine_supported;     // whether this engine has kernels for it
};

// Every type the parser knows, in id order.
std::span<const GgmlTypeTraits> ggml_types();
// The traits of a type id read from a file, or nullptr for an id this parser does not know.
const GgmlTypeTraits* find_ggml_type(uint32_t id);
// The traits of a known type (never null for a GgmlType value listed above).
const GgmlTypeTraits& ggml_type_traits(GgmlType type);
std::string_view ggml_type_name(GgmlType type);
// "F32, F16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K": the types the engine supports, for error messages.
std::string engine_supported_type_names();

}  // namespace ckv
