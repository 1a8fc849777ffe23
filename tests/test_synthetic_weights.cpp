// Synthetic Llama weights: the presets' shapes, value statistics of the generated F16 and Q4_0 matrices
// (dequantized on the CPU), norms of exactly 1, byte counts, and determinism under the seed.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <span>

#include "engine/gguf/gguf_writer.hpp"
#include "engine/model/llama_weights.hpp"
#include "engine/model/synthetic_weights.hpp"
#include "engine/quant/dequant.hpp"
#include "gpu_env.hpp"
#include "matmul_helpers.hpp"

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
    return vk::download<uint8_t>(device(), *w.buffer, weight_bytes(w), w.offset);
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
      EXPECT_EQ(m->type, quant::device_weight_type(type, m->k));  // Q4_0 rows of 256 k: Q4_0_X8
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
    const quant::BlockLayout b = quant::block_layout(type);  // Q4_0_X8 has Q4_0's bytes
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

// A GGUF model's Q4_0 matrices with rows of 256-element multiples reach the GPU as Q4_0_X8 (same values, same
// bytes rearranged); rows of other lengths (ffn_down at k = 288 here) stay Q4_0.
TEST_F(SyntheticWeights, GgufQ4_0RowsOfWholeSuperBlocksAreRepackedOnUpload) {
  LlamaConfig c = synthetic_config("tiny");
  c.n_ff = 288;
  GgufWriter writer;
  std::map<std::string, std::vector<uint8_t>> file_bytes;
  uint32_t seed = 1;
  const auto matrix = [&](const std::string& name, uint32_t k, uint32_t n) {
    std::vector<uint8_t> b = random_weight_bytes(GgmlType::Q4_0, k, n, seed++);
    writer.add_tensor(name, {k, n}, GgmlType::Q4_0, std::as_bytes(std::span<const uint8_t>(b)));
    file_bytes[name] = std::move(b);
  };
  const std::vector<float> ones(c.n_embd, 1.0f);
  matrix("token_embd.weight", c.n_embd, c.vocab_size);
  matrix("output.weight", c.n_embd, c.vocab_size);
  writer.add_f32_tensor("output_norm.weight", {c.n_embd}, ones);
  const uint32_t kv_width = c.n_kv_heads * c.head_dim;
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    writer.add_f32_tensor(p + "attn_norm.weight", {c.n_embd}, ones);
    writer.add_f32_tensor(p + "ffn_norm.weight", {c.n_embd}, ones);
    matrix(p + "attn_q.weight", c.n_embd, c.n_embd);
    matrix(p + "attn_k.weight", c.n_embd, kv_width);
    matrix(p + "attn_v.weight", c.n_embd, kv_width);
    matrix(p + "attn_output.weight", c.n_embd, c.n_embd);
    matrix(p + "ffn_gate.weight", c.n_embd, c.n_ff);
    matrix(p + "ffn_up.weight", c.n_embd, c.n_ff);
    matrix(p + "ffn_down.weight", c.n_ff, c.n_embd);
  }
  const std::vector<std::byte> image = writer.to_bytes();
  const GgufFile file = GgufFile::parse_memory(image, "tiny q4_0");
  const LlamaWeights w(ctx(), file, c);
  const auto expect = [&](const ops::WeightView& view, const std::string& name, GgmlType type) {
    SCOPED_TRACE(name);
    EXPECT_EQ(view.type, type);
    const std::vector<uint8_t>& src = file_bytes.at(name);
    std::vector<uint8_t> want = src;
    if (type == GgmlType::Q4_0_X8) quant::repack_q4_0_x8(src, want);
    EXPECT_EQ(bytes_of(view), want);
    EXPECT_EQ(values_of(view), quant::dequantize(GgmlType::Q4_0, src, size_t(view.k) * view.n));
  };
  expect(w.token_embedding, "token_embd.weight", GgmlType::Q4_0_X8);
  expect(w.output, "output.weight", GgmlType::Q4_0_X8);
  expect(w.layers[1].attn_k, "blk.1.attn_k.weight", GgmlType::Q4_0_X8);
  expect(w.layers[0].ffn_up, "blk.0.ffn_up.weight", GgmlType::Q4_0_X8);
  expect(w.layers[1].ffn_down, "blk.1.ffn_down.weight", GgmlType::Q4_0);
}

}  // namespace
}  // namespace ckv::test
