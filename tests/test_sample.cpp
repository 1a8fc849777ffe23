// GPU sampling against CPU references of the same rules (double precision).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/ops/sample.hpp"
#include "gpu_env.hpp"

namespace ckv::test {
namespace {

constexpr uint32_t kUnwritten = 0xffffffffu;

// The top-p rule of engine/ops/sample.hpp in double precision. `margin` gets how far (relative to the masses
// involved) top_p * Z and u * mass lie from the nearest cumulative sum where the answer would change: fp32 on
// the GPU agrees with this reference wherever the margin is well above fp32 rounding.
uint32_t top_p_reference(const std::vector<float>& logits, double temperature, double top_p, double u,
                         double* margin) {
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> w(logits.size());
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::exp((logits[i] - max_logit) / temperature);
  const double z = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<double> sorted = w;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double theta = 0, nearest = 1;
  if (top_p < 1) {
    double cum = 0;
    for (double v : sorted) {
      cum += v;
      nearest = std::min(nearest, std::abs(cum - top_p * z) / z);
      if (cum >= top_p * z) {
        theta = v;
        break;
      }
    }
  }
  double mass = 0;
  for (double v : w) mass += v >= theta && v > 0 ? v : 0.0;
  const double target = u * mass;
  double cum = 0;
  uint32_t chosen = kUnwritten, last = kUnwritten;
  for (size_t i = 0; i < w.size(); ++i) {
    if (!(w[i] >= theta && w[i] > 0)) continue;
    cum += w[i];
    last = uint32_t(i);
    nearest = std::min(nearest, std::abs(cum - target) / mass);
    if (cum > target && chosen == kUnwritten) chosen = uint32_t(i);
  }
  if (margin) *margin = nearest;
  return chosen != kUnwritten ? chosen : last;
}

// Far above the relative rounding of fp32 sums over 49152 weights (~1e-6).
constexpr double kMinMargin = 1e-4;

std::vector<float> logits_of(const std::vector<double>& probabilities, double temperature_of_logits = 1.0) {
  std::vector<float> logits;
  for (double p : probabilities) logits.push_back(float(std::log(p) * temperature_of_logits + 3.0));
  return logits;
}

class Sample : public GpuTest {
 protected:
  // One output slot per draw, all recorded into one submission.
  uint64_t slot_bytes() { return std::max<uint64_t>(device().info().min_storage_buffer_offset_alignment, 4); }

  std::vector<uint32_t> collect(vk::CommandStream& stream, const vk::Buffer& out, size_t draws) {
    stream.submit_and_wait();
    const std::vector<uint32_t> words = read<uint32_t>(out, draws * slot_bytes() / 4);
    std::vector<uint32_t> tokens;
    for (size_t k = 0; k < draws; ++k) tokens.push_back(words[k * slot_bytes() / 4]);
    return tokens;
  }

  std::vector<uint32_t> top_p_draws(const std::vector<float>& logits, float temperature, float top_p,
                                    const std::vector<float>& us, bool subgroup) {
    vk::Buffer logit_buffer = make_buffer(logits, "logits");
    vk::Buffer out(device(), us.size() * slot_bytes(), vk::MemoryKind::DeviceLocal, "tokens");
    vk::CommandStream stream(device());
    stream.fill(out, kUnwritten);
    for (size_t k = 0; k < us.size(); ++k)
      ops::record_sample_top_p(ctx(), stream, logit_buffer, uint32_t(logits.size()), temperature, top_p, us[k],
                               vk::BufferRange(out, k * slot_bytes(), 4), subgroup);
    return collect(stream, out, us.size());
  }

  uint32_t argmax(const std::vector<float>& logits, bool subgroup) {
    vk::Buffer logit_buffer = make_buffer(logits, "logits");
    vk::Buffer out(device(), 16, vk::MemoryKind::DeviceLocal, "token");
    vk::CommandStream stream(device());
    stream.fill(out, kUnwritten);
    ops::record_sample_argmax(ctx(), stream, logit_buffer, uint32_t(logits.size()), vk::BufferRange(out, 0, 4),
                              subgroup);
    return collect(stream, out, 1)[0];
  }

