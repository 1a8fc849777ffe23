#include "engine/model/llama2c_to_gguf.hpp"

#include <span>
#include <stdexcept>

#include "engine/model/gguf_tokenizer.hpp"

namespace ckv {

namespace {

// llama.cpp's general.file_type: all F32 or mostly F16.
constexpr uint32_t kFileTypeAllF32 = 0, kFileTypeMostlyF16 = 1;

}  // namespace

GgufWriter llama2c_to_gguf(const Llama2cCheckpoint& ck, const TokenizerData& tokenizer,
                           const Llama2cConvertOptions& options) {
  const Llama2cConfig& c = ck.config;
  if (options.weight_type != GgmlType::F32 && options.weight_type != GgmlType::F16)
    throw std::invalid_argument("llama2.c conversion writes F32 or F16 weights, not " +
                                std::string(ggml_type_name(options.weight_type)));
  if (tokenizer.tokens.size() != c.vocab_size)
    throw std::invalid_argument("the tokenizer has " + std::to_string(tokenizer.tokens.size()) +
                                " tokens, the model's vocabulary " + std::to_string(c.vocab_size));

  GgufWriter w;
  const std::string a = "llama.";
  w.add_string("general.architecture", "llama");
  if (!options.name.empty()) w.add_string("general.name", options.name);
  w.add_u32("general.file_type", options.weight_type == GgmlType::F16 ? kFileTypeMostlyF16 : kFileTypeAllF32);
  w.add_u32(a + "context_length", c.seq_len);
  w.add_u32(a + "embedding_length", c.dim);
  w.add_u32(a + "block_count", c.n_layers);
  w.add_u32(a + "feed_forward_length", c.hidden_dim);
  w.add_u32(a + "attention.head_count", c.n_heads);
  w.add_u32(a + "attention.head_count_kv", c.n_kv_heads);
  w.add_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_f32(a + "rope.freq_base", 10000.0f);
  w.add_u32(a + "rope.dimension_count", c.head_size());
  w.add_u32(a + "vocab_size", c.vocab_size);
  add_tokenizer_to_gguf(w, tokenizer);

  // Matrix `rows` x `cols` (row-major, rows = output features) of layer l inside a stacked tensor.
  const auto matrix = [&](const std::string& name, const std::vector<float>& all, uint32_t l, uint64_t rows,
                          uint64_t cols) {
    const std::span<const float> m = std::span<const float>(all).subspan(l * rows * cols, rows * cols);
    if (options.weight_type == GgmlType::F16) w.add_f16_tensor(name, {cols, rows}, m);
    else w.add_f32_tensor(name, {cols, rows}, m);
  };
  const auto norm = [&](const std::string& name, const std::vector<float>& all, uint32_t l) {
    w.add_f32_tensor(name, {c.dim}, std::span<const float>(all).subspan(uint64_t(l) * c.dim, c.dim));
  };

  const uint64_t hs = c.head_size(), q_width = c.n_heads * hs, kv_width = c.n_kv_heads * hs;
  matrix("token_embd.weight", ck.token_embedding, 0, c.vocab_size, c.dim);
  norm("output_norm.weight", ck.rms_final, 0);
  if (!c.shared_classifier) matrix("output.weight", ck.wcls, 0, c.vocab_size, c.dim);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm.weight", ck.rms_att, l);
    matrix(p + "attn_q.weight", ck.wq, l, q_width, c.dim);
    matrix(p + "attn_k.weight", ck.wk, l, kv_width, c.dim);
    matrix(p + "attn_v.weight", ck.wv, l, kv_width, c.dim);
    matrix(p + "attn_output.weight", ck.wo, l, c.dim, q_width);
    norm(p + "ffn_norm.weight", ck.rms_ffn, l);
    matrix(p + "ffn_gate.weight", ck.w1, l, c.hidden_dim, c.dim);
    matrix(p + "ffn_down.weight", ck.w2, l, c.dim, c.hidden_dim);
    matrix(p + "ffn_up.weight", ck.w3, l, c.hidden_dim, c.dim);
  }
  return w;
}

void convert_llama2c(const std::filesystem::path& checkpoint, const std::filesystem::path& tokenizer,
                     const std::filesystem::path& output, Llama2cConvertOptions options) {
  const Llama2cCheckpoint ck = Llama2cCheckpoint::read(checkpoint);
  const TokenizerData tok = load_llama2c_tokenizer(tokenizer, int32_t(ck.config.vocab_size));
  if (options.name.empty()) options.name = checkpoint.stem().string();
  llama2c_to_gguf(ck, tok, options).write(output);
}

}  // namespace ckv
