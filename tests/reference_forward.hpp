// A plain CPU Llama forward pass in double precision, the reference the GPU model is checked against. It shares
// only the GGUF parser, the metadata reading (LlamaConfig) and the CPU dequantization with the engine; every step
// of the math is written here again, top to bottom, without the GPU ops. Full KV cache, no compression.
//
// Weights are dequantized once at load into float (dequantization yields floats, so nothing is lost) and every
// product, sum, norm, rotation and softmax is computed in double. Works for any GGUF the engine loads (the default
// SmolLM2-135M as well as tiny models such as stories260K).
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "engine/model/llama_config.hpp"

namespace ckv::test {

class ReferenceLlama {
 public:
  // Throws like the engine does for a file it cannot read or a model it does not support.
  explicit ReferenceLlama(const std::filesystem::path& gguf_path);

  const LlamaConfig& config() const { return config_; }
  bool tied_output() const { return tied_output_; }
  size_t length() const { return length_; }  // tokens in the KV cache

  // Runs `tokens` at the positions after the cached ones, appends their keys and values to the cache and returns
  // the logits of the last token.
  std::vector<double> append(std::span<const int32_t> tokens);
  void reset() { length_ = 0; }

  // Greedy decoding: the prompt, then `count` tokens, each the argmax of the previous step's logits. Starts from
  // an empty cache. `logits`, when given, receives the logits each token was chosen from (prompt's last first).
  std::vector<int32_t> greedy(std::span<const int32_t> prompt, int count,
                              std::vector<std::vector<double>>* logits = nullptr);

 private:
  struct Matrix {  // rows x cols, row-major: GGUF [cols, rows]
    uint32_t rows = 0, cols = 0;
    std::vector<float> values;
  };
  struct Layer {
    Matrix attn_norm, attn_q, attn_k, attn_v, attn_output;
    Matrix ffn_norm, ffn_gate, ffn_up, ffn_down;
    std::vector<double> k_cache, v_cache;  // [position, n_kv_heads * head_dim]
  };

  void attention(const Layer& layer, const std::vector<double>& q, size_t tokens, std::vector<double>& out) const;
  void rotate(std::vector<double>& x, size_t tokens, uint32_t heads) const;

  LlamaConfig config_;
  Matrix token_embedding_, output_norm_, output_;
  bool tied_output_ = false;
  std::vector<Layer> layers_;
  size_t length_ = 0;
};

// Index of the largest value (the first on ties).
size_t argmax(std::span<const double> values);

}  // namespace ckv::test
