// Synthetic Llama weights: the presets' shapes, value statistics of the generated F16 and Q4_0 matrices
// (dequantized on the CPU), norms of exactly 1, byte counts, and determinism under the seed.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/model/llama_weights.hpp"
#include "engine/model/synthetic_weights.hpp"
#include "engine/quant/dequant.hpp"
#include "gpu_env.hpp"

namespace ckv::test {
namespace {

TEST(SyntheticConfig, PresetsHaveTheModelShapes) {
  const LlamaConfig big = synthetic_config("llama-3.1-8b");
  EXPECT_EQ(big.n_layers, 32u);
  EXPECT_EQ(big.n_embd, 4096u);
  EXPECT_EQ(big.n_heads, 32u);
  EXPECT_EQ(big.n_kv_heads, 8u);
  EXPECT_EQ(big.head_dim, 128u);
  EXPECT_EQ(big.rope_dim, 128u);
  EXPECT_EQ(big.n_ff, 14336u);
  EXPECT_EQ(big.vocab_size, 128256u);
  EXPECT_EQ(big.context_length, 131072u);
  EXPECT_FLOAT_EQ(big.rope_freq_base, 500000.0f);
  const LlamaConfig tiny = synthetic_config("tiny");
  EXPECT_EQ(tiny.n_layers, 2u);
  EXPECT_EQ(tiny.n_heads * tiny.head_dim, tiny.n_embd);
  EXPECT_EQ(tiny.n_heads % tiny.n_kv_heads, 0u);
}

TEST(SyntheticConfig, UnknownNamesAreClearErrors) {
  try {
    synthetic_config("llama-9");
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown synthetic model 'llama-9' (known: llama-3.1-8b, tiny)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(parse_synthetic_weight_type("F16"), GgmlType::F16);
  EXPECT_EQ(parse_synthetic_weight_type("q4_0"), GgmlType::Q4_0);
  EXPECT_THROW(parse_synthetic_weight_type("q8_0"), std::invalid_argument);
}

class SyntheticWeights : public GpuTest {
 protected:
  std::vector<uint8_t> bytes_of(const ops::WeightView& w) {
    return vk::download<uint8_t>(device(), *w.buffer, weight_bytes(w));
  }
  std::vector<float> values_of(const ops::WeightView& w) {
    return quant::dequantize(w.type, bytes_of(w), size_t(w.k) * w.n);
  }
};

struct Moments {
  double mean = 0, std = 0;
};

Moments moments(const std::vector<float>& v) {
  double sum = 0, sq = 0;
  for (float x : v) {
    sum += x;
    sq += double(x) * x;
  }
  const double mean = sum / double(v.size());
  return {mean, std::sqrt(sq / double(v.size()) - mean * mean)};
}

TEST_F(SyntheticWeights, MatricesHaveStdOneOverSqrtKAndNormsAreOne) {
  const LlamaConfig c = synthetic_config("tiny");
  for (GgmlType type : {GgmlType::F16, GgmlType::Q4_0}) {
    SCOPED_TRACE(quant::type_name(type));
    const LlamaWeights w(ctx(), c, SyntheticWeightOptions{type, 7});
    EXPECT_FALSE(w.tied_output);
    ASSERT_EQ(w.layers.size(), c.n_layers);
    for (const ops::WeightView* m : {&w.layers[0].attn_q, &w.layers[1].ffn_down, &w.output, &w.token_embedding}) {
      EXPECT_EQ(m->type, type);
      const Moments mo = moments(values_of(*m));
      const double want = 1.0 / std::sqrt(double(m->k));
      EXPECT_NEAR(mo.std, want, 0.05 * want) << "k " << m->k << " n " << m->n;
      EXPECT_LT(std::abs(mo.mean), 0.05 * want) << "k " << m->k << " n " << m->n;
    }
    for (const ops::WeightView* norm : {&w.output_norm, &w.layers[0].attn_norm, &w.layers[1].ffn_norm}) {
      EXPECT_EQ(norm->type, GgmlType::F32);
      EXPECT_EQ(values_of(*norm), std::vector<float>(c.n_embd, 1.0f));
    }
    // Byte counts: the embedding and output [n_embd, vocab], per layer q, o [n_embd, n_embd], k, v
    // [n_embd, kv_width], gate, up [n_embd, ffn], down [ffn, n_embd], norms f32.
    const quant::BlockLayout b = quant::block_layout(type);
    auto matrix = [&](uint64_t k, uint64_t n) { return k / b.block_size * b.block_bytes * n; };
    const uint64_t kv_width = c.n_kv_heads * c.head_dim;
    const uint64_t layer = matrix(c.n_embd, c.n_embd) * 2 + matrix(c.n_embd, kv_width) * 2 +
                           matrix(c.n_embd, c.n_ff) * 2 + matrix(c.n_ff, c.n_embd) + 2 * 4ull * c.n_embd;
    const uint64_t output = matrix(c.n_embd, c.vocab_size) + 4ull * c.n_embd;
    EXPECT_EQ(w.decode_bytes(), c.n_layers * layer + output);
    EXPECT_EQ(w.bytes(), w.decode_bytes() + matrix(c.n_embd, c.vocab_size));
  }
}

TEST_F(SyntheticWeights, SameSeedSameWeightsAndTensorsDiffer) {
  LlamaConfig c = synthetic_config("tiny");
  const LlamaWeights a(ctx(), c, SyntheticWeightOptions{GgmlType::Q4_0, 3});
  const LlamaWeights b(ctx(), c, SyntheticWeightOptions{GgmlType::Q4_0, 3});
  const LlamaWeights other(ctx(), c, SyntheticWeightOptions{GgmlType::Q4_0, 4});
  EXPECT_EQ(bytes_of(a.layers[1].ffn_up), bytes_of(b.layers[1].ffn_up));
  EXPECT_EQ(bytes_of(a.token_embedding), bytes_of(b.token_embedding));
  EXPECT_NE(bytes_of(a.layers[1].ffn_up), bytes_of(other.layers[1].ffn_up));
  EXPECT_NE(bytes_of(a.layers[0].ffn_up), bytes_of(a.layers[1].ffn_up));
  EXPECT_NE(bytes_of(a.layers[0].attn_q), bytes_of(a.layers[0].attn_output));
}

}  // namespace
}  // namespace ckv::test
