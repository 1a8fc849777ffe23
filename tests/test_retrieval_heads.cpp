// Retrieval-head scoring on a synthetic attention capture with a known answer, and the heads JSON round trip.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/eval/retrieval_heads.hpp"
#include "engine/profiles.hpp"

namespace ckv::test {
namespace {

// Two layers of three heads; layer 0 has 6 keys, layer 1 has 5. Each head's row puts `needle_mass[l][h]` on keys
// 2 and 3 (split evenly) and the rest on key 0.
DecodeAttentionCapture synthetic(const std::vector<std::vector<float>>& needle_mass) {
  DecodeAttentionCapture c;
  c.n_layers = 2;
  c.n_heads = 3;
  c.head_dim = 4;
  c.keys = {6, 5};
  c.probs_offset = {0, 64};
  c.probs.assign(64 + 3 * 5, 0.0f);
  for (uint32_t l = 0; l < 2; ++l)
    for (uint32_t h = 0; h < 3; ++h) {
      float* row = c.probs.data() + c.probs_offset[l] + h * c.keys[l];
      row[2] = row[3] = needle_mass[l][h] / 2;
      row[0] = 1.0f - needle_mass[l][h];
    }
  return c;
}

TEST(RetrievalHeads, ScoresSumNeedleMassOnCopyStepsOfRecalledPromptsOnly) {
  RetrievalHeadScores scores(2, 3);
  const std::vector<int32_t> needle = {70, 71};
  const auto a = synthetic({{0.1f, 0.5f, 0.8f}, {0.3f, 0.9f, 0.0f}});
  const auto b = synthetic({{0.7f, 0.1f, 0.2f}, {0.2f, 0.2f, 0.6f}});

  scores.begin_prompt();  // recalled: two copy steps of `a`, one non-copy step of `b` (ignored)
  EXPECT_TRUE(scores.add_step(70, needle, a, 2, 4));
  EXPECT_FALSE(scores.add_step(5, needle, b, 2, 4));
  EXPECT_TRUE(scores.add_step(71, needle, a, 2, 4));
  scores.end_prompt(true);
  scores.begin_prompt();  // not recalled: dropped
  EXPECT_TRUE(scores.add_step(70, needle, b, 2, 4));
  scores.end_prompt(false);
  scores.begin_prompt();  // recalled: one copy step of `b`
  EXPECT_TRUE(scores.add_step(71, needle, b, 2, 4));
  scores.end_prompt(true);

  EXPECT_EQ(scores.prompts_counted(), 2u);
  EXPECT_NEAR(scores.score(0, 0), (2 * 0.1 + 0.7) / 2, 1e-6);
  EXPECT_NEAR(scores.score(0, 1), (2 * 0.5 + 0.1) / 2, 1e-6);
  EXPECT_NEAR(scores.score(0, 2), (2 * 0.8 + 0.2) / 2, 1e-6);
  EXPECT_NEAR(scores.score(1, 1), (2 * 0.9 + 0.2) / 2, 1e-6);
  EXPECT_NEAR(scores.score(1, 2), 0.6 / 2, 1e-6);
  const auto ranked = scores.ranked();
  EXPECT_EQ(ranked[0], (std::vector<uint32_t>{2, 1, 0}));
  EXPECT_EQ(ranked[1], (std::vector<uint32_t>{1, 0, 2}));  // 0: 0.4, 2: 0.3
}

TEST(RetrievalHeads, SpanIsClampedToTheKeysAndMisuseIsAnError) {
  RetrievalHeadScores scores(2, 3);
  const auto a = synthetic({{1.0f, 1.0f, 1.0f}, {1.0f, 1.0f, 1.0f}});
  EXPECT_THROW(scores.add_step(1, std::vector<int32_t>{1}, a, 0, 2), std::logic_error);  // before begin_prompt
  scores.begin_prompt();
  scores.add_step(1, std::vector<int32_t>{1}, a, 3, 100);  // only key 3 (layer 0: 6 keys, layer 1: 5 keys)
  scores.end_prompt(true);
  EXPECT_NEAR(scores.score(0, 0), 0.5, 1e-6);
  EXPECT_NEAR(scores.score(1, 2), 0.5, 1e-6);
  RetrievalHeadScores wrong(3, 3);
  wrong.begin_prompt();
  EXPECT_THROW(wrong.add_step(1, std::vector<int32_t>{1}, a, 0, 2), std::invalid_argument);
  RetrievalHeadScores none(2, 3);
  EXPECT_EQ(none.score(1, 1), 0.0);
  EXPECT_EQ(none.ranked()[0], (std::vector<uint32_t>{0, 1, 2}));
}

TEST(RetrievalHeads, JsonRoundTripsThroughTheProfileLoader) {
  const std::vector<std::vector<uint32_t>> ranked = {{2, 0, 1}, {1, 2, 0}, {0, 1, 2}};
  const auto path = std::filesystem::temp_directory_path() / "ckv_heads_roundtrip.json";
  write_retrieval_heads(path, ranked);
  EXPECT_EQ(load_retrieval_heads(path, 3, 3), ranked);
  EXPECT_THROW(load_retrieval_heads(path, 4, 3), std::runtime_error);  // a layer missing
  EXPECT_THROW(load_retrieval_heads(path, 3, 2), std::runtime_error);  // a head out of range
  std::filesystem::remove(path);
  EXPECT_THROW(write_retrieval_heads("/nonexistent/dir/heads.json", ranked), std::runtime_error);
}

}  // namespace
}  // namespace ckv::test
