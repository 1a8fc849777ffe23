#include "llama_config.hpp"

#include <sstream>
#include <stdexcept>

#include "engine/gguf/gguf_file.hpp"

namespace ckv {

LlamaConfig LlamaConfig::from_gguf(const GgufFile& file) {
  LlamaConfig c;
  c.architecture = file.get_string("general.architecture");
  if (c.architecture != "llama")
    throw std::runtime_error("model architecture '" + c.architecture + "' is not supported (supported: llama)");
  const std::string a = c.architecture + ".";
  if (const auto name = file.find_string("general.name")) c.name = *name;
  c.n_layers = file.get_u32(a + "block_count");
  c.n_embd = file.get_u32(a + "embedding_length");
  c.n_ff = file.get_u32(a + "feed_forward_length");
  c.n_heads = file.get_u32(a + "attention.head_count");
  c.n_kv_heads = file.find_u32(a + "attention.head_count_kv").value_or(c.n_heads);
  c.context_length = file.get_u32(a + "context_length");
  if (c.n_heads == 0 || c.n_kv_heads == 0 || c.n_heads % c.n_kv_heads)
    throw std::runtime_error("attention.head_count (" + std::to_string(c.n_heads) +
                             ") must be a positive multiple of head_count_kv (" + std::to_string(c.n_kv_heads) + ")");
  c.head_dim = file.find_u32(a + "attention.key_length").value_or(c.n_embd / c.n_heads);
  c.rope_dim = file.find_u32(a + "rope.dimension_count").value_or(c.head_dim);
  if (const auto base = file.find_f32(a + "rope.freq_base")) c.rope_freq_base = *base;
  if (const auto eps = file.find_f32(a + "attention.layer_norm_rms_epsilon")) c.norm_eps = *eps;
  if (const auto type = file.find_string(a + "rope.scaling.type")) {
    if (*type == "linear") {
      c.rope_freq_scale = 1.0f / file.get_f32(a + "rope.scaling.factor");
    } else if (*type != "none") {
      throw std::runtime_error("rope scaling '" + *type + "' is not supported (supported: none, linear)");
    }
  }
  if (const auto vocab = file.find_u32(a + "vocab_size")) {
    c.vocab_size = *vocab;
  } else {
    c.vocab_size = uint32_t(file.get_string_array("tokenizer.ggml.tokens").size());
  }
  if (c.head_dim == 0 || c.head_dim % 2 || c.rope_dim > c.head_dim || c.rope_dim % 2)
    throw std::runtime_error("head dim " + std::to_string(c.head_dim) + " / rope dim " + std::to_string(c.rope_dim) +
                             " are not usable (even, rope dim <= head dim)");
  if (c.n_layers == 0 || c.n_embd == 0 || c.n_ff == 0 || c.vocab_size == 0 || c.context_length == 0)
    throw std::runtime_error("model metadata has a zero size (layers, embedding, feed-forward, vocabulary or context)");
  return c;
}

std::string LlamaConfig::summary() const {
  std::ostringstream s;
  s << architecture << (name.empty() ? "" : " '" + name + "'") << ": " << n_layers << " layers, hidden " << n_embd
    << ", ffn " << n_ff << ", " << n_heads << " q / " << n_kv_heads << " kv heads of " << head_dim << ", vocab "
    << vocab_size << ", context " << context_length << ", rope base " << rope_freq_base;
  return s.str();
}

}  // namespace ckv
