// The weights of a Llama model on the GPU: one buffer per GGUF tensor, still in its quantized format
// (the kernels dequantize while they read).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/model/llama_config.hpp"
#include "engine/ops/matmul.hpp"
#include "vk/buffer.hpp"
#include "vk/context.hpp"

namespace ckv {

class GgufFile;

struct LlamaLayerWeights {
  ops::WeightView attn_norm, attn_q, attn_k, attn_v, attn_output;
  ops::WeightView ffn_norm, ffn_gate, ffn_up, ffn_down;
};

class LlamaWeights {
 public:
  // Checks every tensor's presence, type and shape against the config, then uploads them.
  LlamaWeights(vk::Context& ctx, const GgufFile& file, const LlamaConfig& config);

  ops::WeightView token_embedding;
  ops::WeightView output_norm;
  ops::WeightView output;  // the token embedding when the model ties them
  bool tied_output = false;
  std::vector<LlamaLayerWeights> layers;

  uint64_t bytes() const { return bytes_; }

 private:
  ops::WeightView load(vk::Context& ctx, const GgufFile& file, const std::string& name, uint32_t k, uint32_t n);
  std::vector<std::unique_ptr<vk::Buffer>> buffers_;
  uint64_t bytes_ = 0;
};

}  // namespace ckv
