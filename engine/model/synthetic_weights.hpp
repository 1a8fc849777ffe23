// Synthetic Llama models: the shape of a known model with random, well-scaled weights made on the device, for
// benchmarks where real weights cannot go. The values mean nothing; the bytes read and the work done per token are
// those of the real model.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/model/llama_config.hpp"
#include "engine/quant/ggml_type.hpp"

namespace ckv {

struct SyntheticWeightOptions {
  GgmlType type = GgmlType::F16;  // every matrix (embedding and output included): F16 or Q4_0; norms are F32
  uint64_t seed = 1;
};

// "llama-3.1-8b" (32 layers, hidden 4096, 32 q / 8 kv heads of 128, FFN 14336, vocab 128256, rope base 500000,
// context 131072) or "tiny" (2 layers, hidden 256, 8 q / 2 kv heads of 32, FFN 512, vocab 1000, context 131072).
// Throws std::invalid_argument naming the known presets.
LlamaConfig synthetic_config(std::string_view preset);
const char* synthetic_preset_names();  // "llama-3.1-8b, tiny"

// "f16" or "q4_0" (case-insensitive); throws std::invalid_argument otherwise.
GgmlType parse_synthetic_weight_type(std::string_view name);

}  // namespace ckv