  // Draws with every u and compares with the reference wherever the margin allows; returns the draws compared.
  size_t expect_matches_reference(const std::vector<float>& logits, float temperature, float top_p,
                                  const std::vector<float>& us, bool subgroup, const std::string& what) {
    const std::vector<uint32_t> got = top_p_draws(logits, temperature, top_p, us, subgroup);
    size_t compared = 0, bad = 0;
    for (size_t k = 0; k < us.size(); ++k) {
      double margin = 0;
      const uint32_t want = top_p_reference(logits, temperature, top_p, us[k], &margin);
      if (margin < kMinMargin) continue;
      ++compared;
      if (got[k] != want && bad++ < 5)
        ADD_FAILURE() << what << " (" << (subgroup ? "subgroup" : "shared") << "): u " << us[k] << " got "
                      << got[k] << " want " << want;
    }
    EXPECT_EQ(bad, 0u) << what;
    return compared;
  }
};

class SampleArgmax : public Sample {};
class SampleTopP : public Sample {};

TEST_F(SampleArgmax, TiesGoToTheLowestIdAndTheLastIdCounts) {
  for (bool subgroup : {true, false}) {
    SCOPED_TRACE(subgroup ? "subgroup reduction" : "shared-memory reduction");
    std::vector<float> logits = random_floats(1000, 1, -5.0f, 5.0f);
    logits[300] = logits[999] = logits[17] = 9.0f;
    EXPECT_EQ(argmax(logits, subgroup), 17u);
    logits[17] = logits[300] = 8.5f;
    EXPECT_EQ(argmax(logits, subgroup), 999u);  // the maximum at the last index
    EXPECT_EQ(argmax(std::vector<float>(777, 0.25f), subgroup), 0u);
    EXPECT_EQ(argmax({-2.0f}, subgroup), 0u);
  }
}

TEST_F(SampleArgmax, InfinitiesAndNaNs) {
  const float inf = std::numeric_limits<float>::infinity();
  for (bool subgroup : {true, false}) {
    SCOPED_TRACE(subgroup ? "subgroup reduction" : "shared-memory reduction");
    std::vector<float> logits(300, -inf);
    EXPECT_EQ(argmax(logits, subgroup), 0u);  // all masked: the lowest id
    logits[123] = -1e30f;
    EXPECT_EQ(argmax(logits, subgroup), 123u);
    logits[0] = logits[200] = std::nanf("");
    EXPECT_EQ(argmax(logits, subgroup), 123u);  // NaN never wins
    EXPECT_EQ(argmax(std::vector<float>(50, std::nanf("")), subgroup), 0u);
  }
}

TEST_F(SampleArgmax, RandomVocabularies) {
  for (uint32_t vocab : {5000u, 49152u}) {
    const std::vector<float> logits = random_floats(vocab, vocab, -20.0f, 20.0f);
    const uint32_t want = uint32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(argmax(logits, true), want) << "vocab " << vocab;
    EXPECT_EQ(argmax(logits, false), want) << "vocab " << vocab;
  }
}

// A Llama-3 vocabulary, the maximum tied at ids one workgroup-width apart (one thread's batch of loads, and the next
// batch), and once at the very last id.
TEST_F(SampleArgmax, TiesInsideOneThreadsBatchOfLoads) {
  std::vector<float> logits = random_floats(128256, 3, -20.0f, 20.0f);
  for (uint32_t id : {5u + 1024 * 9, 5u + 1024 * 3, 5u + 1024 * 17}) logits[id] = 30.0f;
  EXPECT_EQ(argmax(logits, true), 5u + 1024 * 3);
  EXPECT_EQ(argmax(logits, false), 5u + 1024 * 3);
  logits[128255] = 31.0f;
  EXPECT_EQ(argmax(logits, true), 128255u);
}

TEST_F(SampleArgmax, RejectsBadArguments) {
  vk::Buffer logits = make_zeroed(100 * 4);
  vk::Buffer out = make_zeroed(16);
  vk::CommandStream stream(device());
  EXPECT_THROW(ops::record_sample_argmax(ctx(), stream, logits, 0, out), std::invalid_argument);
  EXPECT_THROW(ops::record_sample_argmax(ctx(), stream, logits, 101, out), std::invalid_argument);
  EXPECT_THROW(ops::record_sample_argmax(ctx(), stream, logits, 100, vk::BufferRange(out, 0, 2)),
               std::invalid_argument);
  EXPECT_NO_THROW(ops::record_sample_argmax(ctx(), stream, logits, 100, out));
  stream.submit_and_wait();
}

std::vector<float> u_grid() {
  std::vector<float> us;
  for (int k = 0; k < 25; ++k) us.push_back(float(k) / 25.0f + 0.003f);
  us.push_back(0.0f);
  us.push_back(0.9999f);
  return us;
}

TEST_F(SampleTopP, SmallDistributionMatchesTheCpuRule) {
  // Token 1 is the most probable; top_p values sit between the sorted cumulative masses of each temperature.
  const std::vector<double> probabilities = {0.04, 0.4, 0.02, 0.15, 0.25, 0.1, 0.03, 0.01};
  const std::vector<float> logits = logits_of(probabilities);
  for (bool subgroup : {true, false})
    for (float temperature : {1.0f, 0.7f, 1.6f})
      for (float top_p : {0.3f, 0.5f, 0.72f, 0.85f, 0.96f, 1.0f}) {
        const std::string what = "T " + std::to_string(temperature) + " top_p " + std::to_string(top_p);
        const size_t compared = expect_matches_reference(logits, temperature, top_p, u_grid(), subgroup, what);
        EXPECT_GE(compared, 22u) << what;  // only draws within rounding of a boundary are skipped
      }
}

TEST_F(SampleTopP, TinyTopPIsArgmax) {
  const std::vector<float> logits = random_floats(1000, 3, -4.0f, 4.0f);  // distinct values: a unique maximum
  const uint32_t best = uint32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  for (bool subgroup : {true, false})
    for (float temperature : {0.5f, 1.0f, 3.0f})
      EXPECT_EQ(top_p_draws(logits, temperature, 1e-6f, u_grid(), subgroup),
                std::vector<uint32_t>(u_grid().size(), best))
          << "T " << temperature << (subgroup ? " subgroup" : " shared");
}

TEST_F(SampleTopP, FullTopPFollowsTheSoftmax) {
  // 2000 seeded draws on 5 tokens: each draw is the reference's token, and the frequencies come within 0.03 of
  // the probabilities (3 standard deviations of a frequency near 0.4 is 0.033; the seed is fixed).
  const std::vector<double> probabilities = {0.1, 0.3, 0.05, 0.4, 0.15};
  const std::vector<float> logits = logits_of(probabilities);
  std::mt19937 rng(2024);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> us(2000);
  for (float& u : us) u = uniform(rng);
  const std::vector<uint32_t> tokens = top_p_draws(logits, 1.0f, 1.0f, us, true);
  std::vector<double> frequency(probabilities.size(), 0.0);
  for (uint32_t t : tokens) {
    ASSERT_LT(t, probabilities.size());
    frequency[t] += 1.0 / double(tokens.size());
  }
  for (size_t i = 0; i < probabilities.size(); ++i)
    EXPECT_NEAR(frequency[i], probabilities[i], 0.03) << "token " << i;
  size_t mismatches = 0;
  for (size_t k = 0; k < us.size(); ++k) {
    double margin = 0;
    const uint32_t want = top_p_reference(logits, 1.0, 1.0, us[k], &margin);
    if (margin >= kMinMargin && tokens[k] != want) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST_F(SampleTopP, MaskedTokensAreNeverChosen) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> logits = random_floats(600, 5, -2.0f, 2.0f);
  for (size_t i = 0; i < logits.size(); i += 3) logits[i] = -inf;  // ids 0, 3, ..., 597 masked
  logits[599] = -inf;
  logits[2] = 10.0f;
  const float largest_below_one = std::nextafter(1.0f, 0.0f);
  for (bool subgroup : {true, false}) {
    SCOPED_TRACE(subgroup ? "subgroup" : "shared");
    const std::vector<uint32_t> edge = top_p_draws(logits, 1.0f, 1.0f, {0.0f, largest_below_one}, subgroup);
    EXPECT_EQ(edge[0], 1u);    // u = 0: the first token with weight
    EXPECT_EQ(edge[1], 598u);  // u -> 1: the last one
    for (float top_p : {0.5f, 1.0f}) {
      const std::vector<uint32_t> tokens = top_p_draws(logits, 1.5f, top_p, u_grid(), subgroup);
      for (uint32_t t : tokens) EXPECT_TRUE(t < 600 && logits[t] > -inf) << "token " << t;
      expect_matches_reference(logits, 1.5f, top_p, u_grid(), subgroup, "masked");
    }
  }
}

TEST_F(SampleTopP, LargeVocabulary) {
  // 49152 tokens: a tail of logits in [-4, 0] and 12 well separated head tokens at scattered ids, so that the
  // top-p boundaries are clear; the reference decides which draws are far enough from a boundary.
  const uint32_t vocab = 49152;
  std::vector<float> logits = random_floats(vocab, 7, -4.0f, 0.0f);
  std::mt19937 rng(8);
  for (int h = 0; h < 12; ++h) logits[rng() % vocab] = 6.0f + 0.5f * float(h);
  std::vector<float> us;
  for (int k = 0; k < 5; ++k) us.push_back(float(k) / 5.0f + 0.01f);
  for (bool subgroup : {true, false})
    for (float top_p : {0.6f, 0.9f, 1.0f}) {
      const std::string what = "vocab 49152, top_p " + std::to_string(top_p);
      EXPECT_GE(expect_matches_reference(logits, 0.8f, top_p, us, subgroup, what), 4u) << what;
    }
}

TEST_F(SampleTopP, RejectsBadArguments) {
  vk::Buffer logits = make_zeroed(100 * 4);
  vk::Buffer out = make_zeroed(16);
  vk::CommandStream stream(device());
  auto record = [&](uint32_t vocab, float temperature, float top_p, float u) {
    ops::record_sample_top_p(ctx(), stream, logits, vocab, temperature, top_p, u, out);
  };
  EXPECT_NO_THROW(record(100, 0.8f, 0.9f, 0.5f));
  EXPECT_THROW(record(100, 0.0f, 0.9f, 0.5f), std::invalid_argument);   // greedy is record_sample_argmax
  EXPECT_THROW(record(100, -1.0f, 0.9f, 0.5f), std::invalid_argument);
  EXPECT_THROW(record(100, NAN, 0.9f, 0.5f), std::invalid_argument);
  EXPECT_THROW(record(100, 1e-39f, 0.9f, 0.5f), std::invalid_argument);  // 1 / temperature overflows
  EXPECT_THROW(record(100, 0.8f, 0.0f, 0.5f), std::invalid_argument);
  EXPECT_THROW(record(100, 0.8f, 1.01f, 0.5f), std::invalid_argument);
  EXPECT_THROW(record(100, 0.8f, NAN, 0.5f), std::invalid_argument);
  EXPECT_THROW(record(100, 0.8f, 0.9f, 1.0f), std::invalid_argument);
  EXPECT_THROW(record(100, 0.8f, 0.9f, -0.1f), std::invalid_argument);
  EXPECT_THROW(record(0, 0.8f, 0.9f, 0.5f), std::invalid_argument);
  EXPECT_THROW(record(101, 0.8f, 0.9f, 0.5f), std::invalid_argument);  // logits too small
  stream.submit_and_wait();
}

}  // namespace
}  // namespace ckv::test
