// Host math of calibration and evaluation (engine/fidelity.hpp) against plain double references, and the layer
// weights JSON that ckv calibrate writes and error-aware budgets read.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "cli_runner.hpp"
#include "engine/fidelity.hpp"
#include "engine/profiles.hpp"

namespace ckv::test {
namespace {

std::vector<float> randoms(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(Fidelity, RelativeErrorMatchesDoubleReference) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    const auto full = randoms(576, seed, 3.0f);
    auto compressed = full;
    const auto noise = randoms(576, seed + 100, 0.1f);
    for (size_t i = 0; i < full.size(); ++i) compressed[i] += noise[i];
    long double diff = 0, norm = 0;
    for (size_t i = 0; i < full.size(); ++i) {
      diff += (long double)(compressed[i] - (long double)full[i]) * (compressed[i] - (long double)full[i]);
      norm += (long double)full[i] * full[i];
    }
    const double expected = double(std::sqrt(diff) / (std::sqrt(norm) + 1e-5L));
    EXPECT_NEAR(relative_error(compressed, full), expected, 1e-12 * expected);
  }
  const std::vector<float> a = {3.0f, 4.0f}, b = {0.0f, 0.0f};
  EXPECT_EQ(relative_error(a, a), 0.0);                       // identical outputs: exactly zero
  EXPECT_NEAR(relative_error(b, a), 5.0 / (5.0 + 1e-5), 1e-15);  // all lost: ~1
  EXPECT_NEAR(relative_error(a, b), 5.0 / 1e-5, 1e-6);         // zero reference stays finite
  EXPECT_THROW(relative_error(a, std::vector<float>{1.0f}), std::invalid_argument);
}

TEST(Fidelity, NormalizedWeightsSumToOne) {
  const std::vector<double> w = {1.0, 3.0, 0.0, 4.0};
  const auto n = normalized_weights(w);
  ASSERT_EQ(n.size(), 4u);
  EXPECT_DOUBLE_EQ(n[0], 0.125);
  EXPECT_DOUBLE_EQ(n[1], 0.375);
  EXPECT_DOUBLE_EQ(n[2], 0.0);
  EXPECT_DOUBLE_EQ(n[3], 0.5);
  EXPECT_THROW(normalized_weights(std::vector<double>{0.0, 0.0}), std::invalid_argument);
  EXPECT_THROW(normalized_weights(std::vector<double>{1.0, -1.0}), std::invalid_argument);
  EXPECT_THROW(normalized_weights(std::vector<double>{1.0, NAN}), std::invalid_argument);
}

// KL(p ‖ q) and top-1 by the definitions, in long double.
struct Reference {
  long double kl = 0;
  size_t argmax_p = 0, argmax_q = 0;
  long double nll_p = 0, nll_q = 0;
};

Reference reference(const std::vector<float>& lp, const std::vector<float>& lq, size_t token) {
  const auto probs = [](const std::vector<float>& l) {
    long double z = 0;
    std::vector<long double> p(l.size());
    for (size_t i = 0; i < l.size(); ++i) z += std::exp((long double)l[i]);
    for (size_t i = 0; i < l.size(); ++i) p[i] = std::exp((long double)l[i]) / z;
    return p;
  };
  const auto p = probs(lp), q = probs(lq);
  Reference r;
  for (size_t i = 0; i < p.size(); ++i) {
    r.kl += p[i] * std::log(p[i] / q[i]);
    if (lp[i] > lp[r.argmax_p]) r.argmax_p = i;
    if (lq[i] > lq[r.argmax_q]) r.argmax_q = i;
  }
  r.nll_p = -std::log(p[token]);
  r.nll_q = -std::log(q[token]);
  return r;
}

TEST(Fidelity, NextTokenKlAndTop1MatchDoubleReference) {
  for (uint32_t seed : {7u, 8u, 9u, 10u}) {
    const auto full = randoms(1000, seed, 2.0f);
    auto policy = full;
    const auto noise = randoms(1000, seed + 50, seed % 2 ? 0.05f : 1.5f);
    for (size_t i = 0; i < full.size(); ++i) policy[i] += noise[i];
    const size_t token = seed * 37 % 1000;
    const Reference r = reference(full, policy, token);
    const NextTokenComparison c = compare_next_token(full, policy, int32_t(token));
    EXPECT_NEAR(c.kl, double(r.kl), 1e-10 + 1e-9 * double(r.kl)) << seed;
    EXPECT_EQ(c.same_top1, r.argmax_p == r.argmax_q) << seed;
    EXPECT_NEAR(c.nll_full, double(r.nll_p), 1e-10);
    EXPECT_NEAR(c.nll_policy, double(r.nll_q), 1e-10);
  }
  // Large logits do not overflow; a shifted copy is the same distribution.
  std::vector<float> big = {1000.0f, 990.0f, 980.0f}, shifted = {10.0f, 0.0f, -10.0f};
  const auto same = compare_next_token(big, shifted, 1);
  EXPECT_NEAR(same.kl, 0.0, 1e-12);
  EXPECT_TRUE(same.same_top1);
  const std::vector<float> swapped = {990.0f, 1000.0f, 980.0f};
  EXPECT_FALSE(compare_next_token(big, swapped, 0).same_top1);
  EXPECT_GT(compare_next_token(big, swapped, 0).kl, 1.0);
  EXPECT_THROW(compare_next_token(big, std::vector<float>{1.0f}, 0), std::invalid_argument);
  EXPECT_THROW(compare_next_token(big, shifted, 3), std::invalid_argument);
}

TEST(Fidelity, SummaryAveragesSteps) {
  FidelitySummary s;
  s.add({0.5, true, 1.0, 2.0});
  s.add({1.5, false, 3.0, 4.0});
  EXPECT_EQ(s.steps, 2u);
  EXPECT_DOUBLE_EQ(s.mean_kl(), 1.0);
  EXPECT_DOUBLE_EQ(s.top1_agreement(), 0.5);
  EXPECT_DOUBLE_EQ(s.mean_nll_full(), 2.0);
  EXPECT_DOUBLE_EQ(s.mean_nll_policy(), 3.0);
}

TEST(Fidelity, LayerWeightsJsonRoundTripsExactly) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> d(0.0, 1.0);
  std::vector<double> raw(30);
  for (double& w : raw) w = d(rng);
  const std::vector<double> weights = normalized_weights(raw);
  const auto dir = fresh_temp_dir("layer_weights");
  const auto path = dir / "layers.json";
  std::ofstream(path) << layer_weights_json(weights);
  const std::vector<double> back = load_layer_weights(path, 30);
  ASSERT_EQ(back.size(), weights.size());
  for (size_t l = 0; l < weights.size(); ++l) EXPECT_EQ(back[l], weights[l]) << l;  // bit-exact
  EXPECT_THROW(load_layer_weights(path, 29), std::runtime_error);
  EXPECT_THROW(layer_weights_json(std::vector<double>{-1.0}), std::invalid_argument);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ckv::test
