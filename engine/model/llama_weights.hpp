// The weights of a Llama model on the GPU: one buffer per tensor, still in its quantized format (the kernels
// dequantize while they read; Q4_0 rows of k % 256 == 0 in the engine's Q4_0_X8 layout, quant::device_weight_type),
// except a layer's FFN gate and up matrices, which share one buffer (up 256-byte aligned after gate) when they have one type and fit one binding: the SwiGLU kernel reads both in one pass. They
// come from a GGUF file, or are synthetic (engine/model/synthetic_weights.hpp).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/llama_config.hpp"
#include "engine/ops/matmul.hpp"
#include "vk/buffer.hpp"
#include "vk/context.hpp"

namespace ckv {

class GgufFile;
struct SyntheticWeightOptions;

struct LlamaLayerWeights {
  ops::WeightView attn_norm, attn_q, attn_k, attn_v, attn_output;
  ops::WeightView ffn_norm, ffn_gate, ffn_up, ffn_down;
};

class LlamaWeights {
 public:
  // Checks every tensor's presence, type and shape against the config, then uploads them.
  LlamaWeights(vk::Context& ctx, const GgufFile& file, const LlamaConfig& config);
  // Random, well-scaled weights of the config's shape (defined in synthetic_weights.cpp).
  LlamaWeights(vk::Context& ctx, const LlamaConfig& config, const SyntheticWeightOptions& options);

  ops::WeightView token_embedding;
  ops::WeightView output_norm;
  ops::WeightView output;  // the token embedding when the model ties them
  bool tied_output = false;
  std::vector<LlamaLayerWeights> layers;

  uint64_t bytes() const { return bytes_; }
  // Bytes one decoded token reads: every layer's tensors, the output norm and the output matrix (the token
  // embedding adds one row, left out unless it doubles as the output matrix).
  uint64_t decode_bytes() const;

 private:
  // Tensor `name` of ggml shape [k, n] (n = 1 for vectors): its type, its bytes, and how to write them at a byte
  // offset of a buffer.
  struct TensorSource {
    GgmlType type = GgmlType::F32;
    uint64_t bytes = 0;
    std::function<void(const vk::Buffer& dst, uint64_t offset)> write;
  };
  using TensorMaker = std::function<TensorSource(const std::string& name, uint32_t k, uint32_t n)>;
  void make_all(vk::Context& ctx, const LlamaConfig& config, const TensorMaker& make);
  ops::WeightView place(vk::Context& ctx, const TensorSource& source, const std::string& name, uint32_t k, uint32_t n);
  // Gate and up in one buffer where they can share one (see the class comment), else each in its own.
  void place_gate_up(vk::Context& ctx, const TensorMaker& make, const std::string& prefix, uint32_t k, uint32_t n,
                     LlamaLayerWeights& layer);
  static TensorSource load(vk::Context& ctx, const GgufFile& file, const std::string& name, uint32_t k, uint32_t n);

  std::vector<std::unique_ptr<vk::Buffer>> buffers_;
  uint64_t bytes_ = 0;
};

// Bytes of a weight's data (n rows of k elements in its block format).
uint64_t weight_bytes(const ops::WeightView& w);

}  // namespace ckv
