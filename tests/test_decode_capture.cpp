// LlamaSession's decode paths on the default model. Capture: every layer's probs, queries and outputs from the
// GPU decode step against a double-precision reference computed from the captured queries and the session's KV
// cache (softmax(q·K / sqrt(d)) and probs·V = output), for FullKV and for a compressed cache with different
// lengths per layer. Streaming (decode_stream, one step in flight): the same tokens and cache as step-by-step
// decode, across a cache regrowth, with sampling, and after an early stop.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.hpp"
#include "engine/half.hpp"
#include "engine/model/gguf_tokenizer.hpp"
#include "engine/model/llama_session.hpp"
#include "engine/model/synthetic_weights.hpp"
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

using DecodeStream = DecodeCapture;

// Decodes `steps` tokens one decode() at a time from a fresh session and returns them.
std::vector<int32_t> step_by_step(LlamaSession& session, const std::vector<int32_t>& prompt, uint32_t steps,
                                  const SamplingOptions& sampling) {
  std::vector<int32_t> out;
  int32_t token = session.prefill(prompt, sampling);
  out.push_back(token);
  for (uint32_t i = 0; i < steps; ++i) out.push_back(token = session.decode(token, sampling));
  return out;
}

void expect_same_cache(const LlamaSession& a, const LlamaSession& b, const std::string& what) {
  EXPECT_EQ(a.tokens(), b.tokens()) << what;
  for (uint32_t l = 0; l < a.kv_cache().shape().n_layers; ++l) {
    EXPECT_EQ(a.kv_cache().layer(l).length, b.kv_cache().layer(l).length) << what << " layer " << l;
    EXPECT_EQ(a.kv_cache().layer(l).capacity, b.kv_cache().layer(l).capacity) << what << " layer " << l;
  }
  EXPECT_EQ(a.kv_cache().allocated_bytes(), b.kv_cache().allocated_bytes()) << what << ": retired buffers freed";
}

// On the tiny synthetic model (2 layers, random weights: fast on lavapipe), whose tokens are as deterministic.
class DecodeStreamTiny : public GpuTest {};

TEST_F(DecodeStreamTiny, SameTokensAndCacheAsStepByStep) {
  const LlamaConfig config = synthetic_config("tiny");
  const LlamaWeights weights(ctx(), config, SyntheticWeightOptions{GgmlType::F16, 3});
  std::vector<int32_t> all(250);
  for (size_t i = 0; i < all.size(); ++i) all[i] = int32_t((i * 7919 + 13) % config.vocab_size);
  struct Case {
    KvPolicy policy;
    SamplingOptions sampling;
    uint32_t prompt_tokens, steps;
  };
  // FullKV with no headroom: the cache (growth chunk 256) regrows while a step is in flight.
  for (const Case& c : {Case{KvPolicy::FullKV, {}, 250, 12}, Case{KvPolicy::SnapKV, {0.9f, 0.95f, 7}, 120, 12}}) {
    const std::vector<int32_t> tokens(all.begin(), all.begin() + c.prompt_tokens);
    const std::string what = std::string(kv_policy_name(c.policy)) + (c.sampling.temperature > 0 ? " sampled" : " greedy");
    SessionOptions options;
    options.compression.policy = c.policy;
    options.kv_budget = 64;
    options.decode_headroom = 0;
    options.context = 512;
    LlamaSession stepped(ctx(), config, weights, options), streamed(ctx(), config, weights, options);
    const std::vector<int32_t> want = step_by_step(stepped, tokens, c.steps, c.sampling);
    std::vector<int32_t> got = {streamed.prefill(tokens, c.sampling)};
    std::vector<int32_t> seen;
    const auto decoded = streamed.decode_stream(got.back(), c.steps, c.sampling, [&](int32_t t) {
      seen.push_back(t);
      return true;
    });
    got.insert(got.end(), decoded.begin(), decoded.end());
    EXPECT_EQ(got, want) << what;
    EXPECT_EQ(seen, decoded) << what;
    EXPECT_EQ(streamed.stats().generated_tokens, c.steps) << what;
    expect_same_cache(streamed, stepped, what);
    if (c.policy == KvPolicy::FullKV) {
      EXPECT_GT(streamed.kv_cache().layer(0).capacity, 256u) << "the cache did not regrow while streaming";
    } else {
      EXPECT_LT(streamed.kv_cache().layer(0).length, 100u) << "the prompt was not compressed";
    }
  }
}

// The decode fusions (SwiGLU products, Q/K/V projections that rotate and store their rows, the attention merge in
// the split pass) change only rounding: the same greedy tokens as the separate passes. On lavapipe the products use
// the lane-rows kernel (no fusion there) and only the attention merge differs; on GPUs every fusion runs.
TEST_F(DecodeStreamTiny, FusedDecodeGivesTheTokensOfSeparatePasses) {
  const LlamaConfig config = synthetic_config("tiny");
  const LlamaWeights weights(ctx(), config, SyntheticWeightOptions{GgmlType::F16, 5});
  std::vector<int32_t> prompt(200);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 104729 + 7) % config.vocab_size);
  for (KvPolicy policy : {KvPolicy::FullKV, KvPolicy::SnapKV}) {
    SessionOptions options;
    options.compression.policy = policy;
    options.kv_budget = 64;
    options.context = 256;
    LlamaSession fused(ctx(), config, weights, options);
    options.fused_decode = false;
    LlamaSession separate(ctx(), config, weights, options);
    const std::string what = kv_policy_name(policy);
    EXPECT_EQ(step_by_step(fused, prompt, 16, {}), step_by_step(separate, prompt, 16, {})) << what;
    expect_same_cache(fused, separate, what);
  }
}

TEST_F(DecodeStream, StopDropsTheStepInFlight) {
  SessionOptions options;
  options.compression.policy = KvPolicy::FullKV;
  options.context = 128;
  const auto tokens = prompt("Seven swans swam slowly down the river past the mill.");
  LlamaSession stepped(ctx(), config_, *weights_, options), streamed(ctx(), config_, *weights_, options);
  const std::vector<int32_t> want = step_by_step(stepped, tokens, 6, {});

  int calls = 0;
  const auto first = streamed.decode_stream(streamed.prefill(tokens, {}), 50, {}, [&](int32_t) { return ++calls < 3; });
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first, std::vector<int32_t>(want.begin() + 1, want.begin() + 4));
  EXPECT_EQ(streamed.tokens(), tokens.size() + 3);  // the fourth step ran on the GPU but does not count
  // Going on from the stop gives the rest of the step-by-step tokens and the same cache.
  const auto rest = streamed.decode_stream(first.back(), 2, {});
  EXPECT_EQ(rest, std::vector<int32_t>(want.begin() + 4, want.begin() + 6));
  const int32_t last = streamed.decode(rest.back(), {});
  EXPECT_EQ(last, want[6]);
  expect_same_cache(streamed, stepped, "after the stop");
  EXPECT_TRUE(streamed.decode_stream(last, 0, {}).empty());
}

}  // namespace
}  // namespace ckv::test
