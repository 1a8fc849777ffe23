// Per-layer budgets: CompressKV error-aware allocation (hand-computed cases and properties over random weights),
// PyramidKV, uniform, and the budget that fits a memory size. All integer results are exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "engine/budgets.hpp"

namespace ckv {
namespace {

std::vector<int> error_aware(std::vector<double> w, int budget, int min_budget = 32, int max_budget = -1) {
  return error_aware_budgets(std::span<const double>(w), budget, min_budget, max_budget);
}

long sum_of(const std::vector<int>& v) { return std::accumulate(v.begin(), v.end(), 0L); }

TEST(ErrorAwareBudgets, RoundsEachShareWithoutCorrection) {
  // free = 4*64 - 4*32 = 128; shares 12.8, 25.6, 38.4, 51.2 round to 13, 26, 38, 51 (sum 128, no correction).
  EXPECT_EQ(error_aware({0.1, 0.2, 0.3, 0.4}, 64), (std::vector<int>{45, 58, 70, 83}));
}

TEST(ErrorAwareBudgets, NormalisesWeightsThatDoNotSumToOne) {
  EXPECT_EQ(error_aware({1, 2, 3, 4}, 64), (std::vector<int>{45, 58, 70, 83}));
  EXPECT_EQ(error_aware({10, 20, 30, 40}, 64), (std::vector<int>{45, 58, 70, 83}));
}

TEST(ErrorAwareBudgets, MissingTokenGoesToHeaviestLayerLowerIndexFirst) {
  // Shares 38.4, 38.4, 38.4, 12.8 round to 38, 38, 38, 13 = 127: one token short. Layers 0..2 tie on the
  // largest weight, so layer 0 gets it.
  EXPECT_EQ(error_aware({0.3, 0.3, 0.3, 0.1}, 64), (std::vector<int>{71, 70, 70, 45}));
}

TEST(ErrorAwareBudgets, ExtraTokenTakenFromLightestLayerLowerIndexFirst) {
  // free = 4*37 - 4*32 = 20; shares 2.6, 2.6, 4.8, 10 round to 3, 3, 5, 10 = 21: one token over. Layers 0 and 1
  // tie on the smallest weight, so layer 0 gives it back.
  EXPECT_EQ(error_aware({0.13, 0.13, 0.24, 0.5}, 37), (std::vector<int>{34, 35, 37, 42}));
}

TEST(ErrorAwareBudgets, RoundsHalfToEven) {
  // free = 2*34 - 2*32 = 4; shares 1.5 and 2.5 both round to 2 (half-up would give 2, 3 and then take the extra
  // token from layer 0: {33, 35}).
  EXPECT_EQ(error_aware({0.375, 0.625}, 34), (std::vector<int>{34, 34}));
}

TEST(ErrorAwareBudgets, ClipsAtMaxAndSpreadsTheRest) {
  // Layer 3 wants 32 + 128 = 160 but max is 96: 64 tokens short. Layers 0..2 tie at weight 0 and take +1 in
  // index order over 22 passes: 22, 21, 21.
  EXPECT_EQ(error_aware({0, 0, 0, 1}, 64, 32, 96), (std::vector<int>{54, 53, 53, 96}));
  // Default max is 3*B = 192: no clipping with two layers at weight 0.5 and two at 0.
  EXPECT_EQ(error_aware({0, 0.5, 0, 0.5}, 64), (std::vector<int>{32, 96, 32, 96}));
  // Everything into one layer, clipped at 3*B = 120, the other layers share the rest evenly.
  EXPECT_EQ(error_aware({1, 0, 0, 0}, 40, 8), (std::vector<int>{120, 14, 13, 13}));
}

TEST(ErrorAwareBudgets, NeverTakesFromLayersAtMin) {
  // free = 3; shares 0, 1.5, 1.5 round to 0, 2, 2 = 4: one over. Layer 0 is at min and is skipped; layers 1 and 2
  // tie, layer 1 gives it back.
  EXPECT_EQ(error_aware({0, 0.5, 0.5}, 33), (std::vector<int>{32, 33, 34}));
}

TEST(ErrorAwareBudgets, ZeroWeightsMeanUniform) {
  EXPECT_EQ(error_aware({0, 0, 0}, 40), (std::vector<int>{40, 40, 40}));
  EXPECT_EQ(error_aware({0}, 32), (std::vector<int>{32}));
  EXPECT_EQ(error_aware({5}, 100), (std::vector<int>{100}));
}

TEST(ErrorAwareBudgets, BudgetEqualToMinOrMaxIsUniform) {
  EXPECT_EQ(error_aware({0.7, 0.2, 0.1}, 32, 32), (std::vector<int>{32, 32, 32}));
  EXPECT_EQ(error_aware({0.7, 0.2, 0.1}, 50, 10, 50), (std::vector<int>{50, 50, 50}));
}

TEST(ErrorAwareBudgets, RandomWeightsAlwaysSumToTotalWithinBounds) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> layers_dist(1, 80), budget_dist(1, 4096);
  std::uniform_real_distribution<double> weight_dist(0.0, 1.0);
  std::bernoulli_distribution zero(0.2), tie(0.2);
  for (int trial = 0; trial < 2000; ++trial) {
    const int layers = layers_dist(rng);
    const int budget = budget_dist(rng);
    const int min_budget = std::uniform_int_distribution<int>(1, budget)(rng);
    const int max_budget = trial % 2 ? -1 : std::uniform_int_distribution<int>(budget, 4 * budget)(rng);
    std::vector<double> w(static_cast<size_t>(layers));
    for (size_t l = 0; l < w.size(); ++l) {
      w[l] = zero(rng) ? 0.0 : weight_dist(rng) * (trial % 3 == 0 ? 1000.0 : 1.0);
      if (l > 0 && tie(rng)) w[l] = w[l - 1];
    }
    const std::vector<int> b = error_aware(w, budget, min_budget, max_budget);
    const int effective_max = max_budget == -1 ? 3 * budget : max_budget;
    ASSERT_EQ(b.size(), w.size());
    ASSERT_EQ(sum_of(b), long(layers) * budget) << "trial " << trial;
    ASSERT_GE(*std::min_element(b.begin(), b.end()), min_budget) << "trial " << trial;
    ASSERT_LE(*std::max_element(b.begin(), b.end()), effective_max) << "trial " << trial;
    // Equal weights start equal and the corrections visit them one after the other: they end within one token.
    for (size_t i = 0; i < w.size(); ++i)
      for (size_t j = i + 1; j < w.size(); ++j)
        if (w[i] == w[j]) {
          ASSERT_LE(std::abs(b[i] - b[j]), 1) << "trial " << trial << " layers " << i << ", " << j;
        }
  }
}

TEST(ErrorAwareBudgets, HeavierLayersGetAtLeastAsMany) {
  std::mt19937 rng(99);
  std::uniform_real_distribution<double> weight_dist(0.0, 1.0);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<double> w(32);
    for (double& x : w) x = weight_dist(rng);
    const std::vector<int> b = error_aware(w, 128, 16);
    for (size_t i = 0; i < w.size(); ++i)
      for (size_t j = 0; j < w.size(); ++j)
        if (w[i] > w[j]) {
          ASSERT_GE(b[i], b[j]) << "trial " << trial;
        }
  }
}

