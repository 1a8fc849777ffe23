#include "reference_forward.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "engine/gguf/gguf_file.hpp"
#include "engine/quant/dequant.hpp"

namespace ckv::test {

namespace {

// x: [tokens, cols] → out: [tokens, rows], out = x · wᵀ (a Llama linear layer without bias).
template <class M>
void linear(const M& w, const std::vector<double>& x, size_t tokens, std::vector<double>& out) {
  out.assign(tokens * w.rows, 0.0);
  for (uint32_t r = 0; r < w.rows; ++r) {
    const float* row = &w.values[size_t(r) * w.cols];
    for (size_t t = 0; t < tokens; ++t) {
      const double* xt = &x[t * w.cols];
      double sum = 0;
      for (uint32_t c = 0; c < w.cols; ++c) sum += double(row[c]) * xt[c];
      out[t * w.rows + r] = sum;
    }
  }
}

// Row-wise RMSNorm of x: [tokens, n] with weight [n].
template <class M>
void rms_norm(const std::vector<double>& x, const M& weight, size_t tokens, double eps, std::vector<double>& out) {
  const size_t n = weight.values.size();
  out.resize(tokens * n);
  for (size_t t = 0; t < tokens; ++t) {
    double squares = 0;
    for (size_t i = 0; i < n; ++i) squares += x[t * n + i] * x[t * n + i];
    const double inv_rms = 1.0 / std::sqrt(squares / double(n) + eps);
    for (size_t i = 0; i < n; ++i) out[t * n + i] = x[t * n + i] * inv_rms * double(weight.values[i]);
  }
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

}  // namespace

size_t argmax(std::span<const double> values) {
  return size_t(std::max_element(values.begin(), values.end()) - values.begin());
}

ReferenceLlama::ReferenceLlama(const std::filesystem::path& gguf_path) {
  const GgufFile file = GgufFile::open(gguf_path);
  config_ = LlamaConfig::from_gguf(file);
  const LlamaConfig& c = config_;

  // GGUF shape [cols, rows]: rows of `cols` contiguous elements.
  auto load = [&](const std::string& name, uint32_t cols, uint32_t rows) {
    const GgufTensorInfo* info = file.find_tensor(name);
    if (!info) throw std::runtime_error("model has no tensor '" + name + "'");
    const uint64_t dim1 = info->dims.size() > 1 ? info->dims[1] : 1;
    if (info->dims.empty() || info->dims[0] != cols || dim1 != rows || info->dims.size() > 2)
      throw std::runtime_error("tensor '" + name + "' has shape " + info->shape_text());
    const std::span<const std::byte> bytes = file.tensor_data(*info);
    Matrix m;
    m.rows = rows;
    m.cols = cols;
    m.values = quant::dequantize(info->type,
                                 std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                                 uint64_t(rows) * cols);
    return m;
  };

  const uint32_t q_width = c.n_heads * c.head_dim, kv_width = c.n_kv_heads * c.head_dim;
  token_embedding_ = load("token_embd.weight", c.n_embd, c.vocab_size);
  output_norm_ = load("output_norm.weight", c.n_embd, 1);
  tied_output_ = file.find_tensor("output.weight") == nullptr;
  if (!tied_output_) output_ = load("output.weight", c.n_embd, c.vocab_size);
  layers_.resize(c.n_layers);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Layer& w = layers_[l];
    w.attn_norm = load(p + "attn_norm.weight", c.n_embd, 1);
    w.attn_q = load(p + "attn_q.weight", c.n_embd, q_width);
    w.attn_k = load(p + "attn_k.weight", c.n_embd, kv_width);
    w.attn_v = load(p + "attn_v.weight", c.n_embd, kv_width);
    w.attn_output = load(p + "attn_output.weight", q_width, c.n_embd);
    w.ffn_norm = load(p + "ffn_norm.weight", c.n_embd, 1);
    w.ffn_gate = load(p + "ffn_gate.weight", c.n_embd, c.n_ff);
    w.ffn_up = load(p + "ffn_up.weight", c.n_embd, c.n_ff);
    w.ffn_down = load(p + "ffn_down.weight", c.n_ff, c.n_embd);
  }
}

// RoPE on x: [tokens, heads, head_dim], token t at position length_ + t. The first rope_dim dims of each head turn
// in pairs: (2i, 2i+1) for GGUF "llama" (its converter permutes Q/K rows into that order), (i, i + rope_dim/2) for
// NeoX; pair i turns by position · freq_scale · base^(−2i/rope_dim).
void ReferenceLlama::rotate(std::vector<double>& x, size_t tokens, uint32_t heads) const {
  const LlamaConfig& c = config_;
  const uint32_t half = c.rope_dim / 2;
  for (size_t t = 0; t < tokens; ++t) {
    const double position = double(length_ + t);
    for (uint32_t h = 0; h < heads; ++h) {
      double* head = &x[(t * heads + h) * c.head_dim];
      for (uint32_t i = 0; i < half; ++i) {
        const double angle =
            position * double(c.rope_freq_scale) * std::pow(double(c.rope_freq_base), -2.0 * i / double(c.rope_dim));
        const uint32_t a = c.rope_style == RopeStyle::Neox ? i : 2 * i;
        const uint32_t b = c.rope_style == RopeStyle::Neox ? i + half : 2 * i + 1;
        const double x0 = head[a], x1 = head[b];
        head[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
        head[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
      }
    }
  }
}

// Causal grouped-query attention of the new tokens' queries q: [tokens, n_heads, head_dim] over every cached key
// up to and including their own position; query head h reads kv head h / (n_heads / n_kv_heads).
void ReferenceLlama::attention(const Layer& layer, const std::vector<double>& q, size_t tokens,
                               std::vector<double>& out) const {
  const LlamaConfig& c = config_;
  const uint32_t d = c.head_dim, group = c.n_heads / c.n_kv_heads, kv_width = c.n_kv_heads * d;
  const double scale = 1.0 / std::sqrt(double(d));
  out.assign(tokens * c.n_heads * d, 0.0);
  std::vector<double> weights;
  for (size_t t = 0; t < tokens; ++t) {
    const size_t visible = length_ + t + 1;
    weights.resize(visible);
    for (uint32_t h = 0; h < c.n_heads; ++h) {
      const double* qh = &q[(t * c.n_heads + h) * d];
      const size_t kv_offset = size_t(h / group) * d;
      double max_score = -std::numeric_limits<double>::infinity();
      for (size_t j = 0; j < visible; ++j) {
        const double* k = &layer.k_cache[j * kv_width + kv_offset];
        double dot = 0;
        for (uint32_t i = 0; i < d; ++i) dot += qh[i] * k[i];
        weights[j] = dot * scale;
        max_score = std::max(max_score, weights[j]);
      }
      double sum = 0;
      for (double& w : weights) sum += (w = std::exp(w - max_score));
      double* o = &out[(t * c.n_heads + h) * d];
      for (size_t j = 0; j < visible; ++j) {
        const double* v = &layer.v_cache[j * kv_width + kv_offset];
        for (uint32_t i = 0; i < d; ++i) o[i] += weights[j] / sum * v[i];
      }
    }
  }
}

std::vector<double> ReferenceLlama::append(std::span<const int32_t> tokens) {
  const LlamaConfig& c = config_;
  const size_t n = tokens.size();
  if (n == 0) throw std::invalid_argument("no tokens to run");
  if (length_ + n > c.context_length) throw std::invalid_argument("the reference's context is full");
  const uint32_t kv_width = c.n_kv_heads * c.head_dim;

  // Residual stream x: [n, n_embd], starting from the token embeddings.
  std::vector<double> x(n * c.n_embd);
  for (size_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || uint32_t(tokens[t]) >= c.vocab_size)
      throw std::invalid_argument("token id " + std::to_string(tokens[t]) + " out of range");
    const float* row = &token_embedding_.values[size_t(tokens[t]) * c.n_embd];
    std::copy(row, row + c.n_embd, &x[t * c.n_embd]);
  }

  std::vector<double> xn, q, k, v, attn, projected, gate, up, down;
  for (Layer& layer : layers_) {
    rms_norm(x, layer.attn_norm, n, c.norm_eps, xn);
    linear(layer.attn_q, xn, n, q);
    linear(layer.attn_k, xn, n, k);
    linear(layer.attn_v, xn, n, v);
    rotate(q, n, c.n_heads);
    rotate(k, n, c.n_kv_heads);
    layer.k_cache.resize((length_ + n) * kv_width);
    layer.v_cache.resize((length_ + n) * kv_width);
    std::copy(k.begin(), k.end(), layer.k_cache.begin() + ptrdiff_t(length_ * kv_width));
    std::copy(v.begin(), v.end(), layer.v_cache.begin() + ptrdiff_t(length_ * kv_width));
    attention(layer, q, n, attn);
    linear(layer.attn_output, attn, n, projected);
    for (size_t i = 0; i < x.size(); ++i) x[i] += projected[i];

    rms_norm(x, layer.ffn_norm, n, c.norm_eps, xn);
    linear(layer.ffn_gate, xn, n, gate);
    linear(layer.ffn_up, xn, n, up);
    for (size_t i = 0; i < gate.size(); ++i) gate[i] = silu(gate[i]) * up[i];
    linear(layer.ffn_down, gate, n, down);
    for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
  }
  length_ += n;

  const std::vector<double> last(x.end() - c.n_embd, x.end());
  rms_norm(last, output_norm_, 1, c.norm_eps, xn);
  std::vector<double> logits;
  linear(tied_output_ ? token_embedding_ : output_, xn, 1, logits);
  return logits;
}

std::vector<int32_t> ReferenceLlama::greedy(std::span<const int32_t> prompt, int count,
                                            std::vector<std::vector<double>>* logits) {
  reset();
  if (logits) logits->clear();
  std::vector<int32_t> out;
  std::vector<double> step = append(prompt);
  for (int i = 0; i < count; ++i) {
    if (logits) logits->push_back(step);
    out.push_back(int32_t(argmax(step)));
    if (i + 1 < count) step = append(std::span<const int32_t>(&out.back(), 1));
  }
  return out;
}

}  // namespace ckv::test
