// The calibration probes of LlamaSession and the lockstep layer-error measurement on the default model: a layer
// that keeps every token has exactly zero error when it replays FullKV's inputs (isolated) and a non-zero one when
// errors of lower layers propagate; probing does not change what the model computes.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/calibration.hpp"
#include "engine/gguf/gguf_file.hpp"
#include "engine/model/llama_session.hpp"
#include "gpu_env.hpp"
#include "paths.hpp"

namespace ckv::test {
namespace {

class CalibrationProbes : public GpuTest {
 protected:
  static void SetUpTestSuite() {
    const auto path = source_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf";
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: run tools/fetch-model.sh";
    const GgufFile file = GgufFile::open(path);
    config_ = new LlamaConfig(LlamaConfig::from_gguf(file));
    weights_ = new LlamaWeights(gpu(), file, *config_);
  }
  static void TearDownTestSuite() {
    delete weights_;
    delete config_;
  }
  static std::vector<int32_t> prompt(size_t n) {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < n; ++i) ids.push_back(int32_t(300 + (i * 977) % 20000));
    return ids;
  }
  // CompressKV with error-aware weights that give the last four layers more than the prompt (so they keep every
  // token) and the others a few tokens.
  static SessionOptions compressed_options() {
    SessionOptions o;
    CompressionConfig& c = o.compression;
    c.policy = KvPolicy::CompressKV;
    c.window = 8;
    c.min_budget = 9;
    c.retrieval_heads.assign(config_->n_layers, {0, 4, 8, 1});
    c.layer_weights.assign(config_->n_layers, 0.0);
    for (uint32_t l = config_->n_layers - 4; l < config_->n_layers; ++l) c.layer_weights[l] = 1.0;
    o.kv_budget = 10;
    o.context = 64;
    return o;
  }
  static LlamaConfig* config_;
  static LlamaWeights* weights_;
};

LlamaConfig* CalibrationProbes::config_ = nullptr;
LlamaWeights* CalibrationProbes::weights_ = nullptr;

TEST_F(CalibrationProbes, IsolatedErrorIsZeroWhereALayerKeepsEverything) {
  const uint32_t t = 14;
  const auto tokens = prompt(t);
  const SessionOptions options = compressed_options();
  const std::vector<int> budgets = layer_budgets(options.compression, config_->n_layers, options.kv_budget, t);
  const LayerErrors isolated =
      measure_layer_errors(ctx(), *config_, *weights_, tokens, options, 1, LayerErrorMode::Isolated);
  const LayerErrors propagated =
      measure_layer_errors(ctx(), *config_, *weights_, tokens, options, 1, LayerErrorMode::Propagated);
  ASSERT_EQ(isolated.sum.size(), config_->n_layers);
  EXPECT_EQ(isolated.decoded, propagated.decoded);  // both decode FullKV's greedy tokens
  int kept_all = 0;
  for (uint32_t l = 0; l < config_->n_layers; ++l) {
    if (budgets[l] >= int(t)) {
      ++kept_all;
      EXPECT_EQ(isolated.sum[l], 0.0) << "layer " << l << " keeps every token";
      EXPECT_GT(propagated.sum[l], 1e-4) << "layer " << l << " sees the drift of the compressed layers below";
    } else {
      EXPECT_GT(isolated.sum[l], 1e-4) << "layer " << l << " keeps " << budgets[l] << " of " << t << " tokens";
      // No upper bound: dropping a sink token whose value is near zero can make ‖o_c‖ several times ‖o_f‖.
      EXPECT_TRUE(std::isfinite(isolated.sum[l])) << "layer " << l;
    }
  }
  EXPECT_EQ(kept_all, 4);
  EXPECT_EQ(isolated.sum[0], propagated.sum[0]) << "layer 0 has nothing below it";
}

TEST_F(CalibrationProbes, ProbesDoNotChangeTheModel) {
  const auto tokens = prompt(8);
  SessionOptions plain;
  plain.compression.policy = KvPolicy::FullKV;
  plain.context = 64;
  SessionOptions probed = plain;
  probed.probes.attention_outputs = true;
  probed.probes.record_layer_inputs = true;
  LlamaSession a(ctx(), *config_, *weights_, plain), b(ctx(), *config_, *weights_, probed);
  EXPECT_THROW(a.attention_outputs(), std::logic_error);
  int32_t ta = a.prefill(tokens, {}), tb = b.prefill(tokens, {});
  EXPECT_THROW(b.attention_outputs(), std::logic_error);  // nothing decoded yet
  ASSERT_EQ(ta, tb);
  ta = a.decode(ta, {});
  tb = b.decode(tb, {});
  EXPECT_EQ(ta, tb);
  const auto la = a.last_logits(), lb = b.last_logits();
  for (size_t i = 0; i < la.size(); i += 97) EXPECT_NEAR(la[i], lb[i], 1e-3f + 1e-4f * std::abs(la[i])) << i;
  const auto outputs = b.attention_outputs();
  ASSERT_EQ(outputs.size(), size_t(config_->n_layers) * config_->n_embd);
  for (uint32_t l = 0; l < config_->n_layers; ++l) {
    double norm = 0;
    for (uint32_t i = 0; i < config_->n_embd; ++i) norm += double(outputs[l * config_->n_embd + i]) * outputs[l * config_->n_embd + i];
    EXPECT_GT(norm, 0.0) << "layer " << l;
  }
}

TEST_F(CalibrationProbes, BadRequestsThrowClearly) {
  const auto tokens = prompt(12);
  SessionOptions full;
  full.compression.policy = KvPolicy::FullKV;
  full.context = 64;
  EXPECT_THROW(measure_layer_errors(ctx(), *config_, *weights_, tokens, full, 1, LayerErrorMode::Isolated),
               std::invalid_argument);  // FullKV compresses nothing
  SessionOptions loose = compressed_options();
  loose.kv_budget = 12;  // not below the prompt
  EXPECT_THROW(measure_layer_errors(ctx(), *config_, *weights_, tokens, loose, 1, LayerErrorMode::Isolated),
               std::invalid_argument);
  SessionOptions replay = full;
  replay.probes.replay_layer_inputs_from = nullptr;
  LlamaSession source(ctx(), *config_, *weights_, full);  // records nothing
  replay.probes.replay_layer_inputs_from = &source;
  EXPECT_THROW(LlamaSession(ctx(), *config_, *weights_, replay), std::invalid_argument);
}

}  // namespace
}  // namespace ckv::test