TEST(ErrorAwareBudgets, RejectsBadArguments) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  EXPECT_THROW(error_aware({}, 64), std::invalid_argument);
  EXPECT_THROW(error_aware({0.5, -0.1, 0.6}, 64), std::invalid_argument);
  EXPECT_THROW(error_aware({0.5, nan}, 64), std::invalid_argument);
  EXPECT_THROW(error_aware({0.5, inf}, 64), std::invalid_argument);
  EXPECT_THROW(error_aware({1e308, 1e308}, 64), std::invalid_argument);  // the sum overflows
  EXPECT_THROW(error_aware({1, 1}, 0), std::invalid_argument);
  EXPECT_THROW(error_aware({1, 1}, -5), std::invalid_argument);
  EXPECT_THROW(error_aware({1, 1}, 16), std::invalid_argument);          // B < default min 32
  EXPECT_THROW(error_aware({1, 1}, 64, 0), std::invalid_argument);       // min < 1
  EXPECT_THROW(error_aware({1, 1}, 64, 32, 63), std::invalid_argument);  // max < B
  EXPECT_THROW(error_aware({1, 1}, std::numeric_limits<int>::max() / 2 + 1, 32), std::invalid_argument);
  try {
    error_aware({0.5, -0.1}, 64);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "error_aware_budgets: weight of layer 1 is negative (-0.100000)");
  }
  try {
    error_aware({1, 1}, 64, 32, 40);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "error_aware_budgets: maximum budget 40 is below the average budget 64");
  }
}

