#include "llama_weights.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "engine/gguf/gguf_file.hpp"
#include "engine/quant/dequant.hpp"
#include "engine/quant/ggml_type.hpp"
#include "vk/transfer.hpp"

namespace ckv {

uint64_t weight_bytes(const ops::WeightView& w) {
  const quant::BlockLayout b = quant::block_layout(w.type);
  return uint64_t(w.k) / b.block_size * b.block_bytes * w.n;
}

ops::WeightView LlamaWeights::place(vk::Context& ctx, const TensorSource& source, const std::string& name, uint32_t k,
                                    uint32_t n) {
  // Kernels read weights as 32-bit words: round the allocation up to a whole word.
  auto buffer = std::make_unique<vk::Buffer>(ctx.device(), (source.bytes + 3) / 4 * 4, vk::MemoryKind::DeviceLocal, name);
  source.write(*buffer, 0);
  bytes_ += source.bytes;
  const ops::WeightView view{buffer.get(), 0, source.type, k, n};
  buffers_.push_back(std::move(buffer));
  return view;
}

void LlamaWeights::place_gate_up(vk::Context& ctx, const TensorMaker& make, const std::string& prefix, uint32_t k,
                                 uint32_t n, LlamaLayerWeights& layer) {
  const TensorSource gate = make(prefix + "ffn_gate.weight", k, n), up = make(prefix + "ffn_up.weight", k, n);
  constexpr uint64_t kUpAlignment = 256;  // any binding offset alignment, and the 16 bytes of wide loads
  const uint64_t up_offset = (gate.bytes + kUpAlignment - 1) / kUpAlignment * kUpAlignment;
  const uint64_t total = (up_offset + up.bytes + 3) / 4 * 4;
  if (gate.type != up.type || gate.bytes != up.bytes || total > ctx.device().info().max_storage_buffer_range) {
    layer.ffn_gate = place(ctx, gate, prefix + "ffn_gate.weight", k, n);
    layer.ffn_up = place(ctx, up, prefix + "ffn_up.weight", k, n);
    return;
  }
  auto buffer = std::make_unique<vk::Buffer>(ctx.device(), total, vk::MemoryKind::DeviceLocal, prefix + "ffn_gate+up");
  gate.write(*buffer, 0);
  up.write(*buffer, up_offset);
  bytes_ += gate.bytes + up.bytes;
  layer.ffn_gate = {buffer.get(), 0, gate.type, k, n};
  layer.ffn_up = {buffer.get(), up_offset, up.type, k, n};
  buffers_.push_back(std::move(buffer));
}

LlamaWeights::TensorSource LlamaWeights::load(vk::Context& ctx, const GgufFile& file, const std::string& name,
                                              uint32_t k, uint32_t n) {
  const GgufTensorInfo* info = file.find_tensor(name);
  if (!info) throw std::runtime_error("model has no tensor '" + name + "'");
  require_supported(*info);
  const uint64_t dim1 = info->dims.size() > 1 ? info->dims[1] : 1;
  if (info->dims.empty() || info->dims[0] != k || dim1 != n || info->dims.size() > 2)
    throw std::runtime_error("tensor '" + name + "' has shape " + info->shape_text() + ", expected [" +
                             std::to_string(k) + (n > 1 ? ", " + std::to_string(n) : std::string()) + "]");
  const std::span<const std::byte> data = file.tensor_data(*info);
  vk::Device& device = ctx.device();
  const GgmlType type = static_cast<GgmlType>(info->type);
  if (quant::device_weight_type(type, k) == GgmlType::Q4_0_X8) {
    return {GgmlType::Q4_0_X8, data.size(), [&device, data](const vk::Buffer& dst, uint64_t offset) {
              // Rearranged on the host a slice at a time (whole super-blocks), each slice uploaded as it is done.
              constexpr uint64_t kSliceBytes = 144ull << 16;
              std::vector<uint8_t> slice;
              for (uint64_t at = 0; at < data.size(); at += kSliceBytes) {
                const uint64_t n = std::min<uint64_t>(kSliceBytes, data.size() - at);
                slice.resize(n);
                quant::repack_q4_0_x8({reinterpret_cast<const uint8_t*>(data.data()) + at, n}, slice);
                vk::upload_bytes(device, dst, slice.data(), n, offset + at);
              }
            }};
  }
  return {type, data.size(), [&device, data](const vk::Buffer& dst, uint64_t offset) {
            vk::upload_bytes(device, dst, data.data(), data.size(), offset);
          }};
}

void LlamaWeights::make_all(vk::Context& ctx, const LlamaConfig& c, const TensorMaker& make) {
  const uint32_t q_width = c.n_heads * c.head_dim, kv_width = c.n_kv_heads * c.head_dim;
  const auto single = [&](const std::string& name, uint32_t k, uint32_t n) {
    return place(ctx, make(name, k, n), name, k, n);
  };
  token_embedding = single("token_embd.weight", c.n_embd, c.vocab_size);
  output_norm = single("output_norm.weight", c.n_embd, 1);
  output = tied_output ? token_embedding : single("output.weight", c.n_embd, c.vocab_size);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LlamaLayerWeights w;
    w.attn_norm = single(p + "attn_norm.weight", c.n_embd, 1);
    w.attn_q = single(p + "attn_q.weight", c.n_embd, q_width);
    w.attn_k = single(p + "attn_k.weight", c.n_embd, kv_width);
    w.attn_v = single(p + "attn_v.weight", c.n_embd, kv_width);
    w.attn_output = single(p + "attn_output.weight", q_width, c.n_embd);
    w.ffn_norm = single(p + "ffn_norm.weight", c.n_embd, 1);
    place_gate_up(ctx, make, p, c.n_embd, c.n_ff, w);
    w.ffn_down = single(p + "ffn_down.weight", c.n_ff, c.n_embd);
    layers.push_back(w);
  }
}

LlamaWeights::LlamaWeights(vk::Context& ctx, const GgufFile& file, const LlamaConfig& c) {
  tied_output = file.find_tensor("output.weight") == nullptr;
  make_all(ctx, c, [&](const std::string& name, uint32_t k, uint32_t n) { return load(ctx, file, name, k, n); });
  for (const ops::WeightView* norm : {&output_norm}) {
    if (norm->type != GgmlType::F32) throw std::runtime_error("output_norm.weight must be F32");
  }
  for (uint32_t l = 0; l < c.n_layers; ++l)
    if (layers[l].attn_norm.type != GgmlType::F32 || layers[l].ffn_norm.type != GgmlType::F32)
      throw std::runtime_error("norm weights of layer " + std::to_string(l) + " must be F32");
}

uint64_t LlamaWeights::decode_bytes() const {
  uint64_t bytes = weight_bytes(output_norm) + weight_bytes(output);
  for (const LlamaLayerWeights& w : layers)
    for (const ops::WeightView* t : {&w.attn_norm, &w.attn_q, &w.attn_k, &w.attn_v, &w.attn_output, &w.ffn_norm,
                                     &w.ffn_gate, &w.ffn_up, &w.ffn_down})
      bytes += weight_bytes(*t);
  return bytes;
}

}  // namespace ckv
