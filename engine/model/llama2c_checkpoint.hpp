// A llama2.c model checkpoint (karpathy/llama2.c run.c, the legacy "version 0" export), read whole into memory.
//
// File format (little-endian, no magic, no padding):
//   header: 7 x int32  dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//           vocab_size < 0 means a separate classifier (wcls) follows the other tensors; > 0 means the classifier
//           is the token embedding table.
//   then float32 tensors, one after another, each row-major [out features][in features], layers outermost:
//     token_embedding [vocab][dim], rms_att [layers][dim], wq [layers][n_heads*hs][dim],
//     wk [layers][n_kv*hs][dim], wv [layers][n_kv*hs][dim], wo [layers][dim][n_heads*hs], rms_ffn [layers][dim],
//     w1 [layers][hidden][dim], w2 [layers][dim][hidden], w3 [layers][hidden][dim], rms_final [dim],
//     freq_cis_real [seq_len][hs/2], freq_cis_imag [seq_len][hs/2] (legacy RoPE tables, skipped),
//     wcls [vocab][dim] (only when vocab_size < 0)
//   with hs = dim / n_heads. The file must end right after the last tensor.
// The model: RMSNorm (eps 1e-5), RoPE on adjacent pairs (2i, 2i+1) with base 10000, grouped-query attention,
// SwiGLU w2 · (silu(w1 x) * (w3 x)).
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace ckv {

struct Llama2cConfig {
  uint32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;  // no wcls: the classifier is the token embedding
  uint32_t head_size() const { return dim / n_heads; }
};

struct Llama2cCheckpoint {
  Llama2cConfig config;
  // Per-layer tensors hold all layers back to back (layer l starts at l * the per-layer size).
  std::vector<float> token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final;
  std::vector<float> wcls;  // empty when config.shared_classifier

  // Throws std::runtime_error("<path>: <problem>") when the file is missing, the header is not a usable model, or
  // the size differs from what the header implies (e.g. a truncated download).
  static Llama2cCheckpoint read(const std::filesystem::path& path);
};

}  // namespace ckv