TEST(PyramidBudgets, LinearFromTopLayer) {
  // base 56, lo = 56/20 = 2, hi = 110 < T - W = 992; step = 108/3 = 36: 110, 74, 38, 2 (+ window 8).
  EXPECT_EQ(pyramid_budgets(4, 64, 8, 1000), (std::vector<int>{118, 82, 46, 10}));
  // Step 108/31 = 3 truncated: first 110 + 8, last 110 - 93 + 8 (the total is below L*B, as in PyramidKV).
  const std::vector<int> b = pyramid_budgets(32, 64, 8, 1000);
  ASSERT_EQ(b.size(), 32u);
  for (int l = 0; l < 32; ++l) EXPECT_EQ(b[size_t(l)], 118 - 3 * l);
  // beta changes the smallest budget: lo = 56/4 = 14, hi = 98, step = 42.
  EXPECT_EQ(pyramid_budgets(3, 64, 8, 1000, 4), (std::vector<int>{106, 64, 22}));
}

TEST(PyramidBudgets, ShortPromptCapsTheTopLayer) {
  // T - W = 92 <= hi = 110: hi = 92, lo = 112 - 92 = 20, step = 72/3 = 24.
  EXPECT_EQ(pyramid_budgets(4, 64, 8, 100), (std::vector<int>{100, 76, 52, 28}));
  // hi exactly T - W takes the branch too: T - W = 110 gives the same numbers as the uncapped case.
  EXPECT_EQ(pyramid_budgets(4, 64, 8, 118), (std::vector<int>{118, 82, 46, 10}));
  // Prompt as long as the budget: every layer keeps everything.
  EXPECT_EQ(pyramid_budgets(3, 64, 8, 64), (std::vector<int>{64, 64, 64}));
}

TEST(PyramidBudgets, SingleLayerAndZeroWindow) {
  EXPECT_EQ(pyramid_budgets(1, 64, 8, 1000), (std::vector<int>{64}));
  // base 40, lo 2, hi 78, step 76.
  EXPECT_EQ(pyramid_budgets(2, 40, 0, 500), (std::vector<int>{78, 2}));
}

TEST(PyramidBudgets, RejectsBadArguments) {
  EXPECT_THROW(pyramid_budgets(0, 64, 8, 1000), std::invalid_argument);
  EXPECT_THROW(pyramid_budgets(4, 8, 8, 1000), std::invalid_argument);   // budget not above window
  EXPECT_THROW(pyramid_budgets(4, 64, -1, 1000), std::invalid_argument);
  EXPECT_THROW(pyramid_budgets(4, 64, 8, 63), std::invalid_argument);    // prompt shorter than the budget
  EXPECT_THROW(pyramid_budgets(4, 64, 8, 1000, 0), std::invalid_argument);
}

TEST(UniformBudgets, SameEverywhere) {
  EXPECT_EQ(uniform_budgets(3, 128), (std::vector<int>{128, 128, 128}));
  EXPECT_THROW(uniform_budgets(0, 128), std::invalid_argument);
  EXPECT_THROW(uniform_budgets(3, 0), std::invalid_argument);
}

TEST(TokensForKvMib, Llama8BShapes) {
  // 32 layers x K+V x 8 KV heads x 128 dims x 2 bytes = 128 KiB per token: 256 MiB holds 2048 tokens per layer.
  EXPECT_EQ(tokens_for_kv_mib(256, 32, 8, 128, 2), 2048);
  EXPECT_EQ(tokens_for_kv_mib(256, 32, 8, 128, 4), 1024);
  EXPECT_EQ(tokens_for_kv_mib(0.5, 32, 8, 128, 2), 4);
  EXPECT_EQ(tokens_for_kv_mib(0.5 - 1.0 / 1048576, 32, 8, 128, 2), 3);  // one byte short of 4 tokens
  EXPECT_EQ(tokens_for_kv_mib(1, 1, 1, 2, 2), 131072);
}

TEST(TokensForKvMib, RejectsBadArguments) {
  EXPECT_THROW(tokens_for_kv_mib(0.1, 32, 8, 128, 2), std::invalid_argument);  // under one token
  EXPECT_THROW(tokens_for_kv_mib(0, 32, 8, 128, 2), std::invalid_argument);
  EXPECT_THROW(tokens_for_kv_mib(-1, 32, 8, 128, 2), std::invalid_argument);
  EXPECT_THROW(tokens_for_kv_mib(std::numeric_limits<double>::quiet_NaN(), 32, 8, 128, 2), std::invalid_argument);
  EXPECT_THROW(tokens_for_kv_mib(256, 0, 8, 128, 2), std::invalid_argument);
  EXPECT_THROW(tokens_for_kv_mib(256, 32, 8, -128, 2), std::invalid_argument);
  EXPECT_THROW(tokens_for_kv_mib(1e12, 1, 1, 1, 1), std::invalid_argument);  // does not fit an int
}

}  // namespace
}  // namespace ckv
