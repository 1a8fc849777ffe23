// LlamaSession's decode attention capture on the default model: every layer's probs, queries and outputs from the
// GPU decode step against a double-precision reference computed from the captured queries and the session's KV
// cache (softmax(q·K / sqrt(d)) and probs·V = output), for FullKV and for a compressed cache with different
// lengths per layer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/gguf/gguf_file.hpp"
#include "engine/half.hpp"
#include "engine/model/gguf_tokenizer.hpp"
#include "engine/model/llama_session.hpp"
#include "engine/tokenizer/tokenizer.hpp"
#include "gpu_env.hpp"
#include "paths.hpp"

namespace ckv::test {
namespace {

class DecodeCapture : public GpuTest {
 protected:
  static void SetUpTestSuite() {
    const auto path = source_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf";
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: run tools/fetch-model.sh";
    const GgufFile file = GgufFile::open(path);
    config_ = LlamaConfig::from_gguf(file);
    tokenizer_ = new Tokenizer(tokenizer_data_from_gguf(file));
    weights_ = new LlamaWeights(gpu(), file, config_);
  }
  static void TearDownTestSuite() {
    delete weights_;
    delete tokenizer_;
    weights_ = nullptr;
    tokenizer_ = nullptr;
  }

  // Checks one decode step's capture against the session's cache; returns the largest probability error.
  double check_capture(const LlamaSession& session) {
    const DecodeAttentionCapture& cap = session.decode_attention();
    const LlamaConfig& c = config_;
    EXPECT_EQ(cap.n_layers, c.n_layers);
    EXPECT_EQ(cap.n_heads, c.n_heads);
    const uint32_t d = c.head_dim, group = c.n_heads / c.n_kv_heads;
    double worst = 0;
    for (uint32_t l = 0; l < c.n_layers; ++l) {
      const LayerKv& layer = session.kv_cache().layer(l);
      EXPECT_EQ(cap.keys[l], layer.length) << "layer " << l;
      const auto k = read<uint16_t>(*layer.k, size_t(c.n_kv_heads) * layer.capacity * d);
      const auto v = read<uint16_t>(*layer.v, size_t(c.n_kv_heads) * layer.capacity * d);
      for (uint32_t h = 0; h < c.n_heads; ++h) {
        const size_t kv_base = size_t(h / group) * layer.capacity * d;
        const float* q = cap.queries.data() + (size_t(l) * c.n_heads + h) * d;
        std::vector<double> ref(cap.keys[l]);
        double max_logit = -1e300, sum = 0;
        for (uint32_t j = 0; j < cap.keys[l]; ++j) {
          double dot = 0;
          for (uint32_t i = 0; i < d; ++i) dot += double(q[i]) * half_to_float(k[kv_base + size_t(j) * d + i]);
          ref[j] = dot / std::sqrt(double(d));
          max_logit = std::max(max_logit, ref[j]);
        }
        for (double& r : ref) sum += (r = std::exp(r - max_logit));
        const auto probs = cap.head_probs(l, h);
        double prob_sum = 0;
        for (uint32_t j = 0; j < cap.keys[l]; ++j) {
          prob_sum += probs[j];
          worst = std::max(worst, std::abs(probs[j] - ref[j] / sum));
        }
        EXPECT_NEAR(prob_sum, 1.0, 1e-4) << "layer " << l << " head " << h;
        const float* out = cap.outputs.data() + (size_t(l) * c.n_heads + h) * d;
        for (uint32_t i = 0; i < d; ++i) {
          double pv = 0;
          for (uint32_t j = 0; j < cap.keys[l]; ++j)
            pv += double(probs[j]) * half_to_float(v[kv_base + size_t(j) * d + i]);
          EXPECT_NEAR(out[i], pv, 2e-3 * (1 + std::abs(pv))) << "layer " << l << " head " << h << " dim " << i;
        }
      }
    }
    return worst;
  }

  std::vector<int32_t> prompt(const std::string& text) {
    return tokenizer_->encode(text, tokenizer_->data().add_bos, false);
  }

  static LlamaConfig config_;
  static Tokenizer* tokenizer_;
  static LlamaWeights* weights_;
};

LlamaConfig DecodeCapture::config_;
Tokenizer* DecodeCapture::tokenizer_ = nullptr;
LlamaWeights* DecodeCapture::weights_ = nullptr;

TEST_F(DecodeCapture, FullKvProbsMatchADoubleReferenceAndGiveTheOutputs) {
  SessionOptions options;
  options.compression.policy = KvPolicy::FullKV;
  options.capture_decode_attention = true;
  options.context = 128;
  LlamaSession session(ctx(), config_, *weights_, options);
  EXPECT_THROW(session.decode_attention(), std::logic_error);  // nothing decoded yet
  int32_t token = session.prefill(prompt("The river bends around the old mill and runs to the sea."), {});
  for (int step = 0; step < 2; ++step) {
    token = session.decode(token, {});
    EXPECT_LT(check_capture(session), 2e-4) << "step " << step;
  }
}

TEST_F(DecodeCapture, CompressedLayersOfDifferentLengthsAndCaptureOff) {
  SessionOptions options;
  options.compression.policy = KvPolicy::PyramidKV;
  options.kv_budget = 24;  // window 8: layers keep 40 down to 11 tokens of a prompt of at least 40
  options.capture_decode_attention = true;
  options.context = 128;
  LlamaSession session(ctx(), config_, *weights_, options);
  const auto tokens = prompt(
      "Bread needs flour, water, salt and yeast. A slow rise in a cool room gives the loaf more flavour than a "
      "quick rise in a warm one, and bakers often say that time is the most important ingredient of all.");
  ASSERT_GE(tokens.size(), 41u);
  session.decode(session.prefill(tokens, {}), {});
  const auto& cap = session.decode_attention();
  EXPECT_GT(*std::max_element(cap.keys.begin(), cap.keys.end()), *std::min_element(cap.keys.begin(), cap.keys.end()));
  EXPECT_LT(check_capture(session), 2e-4);

  SessionOptions plain;  // capture off: asking for it is an error
  plain.compression.policy = KvPolicy::FullKV;
  plain.context = 64;
  LlamaSession off(ctx(), config_, *weights_, plain);
  EXPECT_THROW(off.decode_attention(), std::logic_error);
}

}  // namespace
}  // namespace ckv::test
