// Hyper-parameters of a Llama-family model, read from GGUF metadata (nothing about a model is hard-coded).
#pragma once
#include <cstdint>
#include <string>

namespace ckv {

class GgufFile;

enum class RopeStyle { Normal, Neox };  // adjacent pairs (GGUF llama) or halves

struct LlamaConfig {
  std::string architecture;  // general.architecture, e.g. "llama"
  std::string name;          // general.name
  uint32_t n_layers = 0;
  uint32_t n_embd = 0;
  uint32_t n_ff = 0;
  uint32_t n_heads = 0;
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t rope_dim = 0;
  uint32_t vocab_size = 0;
  uint32_t context_length = 0;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  float norm_eps = 1e-5f;
  RopeStyle rope_style = RopeStyle::Normal;

  // Throws std::runtime_error naming the missing or inconsistent key.
  static LlamaConfig from_gguf(const GgufFile& file);
  std::string summary() const;
};

}  // namespace ckv
