// The whole engine on the default model (SmolLM2-135M-Instruct Q4_1, fetched by tools/fetch-model.sh): greedy
// answers, KV policies, compression statistics and bad input, through the public API.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "compresskv/compresskv.hpp"
#include "gpu_env.hpp"
#include "paths.hpp"

namespace ckv::test {
namespace {

std::filesystem::path default_model() { return source_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf"; }

class ModelE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(std::filesystem::exists(default_model()))
        << default_model() << " is missing: run tools/fetch-model.sh (tools/test.sh does)";
    model_ = compresskv::Model::load(default_model().string(), {"", /*validation=*/true}).release();
  }
  void TearDown() override {
    const auto messages = model_->take_validation_messages();
    EXPECT_TRUE(messages.empty()) << messages.size() << " validation messages, first: " << messages.front();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  struct Run {
    std::string text;
    std::vector<int32_t> tokens;
    compresskv::Stats stats;
  };
  static Run run(const std::string& prompt, const compresskv::KvOptions& kv, int max_tokens) {
    Run r;
    compresskv::GenerateOptions gen;
    gen.max_tokens = max_tokens;
    const auto ids = model_->tokenize(prompt, true);
    r.stats = model_->generate_tokens(ids, kv, gen, [&](int32_t id) {
      r.tokens.push_back(id);
      return true;
    });
    r.text = model_->detokenize(r.tokens);
    return r;
  }
  static compresskv::Model* model_;
};

compresskv::Model* ModelE2E::model_ = nullptr;

TEST_F(ModelE2E, GreedyFullKvAnswersAFactualQuestion) {
  const Run r = run("What is the capital of France?", {}, 8);
  EXPECT_NE(r.text.find("Paris"), std::string::npos) << r.text;
  EXPECT_EQ(r.stats.kv_bytes_kept, r.stats.kv_bytes_full);
  EXPECT_GT(r.stats.prompt_tokens, 20);  // the chat template adds the system prompt
}

TEST_F(ModelE2E, CompressionPoliciesShrinkTheCacheAndKeepAnswering) {
  const std::string prompt = "What is the capital of France?";
  const Run full = run(prompt, {}, 6);
  // A budget at least as large as the prompt compresses nothing: the tokens equal FullKV's exactly.
  compresskv::KvOptions loose;
  loose.policy = "snapkv";
  loose.budget = 512;
  EXPECT_EQ(run(prompt, loose, 6).tokens, full.tokens);

  for (const char* policy : {"snapkv", "pyramidkv", "streaming"}) {
    compresskv::KvOptions kv;
    kv.policy = policy;
    kv.budget = 24;
    const Run r = run(prompt, kv, 6);
    ASSERT_EQ(r.stats.layer_lengths.size(), 30u) << policy;
    ASSERT_EQ(r.stats.layer_budgets.size(), 30u) << policy;
    // Each layer holds min(budget, prompt) plus the generated tokens (the last one sampled is not stored).
    for (int l = 0; l < 30; ++l)
      EXPECT_EQ(r.stats.layer_lengths[l],
                std::min(r.stats.layer_budgets[l], r.stats.prompt_tokens) + r.stats.generated_tokens - 1)
          << policy << " layer " << l;
    if (std::string(policy) == "pyramidkv") {
      // Short prompt: the pyramid's top is capped at the prompt (PyramidKV's hi >= T - W rule); budgets never grow
      // with depth.
      for (int l = 1; l < 30; ++l) EXPECT_LE(r.stats.layer_budgets[l], r.stats.layer_budgets[l - 1]);
    } else {
      EXPECT_EQ(r.stats.layer_budgets, std::vector<int>(30, 24)) << policy;
      EXPECT_LT(r.stats.kv_bytes_kept, r.stats.kv_bytes_full) << policy;
    }
    EXPECT_FALSE(r.tokens.empty()) << policy;
  }
}

TEST_F(ModelE2E, BadInputIsAClearError) {
  compresskv::KvOptions kv;
  kv.policy = "snapkv";
  kv.budget = 4;  // smaller than the window
  EXPECT_THROW(run("Hello", kv, 2), std::invalid_argument);
  kv.policy = "compresskv";
  kv.budget = 64;
  kv.profile = "none";  // no shipped profile and no heads file
  try {
    run("Hello", kv, 2);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("retrieval heads"), std::string::npos) << e.what();
  }
  compresskv::GenerateOptions gen;
  gen.context = 100000;  // longer than the model's 8192
  EXPECT_THROW(model_->generate("Hello", {}, gen, [](std::string_view) { return true; }), std::invalid_argument);
}

TEST(ModelLoad, MissingAndTruncatedModelsAreClearErrors) {
  EXPECT_THROW(compresskv::Model::load("/nonexistent/model.gguf", {}), std::runtime_error);
  const auto path = std::filesystem::temp_directory_path() / "ckv_truncated.gguf";
  {
    std::ifstream in(default_model(), std::ios::binary);
    std::vector<char> head(4096);
    in.read(head.data(), head.size());
    std::ofstream out(path, std::ios::binary);
    out.write(head.data(), in.gcount());
  }
  EXPECT_THROW(compresskv::Model::load(path.string(), {}), std::runtime_error);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ckv::test
